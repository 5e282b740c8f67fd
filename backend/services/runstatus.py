"""In-process wake-ups for whoever follows a run: "its log grew" and "its status changed".

A log follower used to poll the file every 100 ms and the status every second; now it sleeps on a
per-run channel that the log watcher (``logwatch``) and the run-end path (a run-end listener in
``app.py``) poke. Only runs someone follows have a channel, so announcing a run nobody watches
costs a dictionary look-up. A channel counts generations instead of holding a flag: a follower reads
the generation *before* it reads the log or the status and waits for a newer one, so a poke that
lands between its read and its wait is never lost.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field


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
    """The run's status changed (``status=True``) or its log grew: wake its followers at once."""
    with _lock:
        channel = _channels.get(execution_id)
    if channel is not None:
        channel.poke(status)


def followed() -> int:
    """How many runs are followed now (for tests: a finished stream leaves nothing behind)."""
    with _lock:
        return len(_channels)
