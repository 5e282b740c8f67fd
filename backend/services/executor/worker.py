"""``scriptman worker``: a Celery worker that runs claimed executions through the local run path.

The task ``run_execution(id)`` claims the row (``celery_executor.claim_within_caps``: the caps and
the idempotency guard) and then runs it exactly as the local executor does — ``runner.execute``
with the same launcher, supervisor, workspace layout, environment, dependency cache (this worker's
``data/envs``), limits, cgroup, sandbox, results and run-end listeners (retries, reruns, chains,
notifications queued). Besides the Celery pool, a worker keeps three threads:

- **heartbeat**: ``HSET <prefix>:workers <name> <now>`` every ``SCRIPTMAN_WORKER_HEARTBEAT_SECONDS``;
  the reaper (any process's ``CeleryExecutor``) ends the runs of a worker silent for 3 of them.
- **cancel**: subscribed to ``<prefix>:cancel``; for a run this worker holds (``executions.worker``)
  it signals the supervisor exactly as the local cancel does, and the supervisor kills the run's
  process group / cgroup. A pass every second also signals any of its runs whose row says
  ``cancel_requested`` (a message missed while Redis was unreachable is not a lost cancel).
- **the executor loop** (``CeleryExecutor``): sends due queued rows (retries queued by this worker's
  run-end listeners included) and reaps lost workers, so the install works with no web process up.

On start the worker re-attaches the runs recorded under its name whose supervisor is still alive
(a worker restarted within the bound: its runs go on, and their logs are shipped to Redis again from
where the stream stopped), concludes those whose supervisor ended, and
stops the leftovers of its runs the reaper already ended as interrupted.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import socket
import tempfile
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import redis
from flask import Flask
from sqlalchemy import select

from backend.config import Settings
from backend.extensions import db
from backend.models import Execution, ExecutionStatus
from backend.models.types import utcnow
from backend.services.executor import containment, launcher, process, runner, workspace
from backend.services.executor.celery_executor import (
    POLL_SECONDS,
    TASK_NAME,
    CeleryExecutor,
    RedisThreads,
    claim_within_caps,
    heartbeat_bound,
)

log = logging.getLogger(__name__)

WATCH_POLL_SECONDS = 0.25
LEFTOVER_LOOKBACK = timedelta(days=7)  # interrupted runs whose leftovers a returning worker stops


def worker_name(settings: Settings) -> str:
    return settings.worker_name or socket.gethostname()


def lifeline_path(settings: Settings, name: str) -> Path:
    """A file on this machine's own disk (not the shared home: its clock must be this machine's)."""
    key = hashlib.sha256(f"{settings.home}\0{name}".encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"scriptman-worker-{key}.alive"


class WorkerRuntime(RedisThreads):
    """The worker's own state: the runs it holds, its heartbeat, its cancel listener, its launcher."""

    def __init__(self, app: Flask, settings: Settings, name: str) -> None:
        super().__init__(settings)
        self.app = app
        self.name = name
        self.executor: CeleryExecutor = app.extensions["scriptman.executor"]
        self.executor.listen_status = False  # nobody follows a log in a worker
        self.held: set[int] = set()
        self.signalled: set[int] = set()
        self.lock = threading.Lock()
        self.launcher: launcher.Launcher | None = None
        if settings.supervisor_start == "fork":
            self.launcher = launcher.Launcher(settings.data_dir / f"launcher-{name}.err")
        app.extensions["scriptman.launcher"] = self.launcher
        # each run's supervisor stops its run when this file goes stale (a worker gone for good)
        self.lifeline = lifeline_path(settings, name)
        app.extensions["scriptman.lifeline"] = {
            "path": str(self.lifeline),
            "stale_seconds": heartbeat_bound(settings),
        }
        # a run that ends here is announced to the web processes (their log followers end now)
        listeners = app.extensions.setdefault("scriptman.run_end_listeners", [])
        listeners.append(lambda execution, _script: self.executor.announce(execution.id))

    # -- lifecycle ----------------------------------------------------------------------------------
    def start(self) -> None:
        containment.harden_home(self.settings)
        if self.launcher is not None:
            try:
                self.launcher.start()
            except launcher.LauncherUnavailable as error:
                log.warning("%s; supervisors are started directly", error)
        self._beat()  # seen before it re-attaches anything: the reaper must not take its runs now
        self._spawn(self._heartbeat, "scriptman-heartbeat")
        self.recover()
        self._spawn(self._cancel_listener, "scriptman-cancel")
        self._spawn(self._cancel_sweeper, "scriptman-cancel-sweep")
        self.executor.start()

    def stop(self) -> None:
        self.stopping.set()
        self.executor.stop()
        self._join()
        with contextlib.suppress(redis.RedisError):
            self.redis.hdel(self.keys.workers, self.name)
        self.redis.close()
        if self.launcher is not None:
            self.launcher.stop()

    def held_ids(self) -> set[int]:
        with self.lock:
            return set(self.held)

    # -- the task -----------------------------------------------------------------------------------
    def run_execution(self, execution_id: int) -> str:
        """Claim and run one execution; what happened (``claimed`` … or why not)."""
        with self.app.app_context():
            try:
                outcome = claim_within_caps(execution_id, self.settings.max_concurrency, self.name)
            finally:
                db.session.remove()
        if outcome != "claimed":
            if outcome in ("full", "early"):
                self.executor.forget_sent(execution_id)  # sent again when the caps leave room
            log.info("execution %s not run here: %s", execution_id, outcome)
            return outcome
        self.executor.announce(execution_id)
        with self.lock:
            self.held.add(execution_id)
        shipper = start_log_shipping(self.redis, self.settings, execution_id)
        try:
            runner.execute(self.app, execution_id)
        except Exception:
            log.exception("execution %s crashed the runner", execution_id)
        finally:
            stop_log_shipping(shipper)  # after runner.finish wrote the final status line
            with self.lock:
                self.held.discard(execution_id)
                self.signalled.discard(execution_id)
            self.executor.notify()  # a slot is free: send the next queued run now
        return outcome

    # -- recovery -----------------------------------------------------------------------------------
    def recover(self) -> None:
        """Re-attach this worker's runs whose supervisor survived; conclude the others; stop the
        leftovers of runs the reaper ended while this worker was away."""
        with self.app.app_context():
            try:
                rows = db.session.scalars(
                    select(Execution).where(
                        Execution.worker == self.name, Execution.status == ExecutionStatus.RUNNING.value
                    )
                ).all()
                for execution in rows:
                    if process.is_same_process(execution.pid, execution.pid_started_at):
                        log.info("re-attaching to execution %s (supervisor pid %s)", execution.id, execution.pid)
                        with self.lock:
                            self.held.add(execution.id)
                        # its live log goes on reaching the web processes (the shipper resumes the stream)
                        shipper = start_log_shipping(self.redis, self.settings, execution.id)
                        args = (execution.id, execution.pid, execution.pid_started_at, shipper)
                        self._spawn(lambda a=args: self._watch(*a), f"scriptman-watch-{execution.id}")
                        continue
                    paths = workspace.run_paths(self.settings, execution.id)
                    containment.end_leftovers(paths, execution.cookie)
                    if paths.status.exists():
                        runner.finish(self.app, execution.id, runner.read_status(self.app, execution.id))
                    else:
                        gone = f"worker {self.name} stopped while this run was in progress"
                        runner.finish(self.app, execution.id, {"reason": "interrupted", "error": gone})
                    self.executor.announce(execution.id)
                ended = db.session.execute(
                    select(Execution.id, Execution.pid, Execution.pid_started_at, Execution.cookie).where(
                        Execution.worker == self.name,
                        Execution.status == ExecutionStatus.INTERRUPTED.value,
                        Execution.finished_at >= utcnow() - LEFTOVER_LOOKBACK,
                    )
                ).all()
                for execution_id, pid, started_at, cookie in ended:
                    if process.is_same_process(pid, started_at):
                        log.info("execution %s was ended as interrupted: stopping what is left of it", execution_id)
                        process.signal_supervisor(pid, started_at)
                        process.wait_gone(pid, started_at, self.settings.kill_grace_seconds + 5)
                        containment.end_leftovers(workspace.run_paths(self.settings, execution_id), cookie)
            finally:
                db.session.remove()

    def _watch(self, execution_id: int, pid: int, started_at: float, shipper: Any = None) -> None:
        concluded = False
        try:
            while not self.stopping.is_set() and not process.wait_gone(pid, started_at, WATCH_POLL_SECONDS):
                pass
            if not self.stopping.is_set():
                runner.conclude(self.app, execution_id)
                concluded = True
        finally:
            if concluded:
                stop_log_shipping(shipper)  # after the final status line, as for a run started here
            elif shipper is not None:
                shipper.detach()  # the run goes on: no end marker on its stream
            with self.lock:
                self.held.discard(execution_id)
            self.executor.notify()

    # -- heartbeat and cancel -----------------------------------------------------------------------
    def _beat(self) -> None:
        self.lifeline.touch()  # first, and whatever Redis says: this process is alive and holds its runs
        self.redis.hset(self.keys.workers, self.name, repr(time.time()))

    def _heartbeat(self) -> None:
        while not self.stopping.wait(self.settings.worker_heartbeat_seconds):
            try:
                self._beat()
            except redis.RedisError as error:
                log.warning("heartbeat not written: %s", error)

    def _cancel_listener(self) -> None:
        self._listen(self.keys.cancel, self.deliver_cancel)

    def deliver_cancel(self, execution_id: int) -> bool:
        """Signal the supervisor of a run this worker holds, as the local cancel does; True if signalled.

        A cancel that arrives before the supervisor's pid is on the row is delivered by the runner
        itself (it checks ``cancel_requested`` right after recording the pid)."""
        with self.app.app_context():
            try:
                row = db.session.execute(
                    select(Execution.pid, Execution.pid_started_at).where(
                        Execution.id == execution_id,
                        Execution.worker == self.name,
                        Execution.status == ExecutionStatus.RUNNING.value,
                    )
                ).first()
            finally:
                db.session.remove()
        if row is None or row.pid is None:
            return False
        with self.lock:
            self.signalled.add(execution_id)
        return process.signal_supervisor(row.pid, row.pid_started_at)

    def _cancel_sweeper(self) -> None:
        """Runs of this worker whose cancel was requested but not yet signalled (a missed message)."""
        while not self.stopping.wait(POLL_SECONDS):
            try:
                with self.app.app_context():
                    try:
                        wanted = db.session.scalars(
                            select(Execution.id).where(
                                Execution.worker == self.name,
                                Execution.status == ExecutionStatus.RUNNING.value,
                                Execution.cancel_requested.is_(True),
                                Execution.pid.is_not(None),
                            )
                        ).all()
                    finally:
                        db.session.remove()
                with self.lock:
                    missed = [i for i in wanted if i not in self.signalled]
                for execution_id in missed:
                    self.deliver_cancel(execution_id)
            except Exception:
                log.exception("cancel sweep failed")


# -- live log shipping (backend/services/logship.py, built by another helper) ---------------------------
def start_log_shipping(client: redis.Redis, settings: Settings, execution_id: int) -> Any:
    """THE call site of the live log stream: a ``LogShipper`` tails the run's log file into a Redis
    Stream while the run lasts (started before the run is prepared: it waits for the file; stopped
    after ``runner.finish`` wrote the final status line). Without ``backend/services/logship.py`` this
    ships nothing (the log is still on shared storage, where every web process reads it)."""
    try:
        from backend.services import logship
    except ImportError:
        return None
    log_path = workspace.run_paths(settings, execution_id).log
    shipper = logship.LogShipper(client, execution_id, log_path, prefix=settings.redis_prefix)
    try:
        shipper.start()
    except Exception:
        log.exception("execution %s: live log shipping did not start", execution_id)
        return None
    return shipper


def stop_log_shipping(shipper: Any) -> None:
    if shipper is None:
        return
    try:
        shipper.stop()
    except Exception:
        log.exception("live log shipping did not stop cleanly")


# -- the command ------------------------------------------------------------------------------------
def run_worker(app: Flask, settings: Settings, name: str | None = None, concurrency: int | None = None) -> None:
    """Run a Celery worker (threads pool: the runs' supervisors are separate processes anyway, and one
    process keeps one launcher and one view of the runs it holds) until SIGTERM/SIGINT."""
    name = name or worker_name(settings)
    size = concurrency or settings.worker_concurrency or os.cpu_count() or 2
    runtime = WorkerRuntime(app, settings, name)
    celery_app = runtime.executor.celery

    @celery_app.task(name=TASK_NAME, ignore_result=True)  # type: ignore[misc]
    def run_execution(execution_id: int) -> str:
        return runtime.run_execution(int(execution_id))

    runtime.start()
    try:
        worker = celery_app.Worker(
            hostname=f"{name}@scriptman",
            pool_cls="threads",
            concurrency=size,
            queues=[runtime.keys.queue],
            loglevel="INFO",
            without_gossip=True,
            without_mingle=True,
            without_heartbeat=True,
            quiet=True,
        )
        log.info("worker %s: %s runs at a time, queue %s", name, size, runtime.keys.queue)
        worker.start()
    finally:
        runtime.stop()
