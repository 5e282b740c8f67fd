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
from backend.services.executor.logfile import iter_text, read_records

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


def _paths(execution_id: int) -> workspace.RunPaths:
    return workspace.run_paths(settings(), execution_id)


@bp.get("/<int:execution_id>/logs", responses={200: LogPage, 404: Problem, 422: Problem})
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
    if query.offset > size:
        raise BadRequest(f"offset {query.offset} is past the end of the log ({size} bytes).", field="offset")
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
    responses={200: {"content": {"text/event-stream": {"schema": {"type": "string"}}}}, 404: Problem},
)
def stream_logs(path: ExecutionPath, query: StreamQuery) -> Response:
    """Server-Sent Events: log, progress and status events, then end. Resumes from Last-Event-ID."""
    execution = service.get_execution(path.execution_id)
    execution_id = execution.id
    offset = _resume_offset(query.offset)
    log_path = str(_paths(execution_id).log)
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


@bp.get("/<int:execution_id>/files/<path:file_path>", responses={200: None, 400: Problem, 403: Problem, 404: Problem})
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
