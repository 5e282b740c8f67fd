"""A run's output: its log (paged, plain text, or live over SSE) and its workspace files."""

from __future__ import annotations

import mimetypes
import os
from typing import Any

from flask import Response, current_app, request, send_file
from flask_openapi3 import APIBlueprint, Tag
from werkzeug.exceptions import RequestedRangeNotSatisfiable

from backend.api.executions import render
from backend.api.helpers import json_response, settings
from backend.errors import BadRequest
from backend.extensions import db
from backend.models import Execution, ExecutionStatus
from backend.schemas.common import Problem
from backend.schemas.executions import ExecutionPath
from backend.schemas.logs import FileList, FilePath, FileQuery, LogPage, LogQuery, StreamQuery
from backend.services import executions as service
from backend.services import files, logstream
from backend.services.executor import workspace
from backend.services.executor.logfile import is_record_boundary, iter_text, read_records

bp = APIBlueprint("logs", __name__, url_prefix="/api/executions", abp_tags=[Tag(name="executions")])
# Shown inline in the browser; anything else (HTML, SVG, scripts…) is sent as an attachment.
INLINE_TYPES = frozenset(
    {
        "text/plain",
        "text/csv",
        "application/json",
        "image/png",
        "image/jpeg",
        "image/gif",
        "image/webp",
        "application/pdf",
    }
)
TEXT_SUFFIXES = frozenset({".log", ".txt", ".md", ".py", ".js", ".sh", ".yaml", ".yml", ".toml", ".ini", ".cfg"})


# Response documentation (the statuses every operation shares are added in backend/openapi_doc.py).
STREAM_200 = {
    "description": (
        "A Server-Sent Events stream (`text/event-stream`), first `retry: 2000`, then events whose `data` is "
        "one JSON object:\n\n"
        "- `log`: a log record `{offset, time, stream, text}`;\n"
        "- `progress`: a progress report the script printed (its JSON, or `{text}`);\n"
        "- `status`: the execution (as `GET /api/executions/{id}`) whenever its status changes;\n"
        "- `end`: the last event, `{...execution, offset}` once the run ended and the log is drained "
        '(or `{status: "deleted", offset}`); the server then closes the stream.\n\n'
        "`log` and `progress` events have an `id`: the byte offset just after the record. Reconnect with "
        "`Last-Event-ID` (or `?offset=`) to resume exactly after it. A `: keepalive` comment is sent every 15 s "
        "of silence."
    ),
    # OpenAPI 3.1 has no way to describe the stream as a whole (3.2 adds `itemSchema`): the schema of a
    # text/event-stream response describes each event, as schemathesis and other tools read it.
    "content": {
        "text/event-stream": {
            "schema": {
                "type": "object",
                "required": ["event", "data"],
                "properties": {
                    "event": {"type": "string", "enum": ["log", "progress", "status", "end"]},
                    "data": {
                        "type": "string",
                        "description": "One JSON object",
                        "contentMediaType": "application/json",
                        "contentSchema": {"type": "object"},
                    },
                    "id": {"type": "string", "pattern": "^[0-9]+$", "description": "Byte offset after the record"},
                    "retry": {"type": "integer", "description": "Reconnection delay in ms"},
                },
            }
        }
    },
}
FILE_RESPONSES: dict[int, Any] = {
    200: {
        "description": "The file: inline with its own type for plain text, CSV, JSON, PNG/JPEG/GIF/WebP images "
        "and PDF; anything else (or with download=1) as an application/octet-stream attachment",
        "content": {"*/*": {"schema": {"type": "string", "format": "binary"}}},
    },
    206: {
        "description": "Partial Content: the byte range asked for with `Range`",
        "content": {"*/*": {"schema": {"type": "string", "format": "binary"}}},
    },
    304: {"description": "Not Modified: `If-None-Match` / `If-Modified-Since` matched"},
    400: Problem,
    403: Problem,
    404: Problem,
    412: {
        "description": "Precondition Failed: an `If-Match` precondition on the file failed",
        "content": {"*/*": {"schema": {"type": "string", "format": "binary"}}},
    },
    416: Problem,
}


def _paths(execution_id: int) -> workspace.RunPaths:
    return workspace.run_paths(settings(), execution_id)


@bp.get("/<int:execution_id>/logs", responses={200: LogPage, 400: Problem, 404: Problem, 422: Problem})
def get_logs(path: ExecutionPath, query: LogQuery) -> Response:
    """Log records from a byte offset (or the whole log as text with format=text)."""
    execution = service.get_execution(path.execution_id)
    log_path = _paths(execution.id).log
    if query.format == "text":
        if not log_path.exists():
            return Response(b"", mimetype="text/plain")
        response = Response(iter_text(str(log_path)), mimetype="text/plain; charset=utf-8")
        response.headers["Content-Disposition"] = f'attachment; filename="execution_{execution.id}.log"'
        return response
    size = log_path.stat().st_size if log_path.exists() else 0
    _check_offset(str(log_path), query.offset, "offset")
    records = read_records(str(log_path), query.offset, limit=query.limit)
    next_offset = records[-1].next_offset if records else query.offset
    final = ExecutionStatus(execution.status).is_final
    return json_response(
        {
            "records": [r.as_dict() for r in records],
            "offset": query.offset,
            "next_offset": next_offset,
            "size": size,
            "complete": final and next_offset >= size,
        }
    )


@bp.get(
    "/<int:execution_id>/logs/stream",
    responses={200: STREAM_200, 400: Problem, 404: Problem},
)
def stream_logs(path: ExecutionPath, query: StreamQuery) -> Response:
    """Server-Sent Events: log, progress and status events, then end. Resumes from Last-Event-ID."""
    execution = service.get_execution(path.execution_id)
    execution_id = execution.id
    offset = _resume_offset(query.offset)
    log_path = str(_paths(execution_id).log)
    _check_offset(log_path, offset, "Last-Event-ID" if request.headers.get("Last-Event-ID", "").strip() else "offset")
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    db.session.remove()  # hold no connection while streaming

    def lookup() -> dict[str, Any] | None:
        with app.app_context():
            try:
                row = db.session.get(Execution, execution_id)
                return render(row) if row else None
            finally:
                db.session.remove()

    response = Response(logstream.follow(log_path, offset, lookup), mimetype="text/event-stream")
    response.headers["Cache-Control"] = "no-cache"
    response.headers["X-Accel-Buffering"] = "no"
    return response


def _check_offset(log_path: str, offset: int, field: str) -> None:
    """An offset must be one the server handed out: the start of a record (0 or after a newline)."""
    if not is_record_boundary(log_path, offset):
        raise BadRequest(
            f"{field} {offset} is not the start of a log record (past the end, or inside a record); "
            "use an offset from next_offset or an event id.",
            field=field,
        )


def _resume_offset(query_offset: int | None) -> int:
    header = request.headers.get("Last-Event-ID")
    if header is not None and header.strip():
        if not header.strip().isdigit() or len(header) > 16:
            raise BadRequest("Last-Event-ID must be a byte offset from an earlier event.", field="Last-Event-ID")
        return int(header)
    return query_offset or 0


@bp.get("/<int:execution_id>/files", responses={200: FileList, 404: Problem})
def list_files(path: ExecutionPath) -> Response:
    """Every file and folder in the run's workspace."""
    execution = service.get_execution(path.execution_id)
    entries = files.list_tree(_paths(execution.id).workspace)
    return json_response({"items": [e.as_dict() for e in entries], "total": len(entries)})


@bp.get("/<int:execution_id>/files/<path:file_path>", responses=FILE_RESPONSES)
def get_file(path: FilePath, query: FileQuery) -> Response:
    """One workspace file: inline preview for safe types, or an attachment with download=1."""
    execution = service.get_execution(path.execution_id)
    handle, info = files.open_regular(_paths(execution.id).workspace, path.file_path)
    name = os.path.basename(path.file_path)
    guessed = mimetypes.guess_type(name)[0] or "application/octet-stream"
    if os.path.splitext(name)[1].lower() in TEXT_SUFFIXES:
        guessed = "text/plain"
    inline = not query.download and guessed in INLINE_TYPES
    response = send_file(
        handle,
        mimetype=guessed if inline else "application/octet-stream",
        as_attachment=not inline,
        download_name=name,
        conditional=False,
        etag=f"{info.st_ino}-{info.st_size}-{int(info.st_mtime)}",
        last_modified=info.st_mtime,
        max_age=0,
    )
    # send_file cannot size an open file; with the size known, Range requests (a preview of the
    # first megabyte, a resumed download) and If-None-Match work.
    response.content_length = info.st_size
    try:
        response = response.make_conditional(request.environ, accept_ranges=True, complete_length=info.st_size)
    except RequestedRangeNotSatisfiable:
        handle.close()
        raise
    response.headers["Content-Security-Policy"] = (
        "sandbox; default-src 'none'; img-src 'self'; style-src 'unsafe-inline'"
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


@bp.get(
    "/<int:execution_id>/archive",
    responses={200: {"content": {"application/zip": {"schema": {"type": "string", "format": "binary"}}}}, 404: Problem},
)
def archive(path: ExecutionPath) -> Response:
    """The whole workspace as a zip, streamed while it is made."""
    execution = service.get_execution(path.execution_id)
    folder = f"execution_{execution.id}"
    # A generator: the workspace is opened when sending starts and closed when it ends or is abandoned.
    response = Response(files.zip_stream(_paths(execution.id).workspace, folder), mimetype="application/zip")
    response.headers["Content-Disposition"] = f'attachment; filename="{folder}.zip"'
    return response
