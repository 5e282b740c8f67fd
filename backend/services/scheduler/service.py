"""The scheduler service: leader election, APScheduler jobs rebuilt from the database, the retention job.

The ``schedules`` rows are the source of truth; APScheduler (3.x, in-memory job store) is only
the alarm clock. The loop thread stands by until it takes the leader lock, then keeps the jobs
in step with the rows: immediately when this process changed a schedule (``notify``), every
``scheduler_sync_seconds`` otherwise (changes made through another process).
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
from datetime import UTC, datetime, timedelta

from apscheduler.executors.base import BaseExecutor
from apscheduler.executors.pool import ThreadPoolExecutor as PoolExecutor
from apscheduler.job import Job
from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger
from flask import Flask
from sqlalchemy import select

from backend.config import Settings
from backend.extensions import db
from backend.models import Schedule
from backend.models.types import utcnow
from backend.services.scheduler import cron, fire, retention
from backend.services.scheduler.locking import LeaderLock, leader_lock
from backend.services.scheduler.trigger import CronExpressionTrigger

log = logging.getLogger(__name__)

LOCK_FILE = "scheduler.lock"
RETENTION_JOB_ID = "retention"
RETENTION_FIRST_DELAY_SECONDS = 5.0
STOP_JOIN_SECONDS = 10.0


class FireExecutor(BaseExecutor):  # type: ignore[misc]
    """Fires the schedule jobs APScheduler hands it, in batches, on one thread in an app context.

    APScheduler submits every job due at a wake-up in one pass; they are queued here and fired
    together (``fire.fire_due``: up to ``fire.BATCH_SIZE`` per write transaction, one executor wake
    per batch), and each job's instance is released once its batch is written, so ``max_instances=1``
    still means one fire of a schedule at a time. One thread: SQLite has one writer, and four
    threads each taking the write lock per fire spent a third of their time waiting for it.
    APScheduler's own executors would call ``func(*args)`` one job at a time without the tick and
    handle misfires by logging; the fire code needs the tick (for the unique fire row) and records
    misfires itself. Only schedule jobs (``fire.fire_schedule``, ``args=[schedule_id]``) come here.
    """

    def __init__(self, app: Flask) -> None:
        super().__init__()
        self.app = app
        self.queue: queue.SimpleQueue[tuple[Job, datetime] | None] = queue.SimpleQueue()
        self.closed = False
        self.thread = threading.Thread(target=self._loop, name="scriptman-fire", daemon=True)
        self.thread.start()

    def _do_submit_job(self, job: Job, run_times: list[datetime]) -> None:
        self.queue.put((job, run_times[-1]))

    def _loop(self) -> None:
        while True:
            item = self.queue.get()
            batch: list[tuple[Job, datetime]] = []
            while item is not None and not self.closed:
                batch.append(item)
                if len(batch) >= fire.BATCH_SIZE:
                    break
                try:
                    item = self.queue.get_nowait()
                except queue.Empty:
                    break
            if batch:
                self._fire(batch)
            if item is None or self.closed:
                return

    def _fire(self, batch: list[tuple[Job, datetime]]) -> None:
        results: list[fire.FireResult]
        try:
            with self.app.app_context():
                try:
                    results = fire.fire_due([(int(job.args[0]), run_time) for job, run_time in batch])
                finally:
                    db.session.remove()
        except Exception as error:  # not one fire's failure (those come back as results): all of them failed
            results = [error] * len(batch)
        for (job, _run_time), result in zip(batch, results, strict=True):
            if isinstance(result, Exception):
                self._run_job_error(job.id, result, result.__traceback__)
            else:
                self._run_job_success(job.id, [])

    def shutdown(self, wait: bool = True) -> None:
        """Fires not begun are dropped (the next leader catches them up); a batch in flight is finished."""
        self.closed = True
        self.queue.put(None)
        if wait and self.thread is not threading.current_thread():
            self.thread.join()


class SchedulerService:
    def __init__(self, app: Flask, settings: Settings, lock: LeaderLock | None = None) -> None:
        self.app = app
        self.settings = settings
        self.lock: LeaderLock = lock or leader_lock(settings, LOCK_FILE.removesuffix(".lock"))
        self.scheduler: BackgroundScheduler | None = None
        self.fire_executor: FireExecutor | None = None
        self.fingerprints: dict[int, tuple[str, str, int]] = {}
        self.stopping = threading.Event()
        self.wake = threading.Event()
        self.thread = threading.Thread(target=self._loop, name="scriptman-scheduler", daemon=True)

    # -- public ---------------------------------------------------------------------------------------
    @property
    def is_leader(self) -> bool:
        return self.scheduler is not None

    def start(self) -> None:
        if not self.settings.scheduler_enabled:
            log.info("scheduler disabled (SCRIPTMAN_SCHEDULER_ENABLED=false)")
            return
        self.thread.start()

    def stop(self) -> None:
        self.stopping.set()
        self.wake.set()
        if self.thread.is_alive():
            self.thread.join(timeout=STOP_JOIN_SECONDS)
        if self.scheduler is not None:
            self.scheduler.shutdown(wait=False)  # a long retention sweep need not delay shutdown
            if self.fire_executor is not None:
                self.fire_executor.shutdown(wait=True)  # but a batch in flight ends before the lock goes
            self.scheduler = None
        self.lock.release()

    def tick(self, now: datetime | None = None) -> list[int]:
        """Fire whatever is due at ``now`` right here (``fire.tick``), whether or not this process leads."""
        with self.app.app_context():
            try:
                return fire.tick(now)
            finally:
                db.session.remove()

    def notify(self) -> None:
        """A schedule changed (or a job looks stale): bring the jobs in step now, not at the next sync."""
        self.wake.set()

    # -- loop -------------------------------------------------------------------------------------------
    def _loop(self) -> None:
        while not self.stopping.is_set():
            self.wake.clear()  # before the pass: a notify during it makes the wait below return at once
            try:
                if self.scheduler is None:
                    if self.lock.try_acquire():
                        self._become_leader()
                elif self.lock.try_acquire():  # re-checks a remote lock (session, lease) while held
                    self._sync(catch_up=False)
                else:  # lost it (PostgreSQL session or Redis lease gone): another process may lead now
                    self._step_down()
            except Exception:
                log.exception("scheduler loop pass failed")
            settings = self.settings
            pause = settings.scheduler_sync_seconds if self.is_leader else settings.scheduler_lock_retry_seconds
            self.wake.wait(timeout=pause)

    def _step_down(self) -> None:
        log.warning("lost the scheduler lock: this process stops firing schedules")
        scheduler, self.scheduler = self.scheduler, None
        if scheduler is not None:
            scheduler.shutdown(wait=False)
        if self.fire_executor is not None:
            self.fire_executor.shutdown(wait=False)

    def _become_leader(self) -> None:
        log.info("this process now fires schedules")
        self.fire_executor = FireExecutor(self.app)
        scheduler = BackgroundScheduler(
            timezone=UTC,
            executors={"default": self.fire_executor, "retention": PoolExecutor(max_workers=1)},
        )
        scheduler.start()
        scheduler.add_job(
            retention.run_job,
            trigger=IntervalTrigger(seconds=self.settings.maintenance_interval_seconds, timezone=UTC),
            args=[self.app],
            id=RETENTION_JOB_ID,
            name="retention sweep",
            replace_existing=True,
            executor="retention",
            coalesce=True,
            max_instances=1,
            misfire_grace_time=None,  # a late sweep is still worth doing
            next_run_time=utcnow() + timedelta(seconds=RETENTION_FIRST_DELAY_SECONDS),
        )
        self.scheduler = scheduler
        self.fingerprints.clear()
        self._sync(catch_up=True)

    def _sync(self, *, catch_up: bool) -> None:
        with self.app.app_context():
            try:
                self._sync_jobs(catch_up)
                fire.release_all_waiting()
            finally:
                db.session.remove()

    def _sync_jobs(self, catch_up: bool) -> None:
        scheduler = self.scheduler
        assert scheduler is not None
        rows = db.session.execute(
            select(
                Schedule.id,
                Schedule.name,
                Schedule.cron,
                Schedule.timezone,
                Schedule.misfire_grace_seconds,
                Schedule.next_run_at,
            ).where(Schedule.enabled.is_(True))
        ).all()
        db.session.rollback()
        wanted = {int(row.id): row for row in rows}
        for schedule_id in list(self.fingerprints):
            if schedule_id not in wanted:
                self._remove_job(schedule_id)
        for schedule_id, row in wanted.items():
            fingerprint = (row.cron, row.timezone, int(row.misfire_grace_seconds))
            if self.fingerprints.get(schedule_id) == fingerprint:
                continue
            self.fingerprints[schedule_id] = fingerprint
            try:
                spec = fire.parse_cron(row.cron, row.timezone)
            except cron.CronError as error:
                log.warning("schedule %s has an unusable cron (%s); not firing it", schedule_id, error)
                self._remove_job(schedule_id, forget=False)
                continue
            first = self._first_fire(schedule_id, spec, row.next_run_at, catch_up)
            if first is None:
                self._remove_job(schedule_id, forget=False)
                continue
            scheduler.add_job(
                fire.fire_schedule,
                trigger=CronExpressionTrigger(spec),
                args=[schedule_id],
                id=f"schedule-{schedule_id}",
                name=str(row.name),
                replace_existing=True,
                coalesce=True,  # after a stall, one fire; the fire row records the ticks it stands for
                max_instances=1,  # fires of one schedule never overlap, so overlap checks cannot race
                misfire_grace_time=int(row.misfire_grace_seconds),
                next_run_time=first,
            )
            log.info("schedule %s (%s %s): next fire %s", schedule_id, row.cron, row.timezone, first.isoformat())

    def _first_fire(
        self, schedule_id: int, spec: cron.CronSpec, stored: datetime | None, catch_up: bool
    ) -> datetime | None:
        """When a (re)built job fires first.

        On taking over (start, or a dead leader), a stored next fire in the past means ticks were
        missed: fire the latest of them once (the fire code checks the grace and records the gap).
        A job rebuilt for an edit simply starts from now, and its next time is written back.
        """
        now = utcnow()
        if catch_up and stored is not None and stored <= now:
            return fire.catch_up_tick(spec, stored, now)
        first = cron.next_after(spec, now)
        if not cron.same_instant(stored, first):
            fire.set_runtime(schedule_id, next_run_at=first)
            db.session.commit()
        return first

    def _remove_job(self, schedule_id: int, *, forget: bool = True) -> None:
        if forget:
            self.fingerprints.pop(schedule_id, None)
        if self.scheduler is None:
            return
        with contextlib.suppress(JobLookupError):
            self.scheduler.remove_job(f"schedule-{schedule_id}")
