"""The local executor: a bounded pool fed in FIFO order from the database's queued rows.

Queued runs live in the database, not in memory, so they survive a restart, retries with a
delay are rows whose ``not_before`` is in the future, and several server processes on one
database never start the same run twice (a run is claimed with a conditional UPDATE).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from flask import Flask
from sqlalchemy import func, or_, select

from backend.config import Settings
from backend.extensions import db
from backend.models import Execution, ExecutionStatus, Script
from backend.models.types import utcnow
from backend.services.executor import containment, launcher, process, runner, workspace
from backend.services.executor.claim import claim, unclaim

log = logging.getLogger(__name__)

POLL_SECONDS = 1.0
CANDIDATES_FIRST = 8
CANDIDATES_PER_PASS = 100
WATCH_POLL_SECONDS = 0.25
STOP_JOIN_SECONDS = 5.0


class LocalExecutor:
    def __init__(self, app: Flask, settings: Settings) -> None:
        self.app = app
        self.settings = settings
        self.capacity = settings.max_concurrency
        # a run gives its slot back once its processes are gone, before its end is recorded (so the
        # next run is prepared meanwhile): up to ``capacity`` threads may still be recording ends
        self.pool = ThreadPoolExecutor(max_workers=2 * self.capacity, thread_name_prefix="scriptman-run")
        self.wake = threading.Condition()
        self.pending_wake = False
        self.active: set[int] = set()
        self.active_lock = threading.Lock()
        self.stopping = threading.Event()
        # held while a claimed run is handed to the pool, and by stop() while it sets ``stopping``:
        # a claim that loses the race with stop() goes back to the queue instead of to a shut pool
        self.handover = threading.Lock()
        self.thread = threading.Thread(target=self._loop, name="scriptman-dispatch", daemon=True)
        # set while another web process dispatches (dispatch_wake.ExecutorLeadership): notify() wakes that one
        self.forward: Callable[[], None] | None = None
        # forks each run's supervisor from a ready process (no interpreter start-up per run)
        self.launcher: launcher.Launcher | None = None
        if settings.supervisor_start == "fork":
            self.launcher = launcher.Launcher(settings.data_dir / "launcher.err")
        app.extensions["scriptman.launcher"] = self.launcher

    # -- public -------------------------------------------------------------------------------------
    def start(self) -> None:
        if self.launcher is not None:
            try:
                self.launcher.start()
            except launcher.LauncherUnavailable as error:
                log.warning("%s; supervisors are started directly", error)
        if self.settings.recover_on_start:
            self.recover()
        self.thread.start()

    def notify(self) -> None:
        forward = self.forward
        if forward is not None:
            forward()
            return
        with self.wake:
            self.pending_wake = True
            self.wake.notify()

    def stop(self) -> None:
        with self.handover:
            self.stopping.set()
        self.notify()
        if self.thread.is_alive() and self.thread is not threading.current_thread():
            # a pass in flight ends within its few queries: once stop() returns, nothing more is claimed
            self.thread.join(timeout=STOP_JOIN_SECONDS)
        self.pool.shutdown(wait=False, cancel_futures=True)
        if self.launcher is not None:
            self.launcher.stop()

    def running_ids(self) -> set[int]:
        with self.active_lock:
            return set(self.active)

    # -- dispatch -------------------------------------------------------------------------------------
    def _loop(self) -> None:
        while not self.stopping.is_set():
            with self.wake:
                if not self.pending_wake:
                    self.wake.wait(timeout=POLL_SECONDS)
                self.pending_wake = False
            if self.stopping.is_set():
                break
            try:
                self._dispatch()
            except Exception:
                log.exception("dispatcher pass failed")
                time.sleep(POLL_SECONDS)

    def _dispatch(self) -> None:
        with self.app.app_context():
            try:
                while len(self.running_ids()) < self.capacity and not self.stopping.is_set():
                    execution_id = self._claim_next()
                    if execution_id is None or not self._hand_over(execution_id):
                        break
            finally:
                db.session.remove()

    def _claim_next(self) -> int | None:
        """Take the oldest runnable queued run, respecting each script's own concurrency cap.

        A few candidates first (the oldest one is nearly always free to run: one small read per
        claim when many are queued); the long list only when those were all held back or taken."""
        for limit in (CANDIDATES_FIRST, CANDIDATES_PER_PASS):
            candidates = self._candidates(limit)
            saturated: set[int] = set()
            for execution_id, script_id, cap in candidates:
                if script_id in saturated:
                    continue
                if cap:
                    running = db.session.scalar(
                        select(func.count())
                        .select_from(Execution)
                        .where(Execution.script_id == script_id, Execution.status == ExecutionStatus.RUNNING.value)
                    )
                    if running and running >= cap:
                        saturated.add(script_id)
                        continue
                if claim(execution_id):
                    return int(execution_id)
            if len(candidates) < limit:
                return None  # that was every runnable queued run
        return None

    def _candidates(self, limit: int) -> list[tuple[int, int, int | None]]:
        now = utcnow()
        rows = db.session.execute(
            select(Execution.id, Execution.script_id, Script.max_concurrent)
            .join(Script, Script.id == Execution.script_id)
            .where(
                Execution.status == ExecutionStatus.QUEUED.value,
                or_(Execution.not_before.is_(None), Execution.not_before <= now),
            )
            .order_by(Execution.id)
            .limit(limit)
        ).all()
        return [(int(a), int(b), c) for a, b, c in rows]

    def _hand_over(self, execution_id: int) -> bool:
        """Give a claimed run to the pool; once stop() has begun, put it back in the queue instead
        (nothing of it has started yet) for the next server start, rather than leave it ``running``."""
        with self.handover:
            if not self.stopping.is_set():
                with self.active_lock:
                    self.active.add(execution_id)
                self.pool.submit(self._run, execution_id)
                return True
        unclaim(execution_id)
        return False

    def _run(self, execution_id: int) -> None:
        release = self._releaser(execution_id)
        try:
            runner.execute(self.app, execution_id, on_gone=release)
        except Exception:
            log.exception("execution %s crashed the runner", execution_id)
        finally:
            release()

    def _releaser(self, execution_id: int) -> Callable[[], None]:
        """Gives the run's slot back (once) and wakes the dispatcher for the next queued run."""
        released = threading.Event()

        def release() -> None:
            if released.is_set():
                return
            released.set()
            with self.active_lock:
                self.active.discard(execution_id)
            self.notify()

        return release

    # -- recovery ---------------------------------------------------------------------------------------
    def recover(self) -> None:
        """Re-attach to runs whose supervisor survived a restart; end the others as interrupted.

        Queued rows are simply left queued: the dispatcher starts them (nothing had run yet).
        """
        with self.app.app_context():
            rows = db.session.scalars(select(Execution).where(Execution.status == ExecutionStatus.RUNNING.value)).all()
            for execution in rows:
                if process.is_same_process(execution.pid, execution.pid_started_at):
                    log.info("re-attaching to execution %s (supervisor pid %s)", execution.id, execution.pid)
                    with self.active_lock:
                        self.active.add(execution.id)
                    self.pool.submit(self._watch, execution.id, execution.pid, execution.pid_started_at)
                    continue
                paths = workspace.run_paths(self.settings, execution.id)
                if paths.status.exists():
                    containment.end_leftovers(paths, execution.cookie)  # the supervisor died after its status
                    runner.finish(self.app, execution.id, runner.read_status(self.app, execution.id))
                    continue
                containment.end_leftovers(paths, execution.cookie)
                runner.finish(
                    self.app,
                    execution.id,
                    {"reason": "interrupted", "error": "the server stopped while this run was in progress"},
                )
            still_running = set(
                db.session.scalars(select(Execution.id).where(Execution.status == ExecutionStatus.RUNNING.value))
            )
            containment.sweep_stale_cgroups(self.settings, still_running)
            db.session.remove()

    def _watch(self, execution_id: int, pid: int, started_at: float) -> None:
        release = self._releaser(execution_id)
        try:
            while not self.stopping.is_set() and not process.wait_gone(pid, started_at, WATCH_POLL_SECONDS):
                pass
            if not self.stopping.is_set():
                runner.conclude(self.app, execution_id, on_gone=release)
        finally:
            release()
