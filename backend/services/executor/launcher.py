"""The server's side of the launcher (``forkserver.py``): start it, ask it for supervisors, hear them end.

One launcher per executor, started with it. A run asks for a supervisor with one message and gets
its pid back in well under a millisecond; the launcher reports each supervisor's exit (with its
code), so the runner learns the end of a run without polling. When the launcher is missing or dies,
``launch`` raises :class:`LauncherUnavailable` and the caller starts the supervisor directly (the
slower, always-available path); the next run tries to start a new launcher.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from pathlib import Path

from backend.services.executor import process

log = logging.getLogger(__name__)

FORKSERVER = Path(__file__).with_name("forkserver.py")
MESSAGE_BYTES = 65536
READY_SECONDS = 10.0
REPLY_SECONDS = 10.0
RETRY_SECONDS = 60.0  # after a launcher failed to come up, runs start their supervisor directly this long


class LauncherUnavailable(Exception):
    """The launcher could not be started or is gone: start the supervisor the direct way."""


class LaunchedSupervisor:
    """A supervisor forked by the launcher: not this process's child, so its end comes as a message."""

    def __init__(self, launcher: Launcher, pid: int, generation: int) -> None:
        self.launcher = launcher
        self.generation = generation
        self.pid = pid
        self.started_at = process.start_time(pid)
        self.returncode: int | None = None
        self.exited = threading.Event()

    def wait(self, timeout: float) -> bool:
        """True once the supervisor has exited. When the launcher died meanwhile nobody reports the
        end: then the pid (with its start time, never a reused one) is watched instead."""
        if self.exited.wait(timeout if self.launcher.serves(self.generation) else 0):
            return True
        if self.launcher.serves(self.generation):
            return False
        if process.wait_gone(self.pid, self.started_at, timeout):
            self.exited.set()
            return True
        return False


class Launcher:
    def __init__(self, stderr_path: Path) -> None:
        self.stderr_path = stderr_path
        self.lock = threading.Lock()
        self.ids = itertools.count(1)
        self.sock: socket.socket | None = None
        self.popen: subprocess.Popen[bytes] | None = None
        self.ready: threading.Event = threading.Event()
        self.alive = False
        self.generation = 0  # which launcher process: a supervisor hears of its end only from its own
        self.replies: dict[int, Future[int]] = {}
        self.running: dict[int, LaunchedSupervisor] = {}
        self.early_exits: dict[int, int] = {}  # an exit reported before its launch reply was handled
        self.retry_at = 0.0

    # -- life cycle -----------------------------------------------------------------------------------
    def start(self) -> None:
        """Start the launcher process (it loads its modules while the server goes on)."""
        with self.lock:
            self._start_locked()

    def _start_locked(self) -> None:
        if self.alive:
            return
        if time.monotonic() < self.retry_at:
            raise LauncherUnavailable("the launcher failed to start a moment ago")
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            with open(self.stderr_path, "ab") as stderr:
                self.popen = subprocess.Popen(
                    [sys.executable, "-I", "-S", str(FORKSERVER), str(theirs.fileno())],
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=stderr,
                    pass_fds=(theirs.fileno(),),
                    start_new_session=True,  # outside the server's process group: runs outlive it
                )
        except OSError as error:
            ours.close()
            raise LauncherUnavailable(f"could not start the launcher: {error}") from None
        finally:
            theirs.close()
        self.sock = ours
        self.ready = threading.Event()
        self.alive = True
        self.generation += 1
        reader = threading.Thread(
            target=self._read,
            args=(ours, self.ready, self.generation, self.popen),
            name="scriptman-launcher",
            daemon=True,
        )
        reader.start()

    def serves(self, generation: int) -> bool:
        return self.alive and self.generation == generation

    def stop(self) -> None:
        """Closing the socket ends the launcher; the supervisors it started keep running."""
        with self.lock:
            self.alive = False
            if self.sock is not None:
                with contextlib.suppress(OSError):
                    self.sock.shutdown(socket.SHUT_RDWR)  # wakes the reader thread's recv
        if self.popen is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.popen.wait(timeout=5)

    # -- launching ------------------------------------------------------------------------------------
    def launch(self, spec_path: Path, stderr_path: Path) -> LaunchedSupervisor:
        with self.lock:
            self._start_locked()
            ready, generation = self.ready, self.generation
        if not ready.wait(READY_SECONDS) or not self.serves(generation):
            with self.lock:
                self.retry_at = time.monotonic() + RETRY_SECONDS
            raise LauncherUnavailable(f"the launcher did not become ready (see {self.stderr_path})")
        request_id = next(self.ids)
        reply: Future[int] = Future()
        with self.lock:
            if self.sock is None or not self.serves(generation):
                raise LauncherUnavailable("the launcher is gone")
            self.replies[request_id] = reply
            try:
                self.sock.send(
                    json.dumps({"id": request_id, "spec": str(spec_path), "stderr": str(stderr_path)}).encode()
                )
            except OSError as error:
                self.replies.pop(request_id, None)
                raise LauncherUnavailable(f"the launcher is gone: {error}") from None
        try:
            pid = reply.result(timeout=REPLY_SECONDS)
        except FutureTimeout:
            # Not "unavailable": starting it directly now could run the script twice if the launcher
            # wakes up later. Without its spec a late fork ends at once; this run fails with a reason.
            spec_path.unlink(missing_ok=True)
            raise TimeoutError(
                f"the launcher did not answer in {REPLY_SECONDS:.0f} s; the run was not started"
            ) from None
        finally:
            with self.lock:
                self.replies.pop(request_id, None)
        supervised = LaunchedSupervisor(self, pid, generation)
        with self.lock:
            if pid in self.early_exits:
                supervised.returncode = self.early_exits.pop(pid)
                supervised.exited.set()
            else:
                self.running[pid] = supervised
        return supervised

    # -- the reader thread -----------------------------------------------------------------------------
    def _read(
        self, sock: socket.socket, ready: threading.Event, generation: int, popen: subprocess.Popen[bytes]
    ) -> None:
        try:
            while True:
                data = sock.recv(MESSAGE_BYTES)
                if not data:
                    break
                self._handle(json.loads(data), ready)
        except (OSError, ValueError):
            pass
        finally:
            self._lost(sock, ready, generation)
            with contextlib.suppress(subprocess.TimeoutExpired):
                popen.wait(timeout=5)  # reap it (it exits on the closed socket)

    def _handle(self, message: dict[str, object], ready: threading.Event) -> None:
        if message.get("ready"):
            ready.set()
            return
        if "exited" in message:
            pid, code = int(message["exited"]), message.get("code")  # type: ignore[call-overload]
            with self.lock:
                supervised = self.running.pop(pid, None)
                if supervised is None:
                    self.early_exits[pid] = code  # type: ignore[assignment]
            if supervised is not None:
                supervised.returncode = code  # type: ignore[assignment]
                supervised.exited.set()
            return
        with self.lock:
            reply = self.replies.get(int(message.get("id") or 0))  # type: ignore[call-overload]
        if reply is None:
            return
        if "pid" in message:
            reply.set_result(int(message["pid"]))  # type: ignore[call-overload]
        else:
            reply.set_exception(LauncherUnavailable(str(message.get("error"))))

    def _lost(self, sock: socket.socket, ready: threading.Event, generation: int) -> None:
        """The launcher ended (or was stopped): waiting runs fall back to watching their pid."""
        pending: list[Future[int]] = []
        with self.lock:
            if self.generation == generation:
                self.alive = False
                self.sock = None
                pending = list(self.replies.values())
                self.replies.clear()
            sock.close()
            for pid in [pid for pid, s in self.running.items() if s.generation == generation]:
                del self.running[pid]
        ready.set()
        for reply in pending:
            if not reply.done():
                reply.set_exception(LauncherUnavailable("the launcher is gone"))


def start_supervisor(launcher: Launcher | None, spec_path: Path, stderr_path: Path) -> process.Supervised:
    """Through the launcher when there is one (a fork, no interpreter start-up), else directly."""
    if launcher is not None:
        try:
            return launcher.launch(spec_path, stderr_path)
        except LauncherUnavailable as error:
            log.warning("starting the supervisor directly: %s", error)
    return process.spawn_supervisor(spec_path, stderr_path)
