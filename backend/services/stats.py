"""Numbers for the dashboard: runs per day, success rate, what runs now, what failed lately.

A retried attempt is superseded (``next_attempt_id`` is set): a retry series counts once, by its
last attempt, so a run that failed once and then succeeded is one success, not a failure and a
success, and it is not listed among the recent failures.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, TypeVar

from flask import current_app
from sqlalchemy import ScalarSelect, Select, func, select

from backend.extensions import db
from backend.models import Execution, Schedule, Script
from backend.models.execution import ExecutionStatus
from backend.services import changes
from backend.services.executions import FOR_DISPLAY

FAILED_STATUSES = (ExecutionStatus.FAILED.value, ExecutionStatus.TIMED_OUT.value)
RECENT_FAILURES = 10
LAST_ATTEMPT = Execution.next_attempt_id.is_(None)  # not superseded by a retry
RUNNING_SHOWN = 50
REMEMBERED = "scriptman.dashboard"  # app.extensions: (days, UTC day) → (generation, rendered answer)
T = TypeVar("T")


@dataclass
class DayCount:
    date: str
    succeeded: int = 0
    failed: int = 0
    other: int = 0


@dataclass
class Overview:
    days: list[DayCount]
    running: list[Execution]
    queued: int
    recent_failures: list[Execution]
    scripts: int
    schedules: int
    active_schedules: int
    totals: dict[str, int] = field(default_factory=dict)

    @property
    def success_rate(self) -> float | None:
        """Succeeded over finished-as-succeeded-or-failed; None when nothing finished (not 0 %)."""
        decided = self.totals.get("succeeded", 0) + self.totals.get("failed", 0)
        return round(self.totals["succeeded"] / decided, 4) if decided else None


def overview(days: int, today: date | None = None) -> Overview:
    """Counts per UTC day over the last ``days`` days (today included), oldest first."""
    today = today or datetime.now(UTC).date()
    first = today - timedelta(days=days - 1)
    labels = [(first + timedelta(days=i)).isoformat() for i in range(days)]
    buckets = {label: DayCount(label) for label in labels}
    since = datetime.combine(first, datetime.min.time(), tzinfo=UTC)
    day = func.date(Execution.queued_at)
    rows = db.session.execute(
        select(day, Execution.status, func.count())
        .where(Execution.queued_at >= since, LAST_ATTEMPT)
        .group_by(day, Execution.status)
    ).all()
    for day_value, status, count in rows:
        bucket = buckets.get(str(day_value)[:10])
        if bucket is None:
            continue
        if status == ExecutionStatus.SUCCEEDED.value:
            bucket.succeeded += count
        elif status in FAILED_STATUSES:
            bucket.failed += count
        else:
            bucket.other += count
    ordered = list(buckets.values())
    totals = {
        "succeeded": sum(d.succeeded for d in ordered),
        "failed": sum(d.failed for d in ordered),
        "total": sum(d.succeeded + d.failed + d.other for d in ordered),
    }
    running = db.session.scalars(
        select(Execution)
        .options(FOR_DISPLAY)
        .where(Execution.status == ExecutionStatus.RUNNING.value)
        .order_by(Execution.id)
        .limit(RUNNING_SHOWN)
    ).all()
    failures = db.session.scalars(
        select(Execution)
        .options(FOR_DISPLAY)
        .where(Execution.status.in_(FAILED_STATUSES), LAST_ATTEMPT)
        .order_by(Execution.id.desc())
        .limit(RECENT_FAILURES)
    ).all()
    # four counts in one round trip (each is a single index lookup or a small table)
    queued, scripts, schedules, active = db.session.execute(
        select(
            _count(select(func.count()).where(Execution.status == ExecutionStatus.QUEUED.value)),
            _count(select(func.count()).select_from(Script)),
            _count(select(func.count()).select_from(Schedule)),
            _count(select(func.count()).select_from(Schedule).where(Schedule.enabled.is_(True))),
        )
    ).one()
    return Overview(
        days=ordered,
        running=list(running),
        queued=int(queued or 0),
        recent_failures=list(failures),
        scripts=int(scripts or 0),
        schedules=int(schedules or 0),
        active_schedules=int(active or 0),
        totals=totals,
    )


def remembered(days: int, render: Callable[[Overview], T]) -> T:
    """``render(overview(days))``, remembered until the UTC day ends or anything it shows changes.

    The per-day counts read every run of the period (~6 ms of SQLite at 100,000 runs, the dearest
    answer of the API) while a dashboard is asked for far more often than runs start or end. Any
    commit that adds, changes or deletes a run, script, schedule or user, in any process, moves the
    ``data`` generation on (``services/changes.py``): the next request computes it again.
    """
    generation = changes.generation("data")
    before = generation.value()  # before the reads: a change committed meanwhile voids the answer
    today = datetime.now(UTC).date()
    cache: dict[tuple[int, date], tuple[changes.Value, Any]] = current_app.extensions.setdefault(REMEMBERED, {})
    hit = cache.get((days, today))
    if hit is not None and hit[0] == before:
        return hit[1]  # type: ignore[no-any-return]
    answer = render(overview(days, today))
    if len(cache) >= 32:  # a few day ranges are asked for; old days go
        cache.clear()
    cache[(days, today)] = (before, answer)
    return answer


def _count(query: Select[Any]) -> ScalarSelect[Any]:
    return query.scalar_subquery()
