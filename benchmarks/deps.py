"""Dependency runs: cold against ``python -m venv`` + ``pip install``, warm against a run without any.

Not a test: run by hand (`.venv/bin/python benchmarks/deps.py [cold rounds] [requirement]`, part of
`make bench`) and copy the printed table into benchmarks/README.md. The requirement (default
``requests``, five packages) comes from the real PyPI through this machine's network (its TLS proxy's
CA reaches both installers through ``SSL_CERT_FILE``/``PIP_CERT``, as set in the environment).

- **cold**: a script with the requirement on a server started in a fresh ``SCRIPTMAN_HOME`` (no
  environment, an empty uv cache: everything is downloaded), submit → final status seen; against the
  same by hand, from scratch: ``python -m venv`` + ``pip install --no-cache-dir`` + running the script
  with the venv's python. Rounds alternate the two.
- **warm**: on the last cold round's server, a second script with the same dependency set (its
  environment is built: envs are keyed by language + set, not by script) against a script without
  dependencies, ``WARM_RUNS`` each, alternating; both only print one line, so the difference is what
  the environment costs the run, not what importing the package costs the script (printed apart:
  bare in the pip-built venv, and as the cold script's warm runs, whose difference from the sum of
  the two baselines is what the server's environment costs a script that uses it).
"""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.run import Server  # noqa: E402

WARM_RUNS = 10
CODE = "import {module}\nprint({module}.__name__, 'ok')\n"
PLAIN = "print('plain', 'ok')\n"


def by_hand(folder: Path, requirement: str, module: str) -> tuple[float, Path]:
    """venv + pip install + run, from nothing (no pip cache), with the interpreter runs use."""
    target = folder / f"venv-{time.monotonic_ns()}"
    script = folder / "by_hand.py"
    script.write_text(CODE.format(module=module))
    python = getattr(sys, "_base_executable", None) or sys.executable
    # the real PyPI only, as uv in the server uses: this machine's pip.conf adds local mirrors
    env = {k: v for k, v in os.environ.items() if k != "PIP_FIND_LINKS" and not k.startswith("VIRTUAL_ENV")}
    env["PIP_CONFIG_FILE"] = os.devnull
    started = time.perf_counter()
    subprocess.run([python, "-m", "venv", str(target)], check=True, env=env)
    subprocess.run(
        [str(target / "bin" / "pip"), "install", "--quiet", "--no-cache-dir", requirement],
        check=True,
        env=env,
    )
    subprocess.run([str(target / "bin" / "python"), str(script)], check=True, env=env, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started, target


def bare_import(python: Path, folder: Path, code: str) -> float:
    """The script's own cost in a built venv: what a warm run cannot save."""
    script = folder / "bare_import.py"
    script.write_text(code)
    started = time.perf_counter()
    subprocess.run([str(python), str(script)], check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def create(server: Server, name: str, code: str, dependencies: list[str]) -> int:
    response = server.session.post(
        f"{server.base}/api/scripts",
        json={"name": name, "language": "python", "code": code, "dependencies": dependencies},
    )
    response.raise_for_status()
    return int(response.json()["id"])


def timed_run(server: Server, script_id: int) -> float:
    started = time.perf_counter()
    execution = server.run(script_id)
    seconds = time.perf_counter() - started
    assert execution["status"] == "succeeded", execution
    return seconds


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 2
    requirement = sys.argv[2] if len(sys.argv) > 2 else "requests"
    module = requirement.split("=")[0].split("[")[0].strip().replace("-", "_")
    cold: list[float] = []
    hand: list[float] = []
    warm: list[float] = []
    plain: list[float] = []
    imports: list[float] = []
    warm_import: list[float] = []
    no_imports: list[float] = []
    with tempfile.TemporaryDirectory(prefix="scriptman-deps-") as tmp:
        folder = Path(tmp)
        for index in range(rounds):
            seconds, venv = by_hand(folder, requirement, module)
            hand.append(seconds)
            home = folder / f"home-{index}"
            home.mkdir()
            server = Server(home)
            try:
                script_id = create(server, "with-deps", CODE.format(module=module), [requirement])
                cold.append(timed_run(server, script_id))
                if index == rounds - 1:
                    # the same set under a script with the plain code: the difference is the environment alone
                    warm_id = create(server, "warm", PLAIN, [requirement])
                    plain_id = create(server, "plain", PLAIN, [])
                    timed_run(server, plain_id)  # warm-up: the first run of a server pays lazy imports
                    for _ in range(WARM_RUNS):
                        warm.append(timed_run(server, warm_id))
                        warm_import.append(timed_run(server, script_id))
                        plain.append(timed_run(server, plain_id))
                        imports.append(bare_import(venv / "bin" / "python", folder, CODE.format(module=module)))
                        no_imports.append(bare_import(venv / "bin" / "python", folder, PLAIN))
            finally:
                server.stop()
    print(f"{platform.platform()}, {len(os.sched_getaffinity(0))} CPUs, Python {platform.python_version()}")
    print(f"requirement: {requirement!r} from PyPI; submit → final status seen (5 ms polling)")
    print("| measure | baseline | Scriptman | ratio / difference |")
    print("|---|---|---|---|")
    print(
        f"| cold: a dependency set never built, empty caches ({rounds} rounds) | "
        f"{', '.join(f'{s:.2f}' for s in hand)} s `python -m venv` + `pip install --no-cache-dir` + run | "
        f"{', '.join(f'{s:.2f}' for s in cold)} s | "
        f"{statistics.median(hand) / statistics.median(cold):.1f}x faster (medians) |"
    )
    warm_ms = 1000 * statistics.median(warm)
    plain_ms = 1000 * statistics.median(plain)
    spread = f"{1000 * min(warm):.0f}-{1000 * max(warm):.0f}"
    print(
        f"| warm: the same set again, median of {WARM_RUNS} (range) | "
        f"{plain_ms:.0f} ms ({1000 * min(plain):.0f}-{1000 * max(plain):.0f}) a run without dependencies | "
        f"{warm_ms:.0f} ms ({spread}) | {warm_ms - plain_ms:+.0f} ms |"
    )
    imported, bare_ms = 1000 * statistics.median(imports), 1000 * statistics.median(no_imports)
    print(
        f"| for scale: `import {module}` in the built venv, bare, median of {WARM_RUNS} | "
        f"{bare_ms:.0f} ms the venv's python printing a line | {imported:.0f} ms | {imported - bare_ms:+.0f} ms "
        "(the script's own cost, not the server's) |"
    )
    imported_run = 1000 * statistics.median(warm_import)
    print(
        f"| warm, the script importing `{module}`, median of {WARM_RUNS} (range) | "
        f"{plain_ms:.0f} + {imported - bare_ms:.0f} = {plain_ms + imported - bare_ms:.0f} ms a run without "
        f"dependencies + the import in a pip-built venv | {imported_run:.0f} ms "
        f"({1000 * min(warm_import):.0f}-{1000 * max(warm_import):.0f}) | "
        f"{imported_run - plain_ms - imported + bare_ms:+.0f} ms |"
    )


if __name__ == "__main__":
    main()
