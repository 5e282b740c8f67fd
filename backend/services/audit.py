"""The audit trail: who created, changed, ran, cancelled or deleted what, when, and from where."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from backend.extensions import db
from backend.models import AuditEvent, User
from backend.services.pagination import Page, paginate


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
) -> None:
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
    db.session.commit()


def list_events(*, action: str | None, username: str | None, page: int, per_page: int) -> Page[AuditEvent]:
    query = select(AuditEvent)
    if action:
        query = query.where(AuditEvent.action == action)
    if username:
        query = query.where(AuditEvent.username == username.strip().lower())
    return paginate(query.order_by(AuditEvent.id.desc()), page=page, per_page=per_page)
