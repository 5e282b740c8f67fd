"""A run printing 1 GiB: the server's memory growth and the output rate, against writing to a file.

Not a test: run by hand (`.venv/bin/python benchmarks/big_output.py [rounds]`, part of `make bench`)
and copy the printed table into benchmarks/README.md. It starts the real server with
``SCRIPTMAN_MAX_LOG_BYTES`` (and the run's file-size limit) above 1 GiB, and in each round:

- **baseline**: the same script run with ``python3``, its stdout a file (``run.bare``);
- **run**: the script as a Scriptman run, submit → final status seen (polled every 200 ms);
- **run + 1 SSE client**: the same with one client following ``/logs/stream?batch=true`` (what the
  web app opens) from the first byte to ``end``, counting the records it receives.

The script prints 1,048,576 lines of 1,024 bytes (1 GiB) in 1 MiB writes. While a run goes, a
thread samples the RSS of every server process every 100 ms: the gunicorn arbiter and worker and
whatever else runs under them (the run launcher), and the run's supervisor (the script's parent,
which the script names in a side file). The script's own memory is not the server's and is left
out. Growth = for each process there before the run, its highest sample minus the sample just before
submitting, plus the supervisor's highest sample (it exists only for the run). A process that appears
for a moment (a fork between ``fork`` and ``exec`` shows the worker's RSS) is listed, not summed.
"""

from __future__ import annotations

import contextlib
import os
import platform
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.run import Server, bare  # noqa: E402

MIB = 2**20
LINE_BYTES = 1024
BLOCKS = 1024  # of 1 MiB each
CODE = """import os, sys
with open({pids!r}, "w") as side:
    side.write(f"{{os.getpid()}} {{os.getppid()}}")
block = ("x" * {width} + "\\n") * {per_block}
for _ in range({blocks}):
    sys.stdout.write(block)
sys.stdout.flush()
"""


def code_for(pids: Path) -> str:
    return CODE.format(pids=str(pids), width=LINE_BYTES - 1, per_block=MIB // LINE_BYTES, blocks=BLOCKS)


class Sampler:
    """Peak RSS per server process while a run goes (the script and its children excluded)."""

    def __init__(self, server: Server, pids: Path) -> None:
        self.arbiter = psutil.Process(server.process.pid)
        self.pids = pids
        self.peaks: dict[str, int] = {}
        self.before = self.sample()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)

    def processes(self) -> dict[str, psutil.Process]:
        found = {"arbiter": self.arbiter}
        script_pid, supervisor_pid = None, None
        if self.pids.exists():
            with contextlib.suppress(ValueError):
                script_pid, supervisor_pid = (int(x) for x in self.pids.read_text().split())
        for child in self.arbiter.children(recursive=True):
            if child.pid in (script_pid, supervisor_pid):
                continue
            try:
                name = "worker" if child.ppid() == self.arbiter.pid else f"other:{_label(child)}"
            except psutil.NoSuchProcess:
                continue
            found[f"{name}:{child.pid}" if name != "worker" else "worker"] = child
        if supervisor_pid is not None:
            with contextlib.suppress(psutil.NoSuchProcess):
                found["supervisor"] = psutil.Process(supervisor_pid)
        return found

    def sample(self) -> dict[str, int]:
        values: dict[str, int] = {}
        for name, process in self.processes().items():
            with contextlib.suppress(psutil.NoSuchProcess):
                values[name.removeprefix("other:")] = process.memory_info().rss
        return values

    def _loop(self) -> None:
        while not self.stop.is_set():
            for name, rss in self.sample().items():
                self.peaks[name] = max(self.peaks.get(name, 0), rss)
            time.sleep(0.1)

    def __enter__(self) -> Sampler:
        self.thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop.set()
        self.thread.join()


def _label(process: psutil.Process) -> str:
    """A short name for a helper process under the worker (e.g. the run launcher): its script's name."""
    try:
        args = process.cmdline()
    except psutil.Error:
        return process.name()
    scripts = [Path(a).stem for a in args[1:] if a.endswith(".py")]
    return scripts[0] if scripts else " ".join(args[1:3])[-30:] or process.name()


def follow(server: Server, execution_id: int, counts: dict[str, int]) -> None:
    """One SSE client from the first byte to ``end``: count the stdout records (bytes only, no parsing)."""
    marker, tail = b'"stream":"out"', b""
    url = f"{server.base}/api/executions/{execution_id}/logs/stream?batch=true"
    with server.session.get(url, stream=True, timeout=600) as response:
        for chunk in response.iter_content(chunk_size=MIB):
            data = tail + chunk
            counts["records"] += data.count(marker)
            counts["bytes"] += len(chunk)
            tail = data[-(len(marker) - 1) :]
            if b"event: end\n" in data[-4096:]:
                counts["ended"] = 1


def managed(server: Server, script_id: int, pids: Path, with_client: bool) -> dict[str, object]:
    pids.unlink(missing_ok=True)
    counts = {"records": 0, "bytes": 0, "ended": 0}
    with Sampler(server, pids) as sampler:
        started = time.perf_counter()
        execution = server.submit(script_id)
        reader = threading.Thread(target=follow, args=(server, execution["id"], counts)) if with_client else None
        if reader:
            reader.start()
        execution = server.wait(execution, 0.2)
        seconds = time.perf_counter() - started
        if reader:
            reader.join()
        client_seconds = time.perf_counter() - started
    assert execution["status"] == "succeeded", execution
    # processes that were there before the run grow; the supervisor is the run's own (all of it counts);
    # any other process that appears is a short-lived fork (it shares the worker's pages until it execs):
    # listed in the table, not summed (its RSS would count the worker's pages twice)
    growth = {name: sampler.peaks[name] - sampler.before[name] for name in sampler.peaks if name in sampler.before}
    return {
        "seconds": seconds,
        "client_seconds": client_seconds if with_client else None,
        "before": sampler.before,
        "peaks": sampler.peaks,
        "growth": growth,
        "records": counts["records"],
        "ended": counts["ended"],
    }


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 2
    total_mib = BLOCKS * LINE_BYTES * (MIB // LINE_BYTES) / MIB
    rows: list[tuple[str, dict[str, object]]] = []
    baselines: list[float] = []
    with tempfile.TemporaryDirectory(prefix="scriptman-bigout-") as tmp:
        folder = Path(tmp)
        (folder / "home").mkdir()
        server = Server(
            folder / "home",
            {
                "SCRIPTMAN_MAX_LOG_BYTES": str(4 * 2**30),
                "SCRIPTMAN_LIMIT_FILE_SIZE_MB": "4096",
                "SCRIPTMAN_DEFAULT_TIMEOUT_SECONDS": "600",
            },
        )
        try:
            pids = folder / "pids"
            script_id = server.script("gigabyte", code_for(pids))
            warm = server.script("warm", "print('hello')\n")
            server.run(warm)  # lazy imports and first-run work out of the way before the first sample
            for index in range(rounds):
                baselines.append(bare(code_for(folder / "bare-pids"), folder, "gigabyte.py"))
                (folder / "gigabyte.py.log").unlink()
                rows.append((f"run, round {index + 1}", managed(server, script_id, pids, with_client=False)))
                rows.append((f"run + 1 SSE client, round {index + 1}", managed(server, script_id, pids, True)))
        finally:
            server.stop()
    print(f"{platform.platform()}, {len(os.sched_getaffinity(0))} CPUs, Python {platform.python_version()}")
    print(
        f"{total_mib:.0f} MiB in {BLOCKS * MIB // LINE_BYTES:,} lines of {LINE_BYTES} bytes; "
        f"baseline (bare python, stdout to a file): "
        + ", ".join(f"{s:.1f} s = {total_mib / s:.0f} MiB/s" for s in baselines)
    )
    print(
        "| round | submit → final status | MiB/s | RSS before → peak (MiB): worker / arbiter / supervisor | "
        "growth: processes there before + the supervisor's peak | SSE client |"
    )
    print("|---|---|---|---|---|---|")
    for name, r in rows:
        before, peaks, growth = r["before"], r["peaks"], r["growth"]
        assert isinstance(before, dict) and isinstance(peaks, dict) and isinstance(growth, dict)
        cells = " / ".join(
            f"{before.get(k, 0) / MIB:.0f} → {peaks.get(k, 0) / MIB:.0f}" for k in ("worker", "arbiter", "supervisor")
        )
        others = {k: v for k, v in peaks.items() if k not in ("worker", "arbiter", "supervisor")}
        if others:
            cells += " (others: " + ", ".join(
                f"{k} {before.get(k, 0) / MIB:.0f} → {v / MIB:.0f}" for k, v in others.items()
            )
            cells += ")"
        total = sum(growth.values()) + peaks.get("supervisor", 0)
        seconds = r["seconds"]
        assert isinstance(seconds, float)
        client = (
            f"{r['records']:,} records, end {'seen' if r['ended'] else 'NOT seen'}, done {r['client_seconds']:.1f} s"
            if r["client_seconds"]
            else "—"
        )
        print(f"| {name} | {seconds:.1f} s | {total_mib / seconds:.0f} | {cells} | {total / MIB:.0f} MiB | {client} |")


if __name__ == "__main__":
    main()
