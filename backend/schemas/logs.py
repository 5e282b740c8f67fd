"""Shapes of the log and workspace-file endpoints."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from backend.schemas.common import ItemList, ResponseModel, Timestamp
from backend.schemas.executions import ExecutionPath


class LogQuery(BaseModel):
    offset: int = Field(default=0, ge=0, le=2**53, description="Byte offset to read from")
    limit: int = Field(default=1000, ge=1, le=10_000, description="Most records to return")
    format: str = Field(default="json", pattern="^(json|text)$", description="'text' downloads the whole log")


class StreamQuery(BaseModel):
    offset: int | None = Field(default=None, ge=0, le=2**53, description="Resume from this byte offset")


class LogRecord(ResponseModel):
    offset: int
    time: str
    stream: str
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


class FilePath(ExecutionPath):
    file_path: str = Field(max_length=4096)


class FileQuery(BaseModel):
    download: bool = False


class FileEntry(ResponseModel):
    path: str
    size: int
    modified: Timestamp
    is_dir: bool
    is_symlink: bool


class FileList(ItemList[FileEntry]):
    pass
