"""The run log format, its writer and its reader. Standard library only (the supervisor imports it).

One record per line: ``<UTC ISO time> <stream> <text>\\n`` where stream is ``out``, ``err``,
``sys`` (Scriptman's own notes: installer output, status) or ``prg`` (progress, JSON text).
Text never contains a newline; invalid UTF-8 is replaced. Byte offsets into this file are
what the API and SSE use to resume, so records are only ever appended.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from typing import Any, NamedTuple

STREAMS = ("out", "err", "sys", "prg")
MASK = "***"
TRUNCATED_MARK = " [line split]"
PROGRESS_MARKER = b"::scriptman-progress::"  # written by the SDK's progress(); see backend/sdk


_last_second: tuple[int, str] = (-1, "")  # the last whole second and its text: one strftime a second


def timestamp(now: float | None = None) -> str:
    global _last_second
    now = time.time() if now is None else now
    second, text = _last_second  # one read of one tuple: threads never mix two seconds' parts
    if second != int(now):
        second, text = int(now), time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(int(now)))
        _last_second = (second, text)
    return f"{text}.{int(now % 1 * 1000):03d}Z"


def format_record(stream: str, text: str, now: float | None = None) -> bytes:
    clean = text.replace("\n", " ")
    return f"{timestamp(now)} {stream} {clean}\n".encode("utf-8", errors="replace")


# NamedTuple, not a dataclass: the supervisor imports this module, and `dataclasses` (inspect, ast, …)
# added ~18 ms to every run's start.
class Record(NamedTuple):
    offset: int  # byte offset where the record starts
    next_offset: int  # byte offset just after it
    time: str
    stream: str
    text: str

    def as_dict(self) -> dict[str, object]:
        return {"offset": self.offset, "time": self.time, "stream": self.stream, "text": self.text}


def parse_line(raw: bytes, offset: int) -> Record:
    line = raw.rstrip(b"\n").decode("utf-8", errors="replace")
    parts = line.split(" ", 2)
    if len(parts) == 3 and parts[1] in STREAMS:
        return Record(offset, offset + len(raw), parts[0], parts[1], parts[2])
    if len(parts) == 2 and parts[1] in STREAMS:
        return Record(offset, offset + len(raw), parts[0], parts[1], "")
    return Record(offset, offset + len(raw), "", "out", line)


def read_records(path: str, offset: int = 0, limit: int = 1000, max_bytes: int = 4 << 20) -> list[Record]:
    """Whole records from ``offset``; a trailing record still being written is left for later."""
    records: list[Record] = []
    try:
        handle = open(path, "rb")  # noqa: SIM115 - closed below
    except FileNotFoundError:
        return records
    with handle:
        handle.seek(offset)
        budget = max_bytes
        position = offset
        while len(records) < limit and budget > 0:
            raw = handle.readline(budget)
            if not raw or not raw.endswith(b"\n"):
                break
            records.append(parse_line(raw, position))
            position += len(raw)
            budget -= len(raw)
    return records


def is_record_boundary(path: str, offset: int) -> bool:
    """True where a record starts: 0, or just after a record's newline (text never holds one).

    Offsets given back by a client (``?offset=``, ``Last-Event-ID``) are checked with this, so a
    made-up offset can never yield half a record.
    """
    if offset == 0:
        return True
    try:
        with open(path, "rb") as handle:
            if offset > os.fstat(handle.fileno()).st_size:
                return False
            handle.seek(offset - 1)
            return handle.read(1) == b"\n"
    except OSError:
        return False


def iter_text(path: str) -> Iterator[bytes]:
    """The log as plain text (``[time] [stream] text`` lines) for download."""
    with open(path, "rb") as handle:
        for raw in handle:
            record = parse_line(raw, 0)
            prefix = "" if record.stream == "out" else f"[{record.stream}] "
            yield f"{record.time} {prefix}{record.text}\n".encode()


MIN_LINE_FORM_CHARS = 4  # a line of a multi-line secret shorter than this is not masked on its own


def secret_forms(secret: str) -> set[str]:
    """Every form in which a script's output may carry ``secret`` literally.

    The value itself; trimmed of whitespace and of a trailing ``\r``/``\n``; as a JSON string
    body (ASCII escapes like ``\u00fc``, and raw UTF-8) and a Python ``repr`` body — the forms a
    script prints when it dumps ``SCRIPT_PARAMETERS`` or its environment; and, for a multi-line
    value (a PEM key), each line, because logs are stored line by line. Transformed copies
    (base64, URL encoding, reversal) are not forms: the README says so.
    """
    base = {secret, secret.strip(), secret.rstrip("\r\n")}
    lines = secret.replace("\r\n", "\n").split("\n")
    if len(lines) > 1:
        base |= {line.strip() for line in lines if len(line.strip()) >= MIN_LINE_FORM_CHARS}
    forms = set(base)
    for value in base:
        forms.add(json.dumps(value)[1:-1])
        forms.add(json.dumps(value, ensure_ascii=False)[1:-1])
        forms.add(repr(value)[1:-1])
    return {form for form in forms if form}


class Masker:
    """Replaces secret values with ``***`` in whole lines (never per chunk: a split secret leaks).

    Plain substring replacement of every form (``secret_forms``), longest first; no regular
    expression is ever built from a secret.
    """

    def __init__(self, secrets: list[str]) -> None:
        encoded = {form.encode("utf-8", errors="surrogateescape") for s in secrets if s for form in secret_forms(s)}
        self.secrets = sorted(encoded, key=len, reverse=True)
        self.longest = max((len(s) for s in self.secrets), default=0)

    def mask(self, data: bytes) -> bytes:
        for secret in self.secrets:
            if secret in data:
                data = data.replace(secret, MASK.encode())
        return data

    def mask_text(self, text: str) -> str:
        return self.mask(text.encode("utf-8", errors="surrogateescape")).decode("utf-8", errors="replace")

    def mask_json(self, value: Any) -> Any:
        """A JSON value with every string in it masked, object keys included."""
        if not self.secrets:
            return value
        if isinstance(value, str):
            return self.mask_text(value)
        if isinstance(value, list):
            return [self.mask_json(item) for item in value]
        if isinstance(value, dict):
            return {self.mask_text(str(key)): self.mask_json(item) for key, item in value.items()}
        if isinstance(value, int | float) and not isinstance(value, bool):
            return MASK if self.mask_text(json.dumps(value)) != json.dumps(value) else value
        return value


class LogWriter:
    """Appends records to a run log, masking secrets, splitting long lines and enforcing a cap."""

    def __init__(self, path: str, masker: Masker, max_bytes: int, max_line_bytes: int) -> None:
        self.path = path
        self.masker = masker
        self.max_bytes = max_bytes
        self.max_line_bytes = max_line_bytes
        # never through a symlink planted where the log goes
        self.fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW | os.O_CLOEXEC, 0o640)
        self.size = os.fstat(self.fd).st_size
        self.capped = False
        self.buffers: dict[str, bytes] = {}
        self.pending: list[bytes] = []  # whole records, written together by ``_flush``

    def write(self, stream: str, text: str) -> None:
        """Write one whole line of Scriptman's own text (not split, still masked and capped)."""
        self._emit(stream, self.masker.mask(text.encode("utf-8", errors="replace")))
        self._flush()

    def feed(self, stream: str, chunk: bytes) -> None:
        """Take raw output; complete lines are written, a partial line waits for its end."""
        buffer = self.buffers.get(stream, b"") + chunk
        while True:
            newline = buffer.find(b"\n")
            if newline >= 0:
                line, buffer = buffer[:newline], buffer[newline + 1 :]
                line = self.masker.mask(line.rstrip(b"\r"))
                if stream == "out" and line.startswith(PROGRESS_MARKER):
                    self._emit("prg", line[len(PROGRESS_MARKER) :])
                else:
                    # A long line may end in the same chunk that brought most of it: split it here too.
                    while len(line) > self.max_line_bytes:
                        self._emit_part(stream, line)
                        line = line[self.max_line_bytes :]
                    self._emit(stream, line)
                continue
            # Cut an over-long line only once every secret that starts before the cut is whole.
            if len(buffer) >= self.max_line_bytes + self.masker.longest:
                masked = self.masker.mask(buffer)
                self._emit_part(stream, masked)
                buffer = masked[self.max_line_bytes :]
                continue
            break
        self.buffers[stream] = buffer
        self._flush()  # one write per chunk read, not per line: a 1 GiB run made a million writes

    def _emit_part(self, stream: str, masked: bytes) -> None:
        """The first ``max_line_bytes`` of an over-long line, marked as continued."""
        self._emit(stream, masked[: self.max_line_bytes] + TRUNCATED_MARK.encode())

    def flush_partial(self) -> None:
        for stream, buffer in self.buffers.items():
            if buffer:
                self._emit(stream, self.masker.mask(buffer))
        self.buffers.clear()
        self._flush()

    def _emit(self, stream: str, line: bytes) -> None:
        if self.capped:
            return
        text = line.decode("utf-8", errors="replace")
        record = format_record(stream, text)
        if self.size + len(record) > self.max_bytes:
            self.capped = True
            record = format_record("sys", f"log limit of {self.max_bytes} bytes reached; further output discarded")
        self.pending.append(record)
        self.size += len(record)

    def _flush(self) -> None:
        """The records of one chunk in one append (a reader takes a trailing half record for later)."""
        if self.pending:
            data = b"".join(self.pending)
            self.pending.clear()
            written = os.write(self.fd, data)
            while written < len(data):  # a regular file takes it all; a short write is finished anyway
                data = data[written:]
                written = os.write(self.fd, data)

    def close(self) -> None:
        self.flush_partial()
        os.close(self.fd)
