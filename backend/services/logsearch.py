"""Filtering and searching a run's log on the server, streaming through the file.

A log may be as large as ``max_log_bytes`` (and a search has to look at all of it), so records
are read one line at a time from a byte offset, never the whole file at once. Every offset
handed out is a record's start, as in ``executor.logfile``, so a viewer can jump to it or
resume from it. Secrets were masked when the log was written; nothing here sees them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from backend.services.executor.logfile import Record, parse_line

# The API's stream names and the log file's: stdout and stderr are "out" and "err" on disk.
STREAMS = {"stdout": "out", "stderr": "err", "sys": "sys"}
# ``scriptman.log(level, message)`` writes ``[LEVEL] message`` (backend/sdk); WARN is logging's alias.
LEVELS = ("debug", "info", "warning", "error", "critical")
LEVEL_PREFIX = re.compile(r"^\[(DEBUG|INFO|WARNING|WARN|ERROR|CRITICAL)\]")
# A filtered page reads at most this much of the file; its next_offset says where it stopped.
SCAN_BYTES_PER_PAGE = 8 << 20


def level_of(text: str) -> int | None:
    """The rank of a ``[LEVEL] message`` line (debug 0 … critical 4), None for other lines."""
    match = LEVEL_PREFIX.match(text)
    if match is None:
        return None
    name = match.group(1).lower()
    return LEVELS.index("warning" if name == "warn" else name)


@dataclass(frozen=True)
class RecordFilter:
    """Which records a reader wants: a stream, a lowest level, a text (all optional, all must match)."""

    stream: str | None = None  # API name: stdout, stderr or sys
    level: str | None = None  # that level or above
    text: str | None = None  # case-insensitive substring of the record's text

    @property
    def is_empty(self) -> bool:
        return self.stream is None and self.level is None and not self.text

    def matcher(self) -> _Matcher:
        return _Matcher(
            stream=STREAMS[self.stream] if self.stream else None,
            min_level=LEVELS.index(self.level) if self.level else None,
            needle=self.text.casefold() if self.text else None,
        )


@dataclass(frozen=True)
class _Matcher:
    stream: str | None
    min_level: int | None
    needle: str | None

    def __call__(self, record: Record) -> bool:
        if self.stream is not None and record.stream != self.stream:
            return False
        if self.min_level is not None:
            rank = level_of(record.text)
            if rank is None or rank < self.min_level:
                return False
        return self.needle is None or self.needle in record.text.casefold()


def iter_records(path: str, offset: int = 0) -> Iterator[Record]:
    """Every whole record from ``offset`` to the end, read line by line; a trailing record still
    being written is left for later, as ``read_records`` does."""
    try:
        handle = open(path, "rb")  # noqa: SIM115 - closed below
    except FileNotFoundError:
        return
    with handle:
        handle.seek(offset)
        position = offset
        for raw in handle:
            if not raw.endswith(b"\n"):
                return
            yield parse_line(raw, position)
            position += len(raw)


@dataclass(frozen=True)
class FilteredPage:
    records: list[Record]
    next_offset: int  # just after the last record looked at: resume the scan from here


def filtered_page(
    path: str, offset: int, wanted: RecordFilter, limit: int, scan_bytes: int | None = None
) -> FilteredPage:
    """Up to ``limit`` matching records from ``offset``, reading at most about ``scan_bytes``
    (``SCAN_BYTES_PER_PAGE``): a rare match in a large log costs several short requests, not one long one."""
    scan_bytes = scan_bytes or SCAN_BYTES_PER_PAGE
    matches = wanted.matcher()
    records: list[Record] = []
    position = offset
    for record in iter_records(path, offset):
        position = record.next_offset
        if matches(record):
            records.append(record)
            if len(records) >= limit:
                break
        if position - offset >= scan_bytes:
            break
    return FilteredPage(records=records, next_offset=position)


@dataclass(frozen=True)
class SearchResult:
    matches: list[Record]
    total: int
    truncated: bool


def search(path: str, wanted: RecordFilter, limit: int) -> SearchResult:
    """The first ``limit`` matching records of the whole log, and how many match in all."""
    matches = wanted.matcher()
    found: list[Record] = []
    total = 0
    for record in iter_records(path):
        if matches(record):
            total += 1
            if len(found) < limit:
                found.append(record)
    return SearchResult(matches=found, total=total, truncated=total > len(found))
