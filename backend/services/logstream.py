"""Following a run's log for Server-Sent Events.

The stream only reads: it follows the log file from a byte offset (the SSE event id), so a
reader never slows the run, any number of readers see the same records, and a reconnect with
``Last-Event-ID`` resumes exactly. It holds no database session while it waits (STACK.md: 20
streams holding sessions exhausted the pool); it looks the status up briefly when the log
suggests it changed, and at least every ``STATUS_POLL_SECONDS``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

from backend.services.executor.logfile import Record, read_records

FOLLOW_POLL_SECONDS = 0.1
STATUS_POLL_SECONDS = 1.0
KEEPALIVE_SECONDS = 15.0
BATCH_RECORDS = 500
FINAL_STATUSES = frozenset({"succeeded", "failed", "timed_out", "cancelled", "interrupted"})

StatusLookup = Callable[[], dict[str, Any] | None]


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
    """One step of following a run: a log record, a status change, the end, or a quiet moment."""

    kind: Literal["record", "status", "end", "keepalive"]
    record: Record | None = None
    status: dict[str, Any] | None = None


def events(
    log_path: str,
    offset: int,
    lookup: StatusLookup,
    *,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    keepalive_seconds: float = KEEPALIVE_SECONDS,
) -> Iterator[Event]:
    """Records from ``offset``, status changes, then the end: what SSE and ``scriptman run`` show.

    The final log line is written before the final status is stored, so once the status is final
    everything left in the file is drained and the following ends with nothing lost.
    """
    last_status: str | None = None
    last_check = float("-inf")
    last_sent = clock()
    while True:
        records = read_records(log_path, offset, limit=BATCH_RECORDS)
        for record in records:
            yield Event("record", record=record)
            offset = record.next_offset
        now = clock()
        if records:
            last_sent = now
        if any(r.stream == "sys" for r in records) or now - last_check >= STATUS_POLL_SECONDS:
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
        sleep(FOLLOW_POLL_SECONDS)


def to_sse(followed: Iterable[Event]) -> Iterator[str]:
    """SSE text for ``events()``: ``log``/``progress`` records, ``status`` changes, then ``end``."""
    yield "retry: 2000\n\n"
    for event in followed:
        if event.kind == "record" and event.record is not None:
            yield _event_for(event.record)
        elif event.kind == "keepalive":
            yield ": keepalive\n\n"
        else:
            yield sse(event.kind, event.status)
