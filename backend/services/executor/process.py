"""Starting the per-run supervisor and recognising it (or its script) later by pid + start time.

A supervisor is started by the launcher (``launcher.py``: a fork of a ready process) or, when there
is none, as a child of this process (``python -I -S supervise.py``). Either way the runner holds a
:class:`Supervised`: its pid and start time, a wait that wakes when it exits, and its exit code.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Protocol

import psutil

SUPERVISOR = Path(__file__).with_name("supervise.py")
START_TIME_TOLERANCE_SECONDS = 0.05


def write_spec(path: Path, spec: dict[str, Any]) -> None:
    """The spec holds secret values: create it 0600, never world-readable even for a moment."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(spec, handle)


class Supervised(Protocol):
    pid: int
    started_at: float | None
    returncode: int | None  # known once ``wait`` said it exited; None when nobody could tell

    def wait(self, timeout: float) -> bool:
        """True once the supervisor has exited, False after ``timeout`` seconds."""
        ...


class SpawnedSupervisor:
    """A supervisor started as this process's own child (no launcher)."""

    def __init__(self, popen: subprocess.Popen[bytes]) -> None:
        self.popen = popen
        self.pid = popen.pid
        self.started_at = start_time(popen.pid)
        self.returncode: int | None = None
        try:
            self.pidfd: int | None = os.pidfd_open(popen.pid)
        except (AttributeError, OSError):  # no pidfd (Linux < 5.3): Popen's polling wait
            self.pidfd = None

    def wait(self, timeout: float) -> bool:
        """``Popen.wait(timeout)`` polls with sleeps growing to 50 ms, which every run paid after its
        end; a pidfd becomes readable the moment the process exits, so ``select`` on it wakes at once."""
        if self.pidfd is not None and self.popen.returncode is None:
            readable, _, _ = select.select([self.pidfd], [], [], timeout)
            if not readable:
                return False
        try:
            self.returncode = self.popen.wait(timeout=None if self.pidfd is not None else timeout)
        except subprocess.TimeoutExpired:
            return False
        if self.pidfd is not None:
            os.close(self.pidfd)
            self.pidfd = None
        return True


def spawn_supervisor(spec_path: Path, stderr_path: Path) -> SpawnedSupervisor:
    """A fresh ``python -I -S supervise.py``: the way without a launcher (~35 ms of start-up)."""
    with open(stderr_path, "ab") as stderr:
        popen = subprocess.Popen(
            [sys.executable, "-I", "-S", str(SUPERVISOR), str(spec_path)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            start_new_session=True,
            close_fds=True,
        )
    return SpawnedSupervisor(popen)


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


def wait_gone(pid: int, started_at: float | None, timeout: float) -> bool:
    """True once the process (that very one: pid + start time) has exited, False after ``timeout``.

    For a process that is not our child (re-attached after a restart, or forked by a launcher that
    is gone): a pidfd wakes at its exit; without pidfds, one look after sleeping ``timeout``."""
    if not is_same_process(pid, started_at):
        return True
    try:
        pidfd = os.pidfd_open(pid)
    except (AttributeError, OSError):
        time.sleep(timeout)
        return not is_same_process(pid, started_at)
    try:
        readable, _, _ = select.select([pidfd], [], [], timeout)
    finally:
        os.close(pidfd)
    return bool(readable) or not is_same_process(pid, started_at)


def signal_supervisor(pid: int | None, started_at: float | None, sig: int = signal.SIGUSR1) -> bool:
    if not is_same_process(pid, started_at):
        return False
    assert pid is not None
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)
        return True
    return False
