"""Immutable script versions: snapshot, list, diff and rollback."""

from __future__ import annotations

import difflib
import json
from typing import Any

from sqlalchemy import func, select

from backend.errors import NotFound
from backend.extensions import db
from backend.models import Script, ScriptVersion, User
from backend.services.params import mask_definitions

VERSIONED_FIELDS = ("code", "dependencies", "parameters")


def content_of(obj: Script | ScriptVersion) -> dict[str, Any]:
    return {"code": obj.code, "dependencies": list(obj.dependencies), "parameters": list(obj.parameters)}


def snapshot(script: Script, message: str = "", *, author_id: int | None = None) -> ScriptVersion:
    """Record the script's current content as its next version number, saved by ``author_id``."""
    latest = db.session.scalar(select(func.max(ScriptVersion.number)).where(ScriptVersion.script_id == script.id))
    number = (latest or 0) + 1
    version = ScriptVersion(
        script_id=script.id,
        number=number,
        code=script.code,
        dependencies=list(script.dependencies),
        parameters=list(script.parameters),
        message=message,
        created_by_id=author_id,
    )
    db.session.add(version)
    script.current_version = number
    return version


def get_version(script_id: int, number: int) -> ScriptVersion:
    version = db.session.scalar(
        select(ScriptVersion).where(ScriptVersion.script_id == script_id, ScriptVersion.number == number)
    )
    if version is None:
        raise NotFound(f"Script {script_id} has no version {number}.", field="version")
    return version


def list_versions(script_id: int) -> list[ScriptVersion]:
    return list(
        db.session.scalars(
            select(ScriptVersion).where(ScriptVersion.script_id == script_id).order_by(ScriptVersion.number.desc())
        )
    )


def author_names(rows: list[ScriptVersion]) -> dict[int, str]:
    """Usernames of the versions' authors, in one query (a deleted user's versions get none)."""
    ids = {row.created_by_id for row in rows if row.created_by_id is not None}
    if not ids:
        return {}
    return {
        int(row[0]): str(row[1]) for row in db.session.execute(select(User.id, User.username).where(User.id.in_(ids)))
    }


def _lines(version: ScriptVersion) -> list[str]:
    """The text a diff compares: code, then the dependency list, then the parameters as JSON."""
    lines = version.code.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    lines.append("# --- dependencies ---\n")
    lines.extend(f"{dep}\n" for dep in version.dependencies)
    lines.append("# --- parameters ---\n")
    lines.extend(
        line + "\n" for line in json.dumps(mask_definitions(version.parameters), indent=2, sort_keys=True).splitlines()
    )
    return lines


def diff_versions(script_id: int, old: int, new: int) -> str:
    before, after = get_version(script_id, old), get_version(script_id, new)
    return "".join(difflib.unified_diff(_lines(before), _lines(after), fromfile=f"v{old}", tofile=f"v{new}"))
