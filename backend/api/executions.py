"""Executions API: history, detail, cancel, delete (starting and re-running live in ``runs.py``)."""

from __future__ import annotations

from flask import Response
from flask_openapi3 import APIBlueprint, Tag

from backend.api.helpers import json_response
from backend.api.serializers import execution_out, executions_out
from backend.schemas.common import Problem
from backend.schemas.executions import (
    ExecutionList,
    ExecutionListQuery,
    ExecutionOut,
    ExecutionPath,
)
from backend.services import executions as service

bp = APIBlueprint("executions", __name__, url_prefix="/api/executions", abp_tags=[Tag(name="executions")])


@bp.get("", responses={200: ExecutionList, 422: Problem})
def list_executions(query: ExecutionListQuery) -> Response:
    """List executions, newest first (with ``attempts_of``: that retry series, in attempt order)."""
    filters = service.ExecutionFilters(**query.model_dump(exclude={"page", "per_page"}))
    page = service.list_executions(filters, page=query.page, per_page=query.per_page)
    return json_response(ExecutionList.of_page(page, executions_out(page.items)))


@bp.get("/<int:execution_id>", responses={200: ExecutionOut, 404: Problem})
def get_execution(path: ExecutionPath) -> Response:
    """One execution with its status, result and metrics."""
    return json_response(execution_out(service.show_execution(path.execution_id)))


@bp.delete("/<int:execution_id>", responses={204: None, 404: Problem, 409: Problem})
def delete_execution(path: ExecutionPath) -> Response:
    """Delete a finished execution with its log and workspace."""
    service.delete(path.execution_id)
    return Response(status=204)


@bp.post("/<int:execution_id>/cancel", responses={200: ExecutionOut, 404: Problem, 409: Problem})
def cancel_execution(path: ExecutionPath) -> Response:
    """Cancel a queued or running execution (the whole process tree is stopped)."""
    return json_response(execution_out(service.cancel(path.execution_id)))
