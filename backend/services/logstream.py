"""Following a run's log for Server-Sent Events.

The stream only reads: it follows the log file from a byte offset (the SSE event id), so a
reader never slows the run, any number of readers see the same records, and a reconnect with
``Last-Event-ID`` resumes exactly. It holds no database session while it waits (STACK.md: 20
streams holding sessions exhausted the pool); it sleeps until the log grows or the run's status is
announced, looks the status up when the log (a ``sys`` record) or an announcement suggests it
changed, and otherwise only every ``STATUS_POLL_SECONDS`` (a safety net for a missed announcement).

``stream`` serves the SSE endpoint: the streams of one run share a ``_Hub`` that reads, encodes and
looks up once for all of them. ``events`` is the lone follower (``scriptman run``).
"""

from __future__ import annotations

import json
import os
import threading
import time
from bisect import bisect_left
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from itertools import takewhile
from typing import Any, Literal

from backend.services import logwatch, runstatus
from backend.services.executor.logfile import Record, read_records

FOLLOW_POLL_SECONDS = 0.1
STATUS_POLL_SECONDS = 10.0  # safety poll; after a sys record the status is re-checked at a tenth of it
KEEPALIVE_SECONDS = 15.0
BATCH_RECORDS = 500
FINAL_STATUSES = frozenset({"succeeded", "failed", "timed_out", "cancelled", "interrupted"})

StatusLookup = Callable[[], dict[str, Any] | None]
WatchState = Literal["file", "folder"] | None  # what wakes a follower: writes, the log's creation, or nothing


def sse(event: str, data: Any, event_id: int | None = None) -> str:
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


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
    ``STATUS_POLL_SECONDS`` in case an announcement never comes (a status changed by another process
    that does not share its announcements).
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
    next_check = float("-inf")
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
        sys_record = any(r.stream == "sys" for r in records)
        if announced or sys_record or now >= next_check:
            # after a sys record (a run's last line is one) once more soon: the status may be stored unannounced
            next_check = now + (STATUS_POLL_SECONDS / 10 if sys_record else STATUS_POLL_SECONDS)
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
        until_status = next_check - now
        until_keepalive = last_sent + keepalive_seconds - now
        channel.wait(generation, min(until_status, until_keepalive) if watched else FOLLOW_POLL_SECONDS)


# --- Server-Sent Events: one reader per run, shared by all its streams -----------------------------


def stream(
    log_path: str,
    offset: int,
    lookup: StatusLookup,
    *,
    execution_id: int,
    batch: bool = False,
    watch: bool = True,
    clock: Callable[[], float] = time.monotonic,
    keepalive_seconds: float = KEEPALIVE_SECONDS,
) -> Iterator[bytes]:
    """The SSE text of one client following a run from ``offset``: ``retry``, then ``log`` events (with
    ``batch``: ``logs`` arrays of the records that were waiting), ``progress``, ``status`` changes,
    ``: keepalive`` comments, and ``end``; each record's event id is the offset after it.

    500 browsers on one run used to cost 500 status look-ups a second and 500 reads, parses and JSON
    encodings of every line (bench: p99 3-4 s). Now the run's hub reads each new record once, encodes
    it once (per mode) and every stream copies the same text; the status is looked up once per run (on
    an announcement, after a ``sys`` record, else every ``STATUS_POLL_SECONDS``). Streams pull from
    the hub, nothing is pushed into per-client queues: a slow client blocks only its own thread, and
    one that falls behind the hub's window (``WINDOW_CHARS``) reads the file itself, as every stream
    did before, until it reaches the window again. The final status is sent once the log is drained,
    right before ``end``.
    """
    yield b"retry: 2000\n\n"
    with _joined(execution_id, log_path, watch, lookup) as hub:
        sent: str | None = None  # the status this client was last sent
        last_sent = clock()
        while True:
            # read these before the log and the status: a change after this ends the wait below
            generation = hub.channel.changes
            seen_version = hub.status_version
            text, offset, more = hub.take(offset, batch, clock())
            now = clock()
            if text:
                yield text
                last_sent = now
            current = hub.current_status(now)
            if current is None:
                yield sse("end", {"status": "deleted", "offset": offset}).encode()
                return
            if current["status"] in FINAL_STATUSES:
                if more:
                    continue
                if not read_records(log_path, offset, limit=1):  # the final line is written before the status
                    if current["status"] != sent:
                        yield sse("status", current).encode()
                    yield sse("end", {**current, "offset": offset}).encode()
                    return
                hub.reread()  # a record the hub has not read yet: fetch it now, not at the next wake-up
                continue
            if current["status"] != sent:
                sent = current["status"]
                yield sse("status", current).encode()
                last_sent = now
            if more:
                continue
            if now - last_sent >= keepalive_seconds:
                yield b": keepalive\n\n"
                last_sent = now
            watched, appeared = hub.renew_watch()
            if appeared:
                continue  # the log appeared (a queued run started): read what came before the watch
            timeout = FOLLOW_POLL_SECONDS
            if watched is not None:
                timeout = min(hub.next_check - now, last_sent + keepalive_seconds - now)
            hub.wait(generation, offset, seen_version, timeout)


# --- Server-Sent Events from a Redis Stream (the Celery executor: the run writes on another machine) ---

SHIPPED_BLOCK_SECONDS = 5.0  # the longest XREAD BLOCK: an in-process status announcement waits at most this
SHIPPED_END_POLL_SECONDS = 0.1  # after the end marker, the status is looked up this soon (then backing off)


def stream_shipped(
    log_path: str,
    offset: int,
    lookup: StatusLookup,
    *,
    execution_id: int,
    client: Any,
    key: str,
    batch: bool = False,
    clock: Callable[[], float] = time.monotonic,
    keepalive_seconds: float = KEEPALIVE_SECONDS,
    block_seconds: float = SHIPPED_BLOCK_SECONDS,
) -> Iterator[bytes]:
    """``stream`` for a run whose log a worker ships to Redis (``logship``): the same events, ids and
    ``Last-Event-ID`` contract, read from the run's Redis Stream while it lives and from the persisted
    log file (shared storage) once it ended.

    Stream and file are addressed by the same byte offsets (an entry's Redis id is its start offset),
    so the follower keeps one ``offset`` and reads the next records from whichever source holds them:
    the stream while the run lives; the file for a part the stream trimmed (``WINDOW_BYTES``), when there is
    no stream (no shipper, expired, Redis unreachable), and after the end marker or a final status.
    Whatever the switches, each record is sent once, in order. The final status and ``end`` come once
    the stream has no more records and the file has nothing after ``offset``.

    Each client reads Redis itself (no shared hub as for local runs): ``XREAD BLOCK`` on the run's
    key, so an idle follower costs a blocked connection, not polls.
    """
    from backend.services import logship  # the import stays out of the local executor's path

    yield b"retry: 2000\n\n"
    with runstatus.follow(execution_id) as channel:
        sent: str | None = None  # the status this client was last sent
        status: dict[str, Any] | None = None
        status_seen = -1
        next_check = float("-inf")
        end_poll = SHIPPED_END_POLL_SECONDS
        aligned = False  # ``offset`` ends a stream entry (a resume may start inside one)
        on_file = False  # the end marker was read: the file serves the rest
        shipping = False  # records came from the stream
        last_sent = clock()
        while True:
            now = clock()
            if now >= next_check or channel.status_changes != status_seen:
                status_seen = channel.status_changes
                status = lookup()
                if status is None:
                    yield sse("end", {"status": "deleted", "offset": offset}).encode()
                    return
                if on_file:  # the run ended on its worker: its final status is due any moment
                    next_check, end_poll = now + end_poll, min(end_poll * 2, STATUS_POLL_SECONDS)
                else:
                    next_check = now + STATUS_POLL_SECONDS
                if status["status"] != sent and status["status"] not in FINAL_STATUSES:
                    sent = status["status"]
                    yield sse("status", status).encode()
                    last_sent = now
            assert status is not None
            final = status["status"] in FINAL_STATUSES
            records: list[Record] = []
            if not on_file:
                wait = 0.0 if final else min(next_check - now, last_sent + keepalive_seconds - now, block_seconds)
                try:
                    got = logship.read(
                        client, key, offset, block_ms=int(wait * 1000) if wait > 0 else None, aligned=aligned
                    )
                except Exception:  # Redis unreachable: the shared file serves meanwhile
                    got = logship.Read(next_offset=offset, exists=False)
                    if not final:
                        time.sleep(FOLLOW_POLL_SECONDS)
                if got.records:
                    if not shipping:  # the worker started the run: its status is "running" now, say so
                        shipping, next_check = True, now
                    elif any(r.stream == "sys" for r in got.records):  # a run's last line is one: look again soon
                        next_check = min(next_check, now + STATUS_POLL_SECONDS / 10)
                    records, aligned = got.records, True
                elif got.ended:
                    on_file, next_check, end_poll = True, now, SHIPPED_END_POLL_SECONDS
                elif got.gap_until is not None:  # trimmed from the stream: the file has it
                    records = _file_until(log_path, offset, got.gap_until)
                    if not records:  # the shared file does not show them yet: look again shortly
                        time.sleep(FOLLOW_POLL_SECONDS)
                    aligned = False
                elif not got.exists or final:  # no stream (yet, or any more), or drained after the end
                    records = read_records(log_path, offset, limit=BATCH_RECORDS)
                    aligned = False
                    on_file = final
            else:
                records = read_records(log_path, offset, limit=BATCH_RECORDS)
            if records:
                yield _Chunk.of(records).text(0, batch)
                offset = records[-1].next_offset
                last_sent = now
                continue
            if final and on_file:
                if status["status"] != sent:
                    yield sse("status", status).encode()
                yield sse("end", {**status, "offset": offset}).encode()
                return
            if now - last_sent >= keepalive_seconds:
                yield b": keepalive\n\n"
                last_sent = now
            if on_file:  # waiting for the final status only (the stream's reads wait in XREAD BLOCK)
                channel.wait_status(status_seen, max(min(next_check, last_sent + keepalive_seconds) - now, 0.0))


def _file_until(log_path: str, offset: int, until: int) -> list[Record]:
    """The file's records from ``offset`` that end by ``until`` (where the stream takes over)."""
    return list(takewhile(lambda r: r.next_offset <= until, read_records(log_path, offset, BATCH_RECORDS)))


WINDOW_CHARS = 1 << 20  # the recent SSE text a hub keeps for its streams (~1-3 MiB with the batch copies)
WINDOW_CHUNKS = 2000  # and at most this many reads (a slow printer makes one-record chunks)


@dataclass
class _Chunk:
    """The records of one read, with each record's JSON made once; ``text`` is the SSE text from a
    record on, cached from the first record (where streams following the hub start)."""

    starts: list[int]
    ends: list[int]
    progress: list[bool]
    fragments: list[str]  # the `data` of the record's event
    sys: bool
    size: int
    cached: dict[bool, bytes] = field(default_factory=dict)

    @classmethod
    def of(cls, records: Sequence[Record]) -> _Chunk:
        fragments, progress = [], []
        for record in records:
            if record.stream == "prg":
                try:
                    payload: Any = json.loads(record.text)
                except ValueError:
                    payload = {"text": record.text}
                progress.append(True)
            else:
                payload = record.as_dict()
                progress.append(False)
            fragments.append(json.dumps(payload, separators=(",", ":")))
        return cls(
            starts=[r.offset for r in records],
            ends=[r.next_offset for r in records],
            progress=progress,
            fragments=fragments,
            sys=any(r.stream == "sys" for r in records),
            size=sum(map(len, fragments)),
        )

    @property
    def start(self) -> int:
        return self.starts[0]

    @property
    def end(self) -> int:
        return self.ends[-1]

    def text(self, index: int, batch: bool) -> bytes:
        if index:
            return self._encode(index, batch).encode()
        text = self.cached.get(batch)
        if text is None:  # two streams may both make it: the same text, no lock needed
            text = self.cached[batch] = self._encode(0, batch).encode()
        return text

    def _event(self, index: int) -> str:
        kind = "progress" if self.progress[index] else "log"
        return f"id: {self.ends[index]}\nevent: {kind}\ndata: {self.fragments[index]}\n\n"

    def _encode(self, index: int, batch: bool) -> str:
        """An event per record, or with ``batch`` a ``logs`` array per run of log records (a run of one
        stays a ``log`` event), ``progress`` events between them in the order they were printed."""
        if not batch:
            return "".join(self._event(i) for i in range(index, len(self.ends)))
        parts: list[str] = []
        pending: list[int] = []
        for i in range(index, len(self.ends)):
            if self.progress[i]:
                parts.append(self._flush(pending))
                pending = []
                parts.append(self._event(i))
            else:
                pending.append(i)
        parts.append(self._flush(pending))
        return "".join(parts)

    def _flush(self, pending: list[int]) -> str:
        if len(pending) == 1:
            return self._event(pending[0])
        if not pending:
            return ""
        data = ",".join(self.fragments[i] for i in pending)
        return f"id: {self.ends[pending[-1]]}\nevent: logs\ndata: [{data}]\n\n"


class _Hub:
    """One run's log and status as its streams in this process see them.

    The window holds the records read last, ``[base, tail)``, as chunks. A stream at the tail extends
    it when the log grew (a ``runstatus`` generation newer than the last read, or the poll fallback)
    under ``lock``; a stream inside the window copies the cached text; a stream behind it reads the
    file itself, never past the tail, and joins the window there. Streams sleep on the run's
    ``runstatus`` condition; an extension or a status change found by a look-up notifies it too (its
    counters stay untouched, so waking for that costs nothing more).
    """

    def __init__(self, execution_id: int, log_path: str, watch: bool, lookup: StatusLookup) -> None:
        self.log_path, self.lookup = log_path, lookup
        self._exit = ExitStack()
        self.channel = self._exit.enter_context(runstatus.follow(execution_id))
        self._watch = self._exit.enter_context(_Watch(log_path, execution_id)) if watch else None
        self.watched: WatchState = None
        self.streams = 0
        self.lock = threading.Lock()  # the window and the watch
        self.chunks: deque[_Chunk] = deque()
        self.by_start: dict[int, _Chunk] = {}
        self.base: int | None = None
        self.tail = 0
        self.size = 0
        self.read_generation: int | None = None
        self.read_at = float("-inf")
        self.more = True
        self.status_lock = threading.Lock()
        self.status: dict[str, Any] | None = None
        self.status_version = 0  # counts looked-up statuses that differ from the one before
        self.status_known = False
        self.status_generation = -1
        self.status_stale = False
        self.recheck = False
        self.next_check = float("-inf")

    def close(self) -> None:
        self._exit.close()

    def take(self, offset: int, batch: bool, now: float) -> tuple[bytes, int, bool]:
        """SSE text from ``offset`` (up to one read's worth), the offset after it, and whether more waits."""
        # without the lock where nothing changes (500 streams wake at once): the text at an offset never
        # changes, and a stale ``tail``/``more`` only costs one more pass
        chunk = self.by_start.get(offset)
        if chunk is not None:
            return chunk.text(0, batch), chunk.end, chunk.end < self.tail or self.more
        if offset == self.tail and self.base is not None and not self._due(now):
            return b"", offset, False
        with self.lock:
            if self.base is None or offset > self.tail:  # the first stream, or one ahead of the window
                self.chunks.clear()
                self.by_start.clear()
                self.base, self.tail, self.size, self.more = offset, offset, 0, True
            extended = offset == self.tail and self._due(now) and self._extend(now)
            base, tail, more = self.base, self.tail, self.more
            found = self._find(offset) if base <= offset < tail else None
        if extended:
            self._notify()
        if found is not None:
            chunk, index = found
            return chunk.text(index, batch), chunk.end, chunk.end < tail or more
        if offset >= base:
            return b"", offset, more
        # behind the window: read the file like a lone stream, up to the tail, where the window takes over
        records = list(takewhile(lambda r: r.next_offset <= tail, read_records(self.log_path, offset, BATCH_RECORDS)))
        if not records:
            return b"", offset, False
        return _Chunk.of(records).text(0, batch), records[-1].next_offset, True

    def reread(self) -> None:
        with self.lock:
            self.more = True

    def _due(self, now: float) -> bool:
        return (
            self.more
            or self.read_generation != self.channel.changes
            or (self.watched is None and now - self.read_at >= FOLLOW_POLL_SECONDS / 2)
        )

    def _extend(self, now: float) -> bool:
        generation = self.channel.changes  # before the read: a write after it is a newer generation
        records = read_records(self.log_path, self.tail, limit=BATCH_RECORDS)
        self.read_generation, self.read_at = generation, now
        if not records:
            self.more = False
            return False
        chunk = _Chunk.of(records)
        self.chunks.append(chunk)
        self.by_start[chunk.start] = chunk
        self.tail, self.size = chunk.end, self.size + chunk.size
        try:  # a full read, or a byte-capped one, leaves more to read without any new wake-up
            self.more = len(records) == BATCH_RECORDS or os.stat(self.log_path).st_size > self.tail
        except OSError:
            self.more = False
        while len(self.chunks) > 1 and (self.size > WINDOW_CHARS or len(self.chunks) > WINDOW_CHUNKS):
            old = self.chunks.popleft()
            del self.by_start[old.start]
            self.size -= old.size
            self.base = self.chunks[0].start
        if chunk.sys:  # a run's last line is a sys record, written just before its final status
            self.status_stale = self.recheck = True
        return True

    def _find(self, offset: int) -> tuple[_Chunk, int]:
        chunk = self.by_start.get(offset)
        if chunk is not None:
            return chunk, 0
        for chunk in reversed(self.chunks):  # resumed mid-read (Last-Event-ID): rare
            if chunk.start <= offset:
                return chunk, bisect_left(chunk.starts, offset)
        raise AssertionError(f"offset {offset} not in the window")

    def current_status(self, now: float) -> dict[str, Any] | None:
        """The run's status, looked up by one stream for all when it may have changed."""
        if not self._status_due(now):
            return self.status
        with self.status_lock:
            if self._status_due(now):
                generation = self.channel.status_changes  # before the look-up, as for the log
                recheck, self.status_stale, self.recheck = self.recheck, False, False
                status = self.lookup()
                changed = not self.status_known or (status or {}).get("status") != (self.status or {}).get("status")
                self.status, self.status_known, self.status_generation = status, True, generation
                # after a sys record: once more soon, in case the status is stored but never announced
                self.next_check = now + (STATUS_POLL_SECONDS / 10 if recheck else STATUS_POLL_SECONDS)
                if changed:
                    self.status_version += 1
                    self._notify()
            return self.status

    def _status_due(self, now: float) -> bool:
        return (
            not self.status_known
            or self.status_stale
            or self.status_generation != self.channel.status_changes
            or now >= self.next_check
        )

    def renew_watch(self) -> tuple[WatchState, bool]:
        """What wakes the streams now, and whether the log just appeared (then read it at once)."""
        if self._watch is None or self.watched == "file":
            return self.watched, False
        with self.lock:
            before = self.watched
            self.watched = self._watch.renew()
            appeared = self.watched == "file" and before != "file"
            if appeared:
                self.more = True
            return self.watched, appeared

    def wait(self, generation: int, offset: int, status_version: int, timeout: float) -> None:
        """Sleep until the run is poked, the window grows past ``offset``, a look-up found a new
        status, or ``timeout``."""
        channel = self.channel
        with channel.condition:
            channel.condition.wait_for(
                lambda: channel.changes != generation or self.tail != offset or self.status_version != status_version,
                timeout=max(timeout, 0.0),
            )

    def _notify(self) -> None:
        with self.channel.condition:
            self.channel.condition.notify_all()


_hubs_lock = threading.Lock()
_hubs: dict[tuple[int, str, bool], _Hub] = {}


@contextmanager
def _joined(execution_id: int, log_path: str, watch: bool, lookup: StatusLookup) -> Iterator[_Hub]:
    """The run's hub while a stream follows it; the last stream to leave closes it (watch, channel)."""
    key = (execution_id, log_path, watch)
    with _hubs_lock:
        hub = _hubs.get(key)
        if hub is None:
            hub = _hubs[key] = _Hub(execution_id, log_path, watch, lookup)
        hub.streams += 1
    try:
        yield hub
    finally:
        with _hubs_lock:
            hub.streams -= 1
            if hub.streams == 0:
                del _hubs[key]
                hub.close()


def hubs() -> int:
    """How many runs have a hub now (for tests: a finished stream leaves nothing behind)."""
    with _hubs_lock:
        return len(_hubs)
