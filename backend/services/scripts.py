"""Script CRUD with versioning and optimistic concurrency; knows nothing about HTTP."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, or_, select

from backend.database import begin_write
from backend.errors import Conflict, NotFound, PayloadTooLarge
from backend.extensions import db
from backend.models import ACTIVE_STATUSES, Execution, Script, ScriptTag
from backend.services import params as params_service
from backend.services import versions
from backend.services.pagination import Page, paginate
from backend.services.requirements import validate_dependencies
from backend.services.uniqueness import commit, ensure_unique_name

METADATA_FIELDS = (
    "name",
    "description",
    "folder",
    "timeout_seconds",
    "max_concurrent",
    "concurrency_policy",
    "max_retries",
    "retry_delay_seconds",
    "enabled",
    "language",
)


def get_script(script_id: int) -> Script:
    script = db.session.get(Script, script_id)
    if script is None:
        raise NotFound(f"Script {script_id} does not exist.")
    return script


def find_by_name(name: str) -> Script:
    script = db.session.scalar(select(Script).where(Script.name == name))
    if script is None:
        raise NotFound(f"No script is named {name!r}.")
    return script


def list_scripts(*, q: str | None, tag: str | None, folder: str | None, page: int, per_page: int) -> Page[Script]:
    query = select(Script)
    if q:
        pattern = "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        query = query.where(
            or_(Script.name.ilike(pattern, escape="\\"), Script.description.ilike(pattern, escape="\\"))
        )
    if tag:
        query = query.where(Script.id.in_(select(ScriptTag.script_id).where(ScriptTag.tag == tag)))
    if folder is not None and folder.strip("/"):
        prefix = folder.strip("/")
        query = query.where(or_(Script.folder == prefix, Script.folder.startswith(prefix + "/")))
    return paginate(query.order_by(Script.folder, Script.name), page=page, per_page=per_page)


def _check_code_size(code: str, limit: int) -> None:
    if len(code.encode("utf-8", errors="surrogatepass")) > limit:
        raise PayloadTooLarge(f"code is larger than the limit of {limit} bytes", field="code")


def _normalise_content(language: str, data: dict[str, Any], old_parameters: list[dict[str, Any]]) -> None:
    """Validate the versioned fields in place (dependencies per language, parameter definitions)."""
    if "dependencies" in data:
        data["dependencies"] = validate_dependencies(language, data["dependencies"])
    if "parameters" in data:
        defs = params_service.validate_definitions(data["parameters"])
        data["parameters"] = params_service.keep_secret_defaults(defs, old_parameters)


def create_script(data: dict[str, Any], *, max_code_bytes: int) -> Script:
    data = dict(data)
    _check_code_size(data.get("code", ""), max_code_bytes)
    _normalise_content(data["language"], data, [])
    tags = data.pop("tags", [])
    begin_write()
    ensure_unique_name(Script, data["name"])
    script = Script(**data, current_version=1, revision=1)
    script.tag_rows = [ScriptTag(tag=t) for t in tags]
    db.session.add(script)
    db.session.flush()
    versions.snapshot(script, "created")
    commit()
    return script


def update_script(
    script_id: int,
    changes: dict[str, Any],
    *,
    max_code_bytes: int,
    expected_version: int | None = None,
    expected_revision: int | None = None,
    message: str = "",
) -> Script:
    """Apply a full or partial change. A new version only when code/dependencies/parameters change."""
    changes = dict(changes)
    if "code" in changes:
        _check_code_size(changes["code"], max_code_bytes)
    begin_write()
    script = get_script(script_id)
    if expected_version is not None and expected_version != script.current_version:
        raise Conflict(
            f"The script moved on to version {script.current_version} since version {expected_version}; "
            "reload it and apply your change again.",
            field="version",
            current_version=script.current_version,
        )
    if expected_revision is not None and expected_revision != script.revision:
        raise Conflict(
            f"The script changed since revision {expected_revision} (now {script.revision}).",
            field="If-Match",
            current_revision=script.revision,
        )
    language = changes.get("language", script.language)
    if language != script.language and "dependencies" not in changes:
        changes["dependencies"] = list(script.dependencies)
    _normalise_content(language, changes, list(script.parameters))
    if "name" in changes:
        ensure_unique_name(Script, changes["name"], exclude_id=script.id)

    before = versions.content_of(script)
    tags = changes.pop("tags", None)
    changed = False
    for field, value in changes.items():
        if getattr(script, field) != value:
            setattr(script, field, value)
            changed = True
    if tags is not None and tags != script.tags:
        script.tag_rows = [ScriptTag(tag=t) for t in tags]
        changed = True
    if versions.content_of(script) != before:
        versions.snapshot(script, message)
    if changed:
        script.revision += 1
    commit()
    return script


def rollback(script_id: int, number: int) -> Script:
    """Make a new version whose content equals version ``number``; history is never rewritten."""
    begin_write()
    script = get_script(script_id)
    target = versions.get_version(script_id, number)
    script.code = target.code
    script.dependencies = list(target.dependencies)
    script.parameters = list(target.parameters)
    versions.snapshot(script, f"rollback to version {number}")
    script.revision += 1
    commit()
    return script


def delete_script(script_id: int) -> list[int]:
    """Delete a script and its history; refused while one of its runs is queued or running.

    Returns the ids of the deleted executions (removed by the database's cascade) so the caller
    can remove their workspaces, logs and control folders.
    """
    begin_write()
    script = get_script(script_id)
    active = db.session.scalar(
        select(func.count())
        .select_from(Execution)
        .where(Execution.script_id == script_id, Execution.status.in_(ACTIVE_STATUSES))
    )
    if active:
        raise Conflict(f"Script {script_id} has {active} queued or running execution(s); cancel them first.")
    execution_ids = list(db.session.scalars(select(Execution.id).where(Execution.script_id == script_id)))
    db.session.delete(script)
    commit()
    return execution_ids
