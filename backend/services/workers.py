"""What ``/api/health`` says about the queue (runs waiting to start, whichever executor runs them) and
about the scheduler's leader."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import case, func, select

from backend.extensions import db
from backend.models import Execution, ExecutionStatus
from backend.models.types import utcnow
from backend.services.scheduler.locking import FileLeaderLock, Holder, PostgresLeaderLock, RedisLeaderLock

log = logging.getLogger(__name__)


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


def lock_kind(lock: Any) -> str:
    """The backend of the scheduler's leader lock, as ``/api/health`` names it."""
    kinds = ((PostgresLeaderLock, "postgresql"), (RedisLeaderLock, "redis"), (FileLeaderLock, "file"))
    return next((kind for cls, kind in kinds if isinstance(lock, cls)), "none" if lock is None else "other")


def scheduler_leader(lock: Any) -> Holder | None:
    """The process that fires the schedules (any process of the install), read from the lock itself.

    None when nobody holds it, or when the lock's service cannot answer (logged: a health check reports)."""
    holder = getattr(lock, "holder", None)
    if holder is None:
        return None
    try:
        return holder(db.session)
    except Exception as error:
        db.session.rollback()
        log.warning("cannot tell who holds the scheduler lock: %s", error)
        return None
