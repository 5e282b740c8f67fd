"""What happens when a schedule is due: decide, record a fire row, queue a run. Nothing runs here.

The job target only calls ``executions.start()`` (which queues) so a long script never delays
another schedule's fire (RELIABILITY F6). Every due tick leaves a row: ``started``, ``queued``
(waiting behind the running one), ``skipped`` (overlap), ``missed`` (down or late past the
grace) or ``failed`` (the run could not be queued) — no silent drops (F1). The fire row and the
execution are written in one transaction guarded by the unique ``(schedule_id, scheduled_for)``
index, so a tick that somehow fires twice queues one run.
"""

from __future__ import annotations

import logging
from datetime import datetime

from flask import current_app
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from backend.database import begin_write
from backend.errors import ProblemError
from backend.extensions import db
from backend.models import (
    ACTIVE_STATUSES,
    Execution,
    ExecutionStatus,
    FireOutcome,
    Schedule,
    ScheduleFire,
    Script,
    Trigger,
)
from backend.models.types import utcnow
from backend.services import executions
from backend.services.scheduler import cron

log = logging.getLogger(__name__)

MISSED_COUNT_CAP = 10_000
LATE_NOTE_SECONDS = 1.0


def _request_sync() -> None:
    service = current_app.extensions.get("scriptman.scheduler")
    if service is not None:
        service.notify()


def set_runtime(schedule_id: int, **values: object) -> None:
    """Update bookkeeping columns without touching ``updated_at`` (that one means "edited by a user")."""
    db.session.execute(
        update(Schedule).where(Schedule.id == schedule_id).values(updated_at=Schedule.updated_at, **values)
    )


def fire_now(schedule: Schedule, script: Script, created_by_id: int | None = None) -> Execution:
    """Run-now: queue a run with the schedule's params and record it as a fire (commits).

    Unlike a due tick, it ignores the overlap policy and the enabled flag, and the start's
    errors (409 disabled script, 422 params that no longer fit) reach the caller.
    """
    execution = executions.start(
        script,
        dict(schedule.params or {}),
        Trigger.SCHEDULE,
        version_number=schedule.version,
        schedule_id=schedule.id,
        created_by_id=created_by_id,
        commit=False,
    )
    db.session.flush()
    now = utcnow()
    db.session.add(
        ScheduleFire(
            schedule_id=schedule.id,
            scheduled_for=now,
            fired_at=now,
            outcome=FireOutcome.STARTED.value,
            execution_id=execution.id,
            detail="run now",
        )
    )
    set_runtime(schedule.id, last_run_at=now, last_status=execution.status)
    db.session.commit()
    executions.wake_executor()
    return execution


def queue_run(schedule: Schedule) -> tuple[FireOutcome, Execution | None, str | None]:
    """Queue one run of the schedule's script (its pinned version, else the current one) with its params
    over the version's defaults."""
    script = db.session.get(Script, schedule.script_id)
    if script is None:
        return FireOutcome.FAILED, None, "the script no longer exists"
    try:
        execution = executions.start(
            script,
            dict(schedule.params or {}),
            Trigger.SCHEDULE,
            version_number=schedule.version,  # pinned, or None: the script's current version
            schedule_id=schedule.id,
            created_by_id=schedule.created_by_id,
            commit=False,
        )
    except ProblemError as error:
        return FireOutcome.FAILED, None, error.detail[:1000]
    db.session.flush()
    return FireOutcome.STARTED, execution, None


def _active_runs(schedule_id: int) -> list[tuple[int, str]]:
    rows = db.session.execute(
        select(Execution.id, Execution.status)
        .where(Execution.schedule_id == schedule_id, Execution.status.in_(ACTIVE_STATUSES))
        .order_by(Execution.id)
    ).all()
    return [(int(row[0]), str(row[1])) for row in rows]


def _has_waiting_fire(schedule_id: int) -> bool:
    query = select(ScheduleFire.id).where(
        ScheduleFire.schedule_id == schedule_id, ScheduleFire.outcome == FireOutcome.QUEUED.value
    )
    return db.session.scalar(query.limit(1)) is not None


def _decide(schedule: Schedule) -> tuple[FireOutcome, Execution | None, str | None]:
    """Apply the overlap policy to a fire that is on time."""
    active = _active_runs(schedule.id)
    policy = schedule.overlap_policy
    if policy == "skip" and active:
        first_id, status = active[0]
        return FireOutcome.SKIPPED, None, f"overlap policy skip: execution #{first_id} is still {status}"
    if policy == "queue":
        queued = [eid for eid, status in active if status == ExecutionStatus.QUEUED.value]
        if queued or _has_waiting_fire(schedule.id):
            return FireOutcome.SKIPPED, None, "overlap policy queue: a run of this schedule is already waiting"
        if active:
            return FireOutcome.QUEUED, None, f"overlap policy queue: waits for execution #{active[0][0]} to end"
    return queue_run(schedule)


def _missed_gap(spec: cron.CronSpec, schedule_id: int, expected: datetime, due: datetime) -> ScheduleFire | None:
    """Ticks between the one we expected and this one never fired (downtime or a stall): one row."""
    count = cron.count_between(spec, expected, due, MISSED_COUNT_CAP)
    if not count:
        return None
    amount = f"{count}+" if count >= MISSED_COUNT_CAP else str(count)
    detail = (
        f"{amount} fire(s) from {expected.astimezone(spec.tz).isoformat()} up to "
        f"{due.astimezone(spec.tz).isoformat()} did not run: the scheduler was not running or was stalled; "
        "a schedule catches up at most once"
    )
    return ScheduleFire(
        schedule_id=schedule_id, scheduled_for=expected, outcome=FireOutcome.MISSED.value, detail=detail
    )


def catch_up_tick(spec: cron.CronSpec, expected: datetime, now: datetime) -> datetime:
    """The one tick to fire when ``expected`` (the row's next fire) is due at ``now``.

    It is the latest fire time up to ``now``, as a coalescing job fires after a stall or downtime:
    the ticks in between are recorded as missed by ``_fire``, never run in a burst.
    """
    latest = cron.latest_at_or_before(spec, now)
    return latest if latest is not None and latest > expected else expected


def fire_schedule(schedule_id: int, scheduled_for: datetime | None = None, *, now: datetime | None = None) -> bool:
    """APScheduler job target for ``schedule-<id>`` (and what ``tick`` calls); runs in an app context.

    Fires the tick ``scheduled_for`` as of ``now``; True when a run was queued.
    """
    now = now or utcnow()
    due = scheduled_for or now
    try:
        started = _fire(schedule_id, due, now)
    except IntegrityError:
        db.session.rollback()
        log.warning("schedule %s: the tick %s is already recorded; not firing it again", schedule_id, due)
        return False
    except Exception:
        db.session.rollback()
        raise
    if started:
        executions.wake_executor()
    return started


def tick(now: datetime | None = None) -> list[int]:
    """Fire every enabled schedule that is due at ``now`` (default: the clock); returns their ids.

    This is what the schedules' APScheduler jobs do when they go off, for all of them at once and
    on a given clock: the due tick comes from the same croniter arithmetic the jobs' trigger uses
    (coalesced, as the jobs are), and ``fire_schedule`` applies the misfire grace and the overlap
    policy and writes the fire rows. Tests drive it at exact instants instead of waiting for
    real seconds; ``SchedulerService.tick`` runs it in an app context.
    """
    now = now or utcnow()
    rows = db.session.execute(
        select(Schedule.id, Schedule.cron, Schedule.timezone, Schedule.next_run_at)
        .where(Schedule.enabled.is_(True), Schedule.next_run_at <= now)
        .order_by(Schedule.next_run_at, Schedule.id)
    ).all()
    db.session.rollback()
    fired = []
    for row in rows:
        try:
            spec = cron.parse(row.cron, row.timezone)
        except cron.CronError as error:  # as the service does: such a schedule gets no job
            log.warning("schedule %s has an unusable cron (%s); not firing it", row.id, error)
            continue
        fire_schedule(int(row.id), catch_up_tick(spec, row.next_run_at, now), now=now)
        fired.append(int(row.id))
    return fired


def _fire(schedule_id: int, due: datetime, now: datetime) -> bool:
    begin_write()
    schedule = db.session.get(Schedule, schedule_id)
    if schedule is None or not schedule.enabled:
        db.session.rollback()
        _request_sync()  # a job outlived its schedule (changed in another process): drop it
        return False
    try:
        spec = cron.parse(schedule.cron, schedule.timezone)
    except cron.CronError as error:
        db.session.add(
            ScheduleFire(
                schedule_id=schedule_id, scheduled_for=due, outcome=FireOutcome.FAILED.value, detail=str(error)
            )
        )
        db.session.commit()
        return False
    if not cron.is_fire_time(spec, due):
        db.session.rollback()
        _request_sync()  # the cron changed since this job was built; the rebuilt job fires instead
        return False

    rows: list[ScheduleFire] = []
    expected = schedule.next_run_at
    if expected is not None and expected < due:
        gap = _missed_gap(spec, schedule_id, expected, due)
        if gap is not None:
            rows.append(gap)
    lateness = (now - due).total_seconds()
    execution: Execution | None = None
    if lateness > schedule.misfire_grace_seconds:
        outcome = FireOutcome.MISSED
        detail: str | None = (
            f"due at {due.astimezone(spec.tz).isoformat()} but the scheduler got to it {lateness:.0f} s later; "
            f"the misfire grace is {schedule.misfire_grace_seconds} s"
        )
    else:
        outcome, execution, detail = _decide(schedule)
        if lateness > LATE_NOTE_SECONDS and detail is None:
            detail = f"catch-up: fired {lateness:.0f} s late, within the {schedule.misfire_grace_seconds} s grace"
    rows.append(
        ScheduleFire(
            schedule_id=schedule_id,
            scheduled_for=due,
            fired_at=now,
            outcome=outcome.value,
            execution_id=execution.id if execution else None,
            detail=detail,
        )
    )
    db.session.add_all(rows)
    runtime: dict[str, object] = {"next_run_at": cron.next_after(spec, due)}
    if execution is not None:
        runtime.update(last_run_at=now, last_status=execution.status)
    set_runtime(schedule_id, **runtime)
    db.session.commit()
    log.info(
        "schedule %s fired for %s: %s%s", schedule_id, due.isoformat(), outcome.value, f" ({detail})" if detail else ""
    )
    return execution is not None


def release_waiting(schedule_id: int) -> bool:
    """Overlap ``queue``: once the schedule has no active run, start the fire that waited."""
    begin_write()
    waiting = db.session.scalar(
        select(ScheduleFire)
        .where(ScheduleFire.schedule_id == schedule_id, ScheduleFire.outcome == FireOutcome.QUEUED.value)
        .order_by(ScheduleFire.id)
        .limit(1)
    )
    if waiting is None or _active_runs(schedule_id):
        db.session.rollback()
        return False
    schedule = db.session.get(Schedule, schedule_id)
    now = utcnow()
    if schedule is None or not schedule.enabled:
        waiting.outcome = FireOutcome.SKIPPED.value
        waiting.detail = "the schedule was disabled before the previous run ended"
        db.session.commit()
        return False
    outcome, execution, detail = queue_run(schedule)
    waiting.outcome = outcome.value
    waiting.fired_at = now
    waiting.execution_id = execution.id if execution else None
    waiting.detail = detail or "overlap policy queue: started when the previous run ended"
    if execution is not None:
        set_runtime(schedule_id, last_run_at=now, last_status=execution.status)
    db.session.commit()
    if execution is not None:
        executions.wake_executor()
    return execution is not None


def release_all_waiting() -> None:
    """Safety net for a finish that raced a fire, or happened in another process."""
    ids = db.session.scalars(
        select(ScheduleFire.schedule_id).where(ScheduleFire.outcome == FireOutcome.QUEUED.value).distinct()
    ).all()
    db.session.rollback()
    for schedule_id in ids:
        release_waiting(schedule_id)


def on_execution_finished(execution: Execution) -> None:
    """``scriptman.on_finished`` hook: keep ``last_status`` in step and start a waiting fire.

    ``last_status`` is the status of the schedule's newest run, so an older run that ends late
    (parallel policy) or an attempt followed by a retry does not hide the newer run's state.
    """
    schedule_id = execution.schedule_id
    if schedule_id is None:
        return
    try:
        begin_write()
        newest = db.session.scalar(
            select(Execution.status).where(Execution.schedule_id == schedule_id).order_by(Execution.id.desc()).limit(1)
        )
        if newest is not None:
            set_runtime(schedule_id, last_status=newest)
        db.session.commit()
        release_waiting(schedule_id)
    except Exception:
        db.session.rollback()
        log.exception("could not update schedule %s after execution %s ended", schedule_id, execution.id)
