"""Dependency environments, built once per (language, runtime, dependency set) and reused.

An environment is built in a temporary folder and renamed into ``data/envs/<hash>`` only when
the installer succeeded, so a failed or interrupted install never leaves a half-built env.
Creation is serialised per hash with a thread lock plus a file lock (several processes).
"""

from __future__ import annotations

import collections
import contextlib
import fcntl
import functools
import hashlib
import json
import logging
import os
import re
import selectors
import shutil
import signal
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
INSTALL_FAILED = "dependency install failed"  # how a run's error and log line begin
MAX_ERROR_LINES_KEPT = 200
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
        return Environment(path=env_dir, bin_dir=env_dir / "bin", extra_env={"VIRTUAL_ENV": str(env_dir)})
    return Environment(path=env_dir, extra_env={"NODE_PATH": str(env_dir / "node_modules")})


def ensure_environment(
    envs_dir: Path, language: str, dependencies: list[str], sink: LineSink, err_sink: LineSink | None = None
) -> Environment:
    """Return the environment for this dependency set, building it first if needed.

    ``sink`` gets Scriptman's notes and the installer's standard output, ``err_sink`` (default:
    ``sink``) the installer's standard error, where its errors are.
    """
    err_sink = err_sink or sink
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
                    _build_python(building, dependencies, envs_dir.parent / "uv-cache", sink, err_sink)
                else:
                    _build_node(building, dependencies, envs_dir.parent / "npm-cache", sink, err_sink)
            except Exception:
                shutil.rmtree(building, ignore_errors=True)
                raise
            (building / ".complete").write_text(json.dumps(sorted(dependencies)))
            os.replace(building, final)
            return _describe(final, language)


def _uv_binary() -> str | None:
    try:
        from uv import find_uv_bin

        return str(find_uv_bin())
    except (ImportError, FileNotFoundError):
        return shutil.which("uv")


def _build_python(target: Path, dependencies: list[str], cache: Path, sink: LineSink, err_sink: LineSink) -> None:
    uv = _uv_binary()
    env = uv_installer_env(cache)
    python = python_runtime()
    target_python = str(target / "bin" / "python")
    if uv:
        _run_installer([uv, "venv", "--quiet", "--python", python, str(target)], env, sink, err_sink=err_sink)
        # compiled once here: runs get PYTHONDONTWRITEBYTECODE, so without it every run that imports a
        # dependency compiled its sources again (`import requests`: +0.1 to 0.25 s per run, measured)
        install = [uv, "pip", "install", "--compile-bytecode", "--python", target_python, *dependencies]
        _run_installer(install, env, sink, err_sink=err_sink)
    else:
        _run_installer([python, "-m", "venv", str(target)], env, sink, err_sink=err_sink)
        _run_installer([target_python, "-m", "pip", "install", *dependencies], env, sink, err_sink=err_sink)


def _build_node(target: Path, dependencies: list[str], cache: Path, sink: LineSink, err_sink: LineSink) -> None:
    npm = shutil.which("npm")
    if not npm:
        raise EnvironmentError_(
            f"{INSTALL_FAILED}: npm is not installed on this server; JavaScript dependencies need it."
        )
    target.mkdir(parents=True)
    (target / "package.json").write_text('{"name": "scriptman-env", "private": true}\n')
    # Run in the env folder rather than with ``--prefix``: ``--prefix`` also moves npm's *global*
    # config to ``<env>/etc/npmrc``, so the system's npmrc (where ``cafile``/``proxy`` usually live)
    # would be ignored. With cwd = the folder holding package.json, npm installs there all the same.
    _run_installer(
        [npm, "install", "--no-audit", "--no-fund", "--no-progress", *dependencies],
        npm_installer_env(cache),
        sink,
        cwd=target,
        err_sink=err_sink,
    )


# npm's defaults (2 retries, 10 s then 60 s back-off) kept a run silent ~70 s before it reported an
# untrusted certificate; one retry after 2 s still rides out a blip and fails in ~2.5 s.
# Set in the environment (npm_config_*), only where the server's environment sets none.
NPM_RETRY_DEFAULTS = {
    "npm_config_fetch_retries": "1",
    "npm_config_fetch_retry_mintimeout": "2000",
    "npm_config_fetch_retry_maxtimeout": "10000",
}
# Variables of the server process that would point an installer at the server's own Python.
INSTALLER_DROP = frozenset({"PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV"})
CERT_SETTINGS = ("SSL_CERT_FILE", "SSL_CERT_DIR", "UV_SYSTEM_CERTS", "UV_NATIVE_TLS")


def is_scriptman_setting(name: str) -> bool:
    """Scriptman's settings are read case-insensitively, so ``scriptman_secret_key`` counts too."""
    return name.upper().startswith("SCRIPTMAN_")


def _installer_env() -> dict[str, str]:
    """The server's environment minus Scriptman's own settings (its secrets among them).

    An installer needs the machine's network configuration, whatever form it takes: proxies in
    either case, CA bundles (``SSL_CERT_FILE``, ``NODE_EXTRA_CA_CERTS``, ``PIP_CERT``),
    ``PIP_*``/``UV_*``/``npm_config_*`` settings. An allow-list kept missing some of them, and every
    install behind a TLS-intercepting proxy failed.
    """
    env = {k: v for k, v in os.environ.items() if not is_scriptman_setting(k) and k not in INSTALLER_DROP}
    env.setdefault("PATH", SYSTEM_BIN_PATH)
    return env


def uv_installer_env(cache: Path) -> dict[str, str]:
    """uv trusts only its bundled Mozilla roots unless told otherwise; a server whose proxy CA is
    in the system store (as pip ≥ 24.2 and npm's ``cafile`` would use) gets ``UV_SYSTEM_CERTS``.
    ``SSL_CERT_FILE``/``SSL_CERT_DIR``, when set, are what uv uses instead, so they are left alone."""
    env = {**_installer_env(), "UV_CACHE_DIR": str(cache), "UV_LINK_MODE": "hardlink"}
    if not any(env.get(name) for name in CERT_SETTINGS):
        env["UV_SYSTEM_CERTS"] = "true"
    return env


def npm_installer_env(cache: Path) -> dict[str, str]:
    env = {**_installer_env(), "npm_config_cache": str(cache)}
    present = {name.lower() for name in env}
    env.update({k: v for k, v in NPM_RETRY_DEFAULTS.items() if k.lower() not in present})
    return env


def _run_installer(
    argv: list[str], env: dict[str, str], sink: LineSink, cwd: Path | None = None, err_sink: LineSink | None = None
) -> None:
    """Run one installer command; its output goes to ``sink``, its error lines to ``err_sink``.

    An error line is a stderr line from the first that says "error" (``error:``, ``ERROR:``,
    ``npm error``) on: installers also write progress to stderr, which is no error.

    Both pipes are read in this thread (a selector), so the lines reach the log in the order
    they came and one writer is never called from two threads.
    """
    err_sink = err_sink or sink
    sink("$ " + " ".join(argv))
    process = subprocess.Popen(
        argv,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        env=env,
        cwd=cwd,
        start_new_session=True,  # its own group, so the time limit also ends its children
    )
    assert process.stdout is not None and process.stderr is not None
    tail: collections.deque[str] = collections.deque(maxlen=40)
    errors: list[str] = []  # the first stderr lines: where an installer says what went wrong first
    timed_out = threading.Event()

    def stop() -> None:
        timed_out.set()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)

    failing = False

    def take(line: str, is_err: bool) -> None:
        nonlocal failing
        tail.append(line)
        if is_err and len(errors) < MAX_ERROR_LINES_KEPT:
            errors.append(line)
        # uv and npm report progress on stderr too: from its first error line on, stderr is errors
        failing = failing or (is_err and bool(ERROR_LINE.match(ANSI.sub("", line).strip())))
        (err_sink if is_err and failing else sink)(line)

    # Reading the output blocks until the installer ends, so the time limit is a timer that kills it.
    watchdog = threading.Timer(INSTALL_TIMEOUT_SECONDS, stop)
    watchdog.daemon = True
    watchdog.start()
    try:
        _read_lines({process.stdout.fileno(): False, process.stderr.fileno(): True}, take)
        code = process.wait()
    finally:
        watchdog.cancel()
        process.stdout.close()
        process.stderr.close()
    if timed_out.is_set():
        message = f"{INSTALL_FAILED}: the installer took longer than {INSTALL_TIMEOUT_SECONDS} s and was stopped"
        sink(message)
        raise EnvironmentError_(message)
    if code != 0:
        exited = f"{Path(argv[0]).name} exited with code {code}"
        reason = failure_reason(errors + [line for line in tail if line not in errors]) or exited
        if CERT_PROBLEM.search(reason):
            reason += f" ({CERT_HINT})"
        sink(f"{INSTALL_FAILED}: {exited}")
        raise EnvironmentError_(f"{INSTALL_FAILED}: {reason}")


def _read_lines(pipes: dict[int, bool], take: Callable[[str, bool], None]) -> None:
    """Read every pipe to its end, handing each complete line (and a last unterminated one) to ``take``."""
    buffers = dict.fromkeys(pipes, b"")
    with selectors.DefaultSelector() as selector:
        for fd in pipes:
            selector.register(fd, selectors.EVENT_READ)
        while selector.get_map():
            for key, _ in selector.select():
                fd = key.fd
                chunk = os.read(fd, 65536)
                if not chunk:
                    selector.unregister(fd)
                    if buffers[fd]:
                        take(buffers[fd].decode("utf-8", errors="replace").rstrip(), pipes[fd])
                    continue
                *lines, buffers[fd] = (buffers[fd] + chunk).split(b"\n")
                for raw in lines:
                    take(raw.decode("utf-8", errors="replace").rstrip(), pipes[fd])


CERT_PROBLEM = re.compile(r"certificate|CERT_|UnknownIssuer|\b(SSL|TLS)\b", re.IGNORECASE)
CERT_HINT = (
    "the package index's TLS certificate is not trusted: give the server's environment the CA bundle,"
    " e.g. SSL_CERT_FILE for uv, NODE_EXTRA_CA_CERTS or npm's cafile for npm"
)
# Lines that never say why: npm's pointers to its debug log, its bare code/errno/status lines.
_NOISE = re.compile(r"A complete log of this run|^npm (error|ERR!)(\s+(code|errno))?(\s+\S+)?\s*$|^hint:", re.I)
ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(\x07|\x1b\\)")
# The line where an installer says it failed: uv's "error:" (or a multiplication sign on a terminal), pip's "ERROR:",
# npm's "npm error"; then the causes uv gives below it, the last one being the root cause.
ERROR_LINE = re.compile(r"^(?:error:|\u00d7|ERROR:|npm error|npm ERR!|Error:)\s*", re.I)
CAUSE_LINE = re.compile(r"^(?:cause:|caused by:|╰─▶)\s*", re.I)


def failure_reason(lines: list[str]) -> str:
    """What an installer said went wrong, in one line, for the run's error.

    Its first error line (uv's ``error: No solution found when resolving dependencies``, pip's
    ``ERROR: Could not find a version …``, npm's ``npm error 404 Not Found - GET …``) with the
    root cause uv gives below it (the last ``cause:`` line, such as ``Because foo was not found in
    the package registry …`` or ``invalid peer certificate: UnknownIssuer``). ANSI colours and
    the markers themselves are stripped; without an error line, the last meaningful line.
    """
    clean = [ANSI.sub("", line).strip() for line in lines]
    meaningful = [line for line in clean if line and not _NOISE.search(line)]
    first = next((line for line in meaningful if ERROR_LINE.match(line)), None)
    causes = [line for line in meaningful if CAUSE_LINE.match(line)]
    root = CAUSE_LINE.sub("", causes[-1]) if causes else None
    if first is None:
        return _shorten(root or (meaningful[-1] if meaningful else ""))
    said = ERROR_LINE.sub("", first).rstrip(":").strip()
    if root and root not in said:
        said = f"{said}: {root}"
    return _shorten(said)


def _shorten(line: str, limit: int = 300) -> str:
    return line if len(line) <= limit else line[: limit - 1] + "…"
