"""Claiming a queued run: the conditional UPDATE whose row count says who won."""

from __future__ import annotations

from sqlalchemy import update

from backend.database import begin_write
from backend.extensions import db
from backend.models import Execution, ExecutionStatus
from backend.models.types import utcnow


def claim(execution_id: int) -> bool:
    begin_write()
    claimed = db.session.execute(
        update(Execution)
        .where(Execution.id == execution_id, Execution.status == ExecutionStatus.QUEUED.value)
        .values(status=ExecutionStatus.RUNNING.value, started_at=utcnow())
    ).rowcount
    db.session.commit()
    return bool(claimed)
