"""In-process wake-ups for whoever follows a run: "its log grew" and "its status changed".

A log follower used to poll the file every 100 ms and the status every second; now it sleeps on a
per-run channel that the log watcher (``logwatch``) and the run-end path (a run-end listener in
``app.py``) poke. Only runs someone follows have a channel, so announcing a run nobody watches
costs a dictionary look-up. A channel counts generations instead of holding a flag: a follower reads
the generation *before* it reads the log or the status and waits for a newer one, so a poke that
lands between its read and its wait is never lost.

With several web processes (``SCRIPTMAN_WEB_PROCESSES``) a run is claimed and ends in the process
that dispatches, while its followers may sit in any other: ``share`` makes ``announce`` also tell
the other processes (a datagram, ``crossproc.Peers``), which poke their own channels. A log's
growth is not shared: every process's inotify sees it already (``logwatch`` calls ``poke``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from backend.services import crossproc

log = logging.getLogger(__name__)


@dataclass
class Channel:
    """One followed run: ``changes`` counts every poke, ``status_changes`` only status pokes."""

    condition: threading.Condition = field(default_factory=threading.Condition)
    changes: int = 0
    status_changes: int = 0
    followers: int = 0

    def poke(self, status: bool) -> None:
        with self.condition:
            self.changes += 1
            if status:
                self.status_changes += 1
            self.condition.notify_all()

    def wait_status(self, since: int, timeout: float) -> int:
        """Block until ``status_changes`` differs from ``since`` or ``timeout`` passes (log growth
        does not wake it); returns ``status_changes``."""
        with self.condition:
            self.condition.wait_for(lambda: self.status_changes != since, timeout=max(timeout, 0.0))
            return self.status_changes

    def wait(self, since: int, timeout: float) -> int:
        """Block until ``changes`` differs from ``since`` or ``timeout`` passes; returns ``changes``."""
        with self.condition:
            self.condition.wait_for(lambda: self.changes != since, timeout=max(timeout, 0.0))
            return self.changes


_lock = threading.Lock()
_channels: dict[int, Channel] = {}
_peers: crossproc.Peers | None = None  # set by ``share``: the other web processes


@contextmanager
def follow(execution_id: int) -> Iterator[Channel]:
    """The run's channel while the caller follows it (shared by every follower of the run)."""
    with _lock:
        channel = _channels.setdefault(execution_id, Channel())
        channel.followers += 1
    try:
        yield channel
    finally:
        with _lock:
            channel.followers -= 1
            if channel.followers == 0:
                _channels.pop(execution_id, None)


def announce(execution_id: int, *, status: bool = True) -> None:
    """The run's status changed (``status=True``) or its log grew: wake its followers at once, in
    this process and (status changes, when ``share``d) in the server's other processes."""
    poke(execution_id, status=status)
    peers = _peers
    if status and peers is not None:
        peers.broadcast(execution_id)  # queued for a sender thread: this caller never waits


def poke(execution_id: int, *, status: bool) -> None:
    """Wake the run's followers in this process only."""
    with _lock:
        channel = _channels.get(execution_id)
    if channel is not None:
        channel.poke(status)


def share(data_dir: Path) -> None:
    """Exchange status announcements with the server's other web processes from now on."""
    global _peers
    with _lock:
        if _peers is not None:
            return
        peers = crossproc.Peers(crossproc.folder(data_dir), _heard)
        try:
            peers.open()
        except OSError as error:  # e.g. a home too deep for a socket path: followers keep their poll
            log.warning("cannot share run announcements between web processes: %s", error)
            return
        _peers = peers


def unshare() -> None:
    """Stop exchanging announcements (the server stops, or a test ends)."""
    global _peers
    with _lock:
        peers, _peers = _peers, None
    if peers is not None:
        peers.close()


def _heard(execution_ids: list[int]) -> None:
    for execution_id in execution_ids:
        poke(execution_id, status=True)


def followed() -> int:
    """How many runs are followed now (for tests: a finished stream leaves nothing behind)."""
    with _lock:
        return len(_channels)
