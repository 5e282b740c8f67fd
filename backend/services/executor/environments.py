"""Dependency environments, built once per (language, runtime, dependency set) and reused.

An environment is built in a temporary folder and renamed into ``data/envs/<hash>`` only when
the installer succeeded, so a failed or interrupted install never leaves a half-built env.
Creation is serialised per hash with a thread lock plus a file lock (several processes).
"""

from __future__ import annotations

import fcntl
import functools
import hashlib
import json
import logging
import os
import shutil
import stat
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from backend.errors import ProblemError

log = logging.getLogger(__name__)

INSTALL_TIMEOUT_SECONDS = 900
SYSTEM_BIN_PATH = "/usr/local/bin:/usr/bin:/bin"
_locks: dict[str, threading.Lock] = {}
_locks_guard = threading.Lock()

LineSink = Callable[[str], None]


class EnvironmentError_(ProblemError):
    status = 500
    title = "Dependency installation failed"


@dataclass(frozen=True)
class Environment:
    """What a run needs to use an environment."""

    path: Path | None = None
    bin_dir: Path | None = None
    extra_env: dict[str, str] = field(default_factory=dict)
    reused: bool = False


@functools.cache
def python_runtime() -> str:
    """The interpreter runs use: the base Python (not the server's venv with Flask in it), when any
    user can reach it; else the system's ``python3`` (a run-as user cannot enter e.g. ``/root/.pyenv``)."""
    base = getattr(sys, "_base_executable", None) or sys.executable
    base = base if os.path.exists(base) else sys.executable
    if reachable_by_all(Path(base)):
        return base
    return shutil.which("python3", path=SYSTEM_BIN_PATH) or base


def reachable_by_all(path: Path) -> bool:
    """Every folder on the way, and ``path`` itself, searchable/executable by "others" (links resolved)."""
    try:
        resolved = path.resolve(strict=True)
    except OSError:
        return False
    checks = [(folder, stat.S_IXOTH) for folder in resolved.parents] + [(resolved, stat.S_IXOTH)]
    return all(os.stat(item).st_mode & bit for item, bit in checks)


@functools.cache
def runtime_version(language: str) -> str:
    """Part of an environment's key: a new interpreter or node gets new environments."""
    if language == "python":
        command = [python_runtime(), "-c", "import sys; print(sys.version.split()[0])"]
    elif language == "javascript":
        node = shutil.which("node")
        if not node:
            return "none"
        command = [node, "--version"]
    else:
        return "bash"
    return subprocess.run(command, capture_output=True, text=True, check=False).stdout.strip()


def env_hash(language: str, dependencies: list[str]) -> str:
    key = json.dumps([language, runtime_version(language), sorted(dependencies)])
    return hashlib.sha256(key.encode()).hexdigest()[:24]


def _lock_for(key: str) -> threading.Lock:
    with _locks_guard:
        return _locks.setdefault(key, threading.Lock())


def _describe(env_dir: Path, language: str) -> Environment:
    if language == "python":
        return Environment(path=env_dir, bin_dir=env_dir / "bin", extra_env={"VIRTUAL_ENV": str(env_dir)}, reused=True)
    return Environment(path=env_dir, extra_env={"NODE_PATH": str(env_dir / "node_modules")}, reused=True)


def ensure_environment(envs_dir: Path, language: str, dependencies: list[str], sink: LineSink) -> Environment:
    """Return the environment for this dependency set, building it first if needed."""
    if not dependencies or language == "shell":
        return Environment()
    key = env_hash(language, dependencies)
    final = envs_dir / key
    with _lock_for(key):
        envs_dir.mkdir(parents=True, exist_ok=True)
        with open(envs_dir / f"{key}.lock", "w") as lock_file:
            fcntl.flock(lock_file, fcntl.LOCK_EX)
            if (final / ".complete").exists():
                sink(f"reusing cached environment {key}")
                return _describe(final, language)
            shutil.rmtree(final, ignore_errors=True)
            building = envs_dir / f"{key}.building"
            shutil.rmtree(building, ignore_errors=True)
            sink(f"building environment {key} for: {', '.join(dependencies)}")
            try:
                if language == "python":
                    _build_python(building, dependencies, envs_dir.parent / "uv-cache", sink)
                else:
                    _build_node(building, dependencies, envs_dir.parent / "npm-cache", sink)
            except Exception:
                shutil.rmtree(building, ignore_errors=True)
                raise
            (building / ".complete").write_text(json.dumps(sorted(dependencies)))
            os.replace(building, final)
            built = _describe(final, language)
            return Environment(built.path, built.bin_dir, built.extra_env, reused=False)


def _uv_binary() -> str | None:
    try:
        from uv import find_uv_bin

        return str(find_uv_bin())
    except (ImportError, FileNotFoundError):
        return shutil.which("uv")


def _build_python(target: Path, dependencies: list[str], cache: Path, sink: LineSink) -> None:
    uv = _uv_binary()
    env = {**_installer_env(), "UV_CACHE_DIR": str(cache), "UV_LINK_MODE": "hardlink"}
    python = python_runtime()
    if uv:
        _run_installer([uv, "venv", "--quiet", "--python", python, str(target)], env, sink)
        _run_installer([uv, "pip", "install", "--python", str(target / "bin" / "python"), *dependencies], env, sink)
    else:
        _run_installer([python, "-m", "venv", str(target)], env, sink)
        _run_installer([str(target / "bin" / "python"), "-m", "pip", "install", *dependencies], env, sink)


def _build_node(target: Path, dependencies: list[str], cache: Path, sink: LineSink) -> None:
    npm = shutil.which("npm")
    if not npm:
        raise EnvironmentError_("npm is not installed on this server; JavaScript dependencies need it.")
    target.mkdir(parents=True)
    (target / "package.json").write_text('{"name": "scriptman-env", "private": true}\n')
    env = {**_installer_env(), "npm_config_cache": str(cache)}
    _run_installer(
        [npm, "install", "--no-audit", "--no-fund", "--no-progress", "--prefix", str(target), *dependencies],
        env,
        sink,
    )


def _installer_env() -> dict[str, str]:
    keep = (
        "PATH",
        "HOME",
        "LANG",
        "LC_ALL",
        "TMPDIR",
        "PIP_INDEX_URL",
        "PIP_EXTRA_INDEX_URL",
        "UV_INDEX_URL",
        "UV_EXTRA_INDEX_URL",
        "npm_config_registry",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "NO_PROXY",
    )
    return {k: v for k, v in os.environ.items() if k in keep}


def _run_installer(argv: list[str], env: dict[str, str], sink: LineSink) -> None:
    sink("$ " + " ".join(argv))
    process = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env
    )
    assert process.stdout is not None
    for raw in process.stdout:
        sink(raw.decode("utf-8", errors="replace").rstrip())
    try:
        code = process.wait(timeout=INSTALL_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        raise EnvironmentError_("the installer took too long") from None
    if code != 0:
        raise EnvironmentError_(f"{Path(argv[0]).name} exited with code {code}")
