"""The launcher process: a long-lived, single-threaded Python that forks a ready supervisor per run.

Started once by the server (``python -I -S forkserver.py <fd>``, in its own session, so a signal to the
server's process group does not reach it). It imports the supervisor's modules once; each run is
then a ``fork()`` of this small process instead of a fresh interpreter (~35 ms of start-up and
imports per run). A forked supervisor calls ``setsid()`` and is exactly what ``python -I -S
supervise.py <spec>`` was: same code, same session/process-group layout, same limits, cgroup and
sandbox, so a server restart re-attaches to it as before.

Protocol on the inherited ``SOCK_SEQPACKET`` socket (one JSON object per message):

- server → launcher: ``{"id": n, "spec": path, "stderr": path}``
- launcher → server: ``{"ready": true}`` once, then ``{"id": n, "pid": pid}`` (or ``"error"``) per
  request, and ``{"exited": pid, "code": c}`` when a supervisor ends (``c`` as ``Popen.returncode``:
  negative for a signal).

End of file on the socket (the server exited, even by ``kill -9``) ends the launcher; the
supervisors it forked keep running (their runs survive a server restart) and are re-parented.

One supervisor is forked ahead ("the spare"): it has done its ``setsid`` and waits on a pipe for
its spec. A request hands the paths to it, answers with its pid at once and forks the next spare:
the fork and the new process's first scheduling are no longer between a run's claim and its
script. A spare whose pipe closes unused (the launcher ended) exits; nobody hears of it.
Standard library only, like the supervisor: this process must not hold threads or locks that a
``fork()`` would copy in a bad state.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import socket
import sys
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from backend.services.executor import supervise  # imported once: what every fork reuses

MESSAGE_BYTES = 65536


def _become_supervisor(keep: int = -1) -> None:
    """In the forked child: the session, signals and stdio of ``python -I -S supervise.py``; every
    other inherited descriptor (the launcher's socket, pidfds of other runs) closed but ``keep``."""
    os.setsid()
    for sig in (signal.SIGCHLD, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # as in a fresh interpreter
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 0)
    os.dup2(null, 1)
    if keep < 0:
        os.closerange(3, os.sysconf("SC_OPEN_MAX"))
    else:
        os.closerange(3, keep)
        os.closerange(keep + 1, os.sysconf("SC_OPEN_MAX"))


def _supervise(spec_path: str, stderr_path: str) -> int:
    err = os.open(stderr_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.dup2(err, 2)
    os.close(err)
    return supervise.main(spec_path)


def run_supervisor(spec_path: str, stderr_path: str) -> None:
    """In the forked child: become what ``python -I -S supervise.py <spec>`` started as, then run it."""
    code = 1
    try:
        _become_supervisor()
        code = _supervise(spec_path, stderr_path)
    except BaseException:
        traceback.print_exc()
    finally:
        sys.stderr.flush()
        os._exit(code)


def run_spare(pipe: int) -> None:
    """In the forked spare: become a supervisor now, then wait for the one request it serves."""
    code = 0
    try:
        _become_supervisor(keep=pipe)
        data = b""
        while chunk := os.read(pipe, MESSAGE_BYTES):
            data += chunk
        if data:  # nothing: the launcher ended without a run for this spare
            code = 1
            request = json.loads(data)
            code = _supervise(str(request["spec"]), str(request["stderr"]))
    except BaseException:
        traceback.print_exc()
    finally:
        sys.stderr.flush()
        os._exit(code)


class Launcher:
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.children: dict[int, int] = {}  # pidfd → pid
        self.spare: tuple[int, int] | None = None  # (pid, write end of its pipe)
        self.unused: set[int] = set()  # spares that ended without a run: their exit is nobody's business

    def send(self, message: dict[str, object]) -> None:
        self.sock.send(json.dumps(message).encode())

    def fork_spare(self) -> None:
        """The next run's supervisor, forked now (see the module's docstring)."""
        if self.spare is not None:
            return
        read, write = os.pipe()
        try:
            pid = os.fork()
        except OSError:
            os.close(read)
            os.close(write)
            return  # no spare: the next request forks as it comes
        if pid == 0:
            os.close(write)
            run_spare(read)
        os.close(read)
        self.children[os.pidfd_open(pid)] = pid
        self.spare = (pid, write)

    def spawn(self, request: dict[str, object]) -> None:
        try:
            spec, stderr = str(request["spec"]), str(request["stderr"])
            pid = self._hand_to_spare(spec, stderr) or os.fork()
        except (KeyError, OSError) as error:
            self.send({"id": request.get("id"), "error": f"{type(error).__name__}: {error}"})
            return
        if pid == 0:
            run_supervisor(spec, stderr)
        if pid not in self.children.values():
            self.children[os.pidfd_open(pid)] = pid
        self.send({"id": request.get("id"), "pid": pid})
        self.fork_spare()

    def _hand_to_spare(self, spec: str, stderr: str) -> int | None:
        """The spare's pid once it has the request; None when there is no (live) spare."""
        if self.spare is None:
            return None
        (pid, pipe), self.spare = self.spare, None
        try:
            os.write(pipe, json.dumps({"spec": spec, "stderr": stderr}).encode())
        except OSError:
            self.unused.add(pid)  # it died before its request: fork one now
            return None
        finally:
            os.close(pipe)
        return pid

    def reap(self, pidfd: int) -> None:
        pid = self.children.pop(pidfd)
        os.close(pidfd)
        _, status = os.waitpid(pid, 0)
        if self.spare is not None and self.spare[0] == pid:  # a spare that died unused: nobody waits for it
            os.close(self.spare[1])
            self.spare = None
            return
        if pid in self.unused:
            self.unused.discard(pid)
            return
        self.send({"exited": pid, "code": os.waitstatus_to_exitcode(status)})

    def serve(self) -> None:
        self.send({"ready": True})
        self.fork_spare()
        while True:
            readable, _, _ = select.select([self.sock, *self.children], [], [])
            for fd in readable:
                if fd is self.sock:
                    data = self.sock.recv(MESSAGE_BYTES)
                    if not data:
                        return  # the server is gone: leave the running supervisors be
                    self.spawn(json.loads(data))
                else:
                    self.reap(fd)


def main(fd: int) -> int:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a Ctrl-C meant for the server's terminal
    sock = socket.socket(fileno=fd)
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        Launcher(sock).serve()
    return 0


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1])))
