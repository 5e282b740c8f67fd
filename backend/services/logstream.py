"""Following a run's log for Server-Sent Events.

The stream only reads: it follows the log file from a byte offset (the SSE event id), so a
reader never slows the run, any number of readers see the same records, and a reconnect with
``Last-Event-ID`` resumes exactly. It holds no database session while it waits (STACK.md: 20
streams holding sessions exhausted the pool); it sleeps until the log grows or the run's status is
announced, looks the status up briefly when the log or an announcement suggests it changed, and at
least every ``STATUS_POLL_SECONDS``.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from backend.services import logwatch, runstatus
from backend.services.executor.logfile import Record, read_records

FOLLOW_POLL_SECONDS = 0.1
STATUS_POLL_SECONDS = 1.0
KEEPALIVE_SECONDS = 15.0
BATCH_RECORDS = 500
FINAL_STATUSES = frozenset({"succeeded", "failed", "timed_out", "cancelled", "interrupted"})

StatusLookup = Callable[[], dict[str, Any] | None]
WatchState = Literal["file", "folder"] | None  # what wakes a follower: writes, the log's creation, or nothing


def sse(event: str, data: Any, event_id: int | None = None) -> str:
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


def _event_for(record: Record) -> str:
    if record.stream == "prg":
        try:
            payload = json.loads(record.text)
        except ValueError:
            payload = {"text": record.text}
        return sse("progress", payload, record.next_offset)
    return sse("log", record.as_dict(), record.next_offset)


@dataclass(frozen=True)
class Event:
    """One step of following a run: log record(s), a status change, the end, or a quiet moment."""

    kind: Literal["record", "records", "status", "end", "keepalive"]
    record: Record | None = None
    status: dict[str, Any] | None = None
    records: tuple[Record, ...] = ()


def events(
    log_path: str,
    offset: int,
    lookup: StatusLookup,
    *,
    execution_id: int | None = None,
    batch: bool = False,
    watch: bool = True,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    keepalive_seconds: float = KEEPALIVE_SECONDS,
) -> Iterator[Event]:
    """Records from ``offset``, status changes, then the end: what SSE and ``scriptman run`` show.

    With ``execution_id`` the follower sleeps until the log grows (inotify, ``logwatch``) or the
    run's status is announced (``runstatus``), so a line or the end reaches the reader at once; the
    file poll (``FOLLOW_POLL_SECONDS``) is only the fallback where inotify is unavailable (or
    ``watch`` is False: ``SCRIPTMAN_LOG_FOLLOW=poll``), and the status is still looked up every
    ``STATUS_POLL_SECONDS`` in case an announcement never comes (a status changed by another process).
    With ``batch`` every read yields one ``records`` event holding all the records that were
    waiting, instead of one ``record`` event each.

    The final log line is written before the final status is stored, so once the status is final
    everything left in the file is drained and the following ends with nothing lost.
    """
    if execution_id is None:
        yield from _follow(log_path, offset, lookup, None, None, batch, clock, sleep, keepalive_seconds)
        return
    with runstatus.follow(execution_id) as channel, _Watch(log_path, execution_id) as watcher:
        renew = watcher.renew if watch else None
        yield from _follow(log_path, offset, lookup, channel, renew, batch, clock, sleep, keepalive_seconds)


class _Watch:
    """The inotify watch of one follower: on the log file, or on its folder until a queued run's log
    appears (then on the file). ``renew`` says what wakes the follower now."""

    def __init__(self, log_path: str, execution_id: int) -> None:
        self.log_path, self.execution_id = log_path, execution_id
        self.stops: list[Callable[[], None]] = []
        self.state: WatchState = None

    def __enter__(self) -> _Watch:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        while self.stops:
            self.stops.pop()()

    def renew(self) -> WatchState:
        if self.state == "file" or (self.state == "folder" and not os.path.exists(self.log_path)):
            return self.state
        started = logwatch.start(self.log_path, self.execution_id)
        if started is None:  # no inotify, or out of watches: the caller polls
            self.close()
            self.state = None
            return None
        stop, on_file = started
        if on_file:
            self.close()  # the folder's watch is no longer needed
        self.stops.append(stop)
        self.state = "file" if on_file else "folder"
        return self.state


def _follow(
    log_path: str,
    offset: int,
    lookup: StatusLookup,
    channel: runstatus.Channel | None,
    renew_watch: Callable[[], WatchState] | None,
    batch: bool,
    clock: Callable[[], float],
    sleep: Callable[[float], None],
    keepalive_seconds: float,
) -> Iterator[Event]:
    watched = renew_watch() if renew_watch else None
    last_status: str | None = None
    last_check = float("-inf")
    status_seen = 0
    last_sent = clock()
    while True:
        # read the generation before the log and the status: a poke after this wakes the wait below
        generation = channel.changes if channel else 0
        status_mark = channel.status_changes if channel else 0
        records = read_records(log_path, offset, limit=BATCH_RECORDS)
        if records:
            if batch:
                yield Event("records", records=tuple(records))
            else:
                for record in records:
                    yield Event("record", record=record)
            offset = records[-1].next_offset
        now = clock()
        if records:
            last_sent = now
        announced = status_mark != status_seen
        status_seen = status_mark
        if announced or any(r.stream == "sys" for r in records) or now - last_check >= STATUS_POLL_SECONDS:
            last_check = now
            current = lookup()
            if current is None:
                yield Event("end", status={"status": "deleted", "offset": offset})
                return
            if current["status"] != last_status:
                last_status = current["status"]
                yield Event("status", status=current)
                last_sent = now
            if last_status in FINAL_STATUSES and not read_records(log_path, offset, limit=1):
                yield Event("end", status={**current, "offset": offset})
                return
        if len(records) == BATCH_RECORDS:
            continue
        if now - last_sent >= keepalive_seconds:
            yield Event("keepalive")
            last_sent = now
        if watched != "file" and renew_watch is not None:
            before, watched = watched, renew_watch()
            if watched == "file" and before != "file":
                continue  # the log appeared (a queued run started): read what came before the watch
        if channel is None:
            sleep(FOLLOW_POLL_SECONDS)
            continue
        until_status = last_check + STATUS_POLL_SECONDS - now
        until_keepalive = last_sent + keepalive_seconds - now
        channel.wait(generation, min(until_status, until_keepalive) if watched else FOLLOW_POLL_SECONDS)


def to_sse(followed: Iterable[Event]) -> Iterator[str]:
    """SSE text for ``events()``: ``log``/``logs``/``progress`` records, ``status`` changes, then ``end``.

    A ``records`` event becomes one ``logs`` event per run of consecutive log records (a JSON array,
    the id is the offset after its last record; a run of one stays a plain ``log`` event), with
    ``progress`` events between them in the order they were printed.
    """
    try:
        yield "retry: 2000\n\n"
        for event in followed:
            if event.kind == "record" and event.record is not None:
                yield _event_for(event.record)
            elif event.kind == "records":
                yield from _batched(event.records)
            elif event.kind == "keepalive":
                yield ": keepalive\n\n"
            else:
                yield sse(event.kind, event.status)
    finally:
        close = getattr(followed, "close", None)
        if close is not None:
            close()  # a client that left: stop watching its run now, not when garbage is collected


def _batched(records: Sequence[Record]) -> Iterator[str]:
    pending: list[Record] = []
    for record in records:
        if record.stream == "prg":
            yield from _flush(pending)
            pending = []
            yield _event_for(record)
        else:
            pending.append(record)
    yield from _flush(pending)


def _flush(pending: list[Record]) -> Iterator[str]:
    if len(pending) == 1:
        yield _event_for(pending[0])
    elif pending:
        yield sse("logs", [r.as_dict() for r in pending], pending[-1].next_offset)
