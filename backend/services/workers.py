"""What ``/api/health`` says about the queue: runs waiting to start, whichever executor runs them."""

from __future__ import annotations

from sqlalchemy import case, func, select

from backend.extensions import db
from backend.models import Execution, ExecutionStatus
from backend.models.types import utcnow


def queue_depth() -> dict[str, int]:
    """Queued runs that may start now, and those waiting for their ``not_before`` (delayed retries).

    Zero for both when the database cannot answer: the health check reports that on its own."""
    delayed = case((Execution.not_before > utcnow(), 1), else_=0)
    try:
        total, waiting = db.session.execute(
            select(func.count(), func.coalesce(func.sum(delayed), 0)).where(
                Execution.status == ExecutionStatus.QUEUED.value
            )
        ).one()
    except Exception:  # the point of a health check is to report, not to raise
        db.session.rollback()
        return {"queued": 0, "delayed": 0}
    return {"queued": int(total) - int(waiting), "delayed": int(waiting)}
