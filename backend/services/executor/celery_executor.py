"""The Celery executor (``SCRIPTMAN_EXECUTOR=celery``): queued runs go to ``scriptman worker`` processes.

The database stays the source of truth, as with the local executor: a queued run is a row, and a
Celery message only says "try to claim run N". Every process of the install (web processes and
workers) runs the same small loop (``CeleryExecutor``):

- **send**: queued rows that are due (``not_before`` passed, so delayed retries fire here) are
  sent as ``run_execution(id)`` messages, at most as many as the global cap
  (``SCRIPTMAN_MAX_CONCURRENCY``) and the per-script caps leave room for. A Redis key
  ``<prefix>:sent:<id>`` (``SET NX`` with a TTL) marks a message in flight, so several senders do
  not send the same row twice and a lost message is sent again after ``SENT_TTL_SECONDS``.
- **reap**: a running row whose worker (``executions.worker``) has not written its heartbeat for
  ``WORKER_LOST_HEARTBEATS`` heartbeats (3 x ``SCRIPTMAN_WORKER_HEARTBEAT_SECONDS``, 15 s by
  default) ends ``interrupted``: never ``running`` forever. A worker that comes back in time
  re-attaches its runs instead (``worker.WorkerRuntime.recover``). Silence only counts while Redis
  itself was there to hear the heartbeats: a process reaps only once it has reached Redis without an
  error for a whole bound and Redis has been up that long (``uptime_in_seconds``). Otherwise a Redis
  restarted empty, or back from an outage, showed every worker as lost and ended every running run
  ``interrupted`` while its worker was still running it.

The claim (``claim_within_caps``) is the guard, not the message: it takes one lock (a PostgreSQL
transaction advisory lock; SQLite's write lock), counts the running rows (global and per script)
and claims with a conditional UPDATE. So the caps hold across any number of workers, and a second
delivery of a message finds the run taken and does nothing.

Celery settings, chosen so a long run is never delivered twice (celery#5935: Redis re-delivers a
message left unacknowledged past ``visibility_timeout``):

- ``task_acks_late=False``: the message is acknowledged when the task starts, not when the run
  ends hours later; an acknowledged message is never re-delivered. A worker killed after the ack
  loses the message, which costs nothing: the row is still queued (re-sent after the marker's TTL)
  or already claimed (the reaper or the worker's restart ends it).
- ``worker_prefetch_multiplier=1`` and ``worker_disable_prefetch=True``: a worker takes a message
  only when one of its pool slots is free, so a run never waits in a busy worker's buffer while
  another worker idles (and an unacknowledged buffered message is what the timeout re-delivers).
- ``visibility_timeout`` of 30 days: nothing sits unacknowledged that long, so nothing re-delivers.

Decided for scale-out: every web process and worker has the same ``SCRIPTMAN_HOME`` (shared storage,
e.g. NFS); uploads are already where the worker looks, logs and finished workspaces are where every
web process serves them. Only ``data/envs`` (the dependency cache) may be per worker.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import redis
from celery import Celery
from flask import Flask
from sqlalchemy import func, or_, select, text, update

from backend.config import Settings
from backend.database import begin_write, is_sqlite
from backend.extensions import db
from backend.models import Execution, ExecutionStatus, Script
from backend.models.types import utcnow
from backend.services import executions, runstatus
from backend.services.executor import runner
from backend.services.executor.claim import new_cookie

log = logging.getLogger(__name__)

TASK_NAME = "scriptman.run_execution"
POLL_SECONDS = 1.0
CANDIDATES_PER_PASS = 500
SENT_TTL_SECONDS = 60  # a message not claimed by then (lost with a killed worker) is sent again
WORKER_LOST_HEARTBEATS = 3
VISIBILITY_TIMEOUT_SECONDS = 30 * 24 * 3600
CLAIM_LOCK_KEY = 0x5C719_7AC  # pg_advisory_xact_lock key: one claim at a time across the install


class Keys:
    """Everything this install keeps on Redis, under ``SCRIPTMAN_REDIS_PREFIX``."""

    def __init__(self, prefix: str) -> None:
        self.queue = prefix  # the Celery queue (a Redis list of that name)
        self.workers = f"{prefix}:workers"  # hash: worker name → last heartbeat (epoch seconds)
        self.cancel = f"{prefix}:cancel"  # pub/sub: an execution id whose cancel was requested
        self.status = f"{prefix}:status"  # pub/sub: an execution id that was claimed or ended
        self.sent_prefix = f"{prefix}:sent:"

    def sent(self, execution_id: int) -> str:
        return f"{self.sent_prefix}{execution_id}"


def make_celery(settings: Settings) -> Celery:
    """The Celery app of this install (the reasons for each setting are in the module docstring)."""
    assert settings.redis_url
    keys = Keys(settings.redis_prefix)
    app = Celery("scriptman", broker=settings.redis_url, set_as_current=False)
    app.conf.update(
        task_acks_late=False,
        task_reject_on_worker_lost=False,
        worker_prefetch_multiplier=1,
        worker_disable_prefetch=True,
        broker_transport_options={"visibility_timeout": VISIBILITY_TIMEOUT_SECONDS},
        broker_connection_retry_on_startup=True,
        task_default_queue=keys.queue,
        task_serializer="json",
        accept_content=["json"],
        task_ignore_result=True,
        result_backend=None,
        worker_hijack_root_logger=False,
        worker_enable_remote_control=False,  # no pidbox queues: cancel has its own channel
        worker_send_task_events=False,
        task_send_sent_event=False,
    )
    return app


def redis_client(settings: Settings) -> redis.Redis:
    assert settings.redis_url
    return redis.Redis.from_url(settings.redis_url, socket_timeout=10, socket_connect_timeout=5)


def heartbeat_bound(settings: Settings) -> float:
    """Seconds without a heartbeat after which a worker counts as lost (its runs end interrupted)."""
    return WORKER_LOST_HEARTBEATS * settings.worker_heartbeat_seconds


# -- the claim -------------------------------------------------------------------------------------
def claim_within_caps(execution_id: int, global_cap: int, worker: str) -> str:
    """Claim a queued run for ``worker`` if the caps leave room: ``claimed``, ``taken`` (not queued
    any more: a second delivery, or cancelled), ``early`` (its ``not_before`` is ahead) or ``full``.

    Count and claim happen under one lock, so two workers cannot both see the last free slot.
    """
    begin_write()  # SQLite: BEGIN IMMEDIATE, the write lock
    if not is_sqlite():
        db.session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": CLAIM_LOCK_KEY})
    try:
        row = db.session.execute(
            select(Execution.status, Execution.not_before, Execution.script_id, Script.max_concurrent)
            .join(Script, Script.id == Execution.script_id)
            .where(Execution.id == execution_id)
        ).first()
        if row is None or row.status != ExecutionStatus.QUEUED.value:
            return "taken"
        if row.not_before is not None and row.not_before > utcnow():
            return "early"
        if executions.count_running() >= global_cap:
            return "full"
        if row.max_concurrent and executions.count_running(row.script_id) >= row.max_concurrent:
            return "full"
        claimed = db.session.execute(
            update(Execution)
            .where(Execution.id == execution_id, Execution.status == ExecutionStatus.QUEUED.value)
            .values(
                status=ExecutionStatus.RUNNING.value,
                started_at=utcnow(),
                cookie=new_cookie(execution_id),
                worker=worker,
            )
        ).rowcount
        db.session.commit()
    finally:
        db.session.rollback()  # ends the transaction (and its lock) on every early return
    if not claimed:
        return "taken"
    runstatus.announce(execution_id)
    return "claimed"


# -- what the executor loop and a worker's runtime share ---------------------------------------------
class RedisThreads:
    """Daemon threads on this install's Redis keys that stop together: the executor loop of every
    process (``CeleryExecutor``) and a worker's own runtime (``worker.WorkerRuntime``) are built alike."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.keys = Keys(settings.redis_prefix)
        self.redis: redis.Redis = redis_client(settings)
        self.stopping = threading.Event()
        self.threads: list[threading.Thread] = []

    def _spawn(self, target: Any, name: str) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self.threads.append(thread)

    def _join(self) -> None:
        for thread in self.threads:
            if thread is not threading.current_thread():
                thread.join(timeout=5)
        self.threads.clear()

    def _listen(self, channel: str, handle: Callable[[int], Any]) -> None:
        """Call ``handle(execution id)`` for each id published on ``channel`` until stopped; a lost
        connection subscribes again (what was published meanwhile is found by the callers' own sweeps)."""
        while not self.stopping.is_set():
            pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
            try:
                pubsub.subscribe(channel)
                while not self.stopping.is_set():
                    message = pubsub.get_message(timeout=POLL_SECONDS)
                    if message and message.get("type") == "message":
                        try:
                            execution_id = int(message["data"])
                        except ValueError:
                            continue
                        handle(execution_id)
            except redis.RedisError as error:
                log.warning("channel %s lost (%s); listening again", channel, error)
                self.stopping.wait(POLL_SECONDS)
            except Exception:
                log.exception("listener on %s failed; listening again", channel)
                self.stopping.wait(POLL_SECONDS)
            finally:
                pubsub.close()


# -- the loop every process runs -------------------------------------------------------------------
class CeleryExecutor(RedisThreads):
    """What the app uses in place of ``LocalExecutor``: ``start``, ``notify``, ``stop``, plus
    ``cancel_running`` (the cancel's control message) and ``describe`` (for ``/api/health``)."""

    def __init__(self, app: Flask, settings: Settings) -> None:
        super().__init__(settings)
        self.app = app
        self.celery = make_celery(settings)
        self.wake = threading.Condition()
        self.pending_wake = False
        # reached Redis without an error since (monotonic; -inf: no error seen, None: one just now)
        self.redis_ok_since: float | None = float("-inf")
        # set in a web process: announcements from the workers poke this process's log followers
        self.listen_status = True
        app.extensions.setdefault("scriptman.launcher", None)

    # -- public -------------------------------------------------------------------------------------
    def start(self) -> None:
        self.stopping.clear()
        self._spawn(self._loop, "scriptman-celery-dispatch")
        if self.listen_status:
            self._spawn(self._status_listener, "scriptman-celery-status")

    def notify(self) -> None:
        with self.wake:
            self.pending_wake = True
            self.wake.notify()

    def stop(self) -> None:
        self.stopping.set()
        self.notify()
        self._join()
        self.celery.close()
        self.redis.close()

    def running_ids(self) -> set[int]:
        return set()  # runs are held by the workers, not by this process

    def cancel_running(self, execution_id: int) -> None:
        """Tell every worker; the one holding the run signals its supervisor (the row already says
        ``cancel_requested``, which a worker also finds on its own at its next pass)."""
        try:
            self.redis.publish(self.keys.cancel, str(execution_id))
        except redis.RedisError as error:
            log.warning("cannot publish the cancel of execution %s: %s", execution_id, error)

    def announce(self, execution_id: int) -> None:
        """A run was claimed or ended: the web processes' log followers hear it now."""
        try:
            self.redis.publish(self.keys.status, str(execution_id))
        except redis.RedisError as error:
            log.warning("cannot publish the status of execution %s: %s", execution_id, error)

    def describe(self) -> dict[str, Any]:
        """Workers seen (with their last heartbeat) and the queue depth, for ``/api/health``."""
        now = time.time()
        bound = heartbeat_bound(self.settings)
        workers: list[dict[str, Any]] = []
        redis_queue: int | None = None
        error: str | None = None
        try:
            for name, seen in sorted(self.redis.hgetall(self.keys.workers).items()):
                age = now - float(seen)
                workers.append(
                    {"name": name.decode(), "last_heartbeat_seconds_ago": round(age, 3), "alive": age <= bound}
                )
            redis_queue = int(self.redis.llen(self.keys.queue))
        except redis.RedisError as problem:
            error = f"{type(problem).__name__}: {problem}"
        return {"workers": workers, "redis_queue": redis_queue, "redis_error": error}

    # -- the loop -----------------------------------------------------------------------------------
    def _loop(self) -> None:
        while not self.stopping.is_set():
            with self.wake:
                if not self.pending_wake:
                    self.wake.wait(timeout=POLL_SECONDS)
                self.pending_wake = False
            if self.stopping.is_set():
                break
            try:
                with self.app.app_context():
                    try:
                        self.send_due()
                        self.reap_lost_workers()
                    finally:
                        db.session.remove()
            except redis.RedisError as error:
                self.redis_ok_since = None  # the heartbeats written meanwhile may be lost: wait a bound
                log.warning("celery executor pass: Redis unreachable (%s)", error)
                self.stopping.wait(POLL_SECONDS)
            except Exception:
                log.exception("celery executor pass failed")
                self.stopping.wait(POLL_SECONDS)

    def send_due(self) -> int:
        """Send the due queued rows the caps leave room for (the oldest first); how many were sent."""
        free = self.settings.max_concurrency - executions.count_running()
        if free <= 0:
            return 0
        candidates = db.session.execute(
            select(Execution.id, Execution.script_id, Script.max_concurrent)
            .join(Script, Script.id == Execution.script_id)
            .where(
                Execution.status == ExecutionStatus.QUEUED.value,
                or_(Execution.not_before.is_(None), Execution.not_before <= utcnow()),
            )
            .order_by(Execution.id)
            .limit(CANDIDATES_PER_PASS)
        ).all()
        if not candidates:
            return 0
        capped = {script_id for _, script_id, cap in candidates if cap}
        per_script: dict[int, int] = {}
        if capped:
            per_script = dict(
                db.session.execute(
                    select(Execution.script_id, func.count())
                    .where(Execution.status == ExecutionStatus.RUNNING.value, Execution.script_id.in_(capped))
                    .group_by(Execution.script_id)
                ).all()
            )
        in_flight = self.redis.mget([self.keys.sent(int(c.id)) for c in candidates])
        for (_, script_id, _), flag in zip(candidates, in_flight, strict=True):
            if flag is not None:
                free -= 1
                per_script[script_id] = per_script.get(script_id, 0) + 1
        sent = 0
        for (execution_id, script_id, cap), flag in zip(candidates, in_flight, strict=True):
            if free <= 0:
                break
            if flag is not None or (cap and per_script.get(script_id, 0) >= cap):
                continue
            if not self.redis.set(self.keys.sent(execution_id), b"1", nx=True, ex=SENT_TTL_SECONDS):
                continue  # another process sent it just now
            self.celery.send_task(TASK_NAME, args=[int(execution_id)], queue=self.keys.queue)
            free -= 1
            per_script[script_id] = per_script.get(script_id, 0) + 1
            sent += 1
        return sent

    def forget_sent(self, execution_id: int) -> None:
        """The message was used without a claim (caps full): the row may be sent again."""
        self.redis.delete(self.keys.sent(execution_id))

    def reap_lost_workers(self) -> list[int]:
        """End as ``interrupted`` the running runs of workers silent for longer than the bound."""
        rows = db.session.execute(
            select(Execution.id, Execution.worker).where(
                Execution.status == ExecutionStatus.RUNNING.value, Execution.worker.is_not(None)
            )
        ).all()
        if not rows or not self.heard_long_enough():
            return []
        seen = {k.decode(): float(v) for k, v in self.redis.hgetall(self.keys.workers).items()}
        limit = time.time() - heartbeat_bound(self.settings)
        reaped = []
        for execution_id, worker in rows:
            if seen.get(worker, 0.0) >= limit:
                continue
            log.warning("execution %s: worker %s is lost; the run ends interrupted", execution_id, worker)
            runner.finish(
                self.app,
                execution_id,
                {
                    "reason": "interrupted",
                    "error": f"worker {worker} stopped sending heartbeats while this run was in progress",
                },
            )
            self.announce(execution_id)
            reaped.append(execution_id)
        return reaped

    def heard_long_enough(self) -> bool:
        """Whether a missing heartbeat means a lost worker: Redis up, and reached from here without an
        error, for longer than the bound (a restarted Redis has no heartbeats until the next beat)."""
        now, bound = time.monotonic(), heartbeat_bound(self.settings)
        uptime = float(self.redis.info("server").get("uptime_in_seconds", 0))
        if self.redis_ok_since is None:
            self.redis_ok_since = now
        return uptime > bound and now - self.redis_ok_since > bound

    def _status_listener(self) -> None:
        """Claims and ends announced by the workers wake this process's log followers."""
        self._listen(self.keys.status, lambda execution_id: runstatus.poke(execution_id, status=True))
