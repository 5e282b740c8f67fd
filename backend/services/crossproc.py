"""Wake-ups between the web processes of one server (``SCRIPTMAN_WEB_PROCESSES`` > 1).

gunicorn's workers share the database but no memory, so "a run was queued" and "a run's status
changed" must cross a process boundary to reach the thread that sleeps on them. A Unix datagram
socket is the cheapest signal that does: no broker, nothing polled, one ``sendto`` per message, and
a dead receiver costs the sender an ``ECONNREFUSED``. A message only says "look again" — the
receiver re-reads the database — so one that is lost (a full queue) costs the fallback poll, never
a wrong answer.

The sockets live in ``data/processes/`` (0700): ``data/`` may be traversed by a run-as user, this
folder may not, so only the server's own user can send. Linux queues only a few datagrams per
socket (``net.unix.max_dgram_qlen``, 10 here), so senders never block on a busy receiver: a wake
that finds the queue full is dropped (the receiver has wakes pending anyway), and ``Peers``
coalesces what it broadcasts into one datagram per peer.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Literal

log = logging.getLogger(__name__)

FOLDER = "processes"
MAX_SOCKET_PATH = 107  # sun_path is 108 bytes with its terminating NUL
MAX_DATAGRAM = 4096
PEER_PREFIX, PEER_SUFFIX = "peer-", ".sock"
FULL_RETRY_SECONDS = 0.002
FULL_GIVE_UP_SECONDS = 0.2

_sender_lock = threading.Lock()
_sender: tuple[int, socket.socket] | None = None  # (pid, socket): a forked child makes its own


def folder(data_dir: Path) -> Path:
    """The sockets' folder, made 0700 if missing."""
    path = data_dir / FOLDER
    path.mkdir(mode=0o700, exist_ok=True)
    os.chmod(path, 0o700)
    return path


def _sending_socket() -> socket.socket:
    global _sender
    with _sender_lock:
        if _sender is None or _sender[0] != os.getpid():
            _sender = (os.getpid(), socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM))
        return _sender[1]


def send(path: Path | str, data: bytes) -> bool:
    """One datagram to the inbox at ``path``, never blocking; False when nobody got it (no inbox
    bound there, its owner died, or its queue is full)."""
    return _sendto(path, data) == "sent"


Outcome = Literal["sent", "gone", "refused", "full"]


def _sendto(path: Path | str, data: bytes) -> Outcome:
    try:
        _sending_socket().sendto(data, socket.MSG_DONTWAIT, os.fspath(path))
    except FileNotFoundError:
        return "gone"
    except ConnectionRefusedError:  # the file is there, its process is not (kill -9 leaves it)
        return "refused"
    except BlockingIOError:
        return "full"
    except OSError as error:  # e.g. a path too long for a socket: the receiver's own poll covers it
        log.debug("cannot send to %s: %s", path, error)
        return "gone"
    return "sent"


class Inbox:
    """A datagram socket bound at ``path``, read by a daemon thread that hands each message to
    ``handler``. Only one process may own a path at a time (the caller makes sure: a lock, a pid)."""

    def __init__(self, path: Path, handler: Callable[[bytes], None], name: str) -> None:
        self.path = path
        self.handler = handler
        self.name = name
        self.sock: socket.socket | None = None
        self.thread: threading.Thread | None = None

    def open(self) -> None:
        """Bind (replacing a socket file a dead owner left) and start reading; ``OSError`` when
        the path cannot hold a socket (e.g. longer than ``MAX_SOCKET_PATH``)."""
        if len(os.fsencode(self.path)) > MAX_SOCKET_PATH:
            raise OSError(f"{self.path} is too long for a Unix socket ({MAX_SOCKET_PATH} bytes at most)")
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            sock.bind(os.fspath(self.path))
            os.chmod(self.path, 0o600)
        except OSError:
            sock.close()
            raise
        self.sock = sock
        self.thread = threading.Thread(target=self._loop, args=(sock,), name=self.name, daemon=True)
        self.thread.start()

    def close(self) -> None:
        """Stop reading and remove the socket file (nobody can send to a closed inbox)."""
        sock, self.sock = self.sock, None
        if sock is None:
            return
        with contextlib.suppress(OSError):
            os.unlink(self.path)
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)  # wakes the blocked recv with an empty message
        if self.thread is not None and self.thread is not threading.current_thread():
            self.thread.join(timeout=2)
        sock.close()

    def _loop(self, sock: socket.socket) -> None:
        while True:
            try:
                data = sock.recv(MAX_DATAGRAM)
            except OSError:
                return
            if not data:  # shut down (an empty datagram is never sent)
                return
            try:
                self.handler(data)
            except Exception:
                log.exception("%s: handling a message failed", self.name)


class Peers:
    """Every web process's inbox in one folder (``peer-<pid>.sock``): ``broadcast`` reaches all the
    others. Items are sent by a thread of their own, coalesced into one datagram per peer, so the
    caller (a run ending, a claim) never waits on another process."""

    def __init__(self, folder: Path, handler: Callable[[list[int]], None]) -> None:
        self.folder = folder
        self.handler = handler
        self.own = f"{PEER_PREFIX}{os.getpid()}{PEER_SUFFIX}"
        self.inbox = Inbox(folder / self.own, self._heard, "scriptman-peers-in")
        self.pending: list[int] = []
        self.condition = threading.Condition()
        self.closed = False
        self.thread = threading.Thread(target=self._send_loop, name="scriptman-peers-out", daemon=True)

    def open(self) -> None:
        self.inbox.open()
        self.thread.start()

    def close(self) -> None:
        with self.condition:
            self.closed = True
            self.condition.notify()
        self.inbox.close()
        if self.thread.is_alive() and self.thread is not threading.current_thread():
            self.thread.join(timeout=2)

    def broadcast(self, item: int) -> None:
        with self.condition:
            self.pending.append(item)
            self.condition.notify()

    def _heard(self, data: bytes) -> None:
        items = [int(part) for part in data.split(b",") if part.strip().isdigit()]
        if items:
            self.handler(items)

    def _send_loop(self) -> None:
        while True:
            with self.condition:
                self.condition.wait_for(lambda: self.pending or self.closed)
                if self.closed:
                    return
                items, self.pending = list(dict.fromkeys(self.pending)), []
            try:
                for datagram in _datagrams(items):
                    for path in self._others():
                        self._deliver(path, datagram)
            except Exception:
                log.exception("broadcasting to the other web processes failed")

    def _others(self) -> list[Path]:
        try:
            names = [entry.name for entry in os.scandir(self.folder)]
        except OSError:
            return []
        return [
            self.folder / name
            for name in names
            if name.startswith(PEER_PREFIX) and name.endswith(PEER_SUFFIX) and name != self.own
        ]

    def _deliver(self, path: Path, datagram: bytes) -> None:
        give_up = time.monotonic() + FULL_GIVE_UP_SECONDS
        while (outcome := _sendto(path, datagram)) == "full" and time.monotonic() < give_up:
            time.sleep(FULL_RETRY_SECONDS)  # it is busy reading: try again shortly
        if outcome == "refused":  # its process died and left the file: nobody will read it again
            with contextlib.suppress(OSError):
                os.unlink(path)
        elif outcome == "full":
            log.debug("%s stays full: its followers fall back to their poll", path)


def _datagrams(items: list[int]) -> list[bytes]:
    """``items`` as comma-separated decimals, cut to fit ``MAX_DATAGRAM``."""
    out: list[bytes] = []
    current = b""
    for item in items:
        text = str(item).encode()
        if current and len(current) + 1 + len(text) > MAX_DATAGRAM:
            out.append(current)
            current = b""
        current = current + b"," + text if current else text
    if current:
        out.append(current)
    return out
