"""Trigger URLs: managing a script's hooks, and ``POST /hooks/<token>`` that starts it.

Access: editors and admins create, list, rotate and revoke the hooks of any script (scripts have
no owners; a viewer gets 403, as for every change to a script). The trigger itself needs no login
and no CSRF token: the secret token in the URL is the credential (``backend.policies``: public).
"""

from __future__ import annotations

import json
from typing import Any

from flask import Response, g, request
from flask_openapi3 import APIBlueprint, Tag

from backend.api.helpers import current_user_id, json_response, settings
from backend.errors import BadRequest
from backend.models import Execution, ExecutionStatus, ScriptHook
from backend.schemas.common import Problem
from backend.schemas.hooks import (
    HookCreate,
    HookCreated,
    HookList,
    HookOut,
    HookPath,
    HookRunOut,
    HookRunResult,
    HookTokenPath,
    HookTriggerQuery,
)
from backend.schemas.scripts import ScriptPath
from backend.security import client_ip
from backend.services import hooks as service

bp = APIBlueprint("hooks", __name__, url_prefix="/api/scripts", abp_tags=[Tag(name="hooks")])
trigger_bp = APIBlueprint("hook_trigger", __name__, url_prefix="/hooks", abp_tags=[Tag(name="hooks")])

TRIGGER_BODY = {
    "required": False,
    "description": "The run's parameter values as a JSON object, validated as for a manual run "
    "(any Content-Type; curl's -d default is fine). No body: no values (defaults apply).",
    "content": {"application/json": {"schema": {"type": "object", "additionalProperties": True}}},
}


def public_base() -> str:
    """Where this server is reached from outside: ``SCRIPTMAN_PUBLIC_URL`` when configured, else the
    address this request came to (right when clients and the browser use the same one)."""
    return (settings().public_url or request.host_url).rstrip("/")


def _hooks_out(rows: list[ScriptHook]) -> list[HookOut]:
    names = service.creator_names(rows)
    return [HookOut.of(row, created_by=names.get(row.created_by_id or 0)) for row in rows]


def _created(hook: ScriptHook, raw: str, status: int) -> Response:
    """The one response that carries the token. The audit row names the hook by id, never the token."""
    g.audit_detail = {"hook_id": hook.id, "hook_name": hook.name}
    body = HookCreated.of(
        hook,
        created_by=_hooks_out([hook])[0].created_by,
        token=raw,
        url=f"{public_base()}/hooks/{raw}",
    )
    return json_response(body, status, headers={"Cache-Control": "no-store"})


@bp.get("/<int:script_id>/hooks", responses={200: HookList, 404: Problem})
def list_hooks(path: ScriptPath) -> Response:
    """The script's trigger URLs: name, token prefix, who made it, when last used and from where.
    Never a token. Editors and admins."""
    return json_response(HookList.of_items(_hooks_out(service.list_hooks(path.script_id))))


@bp.post("/<int:script_id>/hooks", responses={201: HookCreated, 404: Problem, 409: Problem, 422: Problem})
def create_hook(path: ScriptPath, body: HookCreate) -> Response:
    """Make a trigger URL; its token and URL are in this response only (stored as a digest).
    Editors and admins."""
    hook, raw = service.create(path.script_id, body.name, created_by_id=current_user_id())
    return _created(hook, raw, 201)


@bp.post("/<int:script_id>/hooks/<int:hook_id>/rotate", responses={200: HookCreated, 404: Problem})
def rotate_hook(path: HookPath) -> Response:
    """Give the trigger URL a new token, shown in this response only; the old one stops working at
    once. Editors and admins."""
    hook, raw = service.rotate(path.script_id, path.hook_id)
    return _created(hook, raw, 200)


@bp.delete("/<int:script_id>/hooks/<int:hook_id>", responses={204: None, 404: Problem})
def revoke_hook(path: HookPath) -> Response:
    """Revoke a trigger URL: its token stops working at once. Editors and admins."""
    hook = service.get_hook(path.script_id, path.hook_id)
    g.audit_detail = {"hook_id": hook.id, "hook_name": hook.name}
    service.revoke(path.script_id, path.hook_id)
    return Response(status=204)


def _body_values() -> Any:
    """The JSON body (any Content-Type), or {} when there is none."""
    request.max_content_length = service.MAX_BODY_BYTES  # 413 above it
    raw = request.get_data(cache=True)
    if not raw.strip():
        return {}
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):
        raise BadRequest("The body must be a JSON object of parameter values.", field="body") from None


def _run_out(execution: Execution) -> HookRunOut:
    base = public_base()
    fields: dict[str, Any] = {
        "execution_id": execution.id,
        "status": execution.status,
        "url": f"{base}/executions/{execution.id}",
        "status_url": f"{base}/api/executions/{execution.id}",
    }
    if not ExecutionStatus(execution.status).is_final:
        return HookRunOut.model_validate(fields)
    return HookRunResult.model_validate(
        {
            **fields,
            "exit_code": execution.exit_code,
            "result": execution.result,  # masked when stored (the runner masks secrets in it)
            "error": execution.error,
            "duration_ms": execution.duration_ms,
        }
    )


@trigger_bp.post(
    "/<string:token>",
    responses={200: HookRunResult, 202: HookRunOut, 404: Problem, 409: Problem, 422: Problem, 429: Problem},
    openapi_extensions={"requestBody": TRIGGER_BODY},
)
def trigger(path: HookTokenPath, query: HookTriggerQuery) -> Response:
    """Start the script of this trigger URL (no login: the token is the credential); trigger ``webhook``.

    The JSON body is the parameter values (422 naming a wrong one); 202 with the run's id and URLs.
    With ``?wait`` the answer waits for the run: 200 with status, exit code and result when it ends in
    time, else 202. 404 for an unknown, revoked or rotated token; 409 when the script is disabled;
    429 (with Retry-After) over SCRIPTMAN_HOOK_RATE_LIMIT_PER_MINUTE requests a minute per URL.
    """
    hook = service.admit(path.token)  # first: an unknown token is a 404 whatever the body
    execution = service.trigger(hook, _body_values(), ip=client_ip())
    seconds = service.wait_seconds(query.wait, settings().hook_max_wait_seconds)
    if seconds > 0:
        execution = service.wait_for_end(execution.id, seconds)
    body = _run_out(execution)
    return json_response(body, 200 if isinstance(body, HookRunResult) else 202, headers={"Cache-Control": "no-store"})
