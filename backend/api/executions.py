"""Executions API: history, detail, cancel, rerun, delete."""

from __future__ import annotations

from flask import Response
from flask_openapi3 import APIBlueprint, Tag

from backend.api.helpers import current_user_id, json_response
from backend.api.serializers import execution_json
from backend.models import Execution
from backend.schemas.common import Problem
from backend.schemas.executions import (
    ExecutionList,
    ExecutionListQuery,
    ExecutionOut,
    ExecutionPath,
    RerunQuery,
)
from backend.services import executions as service

bp = APIBlueprint("executions", __name__, url_prefix="/api/executions", abp_tags=[Tag(name="executions")])


def render(execution: Execution) -> dict:
    return render_many([execution])[0]


def render_many(executions: list[Execution]) -> list[dict]:
    """Executions as JSON, with script and creator names looked up in one query each."""
    names = service.script_names(executions)
    creators = service.creator_names(executions)
    return [execution_json(e, names.get(e.script_id), creators.get(e.created_by_id or 0)) for e in executions]


@bp.get("", responses={200: ExecutionList, 422: Problem})
def list_executions(query: ExecutionListQuery) -> Response:
    """List executions, newest first."""
    page = service.list_executions(
        script_id=query.script_id,
        status=query.status,
        trigger=query.trigger,
        page=query.page,
        per_page=query.per_page,
    )
    return json_response(
        {
            "items": render_many(page.items),
            "total": page.total,
            "page": page.page,
            "per_page": page.per_page,
        }
    )


@bp.get("/<int:execution_id>", responses={200: ExecutionOut, 404: Problem})
def get_execution(path: ExecutionPath) -> Response:
    """One execution with its status, result and metrics."""
    return json_response(render(service.get_execution(path.execution_id)))


@bp.delete("/<int:execution_id>", responses={204: None, 404: Problem, 409: Problem})
def delete_execution(path: ExecutionPath) -> Response:
    """Delete a finished execution with its log and workspace."""
    service.delete(path.execution_id)
    return Response(status=204)


@bp.post("/<int:execution_id>/cancel", responses={200: ExecutionOut, 404: Problem, 409: Problem})
def cancel_execution(path: ExecutionPath) -> Response:
    """Cancel a queued or running execution (the whole process tree is stopped)."""
    return json_response(render(service.cancel(path.execution_id)))


@bp.post("/<int:execution_id>/rerun", responses={202: ExecutionOut, 404: Problem, 409: Problem, 422: Problem})
def rerun_execution(path: ExecutionPath, query: RerunQuery) -> Response:
    """Run again with the same parameters (and version, unless latest=true)."""
    execution = service.rerun(path.execution_id, latest=query.latest, created_by_id=current_user_id())
    return json_response(render(execution), 202)
