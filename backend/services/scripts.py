"""Script CRUD with versioning and optimistic concurrency; knows nothing about HTTP."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, or_, select

from backend.database import begin_write
from backend.errors import Conflict, NotFound, PayloadTooLarge, Unprocessable
from backend.extensions import db
from backend.models import ACTIVE_STATUSES, Execution, Script, ScriptTag
from backend.services import chains, versions
from backend.services import params as params_service
from backend.services import variables as variables_service
from backend.services.notifications import channels
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


def _like_pattern(text: str) -> str:
    """``%text%`` with LIKE's wildcards in ``text`` taken literally (escape character ``\\``)."""
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def list_scripts(*, q: str | None, tag: str | None, folder: str | None, page: int, per_page: int) -> Page[Script]:
    """One page of scripts; ``q`` matches name, description, folder, a tag or the current code.

    The script row holds its current version's code (every save and rollback copies it there),
    so the text search is a single query over ``scripts`` plus an EXISTS on its tags.
    """
    query = select(Script)
    if q and q.strip():
        pattern = _like_pattern(q.strip())
        query = query.where(
            or_(
                Script.name.ilike(pattern, escape="\\"),
                Script.description.ilike(pattern, escape="\\"),
                Script.folder.ilike(pattern, escape="\\"),
                Script.code.ilike(pattern, escape="\\"),
                select(ScriptTag.script_id)
                .where(ScriptTag.script_id == Script.id, ScriptTag.tag.ilike(pattern, escape="\\"))
                .exists(),
            )
        )
    if tag:
        query = query.where(Script.id.in_(select(ScriptTag.script_id).where(ScriptTag.tag == tag)))
    if folder is not None and folder.strip("/"):
        prefix = folder.strip("/")
        # "demo" is demo and demo/..., never "demonstration"; a "_" or "%" in a folder name is literal
        query = query.where(or_(Script.folder == prefix, Script.folder.startswith(prefix + "/", autoescape=True)))
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


def _check_integrations(script: Script | None, data: dict[str, Any]) -> None:
    """Validate the issue-15 fields given, in place: notification channels, chain links, shared variables.

    Each is a 422 naming the entry at fault. A variable name the script already had is kept even if
    the variable is gone (the run goes on without it), so an unrelated edit is never refused for it.
    """
    if "notifications" in data:
        data["notifications"] = channels.validate_subscriptions(list(data["notifications"] or []))
    if "on_success" in data or "on_failure" in data:
        links = {
            field: list(data[field] if field in data else (getattr(script, field) if script else []) or [])
            for field in chains.LINK_FIELDS
        }
        data.update(chains.check_links(script.id if script else None, links))
    if "variables" in data:
        names = list(dict.fromkeys(data["variables"] or []))
        had = set(script.variables or []) if script else set()
        unknown = [n for n in variables_service.missing(names) if n not in had]
        if unknown:
            index = names.index(unknown[0])
            raise Unprocessable(
                f"variables.{index}: no shared variable is named {unknown[0]!r} (an admin creates it first).",
                field=f"variables.{index}",
            )
        data["variables"] = names


def create_script(data: dict[str, Any], *, max_code_bytes: int, author_id: int | None = None) -> Script:
    data = dict(data)
    _check_code_size(data.get("code", ""), max_code_bytes)
    _normalise_content(data["language"], data, [])
    tags = data.pop("tags", [])
    begin_write()
    _check_integrations(None, data)
    ensure_unique_name(Script, data["name"])
    script = Script(**data, current_version=1, revision=1)
    script.tag_rows = [ScriptTag(tag=t) for t in tags]
    db.session.add(script)
    db.session.flush()
    versions.snapshot(script, "created", author_id=author_id)
    commit()
    return script


# Copied by duplicate_script besides the versioned content: everything but identity, name,
# version counters and timestamps (new columns are copied unless listed here).
NOT_DUPLICATED = frozenset({"id", "name", "current_version", "revision", "created_at", "updated_at"})
COPY_SUFFIX = " (copy)"
MAX_NAME_CHARS = 200


def copy_name(base: str) -> str:
    """The first free name of "<base> (copy)", "<base> (copy 2)", ... (cut to fit the column)."""
    stem = base[: MAX_NAME_CHARS - len(" (copy 999)")]
    taken = set(db.session.scalars(select(Script.name).where(Script.name.startswith(stem, autoescape=True))))
    number = 1
    while True:
        suffix = COPY_SUFFIX if number == 1 else f" (copy {number})"
        name = base[: MAX_NAME_CHARS - len(suffix)] + suffix
        if name not in taken:
            return name
        number += 1


def duplicate_script(script_id: int, name: str | None, *, author_id: int | None = None) -> Script:
    """A new script (version 1) with the source's current code, parameters, dependencies, tags
    and settings; named ``name``, else "<source> (copy)" or the next free "(copy N)"."""
    begin_write()
    source = get_script(script_id)
    new_name = name if name is not None else copy_name(source.name)
    ensure_unique_name(Script, new_name)
    values = {
        column.key: getattr(source, column.key)
        for column in Script.__mapper__.column_attrs
        if column.key not in NOT_DUPLICATED
    }
    for key, value in values.items():
        if isinstance(value, list | dict):
            values[key] = type(value)(value)  # a copy: JSON columns must not share one object
    script = Script(**values, name=new_name, current_version=1, revision=1)
    script.tag_rows = [ScriptTag(tag=t) for t in source.tags]
    db.session.add(script)
    db.session.flush()
    versions.snapshot(script, f"Duplicated from {source.name} v{source.current_version}", author_id=author_id)
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
    author_id: int | None = None,
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
    _check_integrations(script, changes)
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
        versions.snapshot(script, message, author_id=author_id)
    if changed:
        script.revision += 1
    commit()
    return script


def rollback(script_id: int, number: int, *, author_id: int | None = None) -> Script:
    """Make a new version whose content equals version ``number``; history is never rewritten.

    The new version's author is whoever rolled back (``author_id``), not the old version's."""
    begin_write()
    script = get_script(script_id)
    target = versions.get_version(script_id, number)
    script.code = target.code
    script.dependencies = list(target.dependencies)
    script.parameters = list(target.parameters)
    versions.snapshot(script, f"rollback to version {number}", author_id=author_id)
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
    chains.forget_script(script_id)  # no other script starts it any more
    db.session.delete(script)
    commit()
    return execution_ids
