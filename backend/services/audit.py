"""The audit trail: who created, changed, ran, cancelled or deleted what, when, and from where."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, select

from backend.extensions import db
from backend.models import ApiToken, AuditEvent, Execution, Schedule, Script, User
from backend.services.pagination import Page, paginate

MAX_ROW_ID = 2**63 - 1  # SQLite's (and PostgreSQL's bigint) largest integer


def _names_query(target_type: str, ids: set[int]) -> Select[tuple[int, str]] | None:
    """(id, name) of the targets of one type; an execution is named by its script."""
    if target_type == "script":
        return select(Script.id, Script.name).where(Script.id.in_(ids))
    if target_type == "schedule":
        return select(Schedule.id, Schedule.name).where(Schedule.id.in_(ids))
    if target_type == "user":
        return select(User.id, User.username).where(User.id.in_(ids))
    if target_type == "token":
        return select(ApiToken.id, ApiToken.name).where(ApiToken.id.in_(ids))
    if target_type == "execution":
        return (
            select(Execution.id, Script.name)
            .join(Script, Script.id == Execution.script_id)
            .where(Execution.id.in_(ids))
        )
    return None


def _names(target_type: str, ids: set[int]) -> dict[int, str]:
    query = _names_query(target_type, ids) if ids else None
    return {int(row[0]): str(row[1]) for row in db.session.execute(query)} if query is not None else {}


def current_name(target_type: str, target_id: str) -> str | None:
    """The target's name now (None for an unknown type or a missing row)."""
    if not target_id.isdigit() or int(target_id) > MAX_ROW_ID:  # a URL's id, not yet validated
        return None
    return _names(target_type, {int(target_id)}).get(int(target_id))


def target_names(events: list[AuditEvent]) -> dict[int, str | None]:
    """Each event's target name by event id: looked up now (one query per target type), else the
    name the event recorded in its detail (a deleted target's, noted before the delete)."""
    ids: dict[str, set[int]] = {}
    for event in events:
        if event.target_id.isdigit() and int(event.target_id) <= MAX_ROW_ID:
            ids.setdefault(event.target_type, set()).add(int(event.target_id))
    found = {target_type: _names(target_type, wanted) for target_type, wanted in ids.items()}
    result: dict[int, str | None] = {}
    for event in events:
        name = found.get(event.target_type, {}).get(int(event.target_id)) if event.target_id.isdigit() else None
        recorded = (event.detail or {}).get("name")
        recorded = recorded if isinstance(recorded, str) else None
        deleted = (event.detail or {}).get("method") == "DELETE"  # its id may belong to a newer row now
        result[event.id] = (recorded or name) if deleted else (name if name is not None else recorded)
    return result


def record(
    *,
    action: str,
    user: User | None,
    username: str = "",
    target_type: str = "",
    target_id: str = "",
    detail: dict[str, Any] | None = None,
    ip: str = "",
    status: int = 200,
    in_transaction: bool = False,
) -> None:
    """Write the row in its own transaction; ``in_transaction``: add it to the caller's open one
    instead (committed, or rolled back, with the change it records)."""
    if not in_transaction:
        db.session.rollback()  # never commit something a failed handler left behind
    db.session.add(
        AuditEvent(
            user_id=user.id if user else None,
            username=(user.username if user else username)[:64],
            action=action[:100],
            target_type=target_type[:50],
            target_id=target_id[:50],
            detail=detail or {},
            ip=ip[:64],
            status=status,
        )
    )
    if not in_transaction:
        db.session.commit()


def list_events(*, action: str | None, username: str | None, page: int, per_page: int) -> Page[AuditEvent]:
    query = select(AuditEvent)
    if action:
        query = query.where(AuditEvent.action == action)
    if username:
        query = query.where(AuditEvent.username == username.strip().lower())
    return paginate(query.order_by(AuditEvent.id.desc()), page=page, per_page=per_page)
