"""What happens when a schedule is due: decide, record a fire row, queue a run. Nothing runs here.

The job target only calls ``executions.start()`` (which queues) so a long script never delays
another schedule's fire (RELIABILITY F6). Every due tick leaves a row: ``started``, ``queued``
(waiting behind the running one), ``skipped`` (overlap), ``missed`` (down or late past the
grace) or ``failed`` (the run could not be queued) — no silent drops (F1). The fire row and the
execution are written in one transaction guarded by the unique ``(schedule_id, scheduled_for)``
index, so a tick that somehow fires twice queues one run.

Fires due at the same moment go out together (``fire_due``): up to ``BATCH_SIZE`` of them share one
``BEGIN IMMEDIATE`` … ``COMMIT`` and one wake of the executor, each inside its own savepoint, so
one that fails (or whose tick is already recorded) is rolled back alone and the others still fire.
At 1,000 schedules a minute, one transaction and one executor wake per fire, from four threads
taking turns at SQLite's single write lock, left the last fire 5 to 12 s after the minute.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from datetime import datetime
from functools import lru_cache

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
    ScriptVersion,
    Trigger,
)
from backend.models.schedule import OverlapPolicy
from backend.models.types import utcnow
from backend.services import executions, versions
from backend.services.scheduler import cron, trigger

log = logging.getLogger(__name__)

MISSED_COUNT_CAP = 10_000
LATE_NOTE_SECONDS = 1.0
BATCH_SIZE = 100  # fires per write transaction
BATCH_MAX_SECONDS = 0.25  # and no longer than this: other writers (runs, API) wait for the lock meanwhile
SPEC_CACHE_SIZE = 1024

Due = tuple[int, datetime]  # (schedule id, the tick it fires for)
FireResult = bool | Exception  # a run was queued / not; or what went wrong


@lru_cache(maxsize=SPEC_CACHE_SIZE)
def parse_cron(expression: str, timezone: str) -> cron.CronSpec:
    """``cron.parse`` remembered (~0.4 ms each, two croniter walks): every fire re-reads its schedule's cron."""
    return cron.parse(expression, timezone)


def _request_sync() -> None:
    service = current_app.extensions.get("scriptman.scheduler")
    if service is not None:
        service.notify()


def set_runtime(schedule_id: int, **values: object) -> None:
    """Update bookkeeping columns without touching ``updated_at`` (that one means "edited by a user").

    A plain table update (the ORM's bulk-update path, which also searched the session for the
    row, cost ~0.5 ms a fire); a loaded ``Schedule`` is expired so a read after this sees the new values.
    """
    table = Schedule.__table__  # Core: the ORM's bulk-update path cost ~0.3 ms a fire
    db.session.execute(update(table).where(table.c.id == schedule_id).values(updated_at=table.c.updated_at, **values))
    loaded = db.session.identity_map.get(db.session.identity_key(Schedule, schedule_id))
    if loaded is not None:
        db.session.expire(loaded)


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


def queue_run(schedule: Schedule, batch: _Batch | None = None) -> tuple[FireOutcome, Execution | None, str | None]:
    """Queue one run of the schedule's script (its pinned version, else the current one) with its params
    over the version's defaults."""
    script = batch.script(schedule.script_id) if batch is not None else db.session.get(Script, schedule.script_id)
    if script is None:
        return FireOutcome.FAILED, None, "the script no longer exists"
    try:
        number = schedule.version or script.current_version  # pinned, or the script's current version
        execution = executions.start(
            script,
            dict(schedule.params or {}),
            Trigger.SCHEDULE,
            version_number=number,
            schedule_id=schedule.id,
            created_by_id=schedule.created_by_id,
            commit=False,
            version=batch.version(script.id, number) if batch is not None else None,
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


def _decide(schedule: Schedule, batch: _Batch | None) -> tuple[FireOutcome, Execution | None, str | None]:
    """Apply the overlap policy to a fire that is on time (``parallel`` needs no look at the active runs)."""
    policy = schedule.overlap_policy
    if policy == OverlapPolicy.PARALLEL.value:
        return queue_run(schedule, batch)
    active = _active_runs(schedule.id)
    if policy == "skip" and active:
        first_id, status = active[0]
        return FireOutcome.SKIPPED, None, f"overlap policy skip: execution #{first_id} is still {status}"
    if policy == "queue":
        queued = [eid for eid, status in active if status == ExecutionStatus.QUEUED.value]
        if queued or _has_waiting_fire(schedule.id):
            return FireOutcome.SKIPPED, None, "overlap policy queue: a run of this schedule is already waiting"
        if active:
            return FireOutcome.QUEUED, None, f"overlap policy queue: waits for execution #{active[0][0]} to end"
    return queue_run(schedule, batch)


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
    """Fire one tick ``scheduled_for`` as of ``now`` (``fire_due`` for one); True when a run was queued.

    A tick already recorded (the unique fire row) queues nothing and returns False; other errors raise.
    """
    due = scheduled_for or now or utcnow()
    [result] = fire_due([(schedule_id, due)], now=now)
    if isinstance(result, Exception):
        raise result
    return result


def fire_due(dues: Sequence[Due], *, now: datetime | None = None) -> list[FireResult]:
    """Fire many ticks in a few write transactions; one result per tick, in order. Needs an app context.

    Each fire is decided with the clock as it reaches it (``now`` pins it, for tests), so the misfire
    grace and ``fired_at`` stay honest for the last of a large batch. The executor is woken once
    per committed batch. If a batch cannot commit at all (the write lock, a broken connection),
    its fires are tried again one by one, so one bad fire never takes the others with it.
    """
    results: list[FireResult] = []
    while len(results) < len(dues):
        batch, committed = _fire_batch(dues[len(results) :], now)
        if not committed:  # the batch could not be written: the same ticks again, each on its own
            batch = [_fire_alone(due, now) for due in dues[len(results) : len(results) + max(1, len(batch))]]
        results.extend(batch)
    return results


class _Batch:
    """What a batch reads once, under its write lock: its schedules (one query, not one per fire) and
    their scripts, kept referenced (the session holds loaded rows weakly, so a script shared by a
    thousand schedules would otherwise be loaded again, with its tags, for each of them)."""

    def __init__(self, schedule_ids: Sequence[int]) -> None:
        rows = db.session.scalars(select(Schedule).where(Schedule.id.in_(schedule_ids))).all()
        self.schedules: dict[int, Schedule] = {row.id: row for row in rows}
        self.scripts: dict[int, Script | None] = {}
        self.versions: dict[tuple[int, int], ScriptVersion] = {}

    def schedule(self, schedule_id: int) -> Schedule | None:
        if schedule_id not in self.schedules:  # beyond the preloaded ones (the batch ran on past BATCH_SIZE)
            found = db.session.get(Schedule, schedule_id)
            if found is None:
                return None
            self.schedules[schedule_id] = found
        return self.schedules[schedule_id]

    def script(self, script_id: int) -> Script | None:
        if script_id not in self.scripts:
            self.scripts[script_id] = db.session.get(Script, script_id)
        return self.scripts[script_id]

    def version(self, script_id: int, number: int) -> ScriptVersion:
        """Read once per batch: a thousand schedules of one script share it (a 404 raises as before)."""
        key = (script_id, number)
        if key not in self.versions:
            self.versions[key] = versions.get_version(script_id, number)
        return self.versions[key]


def _fire_batch(dues: Sequence[Due], now: datetime | None) -> tuple[list[FireResult], bool]:
    """Fire from the front of ``dues`` in one transaction, up to the batch limits; False if it did not commit."""
    results: list[FireResult] = []
    started = time.monotonic()
    try:
        begin_write()
        batch = _Batch([schedule_id for schedule_id, _ in dues[:BATCH_SIZE]])
        for schedule_id, due in dues:
            results.append(_fire_in_savepoint(schedule_id, due, now or utcnow(), batch))
            if len(results) >= BATCH_SIZE or time.monotonic() - started >= BATCH_MAX_SECONDS:
                break
        db.session.commit()
    except Exception:
        db.session.rollback()
        if len(results) > 1:
            log.exception("a batch of %d schedule fires could not be written; firing them one by one", len(results))
        return results, False
    if any(result is True for result in results):
        executions.wake_executor()
    return results, True


def _fire_alone(due: Due, now: datetime | None) -> FireResult:
    schedule_id, scheduled_for = due
    try:
        begin_write()
        result = _fire_in_savepoint(schedule_id, scheduled_for, now or utcnow(), _Batch([schedule_id]))
        db.session.commit()
    except Exception as error:
        db.session.rollback()
        return error
    if result is True:
        executions.wake_executor()
    return result


def _fire_in_savepoint(schedule_id: int, due: datetime, now: datetime, batch: _Batch) -> FireResult:
    """One fire inside the open write transaction; rolled back to its savepoint if it fails."""
    try:
        with db.session.begin_nested():
            return _fire(schedule_id, due, now, batch)
    except IntegrityError:
        log.warning("schedule %s: the tick %s is already recorded; not firing it again", schedule_id, due)
        return False
    except Exception as error:
        return error


def tick(now: datetime | None = None) -> list[int]:
    """Fire every enabled schedule that is due at ``now`` (default: the clock); returns their ids.

    This is what the schedules' APScheduler jobs do when they go off, for all of them at once and
    on a given clock: the due tick comes from the same croniter arithmetic the jobs' trigger uses
    (coalesced, as the jobs are), and ``fire_due`` applies the misfire grace and the overlap
    policy and writes the fire rows, in the same batches. Tests drive it at exact instants instead
    of waiting for real seconds; ``SchedulerService.tick`` runs it in an app context.
    """
    now = now or utcnow()
    rows = db.session.execute(
        select(Schedule.id, Schedule.cron, Schedule.timezone, Schedule.next_run_at)
        .where(Schedule.enabled.is_(True), Schedule.next_run_at <= now)
        .order_by(Schedule.next_run_at, Schedule.id)
    ).all()
    db.session.rollback()
    dues: list[Due] = []
    for row in rows:
        try:
            spec = parse_cron(row.cron, row.timezone)
        except cron.CronError as error:  # as the service does: such a schedule gets no job
            log.warning("schedule %s has an unusable cron (%s); not firing it", row.id, error)
            continue
        dues.append((int(row.id), catch_up_tick(spec, row.next_run_at, now)))
    for (schedule_id, due), result in zip(dues, fire_due(dues, now=now), strict=True):
        if isinstance(result, Exception):
            log.error("schedule %s: the fire for %s failed", schedule_id, due, exc_info=result)
    return [schedule_id for schedule_id, _ in dues]


def _fire(schedule_id: int, due: datetime, now: datetime, batch: _Batch) -> bool:
    """Decide and record one fire in the caller's transaction (savepoint); True when a run was queued."""
    schedule = batch.schedule(schedule_id)
    if schedule is None or not schedule.enabled:
        _request_sync()  # a job outlived its schedule (changed in another process): drop it
        return False
    try:
        spec = parse_cron(schedule.cron, schedule.timezone)
    except cron.CronError as error:
        db.session.add(
            ScheduleFire(
                schedule_id=schedule_id, scheduled_for=due, outcome=FireOutcome.FAILED.value, detail=str(error)
            )
        )
        return False
    if not trigger.is_fire_time(spec, due):
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
        outcome, execution, detail = _decide(schedule, batch)
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
    runtime: dict[str, object] = {"next_run_at": trigger.next_after(spec, due)}
    if execution is not None:
        runtime.update(last_run_at=now, last_status=execution.status)
    set_runtime(schedule_id, **runtime)
    db.session.flush()
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
