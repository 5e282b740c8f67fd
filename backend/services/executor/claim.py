"""Claiming a queued run: the conditional UPDATE whose row count says who won."""

from __future__ import annotations

import secrets

from sqlalchemy import update

from backend.database import begin_write
from backend.extensions import db
from backend.models import Execution, ExecutionStatus
from backend.models.types import utcnow
from backend.services import runstatus


def new_cookie(execution_id: int) -> str:
    """The token every process of the run carries in its environment (found by it when no cgroup holds them)."""
    return f"x{execution_id}-{secrets.token_hex(8)}"


def claim(execution_id: int) -> bool:
    """Mark the run running, with its cookie: one write, and the cookie is on the row before any of
    the run's processes exist (a restart that finds the run without its supervisor ends them by it)."""
    begin_write()
    claimed = db.session.execute(
        update(Execution)
        .where(Execution.id == execution_id, Execution.status == ExecutionStatus.QUEUED.value)
        .values(status=ExecutionStatus.RUNNING.value, started_at=utcnow(), cookie=new_cookie(execution_id))
    ).rowcount
    db.session.commit()
    if claimed:
        runstatus.announce(execution_id)  # a follower of the queued run sees it running now
    return bool(claimed)


def unclaim(execution_id: int) -> None:
    """Put a claimed run back in the queue before any of its processes exist (the server is stopping)."""
    begin_write()
    db.session.execute(
        update(Execution)
        .where(Execution.id == execution_id, Execution.status == ExecutionStatus.RUNNING.value, Execution.pid.is_(None))
        .values(status=ExecutionStatus.QUEUED.value, started_at=None, cookie=None)
    )
    db.session.commit()
    runstatus.announce(execution_id)
