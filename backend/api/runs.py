"""Starting runs: ``POST /api/scripts/<id>/execute`` (JSON or multipart) and re-running one."""

from __future__ import annotations

import json
from typing import Any

from flask import Response, request
from flask_openapi3 import APIBlueprint, RawModel, Tag

from backend.api.helpers import current_user_id, json_response, settings
from backend.api.serializers import execution_out
from backend.errors import BadRequest
from backend.extensions import db
from backend.models import Execution, Trigger
from backend.schemas.common import Problem
from backend.schemas.executions import ExecuteBody, ExecutionOut, ExecutionPath, RerunQuery
from backend.schemas.scripts import ScriptPath
from backend.services import executions as service
from backend.services import scripts as scripts_service
from backend.services import versions
from backend.services.executor import workspace
from backend.services.files import Staging

bp = APIBlueprint("runs", __name__, url_prefix="/api", abp_tags=[Tag(name="executions")])


class ExecuteRequest(RawModel):
    """JSON ``{"params": {...}}``, or multipart with a ``params`` JSON field and any files."""

    mimetypes = ["application/json", "multipart/form-data"]


RESPONSES = {202: ExecutionOut, 400: Problem, 404: Problem, 409: Problem, 413: Problem, 422: Problem}


def _multipart_params() -> dict[str, Any]:
    raw = request.form.get("params", "")
    if not raw.strip():
        return {}
    try:
        values = json.loads(raw)
    except (ValueError, RecursionError):
        raise BadRequest("The 'params' field must be a JSON object.", field="params") from None
    if not isinstance(values, dict):
        raise BadRequest("The 'params' field must be a JSON object.", field="params")
    return values


@bp.post("/scripts/<int:script_id>/execute", responses=RESPONSES)
def execute(path: ScriptPath, raw: ExecuteRequest) -> Response:
    """Queue a run; JSON ``{"params": {...}}`` or multipart (``params`` JSON field + files). Answers 202."""
    script = scripts_service.get_script(path.script_id)
    if request.mimetype != "multipart/form-data":
        body = ExecuteBody.model_validate(request.get_json(silent=True) if request.data else {})
        execution = service.start(script, body.params, Trigger.MANUAL, created_by_id=current_user_id(), commit=False)
        return _accepted(execution)

    values = _multipart_params()
    definitions = versions.get_version(script.id, script.current_version).parameters
    file_params = {d["name"] for d in definitions if d.get("type") == "file"}
    staging = Staging(settings(), settings().max_request_bytes)
    try:
        for field, upload in request.files.items(multi=True):
            saved = staging.save(upload.filename or field, upload.stream)
            if field in file_params:  # a field named after a 'file' parameter gives it the saved name
                values.setdefault(field, saved)
        execution = service.start(script, values, Trigger.MANUAL, created_by_id=current_user_id(), commit=False)
        db.session.flush()
        staging.move_into(workspace.run_paths(settings(), execution.id).inputs)
        return _accepted(execution)
    except BaseException:
        db.session.rollback()
        raise
    finally:
        staging.discard()


def _accepted(execution: Execution) -> Response:
    """202 with the run as created (queued): rendered before the commit wakes the executor."""
    db.session.flush()
    body = execution_out(execution)
    db.session.commit()
    service.wake_executor()
    return json_response(body, 202)


@bp.post(
    "/executions/<int:execution_id>/rerun", responses={202: ExecutionOut, 404: Problem, 409: Problem, 422: Problem}
)
def rerun_execution(path: ExecutionPath, query: RerunQuery) -> Response:
    """Run again with the same parameters (and version, unless latest=true)."""
    execution = service.rerun(path.execution_id, latest=query.latest, created_by_id=current_user_id())
    return json_response(execution_out(execution), 202)
