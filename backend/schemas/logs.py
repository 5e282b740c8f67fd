"""Shapes of the log and workspace-file endpoints."""

from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict, Field

from backend.schemas.common import ItemList, QueryModel, ResponseModel, Timestamp
from backend.schemas.executions import ExecutionPath

LogStream = Literal["stdout", "stderr", "sys"]
LogLevel = Literal["debug", "info", "warning", "error", "critical"]
STREAM_HELP = "Only records of this stream: the script's stdout or stderr, or sys (Scriptman's own notes)"
LEVEL_HELP = "Only lines written as '[LEVEL] message' (scriptman.log) at this level or above; other lines are left out"


class LogQuery(QueryModel):
    offset: int = Field(default=0, ge=0, le=2**53, description="Byte offset to read from")
    limit: int = Field(default=1000, ge=1, le=10_000, description="Most records to return")
    format: str = Field(
        default="json", pattern="^(json|text)$", description="'text' downloads the whole log (filters do not apply)"
    )
    stream: LogStream | None = Field(default=None, description=STREAM_HELP)
    level: LogLevel | None = Field(
        default=None,
        description=LEVEL_HELP + ". With stream or level the page holds only matching records; the scan stops "
        "after `limit` matches or about 8 MiB of log, and `next_offset` says where to continue.",
    )


class LogSearchQuery(QueryModel):
    q: str = Field(min_length=1, max_length=500, description="Text to find (case-insensitive) in the records' text")
    stream: LogStream | None = Field(default=None, description=STREAM_HELP)
    level: LogLevel | None = Field(default=None, description=LEVEL_HELP)
    limit: int = Field(default=1000, ge=1, le=5000, description="Most matches to return (the first ones)")


class StreamQuery(QueryModel):
    offset: int | None = Field(default=None, ge=0, le=2**53, description="Resume from this byte offset")
    batch: bool = Field(
        default=False,
        description="Send the log records that are waiting together as one `logs` event (a JSON array) "
        "instead of one `log` event each",
    )


class LogRecord(ResponseModel):
    offset: int = Field(description="Byte offset where the record starts (resume or jump here)")
    time: str
    stream: str = Field(description="out (stdout), err (stderr), sys (Scriptman's notes) or prg (progress)")
    text: str


class LogPage(ResponseModel):
    """Log records from an offset; with ``format=text`` the whole log as ``text/plain`` instead."""

    model_config = ConfigDict(
        openapi_extra={  # type: ignore[typeddict-unknown-key]  (flask-openapi3 reads it for the response)
            "description": "Log records from `offset` (JSON), or with `format=text` the whole log as a "
            "`text/plain` attachment",
            "content": {"text/plain": {"schema": {"type": "string"}}},
        }
    )

    records: list[LogRecord]
    offset: int
    next_offset: int
    size: int
    complete: bool = Field(description="The run ended and every record has been returned")


class LogSearchResult(ResponseModel):
    matches: list[LogRecord] = Field(description="The first `limit` matching records, in log order")
    total: int = Field(description="How many records match in the whole log")
    truncated: bool = Field(description="More records match than were returned")


class FilePath(ExecutionPath):
    file_path: str = Field(max_length=4096)


class FileQuery(QueryModel):
    download: bool = False


class FileEntry(ResponseModel):
    path: str
    size: int
    modified: Timestamp
    is_dir: bool
    is_symlink: bool


class FileList(ItemList[FileEntry]):
    pass
