"""Live logs across machines: a run's log file shipped into a Redis Stream, and read back from it.

With the Celery executor a run's supervisor writes its log on the worker's machine, into
``SCRIPTMAN_HOME``, which every web process and worker shares (the lead's decision: persisted logs
and workspaces live on shared storage). A shared file system is fine for history but bad at "now":
inotify does not cross machines and NFS caches attributes, so a browser following a live run would
see lines seconds late, or poll hard. So while a run lives the worker's ``LogShipper`` follows the
file as it grows and appends its records to a Redis Stream, ``<prefix>:log:<execution id>``, and the
web processes read that (``read``, ``logstream.stream_shipped``) with ``XREAD BLOCK``.

**The ids are the file's.** An SSE event id is the byte offset just after a record in the log file
(``logstream``). Each stream entry is one read of whole lines: its *Redis* id is ``<start offset>-1``
and it holds ``end`` (the offset after its last line) and ``data`` (the lines' bytes, exactly as in
the file). So the stream is addressed by the same offsets as the file: a reader at offset ``o``
reads the entries after ``<o>-0``, a ``Last-Event-ID`` inside an entry is found with one
``XREVRANGE``, and a reader can switch between the stream and the file at any record boundary
without losing or repeating a line. Explicit ids also make shipping idempotent: a shipper restarted
for the same run resumes after the stream's last entry, and Redis refuses a duplicate id.

**The end.** ``stop`` ships the rest of the file, then adds an end marker, id ``<final offset>-2``
(``final``), and lets the stream expire after ``END_TTL_SECONDS``: from then on the persisted file
serves the log (history survives without Redis). A stream whose worker died without ``stop``
expires ``IDLE_TTL_SECONDS`` after its last entry.

**Bounded by bytes, not entries.** Each ``XADD`` trims with ``MINID`` (approximate) at the
entry's end minus ``WINDOW_BYTES``: since an entry's id is its byte offset, this keeps about the
last ``WINDOW_BYTES`` of the log in Redis whatever the run prints (a 50 MB log used to sit whole in
Redis: ``MAXLEN`` 1000 entries of 64 KiB is 64 MiB per run). A reader behind the trimmed head
reads the missing part from the file, then the stream again.

**Lines are split on ``\n`` only**, as the file's reader does: a record may hold a raw ``\r``
(a script's progress bar), and ``bytes.splitlines`` would make two records of it, with an id
that is no record boundary in the file.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from backend.services import logwatch, runstatus
from backend.services.executor.logfile import Record, parse_line

if TYPE_CHECKING:
    from backend.config import Settings

log = logging.getLogger(__name__)

CHUNK_BYTES = 64 << 10  # whole lines per stream entry (a longer line makes a longer entry)
MAX_LINE_BYTES = 16 << 20  # a "line" longer than this without a newline is not waited for in one entry
WINDOW_BYTES = 4 << 20  # the log's tail kept in Redis per live run (MINID trim; the file has the rest)
IDLE_TTL_SECONDS = 24 * 3600  # a stream nobody stopped (its worker died) goes after a day of silence
END_TTL_SECONDS = 600  # after the end marker: readers still on the stream switch to the file meanwhile
POLL_SECONDS = 0.1  # the shipper's file poll where inotify is unavailable
SAFETY_POLL_SECONDS = 1.0  # and its re-read even when watched (a missed event costs at most this)
READ_TIMEOUT_SECONDS = 15.0  # the web's reads; longer than the longest XREAD BLOCK (5 s)
SEND_RETRY_SECONDS = 0.5  # Redis unreachable: try again after this
STOP_DRAIN_ATTEMPTS = 20  # ``stop`` gives Redis this many tries (0.5 s apart) for the tail and the marker
DATA_SEQ, END_SEQ = 1, 2  # the sequence part of an entry's id: data ``<start>-1``, end marker ``<end>-2``


def stream_key(execution_id: int, prefix: str = "scriptman") -> str:
    return f"{prefix}:log:{execution_id}"


class LogShipper:
    """Follows one run's log file and appends its records to the run's Redis Stream (worker side).

    ``start`` before the supervisor starts writing (or after a re-attach: it resumes after what the
    stream already holds), ``stop`` once the run ended: it drains the file, adds the end marker and
    sets the stream's expiry. Never raises out of the thread: Redis down only delays shipping (the
    file stays complete, and readers fall back to it).
    """

    def __init__(
        self,
        redis_client: Any,
        execution_id: int,
        log_path: Path | str,
        *,
        prefix: str = "scriptman",
        window_bytes: int = WINDOW_BYTES,
        chunk_bytes: int = CHUNK_BYTES,
        watch: bool = True,
    ) -> None:
        self.client = redis_client
        self.execution_id = execution_id
        self.log_path = str(log_path)
        self.key = stream_key(execution_id, prefix)
        self.window_bytes = window_bytes
        self.chunk_bytes = chunk_bytes
        self.watch = watch
        self.offset = 0  # shipped up to here (a record boundary)
        self.ended = False  # the stream already holds an end marker
        self.shipped_entries = 0
        self.stopping = threading.Event()
        self.lock = threading.Lock()  # the thread and ``stop``'s drain never ship at once
        self.thread = threading.Thread(target=self._run, name=f"scriptman-logship-{execution_id}", daemon=True)
        self.channel: runstatus.Channel | None = None

    # -- public -----------------------------------------------------------------------------------
    def start(self) -> None:
        try:
            self._resume()
        except Exception as error:  # Redis down at start: ship from 0, a duplicate id is resynchronised
            log.warning("log shipping for run %s starts blind: %s", self.execution_id, error)
        self.thread.start()

    def stop(self) -> None:
        """Ship what is left (the supervisor closed the file), then the end marker; set the expiry."""
        self._stop_following()
        for attempt in range(STOP_DRAIN_ATTEMPTS):
            try:
                with self.lock:
                    while self._ship_once():
                        pass
                    self._finish()
                return
            except Exception as error:
                if attempt == STOP_DRAIN_ATTEMPTS - 1:
                    log.warning(
                        "run %s: the log's end never reached Redis (%s); readers use the file", self.execution_id, error
                    )
                    return
                self.stopping.wait(SEND_RETRY_SECONDS)

    def detach(self) -> None:
        """Stop following without an end marker: the run goes on while this process stops (a worker
        shutting down with a re-attached run); the shipper its next start makes resumes the stream."""
        self._stop_following()

    def _stop_following(self) -> None:
        self.stopping.set()
        channel = self.channel
        if channel is not None:
            channel.poke(status=False)
        if self.thread.is_alive():
            self.thread.join(timeout=10)

    # -- internals --------------------------------------------------------------------------------
    def _resume(self) -> None:
        """Continue after the stream's last entry (a restarted shipper for the same run)."""
        last = self.client.xrevrange(self.key, "+", "-", count=1)
        if not last:
            return
        entry = _Entry.of(*last[0])
        if entry.final:
            self.ended = True
        self.offset = entry.end

    def _run(self) -> None:
        with runstatus.follow(self.execution_id) as channel:
            self.channel = channel
            stop_watch: Callable[[], None] | None = None
            on_file = False
            try:
                while not self.stopping.is_set():
                    if self.watch and not on_file:
                        if stop_watch is not None:
                            stop_watch()
                        started = logwatch.start(self.log_path, self.execution_id)
                        stop_watch, on_file = started if started else (None, False)
                    generation = channel.changes
                    try:
                        with self.lock:
                            shipped = self._ship_once()
                    except Exception as error:
                        log.warning("run %s: shipping its log to Redis failed (%s); retrying", self.execution_id, error)
                        self.stopping.wait(SEND_RETRY_SECONDS)
                        continue
                    if shipped:
                        continue
                    channel.wait(generation, SAFETY_POLL_SECONDS if on_file else POLL_SECONDS)
            finally:
                self.channel = None
                if stop_watch is not None:
                    stop_watch()

    def _read(self) -> bytes:
        """Whole lines from ``offset`` (at most ``chunk_bytes``, or one longer line)."""
        try:
            fd = os.open(self.log_path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except FileNotFoundError:
            return b""
        try:
            size = self.chunk_bytes
            while True:
                data = os.pread(fd, size, self.offset)
                cut = data.rfind(b"\n")
                if cut >= 0:
                    return data[: cut + 1]
                if len(data) < size or size >= MAX_LINE_BYTES:
                    return b""  # a line still being written (or absurdly long: wait for its end)
                size *= 4
        finally:
            os.close(fd)

    def _ship_once(self) -> bool:
        if self.ended:
            return False
        data = self._read()
        if not data:
            return False
        start, end = self.offset, self.offset + len(data)
        pipe = self.client.pipeline(transaction=False)
        pipe.xadd(self.key, {"end": end, "data": data}, id=f"{start}-{DATA_SEQ}", minid=self._minid(start, end))
        pipe.expire(self.key, IDLE_TTL_SECONDS)
        try:
            pipe.execute()
        except Exception as error:
            if "equal or smaller" not in str(error):
                raise
            # another shipper (a re-delivered task, a restart) got there first: continue after it
            self._resume()
            return not self.ended
        self.offset = end
        self.shipped_entries += 1
        return True

    def _minid(self, start: int, end: int) -> str:
        """Trim below ``end - window_bytes`` (never the entry being added): ids are byte offsets."""
        return f"{max(0, min(start, end - self.window_bytes))}-0"

    def _finish(self) -> None:
        if self.ended:
            return
        pipe = self.client.pipeline(transaction=False)
        minid = self._minid(self.offset, self.offset)
        pipe.xadd(self.key, {"final": self.offset}, id=f"{self.offset}-{END_SEQ}", minid=minid)
        pipe.expire(self.key, END_TTL_SECONDS)
        pipe.execute()
        self.ended = True


# --- reading (web side) ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Entry:
    start: int
    end: int
    data: bytes
    final: bool

    @classmethod
    def of(cls, entry_id: bytes | str, fields: dict[Any, Any]) -> _Entry:
        text = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
        ms, _, seq = text.partition("-")
        values = {(k.decode() if isinstance(k, bytes) else k): v for k, v in fields.items()}
        if int(seq) == END_SEQ:
            final = int(values["final"])
            return cls(final, final, b"", True)
        data = values.get("data", b"")
        return cls(int(ms), int(values["end"]), data if isinstance(data, bytes) else data.encode(), False)

    def records(self, offset: int) -> list[Record]:
        """The records from ``offset`` on (a record boundary inside this entry)."""
        out: list[Record] = []
        position = self.start
        for raw in _lines(self.data):
            if position >= offset:
                out.append(parse_line(raw, position))
            position += len(raw)
        return out

    def boundaries(self) -> set[int]:
        ends, position = {self.start}, self.start
        for raw in _lines(self.data):
            position += len(raw)
            ends.add(position)
        return ends


def _lines(data: bytes) -> list[bytes]:
    """``data`` cut after each ``\n`` (the file's record separator; not ``splitlines``, which cuts at ``\r``)."""
    parts = data.split(b"\n")
    lines = [part + b"\n" for part in parts[:-1]]
    if parts[-1]:
        lines.append(parts[-1])
    return lines


@dataclass
class Read:
    """What the stream had from an offset: records (contiguous from it), and what comes next."""

    records: list[Record] = field(default_factory=list)
    next_offset: int = 0
    ended: bool = False  # the end marker is at ``next_offset``: the file serves from here
    exists: bool = True  # False: no stream (a queued run, no shipper, or expired)
    gap_until: int | None = None  # the stream starts after ``next_offset`` (trimmed): read the file up to here


def read(
    client: Any, key: str, offset: int, *, block_ms: int | None = None, count: int = 100, aligned: bool = True
) -> Read:
    """Records of ``key`` from ``offset`` (a record boundary), waiting up to ``block_ms`` for new ones.

    The common case, a reader at the tail (``aligned``: ``offset`` ends an entry), is one ``XREAD``
    after ``<offset>-0``: the entry starting at ``offset`` and later ones. Otherwise (the first read
    of a ``Last-Event-ID`` resume) one ``XREVRANGE`` first finds the entry holding ``offset``. An
    answer that starts after ``offset`` means the entries in between were trimmed: ``gap_until``.
    """
    if not aligned:
        before = client.xrevrange(key, f"{offset}-{DATA_SEQ}", "-", count=1)
        if before:
            entry = _Entry.of(*before[0])
            if not entry.final and entry.start < offset < entry.end:
                return Read(entry.records(offset), entry.end)
    answer = client.xread({key: f"{offset}-0"}, count=count, block=max(block_ms, 1) if block_ms is not None else None)
    entries = [_Entry.of(i, f) for i, f in answer[0][1]] if answer else []
    if not entries:
        return Read(next_offset=offset, exists=bool(client.exists(key)))
    if entries[0].start > offset:
        return Read(next_offset=offset, gap_until=entries[0].start)
    result = Read(next_offset=offset)
    for entry in entries:
        if entry.start != result.next_offset:
            break  # a gap inside one answer (trimmed meanwhile): the next read reports it
        if entry.final:
            result.ended = True
            break
        result.records.extend(entry.records(offset))
        result.next_offset = entry.end
    return result


def is_boundary(client: Any, key: str, offset: int) -> bool:
    """Whether the stream knows ``offset`` as the start of a record (for a ``Last-Event-ID`` the shared
    file may not show yet)."""
    before = client.xrevrange(key, f"{offset}-{END_SEQ}", "-", count=1)
    if not before:
        return False
    entry = _Entry.of(*before[0])
    return offset == entry.end if entry.final else offset in entry.boundaries()


_clients_lock = threading.Lock()
_clients: dict[tuple[int, str], Any] = {}


def web_client(settings: Settings) -> Any | None:
    """The process's Redis client for reading shipped logs, or None unless the Celery executor is in use."""
    url = getattr(settings, "redis_url", None)
    if getattr(settings, "executor", "local") != "celery" or not url:
        return None
    key = (os.getpid(), url)
    with _clients_lock:
        client = _clients.get(key)
        if client is None:
            import redis

            # a socket timeout longer than any reader's XREAD BLOCK (logstream: 5 s): a Redis that
            # vanishes without a reset (a host gone, a partition) fails a read, which falls back to the
            # file, instead of hanging the SSE response forever
            client = _clients[key] = redis.Redis.from_url(
                url, health_check_interval=30, socket_timeout=READ_TIMEOUT_SECONDS, socket_connect_timeout=5
            )
        return client


def key_for(settings: Settings, execution_id: int) -> str:
    return stream_key(execution_id, getattr(settings, "redis_prefix", "scriptman"))
