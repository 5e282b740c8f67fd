"""A run's log: paged records, plain text, or live over Server-Sent Events."""

from __future__ import annotations

from typing import Any

from flask import Response, current_app, request
from flask_openapi3 import APIBlueprint, Tag

from backend.api.helpers import json_response, settings
from backend.api.serializers import execution_out
from backend.errors import BadRequest
from backend.extensions import db
from backend.models import Execution, ExecutionStatus
from backend.schemas.common import Problem
from backend.schemas.executions import ExecutionPath
from backend.schemas.logs import LogPage, LogQuery, LogRecord, LogSearchQuery, LogSearchResult, StreamQuery
from backend.services import executions as service
from backend.services import logsearch, logship, logstream
from backend.services.executor import workspace
from backend.services.executor.logfile import is_record_boundary, iter_text, read_records

bp = APIBlueprint("logs", __name__, url_prefix="/api/executions", abp_tags=[Tag(name="executions")])


# Response documentation (the statuses every operation shares are added in backend/openapi_doc.py).
STREAM_200 = {
    "description": (
        "A Server-Sent Events stream (`text/event-stream`), first `retry: 2000`, then events whose `data` is "
        "one JSON object:\n\n"
        "- `log`: a log record `{offset, time, stream, text}`;\n"
        "- `logs` (only with `batch=true`): several log records that were waiting, as one JSON array; its "
        "`id` is the offset after the last of them;\n"
        "- `progress`: a progress report the script printed (its JSON, or `{text}`);\n"
        "- `status`: the execution (as `GET /api/executions/{id}`) whenever its status changes;\n"
        "- `end`: the last event, `{...execution, offset}` once the run ended and the log is drained "
        '(or `{status: "deleted", offset}`); the server then closes the stream.\n\n'
        "`log`, `logs` and `progress` events have an `id`: the byte offset just after the record. Reconnect with "
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
                    "event": {"type": "string", "enum": ["log", "logs", "progress", "status", "end"]},
                    "data": {
                        "type": "string",
                        "description": "One JSON object (a JSON array for `logs`)",
                        "contentMediaType": "application/json",
                        "contentSchema": {"type": ["object", "array"]},
                    },
                    "id": {"type": "string", "pattern": "^[0-9]+$", "description": "Byte offset after the record"},
                    "retry": {"type": "integer", "description": "Reconnection delay in ms"},
                },
            }
        }
    },
}


def _paths(execution_id: int) -> workspace.RunPaths:
    return workspace.run_paths(settings(), execution_id)


@bp.get("/<int:execution_id>/logs", responses={200: LogPage, 400: Problem, 404: Problem, 422: Problem})
def get_logs(path: ExecutionPath, query: LogQuery) -> Response:
    """Log records from a byte offset, optionally only one stream's or from a level up (or the whole
    log as text with format=text)."""
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
    wanted = logsearch.RecordFilter(stream=query.stream, level=query.level)
    if wanted.is_empty:
        records = read_records(str(log_path), query.offset, limit=query.limit)
        next_offset = records[-1].next_offset if records else query.offset
    else:
        page = logsearch.filtered_page(str(log_path), query.offset, wanted, query.limit)
        records, next_offset = page.records, page.next_offset
    final = ExecutionStatus(execution.status).is_final
    return json_response(
        LogPage(
            records=[LogRecord.model_validate(r) for r in records],
            offset=query.offset,
            next_offset=next_offset,
            size=size,
            complete=final and next_offset >= size,
        )
    )


@bp.get("/<int:execution_id>/logs/search", responses={200: LogSearchResult, 400: Problem, 404: Problem, 422: Problem})
def search_logs(path: ExecutionPath, query: LogSearchQuery) -> Response:
    """Find text in the whole log (case-insensitive), optionally in one stream or from a level up."""
    execution = service.get_execution(path.execution_id)
    wanted = logsearch.RecordFilter(stream=query.stream, level=query.level, text=query.q)
    found = logsearch.search(str(_paths(execution.id).log), wanted, query.limit)
    return json_response(
        LogSearchResult(
            matches=[LogRecord.model_validate(r) for r in found.matches], total=found.total, truncated=found.truncated
        )
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
    field = "Last-Event-ID" if request.headers.get("Last-Event-ID", "").strip() else "offset"
    # a run on a Celery worker: its live log comes from Redis (logship), the file serves once it ended
    shipped = None if ExecutionStatus(execution.status).is_final else logship.web_client(settings())
    key = logship.key_for(settings(), execution_id)
    # an id the stream handed out may be ahead of what this machine's view of the shared file shows
    known = shipped is not None and not is_record_boundary(log_path, offset) and _shipped_boundary(shipped, key, offset)
    if not known:
        _check_offset(log_path, offset, field)
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    db.session.remove()  # hold no connection while streaming

    def lookup() -> dict[str, Any] | None:
        with app.app_context():
            try:
                row = db.session.get(Execution, execution_id)
                return execution_out(row).model_dump(mode="json") if row else None
            finally:
                db.session.remove()

    if shipped is not None:
        followed = logstream.stream_shipped(
            log_path, offset, lookup, execution_id=execution_id, client=shipped, key=key, batch=query.batch
        )
    else:
        followed = logstream.stream(
            log_path,
            offset,
            lookup,
            execution_id=execution_id,
            batch=query.batch,
            watch=settings().log_follow == "inotify",
        )
    response = Response(followed, mimetype="text/event-stream")
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


def _shipped_boundary(client: Any, key: str, offset: int) -> bool:
    """Whether the run's Redis Stream knows the offset (the shared file may not show it yet)."""
    try:
        return logship.is_boundary(client, key, offset)
    except Exception:  # Redis unreachable: the file alone decides
        return False


def _resume_offset(query_offset: int | None) -> int:
    header = request.headers.get("Last-Event-ID")
    if header is not None and header.strip():
        value = header.strip()
        # ASCII digits only: str.isdigit() also takes "²" (int() then raises: a 500) and "١٢" (read as 12)
        if not (value.isascii() and value.isdigit()) or len(value) > 16:
            raise BadRequest("Last-Event-ID must be a byte offset from an earlier event.", field="Last-Event-ID")
        return int(value)
    return query_offset or 0
