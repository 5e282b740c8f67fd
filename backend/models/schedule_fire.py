"""One due fire of a schedule and what became of it: the schedule's history and its double-fire guard."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from backend.extensions import db
from backend.models.types import UTCDateTime, utcnow


class FireOutcome(enum.StrEnum):
    STARTED = "started"  # an execution was queued
    QUEUED = "queued"  # overlap policy "queue": waits for the running one, then becomes "started"
    SKIPPED = "skipped"  # overlap policy said no (a run of this schedule was still active)
    MISSED = "missed"  # not fired in time: the scheduler was down or late past the grace period
    FAILED = "failed"  # the run could not be queued (e.g. the script is disabled or params went stale)


class ScheduleFire(db.Model):  # type: ignore[name-defined,misc]
    """A row per due fire time; ``(schedule_id, scheduled_for)`` is unique, so a tick fires once.

    Even if two schedulers ever ran at once (a broken lock, a network file system), the second
    insert for the same tick fails and its transaction, execution included, is rolled back.
    """

    __tablename__ = "schedule_fires"

    id: Mapped[int] = mapped_column(primary_key=True)
    schedule_id: Mapped[int] = mapped_column(ForeignKey("schedules.id", ondelete="CASCADE"))
    scheduled_for: Mapped[datetime] = mapped_column(UTCDateTime)
    fired_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    outcome: Mapped[str] = mapped_column(String(20))
    execution_id: Mapped[int | None] = mapped_column(
        ForeignKey("executions.id", ondelete="SET NULL"), default=None, index=True
    )
    detail: Mapped[str | None] = mapped_column(String(1000), default=None)

    __table_args__ = (
        Index("uq_schedule_fires_schedule_id_scheduled_for", "schedule_id", "scheduled_for", unique=True),
        Index("ix_schedule_fires_outcome", "outcome"),
    )
