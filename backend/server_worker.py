"""Several web processes share the open connections out evenly.

A kept-alive connection stays with the process that accepted it. gunicorn's workers all wait on
one listening socket and the first awake takes the next connection, which is most often the
busiest one: its loop is awake anyway while an idle sibling must be woken. Measured with
``SCRIPTMAN_WEB_PROCESSES=2`` and 20 API clients: splits of 18 to 2, the busy half waiting four
times as long as the other (p99 170-190 ms against 40 ms). As nginx's workers do, a process that
holds more connections than the least loaded live sibling (plus ``SLACK``) stops accepting until
that changes. The counts live in a small shared-memory board that gunicorn's master makes before
it forks the workers; a worker that stopped posting (dead, being replaced) is left out after
``STALE_SECONDS``, so a stuck sibling never stops the others from accepting.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import time
from typing import Any

from gunicorn.workers.gthread import ThreadWorker

SLACK = 1  # connections a process may hold above the least loaded one and still accept
STALE_SECONDS = 2.0  # a worker's loop posts at least once a second (gunicorn's poll timeout)


class ConnectionBoard:
    """Each web process's open connections, one slot per process, in memory shared across the fork."""

    def __init__(self, slots: int) -> None:
        self.slots = slots
        self._counts = multiprocessing.RawArray(ctypes.c_long, slots)
        self._posted = multiprocessing.RawArray(ctypes.c_double, slots)  # CLOCK_MONOTONIC: one clock per machine

    def post(self, slot: int, connections: int) -> None:
        self._counts[slot] = connections
        self._posted[slot] = time.monotonic()

    def may_accept(self, slot: int, connections: int) -> bool:
        """Whether the process in ``slot``, holding ``connections``, should take the next one."""
        fresh_after = time.monotonic() - STALE_SECONDS
        others = [
            self._counts[other] for other in range(self.slots) if other != slot and self._posted[other] > fresh_after
        ]
        return not others or connections <= min(others) + SLACK

    def free_slot(self, taken: set[int]) -> int:
        return min(set(range(self.slots)) - taken, default=0)


BOARD: ConnectionBoard | None = None  # made by ``share_connections`` in the master, inherited by the fork


def share_connections(arbiter: Any) -> None:
    """gunicorn's ``on_starting`` hook (in the master, before it forks): the board the workers post to."""
    global BOARD
    BOARD = ConnectionBoard(arbiter.num_workers)


def assign_slot(arbiter: Any, worker: Any) -> None:
    """gunicorn's ``pre_fork`` hook (in the master): the new worker takes a slot no live worker holds."""
    if BOARD is not None:
        taken = {getattr(sibling, "board_slot", -1) for sibling in arbiter.WORKERS.values()}
        worker.board_slot = BOARD.free_slot(taken)


class BalancedThreadWorker(ThreadWorker):  # type: ignore[misc]
    """gunicorn's gthread worker that accepts only while it holds no more connections than its
    least loaded sibling (plus ``SLACK``); otherwise unchanged."""

    def set_accept_enabled(self, enabled: bool) -> None:
        # gunicorn's loop turns accepting back on whenever it is below worker_connections: the board
        # has the last word here as well
        super().set_accept_enabled(enabled and self._fair())

    def wait_for_and_dispatch_events(self, timeout: float) -> None:
        # once per loop, before it waits: post this worker's count, start or stop accepting
        if self.nr_conns < self.worker_connections:
            super().set_accept_enabled(self._fair())
        super().wait_for_and_dispatch_events(timeout)

    def _fair(self) -> bool:
        board, slot = BOARD, getattr(self, "board_slot", None)
        if board is None or slot is None:
            return True
        board.post(slot, self.nr_conns)
        return board.may_accept(slot, self.nr_conns)
