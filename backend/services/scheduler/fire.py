"""What happens when a schedule is due: decide, record a fire row, queue a run. Nothing runs here.

The job target only calls ``executions.start()`` (which queues) so a long script never delays
another schedule's fire (RELIABILITY F6). Every due tick leaves a row: ``started``, ``queued``
(waiting behind the running one), ``skipped`` (overlap), ``missed`` (down or late past the
grace) or ``failed`` (the run could not be queued) — no silent drops (F1). The fire row and the
execution are written in one transaction guarded by the unique ``(schedule_id, scheduled_for)``
index, so a tick that somehow fires twice queues one run.

Fires due at the same moment go out together (``fire_due``): up to ``BATCH_SIZE`` of them share one
``BEGIN IMMEDIATE`` … ``COMMIT`` and one wake of the executor. A batch is first decided (reads only:
its schedules, scripts, versions and active runs in a few queries), then written with one plain
insert for the runs, one for the fire rows and one or two updates of the schedules: ~0.15 ms a fire
instead of ~1 ms through the ORM with a savepoint each. A fire whose decision raises is left out;
if the writes fail (a tick already recorded: the unique index), the batch is fired again with a
savepoint per fire, so one bad fire never takes the others with it.
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
from sqlalchemy import bindparam, insert, select, update
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


def queue_run(schedule: Schedule) -> tuple[FireOutcome, Execution | None, str | None]:
    """Queue one run of the schedule's script now (its pinned version, else the current one) with its
    params over the version's defaults: a fire that waited (overlap ``queue``) starts."""
    script = db.session.get(Script, schedule.script_id)
    if script is None:
        return FireOutcome.FAILED, None, "the script no longer exists"
    try:
        execution = executions.start(
            script,
            dict(schedule.params or {}),
            Trigger.SCHEDULE,
            version_number=schedule.version or script.current_version,
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


def _plan_run(schedule: Schedule, plan: _Plan, batch: _Batch) -> None:
    """Decide the run a fire queues (its pinned version, else the script's current one, with the
    schedule's params over the version's defaults), or why it cannot be queued."""
    script = batch.script(schedule.script_id)
    if script is None:
        plan.outcome, plan.detail = FireOutcome.FAILED, "the script no longer exists"
        return
    try:
        number = schedule.version or script.current_version
        plan.run = executions.queued_row(
            script,
            dict(schedule.params or {}),
            Trigger.SCHEDULE,
            version=batch.version(script.id, number),
            schedule_id=schedule.id,
            created_by_id=schedule.created_by_id,
            active=batch.active_of_script(script),
        )
    except ProblemError as error:
        plan.outcome, plan.detail = FireOutcome.FAILED, error.detail[:1000]
        return
    if script.id in batch.running:
        batch.running[script.id] += 1
    plan.outcome = FireOutcome.STARTED


def _decide(schedule: Schedule, plan: _Plan, batch: _Batch) -> None:
    """Apply the overlap policy to a fire that is on time (``parallel`` needs no look at the active runs)."""
    policy = schedule.overlap_policy
    if policy != OverlapPolicy.PARALLEL.value:
        active = batch.active_runs(schedule.id)
        if policy == OverlapPolicy.SKIP.value and active:
            first_id, status = active[0]
            plan.outcome = FireOutcome.SKIPPED
            plan.detail = f"overlap policy skip: execution #{first_id} is still {status}"
            return
        if policy == OverlapPolicy.QUEUE.value:
            if any(status == ExecutionStatus.QUEUED.value for _, status in active) or batch.has_waiting_fire(
                schedule.id
            ):
                plan.outcome = FireOutcome.SKIPPED
                plan.detail = "overlap policy queue: a run of this schedule is already waiting"
                return
            if active:
                plan.outcome = FireOutcome.QUEUED
                plan.detail = f"overlap policy queue: waits for execution #{active[0][0]} to end"
                return
    _plan_run(schedule, plan, batch)


def _missed_gap(
    spec: cron.CronSpec, schedule_id: int, expected: datetime, due: datetime, now: datetime
) -> dict[str, object] | None:
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
    return _fire_row(schedule_id, expected, now, FireOutcome.MISSED, detail)


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
    grace and ``fired_at`` stay honest for the last of a large batch. A batch is decided first (reads
    only), then written with one statement per table and committed, and the executor is woken once.
    A fire whose decision raises is left out of its batch. If the batch's writes fail (a tick already
    recorded by another leader, a bug in one row), the same ticks are fired again with a savepoint
    each, so one bad fire never takes the others with it; if even that cannot commit (the write lock,
    a broken connection), one transaction each.
    """
    results: list[FireResult] = []
    while len(results) < len(dues):
        chunk = _next_chunk(dues, len(results))
        done = _fire_batch(chunk, now, savepoints=False)
        if done is None:
            done = _fire_batch(chunk, now, savepoints=True)
        if done is None:
            done = [_fire_alone(due, now) for due in chunk]
        results.extend(done)
    return results


def _next_chunk(dues: Sequence[Due], begin: int) -> Sequence[Due]:
    """Up to ``BATCH_SIZE`` ticks from ``begin``, ending before a schedule's second tick: a batch decides
    from what it read before writing, so it must not hold two fires of one schedule."""
    seen: set[int] = set()
    end = begin
    while end < len(dues) and end - begin < BATCH_SIZE and dues[end][0] not in seen:
        seen.add(dues[end][0])
        end += 1
    return dues[begin:end]


class _Batch:
    """What a batch reads once, under its write lock: its schedules (one query, not one per fire), their
    scripts and versions, kept referenced (the session holds loaded rows weakly, so a script shared by a
    thousand schedules would otherwise be loaded again, with its tags, for each of them), the active
    runs of the schedules whose overlap policy looks at them, and the runs a ``refuse`` limit counts."""

    def __init__(self, schedule_ids: Sequence[int]) -> None:
        rows = db.session.scalars(select(Schedule).where(Schedule.id.in_(schedule_ids))).all()
        self.schedules: dict[int, Schedule] = {row.id: row for row in rows}
        self.scripts: dict[int, Script | None] = {}
        self.versions: dict[tuple[int, int], ScriptVersion] = {}
        self.running: dict[int, int] = {}  # script id -> its active runs, this batch's planned ones included
        self._active: dict[int, list[tuple[int, str]]] | None = None
        self._waiting: set[int] | None = None

    def schedule(self, schedule_id: int) -> Schedule | None:
        return self.schedules.get(schedule_id)

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

    def active_runs(self, schedule_id: int) -> list[tuple[int, str]]:
        """The schedule's queued and running runs, oldest first (read for the whole batch at once)."""
        if self._active is None:
            watched = [s.id for s in self.schedules.values() if s.overlap_policy != OverlapPolicy.PARALLEL.value]
            self._active = {}
            if watched:
                rows = db.session.execute(
                    select(Execution.schedule_id, Execution.id, Execution.status)
                    .where(Execution.schedule_id.in_(watched), Execution.status.in_(ACTIVE_STATUSES))
                    .order_by(Execution.id)
                )
                for sid, eid, status in rows:
                    self._active.setdefault(int(sid), []).append((int(eid), str(status)))
        return self._active.get(schedule_id, [])

    def has_waiting_fire(self, schedule_id: int) -> bool:
        if self._waiting is None:
            watched = [s.id for s in self.schedules.values() if s.overlap_policy == OverlapPolicy.QUEUE.value]
            self._waiting = set()
            if watched:
                self._waiting = set(
                    db.session.scalars(
                        select(ScheduleFire.schedule_id).where(
                            ScheduleFire.schedule_id.in_(watched), ScheduleFire.outcome == FireOutcome.QUEUED.value
                        )
                    )
                )
        return schedule_id in self._waiting

    def active_of_script(self, script: Script) -> int:
        if not (script.max_concurrent and script.concurrency_policy == "refuse"):
            return 0
        if script.id not in self.running:
            self.running[script.id] = executions.count_active(script.id)
        return self.running[script.id]


class _Plan:
    """One decided fire, not written yet: its fire rows (a missed gap, then the tick's own), the run to
    queue (a row for ``executions.insert_queued``) and the schedule's new bookkeeping columns."""

    __slots__ = ("detail", "due", "fires", "outcome", "run", "runtime", "schedule_id")

    def __init__(self, schedule_id: int, due: datetime) -> None:
        self.schedule_id = schedule_id
        self.due = due
        self.fires: list[dict[str, object]] = []
        self.run: dict[str, object] | None = None
        self.runtime: dict[str, object] | None = None
        self.outcome = FireOutcome.FAILED
        self.detail: str | None = None


def _fire_row(
    schedule_id: int, scheduled_for: datetime, fired_at: datetime, outcome: FireOutcome, detail: str | None
) -> dict[str, object]:
    """A ``schedule_fires`` row as a plain insert takes it (every row the same keys: one statement)."""
    return {
        "schedule_id": schedule_id,
        "scheduled_for": scheduled_for,
        "fired_at": fired_at,
        "outcome": outcome.value,
        "execution_id": None,
        "detail": detail,
    }


def _fire_batch(chunk: Sequence[Due], now: datetime | None, *, savepoints: bool) -> list[FireResult] | None:
    """Fire from the front of ``chunk`` in one transaction (until the time limit); None if it did not commit.

    Without savepoints the fires are decided one after the other (reads only) and then written
    together; with them, each is decided and written in its own savepoint, which a failure rolls back.
    """
    results: list[FireResult] = []
    plans: list[_Plan] = []
    started = time.monotonic()
    try:
        begin_write()
        batch = _Batch([schedule_id for schedule_id, _ in chunk])
        for schedule_id, due in chunk:
            moment = now or utcnow()
            if savepoints:
                results.append(_fire_in_savepoint(schedule_id, due, moment, batch))
            else:
                try:
                    plan = _plan(schedule_id, due, moment, batch)
                except Exception as error:  # this fire alone fails; nothing of it was written
                    results.append(error)
                else:
                    results.append(plan is not None and plan.run is not None)
                    if plan is not None:
                        plans.append(plan)
            if time.monotonic() - started >= BATCH_MAX_SECONDS:
                break
        _write(plans)
        db.session.commit()
    except Exception as error:
        db.session.rollback()
        if savepoints:
            log.exception("a batch of %d schedule fires could not be written; firing them one by one", len(chunk))
        elif not isinstance(error, IntegrityError):
            log.warning(
                "a batch of %d schedule fires could not be written (%s); again with a savepoint each", len(chunk), error
            )
        return None
    _log_batch(plans)
    if any(result is True for result in results):
        executions.wake_executor()
    return results


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
    """One fire decided and written inside the open write transaction; rolled back to its savepoint if it fails."""
    try:
        with db.session.begin_nested():
            plan = _plan(schedule_id, due, now, batch)
            if plan is None:
                return False
            _write([plan])
    except IntegrityError:
        log.warning("schedule %s: the tick %s is already recorded; not firing it again", schedule_id, due)
        return False
    except Exception as error:
        return error
    _log_batch([plan])
    return plan.run is not None


_SET_NEXT = (
    update(Schedule.__table__)
    .where(Schedule.__table__.c.id == bindparam("b_id"))
    .values(next_run_at=bindparam("b_next"), updated_at=Schedule.__table__.c.updated_at)
)
_SET_NEXT_AND_LAST = _SET_NEXT.values(last_run_at=bindparam("b_last_run"), last_status=bindparam("b_status"))


def _write(plans: Sequence[_Plan]) -> None:
    """Write decided fires: one statement for the runs, one for the fire rows, one or two for the schedules.

    The ORM's unit of work (an object, a flush and a savepoint per fire) was most of a fire's cost.
    A tick recorded already fails the fire rows' insert on the unique index, and the caller rolls back.
    """
    if not plans:
        return
    queued = [plan for plan in plans if plan.run is not None]
    run_ids = executions.insert_queued([plan.run for plan in queued if plan.run is not None])
    for plan, run_id in zip(queued, run_ids, strict=True):
        plan.fires[-1]["execution_id"] = run_id
    db.session.execute(insert(ScheduleFire.__table__), [row for plan in plans for row in plan.fires])
    moved: list[dict[str, object]] = []
    ran: list[dict[str, object]] = []
    for plan in plans:
        if plan.runtime is None:
            continue
        values = {"b_id": plan.schedule_id, "b_next": plan.runtime["next_run_at"]}
        if "last_run_at" in plan.runtime:
            ran.append({**values, "b_last_run": plan.runtime["last_run_at"], "b_status": plan.runtime["last_status"]})
        else:
            moved.append(values)
        loaded = db.session.identity_map.get(db.session.identity_key(Schedule, plan.schedule_id))
        if loaded is not None:
            db.session.expire(loaded)  # a read after this sees the new columns
    if ran:
        db.session.execute(_SET_NEXT_AND_LAST, ran)
    if moved:
        db.session.execute(_SET_NEXT, moved)


def _log_batch(plans: Sequence[_Plan]) -> None:
    """A line per fire that did not start a run (skipped, queued, missed, failed); one for those that did."""
    started = 0
    for plan in plans:
        if plan.outcome is FireOutcome.STARTED and plan.detail is None:
            started += 1
            continue
        log.info(
            "schedule %s fired for %s: %s%s",
            plan.schedule_id,
            plan.due.isoformat(),
            plan.outcome.value,
            f" ({plan.detail})" if plan.detail else "",
        )
    if started:
        log.info("%d schedule(s) fired for %s: a run queued each", started, plans[0].due.isoformat())


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


def _plan(schedule_id: int, due: datetime, now: datetime, batch: _Batch) -> _Plan | None:
    """Decide one fire from what the batch read (no writes); None when the tick records nothing."""
    schedule = batch.schedule(schedule_id)
    if schedule is None or not schedule.enabled:
        _request_sync()  # a job outlived its schedule (changed in another process): drop it
        return None
    plan = _Plan(schedule_id, due)
    try:
        spec = parse_cron(schedule.cron, schedule.timezone)
    except cron.CronError as error:
        plan.detail = str(error)
        plan.fires.append(_fire_row(schedule_id, due, now, FireOutcome.FAILED, plan.detail))
        return plan  # the schedule's columns stay as they are
    if not trigger.is_fire_time(spec, due):
        _request_sync()  # the cron changed since this job was built; the rebuilt job fires instead
        return None

    expected = schedule.next_run_at
    if expected is not None and expected < due:
        gap = _missed_gap(spec, schedule_id, expected, due, now)
        if gap is not None:
            plan.fires.append(gap)
    lateness = (now - due).total_seconds()
    if lateness > schedule.misfire_grace_seconds:
        plan.outcome = FireOutcome.MISSED
        plan.detail = (
            f"due at {due.astimezone(spec.tz).isoformat()} but the scheduler got to it {lateness:.0f} s later; "
            f"the misfire grace is {schedule.misfire_grace_seconds} s"
        )
    else:
        _decide(schedule, plan, batch)
        if lateness > LATE_NOTE_SECONDS and plan.detail is None:
            plan.detail = f"catch-up: fired {lateness:.0f} s late, within the {schedule.misfire_grace_seconds} s grace"
    plan.fires.append(_fire_row(schedule_id, due, now, plan.outcome, plan.detail))
    plan.runtime = {"next_run_at": trigger.next_after(spec, due)}
    if plan.run is not None:
        plan.runtime.update(last_run_at=now, last_status=ExecutionStatus.QUEUED.value)
    return plan


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
