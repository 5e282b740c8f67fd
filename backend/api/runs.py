"""Starting runs: ``POST /api/scripts/<id>/execute`` (JSON or multipart) and re-running one."""

from __future__ import annotations

import json
from typing import Any

from flask import Response, g, request
from flask_openapi3 import APIBlueprint, Tag

from backend.api.helpers import current_user_id, json_response, settings
from backend.api.serializers import execution_out
from backend.errors import BadRequest, Unprocessable
from backend.extensions import db
from backend.models import Execution, Trigger
from backend.schemas.common import ID_MAX, Problem
from backend.schemas.executions import VERSION_HELP, ExecuteBody, ExecutionOut, ExecutionPath, RerunBody, RerunQuery
from backend.schemas.scripts import ScriptPath
from backend.security import audit_in_transaction
from backend.services import executions as service
from backend.services import scripts as scripts_service
from backend.services import versions
from backend.services.executor import workspace
from backend.services.files import Staging

bp = APIBlueprint("runs", __name__, url_prefix="/api", abp_tags=[Tag(name="executions")])

# Both bodies are read by the handlers (a multipart form, or no body at all, is not something
# flask-openapi3 validates), so the document's request bodies are written out here.
EXECUTE_BODY = {
    "required": False,
    "description": "JSON, or multipart/form-data with the same fields plus one file field per 'file' "
    "parameter (named after it; its value becomes the saved file's name). No body: no values.",
    "content": {
        "application/json": {"schema": ExecuteBody.model_json_schema()},
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "properties": {
                    "params": {"type": "string", "description": "Parameter values by name, as a JSON object"},
                    "version": {"type": "integer", "minimum": 1, "description": VERSION_HELP},
                },
                "additionalProperties": {"type": "string", "format": "binary"},
            }
        },
    },
}
RERUN_BODY = {
    "required": False,
    "description": "Optional: values to change; no body runs with the original's values.",
    "content": {"application/json": {"schema": RerunBody.model_json_schema()}},
}
RESPONSES = {202: ExecutionOut, 400: Problem, 404: Problem, 409: Problem, 413: Problem, 422: Problem}


def request_trigger() -> Trigger:
    """A bearer token is a program calling the API (``api``); a session cookie is the web app (``manual``)."""
    return Trigger.API if g.get("auth") == "token" else Trigger.MANUAL


def _json_body(model: type[ExecuteBody] | type[RerunBody]) -> ExecuteBody | RerunBody:
    """The JSON body validated by ``model`` (a ValidationError is the app's 422); none is the defaults."""
    raw = request.get_json(silent=True) if request.get_data(cache=True).strip() else {}
    return model.model_validate(raw)


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


def _multipart_version() -> int | None:
    raw = request.form.get("version", "").strip()
    if not raw:
        return None
    if not raw.isdigit() or not 1 <= int(raw) <= ID_MAX:
        raise Unprocessable(f"version: {raw[:40]!r} is not a version number", field="version")
    return int(raw)


@bp.post("/scripts/<int:script_id>/execute", responses=RESPONSES, openapi_extensions={"requestBody": EXECUTE_BODY})
def execute(path: ScriptPath) -> Response:
    """Queue a run (of the current version, or of ``version``); JSON or multipart with files. Answers 202.

    The trigger is ``api`` for a bearer token, ``manual`` for the web app's session.
    """
    script = scripts_service.get_script(path.script_id)
    trigger = request_trigger()
    if request.mimetype != "multipart/form-data":
        body = _json_body(ExecuteBody)
        assert isinstance(body, ExecuteBody)
        execution = service.start(
            script, body.params, trigger, version_number=body.version, created_by_id=current_user_id(), commit=False
        )
        return _accepted(execution)

    values = _multipart_params()
    number = _multipart_version() or script.current_version
    definitions = versions.get_version(script.id, number).parameters
    file_params = {d["name"] for d in definitions if d.get("type") == "file"}
    staging = Staging(settings(), settings().max_request_bytes)
    try:
        for field, upload in request.files.items(multi=True):
            saved = staging.save(upload.filename or field, upload.stream)
            if field in file_params:  # a field named after a 'file' parameter gives it the saved name
                values.setdefault(field, saved)
        execution = service.start(
            script, values, trigger, version_number=number, created_by_id=current_user_id(), commit=False
        )
        db.session.flush()
        staging.move_into(workspace.run_paths(settings(), execution.id).inputs)
        return _accepted(execution)
    except BaseException:
        db.session.rollback()
        raise
    finally:
        staging.discard()


def _accepted(execution: Execution) -> Response:
    """202 with the run as created (queued). The audit row goes in the same transaction (one commit
    per submit, not a second one after it); the executor is woken first and the answer rendered
    from the row as committed (kept, not expired: a run claimed meanwhile still answers queued)."""
    db.session.flush()
    audit_in_transaction(202)
    session = db.session()
    session.expire_on_commit = False
    try:
        db.session.commit()
    finally:
        session.expire_on_commit = True
    service.wake_executor()
    return json_response(execution_out(execution), 202)


@bp.post(
    "/executions/<int:execution_id>/rerun",
    responses={202: ExecutionOut, 404: Problem, 409: Problem, 422: Problem},
    openapi_extensions={"requestBody": RERUN_BODY},
)
def rerun_execution(path: ExecutionPath, query: RerunQuery) -> Response:
    """Run again with the same parameters, uploaded files and version (unless latest=true).

    An optional ``{"params": {...}}`` body changes some of the values.
    """
    body = _json_body(RerunBody)
    assert isinstance(body, RerunBody)
    execution = service.rerun(
        path.execution_id, latest=query.latest, overrides=body.params, created_by_id=current_user_id()
    )
    return json_response(execution_out(execution), 202)
