"""Scripts API: CRUD, versions, diff and rollback. Thin: parse, call a service, serialise."""

from __future__ import annotations

from typing import Any

from flask import Response, g, request
from flask_openapi3 import APIBlueprint, Tag

from backend.api.helpers import current_user_id, json_response, parse_if_match, settings
from backend.api.serializers import script_out, scripts_out
from backend.errors import Forbidden
from backend.models import Script
from backend.models.user import Role
from backend.schemas.common import Problem
from backend.schemas.scripts import (
    KEPT_WHEN_LEFT_OUT,
    DiffOut,
    DiffQuery,
    ScriptCreate,
    ScriptDuplicate,
    ScriptList,
    ScriptListQuery,
    ScriptOut,
    ScriptPatch,
    ScriptPath,
    ScriptReplace,
    VersionList,
    VersionOut,
    VersionPath,
    VersionSummary,
)
from backend.security import current_user
from backend.services import scripts as service
from backend.services import versions
from backend.services.cleanup import remove_execution_files
from backend.services.executor import containment

bp = APIBlueprint("scripts", __name__, url_prefix="/api/scripts", abp_tags=[Tag(name="scripts")])
ERRORS = {400: Problem, 404: Problem, 409: Problem, 413: Problem, 422: Problem}


def _with_etag(script: Script, status: int = 200) -> Response:
    """One script as JSON (with its last run), its revision as the ETag for If-Match."""
    body = script_out(script)
    return json_response(body, status, {"ETag": f'"{body.revision}"'})


@bp.get("", responses={200: ScriptList, 422: Problem})
def list_scripts(query: ScriptListQuery) -> Response:
    """List scripts, filtered by text, tag and folder."""
    page = service.list_scripts(q=query.q, tag=query.tag, folder=query.folder, page=query.page, per_page=query.per_page)
    return json_response(ScriptList.of_page(page, scripts_out(page.items)))


@bp.post("", responses={201: ScriptOut, **ERRORS})
def create_script(body: ScriptCreate) -> Response:
    """Create a script (its version 1)."""
    data = body.model_dump()
    _check_run_as(data, None)
    script = service.create_script(data, max_code_bytes=settings().max_code_bytes, author_id=current_user_id())
    return _with_etag(script, 201)


@bp.post("/<int:script_id>/duplicate", responses={201: ScriptOut, **ERRORS})
def duplicate_script(path: ScriptPath, body: ScriptDuplicate) -> Response:
    """Copy a script: the current version's code, parameters and dependencies, its tags and settings,
    as version 1 of a new script named "<name> (copy)" unless a name is given."""
    source = service.get_script(path.script_id)
    if source.run_as_user is not None:
        _check_run_as({"run_as_user": source.run_as_user}, None)
    script = service.duplicate_script(path.script_id, body.name, author_id=current_user_id())
    # audited as a create: the new script is the target, the source goes in the detail
    g.audit_target = ("script", str(script.id))
    g.audit_detail = {"source_script_id": path.script_id, "name": script.name}
    return _with_etag(script, 201)


def _check_run_as(data: dict[str, Any], script: Script | None) -> None:
    """Choosing the account a script runs as is an admin's decision, and the account must exist."""
    wanted = data.get("run_as_user")
    if "run_as_user" not in data or wanted == (script.run_as_user if script else None):
        return
    user = current_user()
    if user is None or Role(user.role) != Role.ADMIN:
        raise Forbidden("Only an administrator may choose the account a script runs as.", field="run_as_user")
    if wanted is not None:
        containment.check_account(wanted)


@bp.get("/<int:script_id>", responses={200: ScriptOut, 404: Problem})
def get_script(path: ScriptPath) -> Response:
    """Get one script with its current content."""
    return _with_etag(service.get_script(path.script_id))


def _update(script_id: int, data: dict[str, Any], version: int | None, message: str) -> Response:
    """PUT and PATCH: apply the changes if the script is still at ``version`` and the If-Match revision."""
    _check_run_as(data, service.get_script(script_id))
    script = service.update_script(
        script_id,
        data,
        max_code_bytes=settings().max_code_bytes,
        expected_version=version,
        expected_revision=parse_if_match(request.headers.get("If-Match")),
        message=message,
        author_id=current_user_id(),
    )
    return _with_etag(script)


@bp.put("/<int:script_id>", responses={200: ScriptOut, **ERRORS})
def replace_script(path: ScriptPath, body: ScriptReplace) -> Response:
    """Replace a script; a new version is made when code, dependencies or parameters change."""
    data = body.model_dump(exclude={"version", "message"})
    if "run_as_user" not in body.model_fields_set:
        data.pop("run_as_user")  # not sent: unchanged, so an editor's PUT keeps an admin's choice
    for field in KEPT_WHEN_LEFT_OUT:
        if field not in body.model_fields_set:
            data.pop(field)  # not sent: unchanged (a client that predates them wipes no chain or channel)
    return _update(path.script_id, data, body.version, body.message)


@bp.patch("/<int:script_id>", responses={200: ScriptOut, **ERRORS})
def patch_script(path: ScriptPath, body: ScriptPatch) -> Response:
    """Change some fields of a script."""
    data = body.model_dump(exclude_unset=True, exclude={"version", "message"})
    for field in (
        "name",
        "language",
        "description",
        "code",
        "dependencies",
        "parameters",
        "tags",
        "folder",
        "concurrency_policy",
        "max_retries",
        "retry_delay_seconds",
        "enabled",
        "sandbox_network",
        *KEPT_WHEN_LEFT_OUT,
    ):
        if field in data and data[field] is None:
            data.pop(field)  # null means "leave as is" for fields that cannot be empty
    if "limits" in data and data["limits"] is None:
        data["limits"] = {}  # null limits: back to the server's defaults
    return _update(path.script_id, data, body.version, body.message or "")


@bp.delete("/<int:script_id>", responses={204: None, 404: Problem, 409: Problem})
def delete_script(path: ScriptPath) -> Response:
    """Delete a script with its versions, executions, logs and workspaces."""
    remove_execution_files(service.delete_script(path.script_id))
    return Response(status=204)


@bp.get("/<int:script_id>/versions", responses={200: VersionList, 404: Problem})
def list_versions(path: ScriptPath) -> Response:
    """List a script's versions, newest first."""
    script = service.get_script(path.script_id)
    rows = versions.list_versions(script.id)
    authors = versions.author_names(rows)
    items = [
        VersionSummary.of(v, current=v.number == script.current_version, author=authors.get(v.created_by_id or 0))
        for v in rows
    ]
    return json_response(VersionList.of_items(items))


@bp.get("/<int:script_id>/versions/<int:number>", responses={200: VersionOut, 404: Problem})
def get_version(path: VersionPath) -> Response:
    """Get one version's content."""
    service.get_script(path.script_id)
    version = versions.get_version(path.script_id, path.number)
    author = versions.author_names([version]).get(version.created_by_id or 0)
    return json_response(VersionOut.of(version, author=author))


@bp.get("/<int:script_id>/diff", responses={200: DiffOut, 404: Problem, 422: Problem})
def diff(path: ScriptPath, query: DiffQuery) -> Response:
    """Unified diff between two versions."""
    service.get_script(path.script_id)
    text = versions.diff_versions(path.script_id, query.from_, query.to)
    return json_response(DiffOut(script_id=path.script_id, from_version=query.from_, to_version=query.to, diff=text))


@bp.post("/<int:script_id>/rollback/<int:number>", responses={200: ScriptOut, 404: Problem, 409: Problem})
def rollback(path: VersionPath) -> Response:
    """Roll back: a new version with the content of an older one."""
    return _with_etag(service.rollback(path.script_id, path.number, author_id=current_user_id()))
