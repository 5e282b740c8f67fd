"""Starting the per-run supervisor and recognising it (or its script) later by pid + start time."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import psutil

SUPERVISOR = Path(__file__).with_name("supervise.py")
START_TIME_TOLERANCE_SECONDS = 0.05


def write_spec(path: Path, spec: dict[str, Any]) -> None:
    """The spec holds secret values: create it 0600, never world-readable even for a moment."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(spec, handle)


def launch_supervisor(spec_path: Path, stderr_path: Path) -> subprocess.Popen[bytes]:
    with open(stderr_path, "ab") as stderr:
        return subprocess.Popen(
            [sys.executable, "-I", "-S", str(SUPERVISOR), str(spec_path)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            start_new_session=True,
            close_fds=True,
        )


def start_time(pid: int) -> float | None:
    try:
        return psutil.Process(pid).create_time()
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None


def is_same_process(pid: int | None, started_at: float | None) -> bool:
    """True only for the very process we started: a reused pid has another start time."""
    if not pid or started_at is None:
        return False
    try:
        process = psutil.Process(pid)
        if process.status() == psutil.STATUS_ZOMBIE:
            return False
        return abs(process.create_time() - started_at) < START_TIME_TOLERANCE_SECONDS
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False


def signal_supervisor(pid: int | None, started_at: float | None, sig: int = signal.SIGUSR1) -> bool:
    if not is_same_process(pid, started_at):
        return False
    assert pid is not None
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)
        return True
    return False
