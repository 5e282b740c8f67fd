"""Removing what a run leaves behind when it is deleted (deletes and retention): its files on disk,
and the rows that point to it without a foreign key."""

from __future__ import annotations

from collections.abc import Iterable

from flask import current_app
from sqlalchemy import delete, update

from backend.config import Settings
from backend.extensions import db
from backend.models import Execution, NotificationDelivery
from backend.services.executor import workspace


def forget_executions(execution_ids: list[int]) -> None:
    """In the deleting transaction: an attempt whose retry is deleted points to nothing again (the
    series now ends with it, so it counts as a failure once more), and the deleted runs'
    notification deliveries go with them."""
    if not execution_ids:
        return
    db.session.execute(
        update(Execution).where(Execution.next_attempt_id.in_(execution_ids)).values(next_attempt_id=None)
    )
    db.session.execute(delete(NotificationDelivery).where(NotificationDelivery.execution_id.in_(execution_ids)))


def remove_execution_files(execution_ids: Iterable[int], settings: Settings | None = None) -> None:
    """Takes ids, not rows: rows deleted by a cascade cannot be read any more after the commit."""
    settings = settings or current_app.extensions["scriptman.settings"]
    for execution_id in execution_ids:
        workspace.remove(workspace.run_paths(settings, execution_id))
