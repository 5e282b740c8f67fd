"""Cron schedules that fire runs of a script."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from backend.extensions import db
from backend.models.encrypted import EncryptedJSON
from backend.models.types import UTCDateTime, utcnow


class OverlapPolicy(enum.StrEnum):
    """What a fire does while a run of the same schedule is still queued or running."""

    SKIP = "skip"  # no new run; the fire is recorded as skipped
    QUEUE = "queue"  # one run waits for the active one to end (further fires are skipped)
    PARALLEL = "parallel"  # start anyway


class Schedule(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "schedules"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    script_id: Mapped[int] = mapped_column(ForeignKey("scripts.id", ondelete="CASCADE"), index=True)
    cron: Mapped[str] = mapped_column(String(200))
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    # Values given for the script's parameters, secret ones among them: the whole object is
    # encrypted at rest (which names are secret depends on the script, which may change later).
    params: Mapped[dict[str, Any]] = mapped_column(EncryptedJSON, default=dict)
    enabled: Mapped[bool] = mapped_column(default=True)
    overlap_policy: Mapped[str] = mapped_column(String(20), default=OverlapPolicy.SKIP.value)
    misfire_grace_seconds: Mapped[int] = mapped_column(default=60)
    last_run_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    last_status: Mapped[str | None] = mapped_column(String(20), default=None)
    next_run_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    # who made it: the runs it fires are recorded as theirs (a plain id, like the audit log's)
    created_by_id: Mapped[int | None] = mapped_column(default=None)
    notifications: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    # a pinned script version; None runs the current one
    version: Mapped[int | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
