"""A run's workspace files: the listing, one file (preview, download, Range), and the whole zip.

Every path is opened beneath the workspace's own descriptor (``services/files.py``): a script
that swaps folders for links while this serves cannot make it read outside the workspace.
"""

from __future__ import annotations

import mimetypes
import os
from typing import Any

from flask import Response, request, send_file
from flask_openapi3 import APIBlueprint, Tag
from werkzeug.exceptions import RequestedRangeNotSatisfiable

from backend.api.helpers import json_response, settings
from backend.schemas.common import Problem
from backend.schemas.executions import ExecutionPath
from backend.schemas.logs import FileEntry, FileList, FilePath, FileQuery
from backend.services import executions as service
from backend.services import files
from backend.services.executor import workspace

bp = APIBlueprint("files", __name__, url_prefix="/api/executions", abp_tags=[Tag(name="executions")])
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


@bp.get("/<int:execution_id>/files", responses={200: FileList, 404: Problem})
def list_files(path: ExecutionPath) -> Response:
    """Every file and folder in the run's workspace."""
    execution = service.get_execution(path.execution_id)
    entries = files.list_tree(_paths(execution.id).workspace)
    return json_response(FileList.of_items([FileEntry.model_validate(e) for e in entries]))


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
