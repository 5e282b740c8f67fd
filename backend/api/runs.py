"""Starting a run of a script: ``POST /api/scripts/<id>/execute`` (JSON or multipart)."""

from __future__ import annotations

from flask import Response
from flask_openapi3 import APIBlueprint, Tag

from backend.api.executions import render
from backend.api.helpers import json_response
from backend.models import Trigger
from backend.schemas.common import Problem
from backend.schemas.executions import ExecuteBody, ExecutionOut
from backend.schemas.scripts import ScriptPath
from backend.services import executions as service
from backend.services import scripts as scripts_service

bp = APIBlueprint("runs", __name__, url_prefix="/api/scripts", abp_tags=[Tag(name="executions")])


@bp.post(
    "/<int:script_id>/execute",
    responses={202: ExecutionOut, 400: Problem, 404: Problem, 409: Problem, 413: Problem, 422: Problem},
)
def execute(path: ScriptPath, body: ExecuteBody) -> Response:
    """Queue a run with parameter values; answers 202 with the queued execution at once."""
    script = scripts_service.get_script(path.script_id)
    execution = service.start(script, body.params, Trigger.MANUAL)
    return json_response(render(execution), 202)
