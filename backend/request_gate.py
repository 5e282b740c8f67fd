"""At most a few reading requests (one by default) run Python at once in one web process; the rest
wait in line.

A web process holds up to 1000 threads so live-log streams never starve (``server.py``), but 20
requests running at once on one GIL are handed the interpreter in turn every few milliseconds:
each takes about 20 times its own CPU to finish, and switching costs CPU of its own (measured here:
3.8 ms of server CPU per request alone, 7.9 ms with 20 clients). In line, strictly first come first
served (``FifoSlots``), each request runs alone: with 20 clients a line of 1 answered 216 req/s at a
p99 of 141-149 ms where a line of 4 answered 140-182 req/s at 189-228 ms (same session). Only reads
are gated: a live log (``/logs/stream``) lives for minutes, a log search reads a whole log, and a
write may read a slow client's upload or wait for a run (``?wait``). No request waits in line
longer than ``QUEUE_WAIT_SECONDS``: a slow read cannot hold the others back.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

GATED_METHODS = frozenset({"GET", "HEAD"})
# a live log lives for minutes; a search through a big log reads it all (seconds): neither holds the line
UNGATED_SUFFIXES = ("/stream", "/logs/search")
QUEUE_WAIT_SECONDS = 0.5

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class FifoSlots:
    """A counting semaphore that serves its waiters strictly in arrival order.

    ``threading.Semaphore`` lets a request that arrives just as a slot is given back take it while
    the woken waiter is still getting the GIL: under load some reads waited in line 0.2 s while later
    ones went first. Here a slot given back goes straight to the longest-waiting request.
    """

    def __init__(self, count: int) -> None:
        self._lock = threading.Lock()
        self._count = count
        self._free = count
        self._waiting: deque[threading.Lock] = deque()

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        with self._lock:
            if self._free and not self._waiting:
                self._free -= 1
                return True
            if not blocking:
                return False
            turn = threading.Lock()
            turn.acquire()
            self._waiting.append(turn)
        if turn.acquire(timeout=timeout):
            return True  # handed a slot by release()
        with self._lock:
            if turn in self._waiting:
                self._waiting.remove(turn)
                return False
        return True  # handed a slot just as the wait ran out: it is ours

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    def release(self) -> None:
        with self._lock:
            if self._waiting:
                self._waiting.popleft().release()
            elif self._free < self._count:
                self._free += 1
            else:
                raise ValueError("a slot was given back more often than taken")


class RequestGate:
    def __init__(self, app: WSGIApp, limit: int) -> None:
        self.app = app
        self.slots = FifoSlots(limit)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD") not in GATED_METHODS or environ.get("PATH_INFO", "").endswith(
            UNGATED_SUFFIXES
        ):
            return self.app(environ, start_response)
        # a slow read (a search through a huge log) delays the line by at most QUEUE_WAIT_SECONDS: then
        # the next one runs beside it, as every request did before the gate
        gated = self.slots.acquire(timeout=QUEUE_WAIT_SECONDS)
        try:
            # the handler runs inside the call; a streamed body (a download, a zip) is sent after it
            return self.app(environ, start_response)
        finally:
            if gated:
                self.slots.release()
