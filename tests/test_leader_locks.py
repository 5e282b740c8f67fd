"""One scheduler across machines: the leader lock on a real PostgreSQL (advisory lock) and a real Redis (lease).

Each backend: two holders → only one holds; the holder's process killed with ``kill -9`` → the other
takes over within the documented time; a lost lock (session terminated, lease taken) → the holder
steps down. And three apps on one PostgreSQL database → one leader, one run per tick.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import sqlalchemy as sa
from cryptography.fernet import Fernet
from sqlalchemy import func, select

from backend.extensions import db
from backend.models import Execution, ScheduleFire
from backend.services.scheduler import locking
from backend.services.scheduler.locking import FileLeaderLock, LeaderLock, PostgresLeaderLock, RedisLeaderLock
from tests.conftest import AppFactory, make_settings
from tests.helpers import create_script, wait_for

LEASE = 1.0  # seconds: a short Redis lease for the tests (production: locking.LEASE_SECONDS)
HOLDER = """
import sys, time
from backend.services.scheduler.locking import PostgresLeaderLock, RedisLeaderLock
kind, url, name, lease, prefix = sys.argv[1:6]
if kind == "pg":
    lock = PostgresLeaderLock(url, name)
else:
    lock = RedisLeaderLock(url, name, lease_seconds=float(lease), prefix=prefix)
while not lock.try_acquire():
    time.sleep(0.05)
print("held", flush=True)
while True:
    time.sleep(0.2)
    assert lock.try_acquire(), "the holder lost its lock"
"""


@pytest.fixture
def name() -> str:
    return f"scheduler-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def release_all() -> Iterator[list[LeaderLock]]:
    locks: list[LeaderLock] = []
    yield locks
    for lock in locks:
        lock.release()


def holder_process(kind: str, url: str, name: str, prefix: str = "scriptman") -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [sys.executable, "-c", HOLDER, kind, url, name, str(LEASE), prefix],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[1],
    )
    assert process.stdout is not None
    line = process.stdout.readline()  # blocks until the child holds the lock (or dies)
    assert line.strip() == "held", f"the holder process did not take the lock ({process.poll()})"
    return process


def takeover_seconds(lock: LeaderLock, process: subprocess.Popen[str], bound: float) -> float:
    """Kill the holder with SIGKILL; how long until ``lock`` is taken (polled every 20 ms)."""
    assert not lock.try_acquire(), "the subprocess holds the lock"
    os.kill(process.pid, signal.SIGKILL)
    killed = time.monotonic()
    process.wait()
    assert process.stdout is not None
    process.stdout.close()
    deadline = killed + bound
    while not lock.try_acquire():
        assert time.monotonic() < deadline, f"no takeover within {bound} s of the holder's kill -9"
        time.sleep(0.02)
    return time.monotonic() - killed


def test_postgres_one_holder_and_release(postgres_database: str, name: str, release_all: list[LeaderLock]) -> None:
    first, second = PostgresLeaderLock(postgres_database, name), PostgresLeaderLock(postgres_database, name)
    release_all += [first, second]
    assert first.try_acquire()
    assert not second.try_acquire()
    assert first.try_acquire(), "re-checking a held lock keeps it"
    assert not second.try_acquire()
    first.release()
    assert second.try_acquire()
    assert not first.try_acquire()


def test_postgres_takeover_after_kill_9(postgres_database: str, name: str, release_all: list[LeaderLock]) -> None:
    standby = PostgresLeaderLock(postgres_database, name)
    release_all.append(standby)
    holder = holder_process("pg", postgres_database, name)
    # the server sees the killed holder's socket close at once: no lease to wait for
    assert takeover_seconds(standby, holder, bound=5.0) < 5.0


def test_postgres_holder_steps_down_when_its_session_dies(
    postgres_database: str, name: str, release_all: list[LeaderLock]
) -> None:
    holder, other = PostgresLeaderLock(postgres_database, name), PostgresLeaderLock(postgres_database, name)
    release_all += [holder, other]
    assert holder.try_acquire()
    admin = sa.create_engine(postgres_database, poolclass=sa.pool.NullPool, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:  # the server (or a partition) ends the holder's session
        connection.execute(
            sa.text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE application_name LIKE 'scriptman-%-lock %'"
            )
        )
    admin.dispose()
    assert not holder.try_acquire(), "SELECT 1 fails: step down"
    assert other.try_acquire()
    assert not holder.try_acquire()


def test_redis_one_holder_and_release(redis_url: str, name: str, release_all: list[LeaderLock]) -> None:
    first, second = (
        RedisLeaderLock(redis_url, name, lease_seconds=LEASE),
        RedisLeaderLock(redis_url, name, lease_seconds=LEASE),
    )
    release_all += [first, second]
    assert first.try_acquire()
    assert not second.try_acquire()
    time.sleep(LEASE * 2)  # the keeper renews the lease: it outlives its first term
    assert not second.try_acquire()
    assert first.try_acquire()
    first.release()
    assert second.try_acquire()


def test_redis_takeover_after_kill_9(redis_url: str, name: str, release_all: list[LeaderLock]) -> None:
    standby = RedisLeaderLock(redis_url, name, lease_seconds=LEASE)
    release_all.append(standby)
    holder = holder_process("redis", redis_url, name)
    # documented: within the lease (+ the standby's retry interval, 20 ms here)
    took = takeover_seconds(standby, holder, bound=LEASE + 1.0)
    assert took <= LEASE + 1.0


def test_redis_holder_steps_down_when_its_lease_is_gone(
    redis_url: str, name: str, release_all: list[LeaderLock]
) -> None:
    holder = RedisLeaderLock(redis_url, name, lease_seconds=LEASE)
    release_all.append(holder)
    assert holder.try_acquire()
    connection = redis.Redis.from_url(redis_url)
    connection.set(holder.key, "someone-else", px=int(LEASE * 1000))  # it expired during a pause and was taken
    assert not holder.try_acquire(), "the compare-and-set renewal fails: step down"
    holder.release()  # and never deletes the new holder's lease
    assert connection.get(holder.key) == b"someone-else"
    connection.delete(holder.key)
    connection.close()


def test_the_factory_picks_the_backend_from_the_settings(tmp_path: Path, redis_url: str) -> None:
    assert isinstance(locking.leader_lock(make_settings(tmp_path, database_url=None), "scheduler"), FileLeaderLock)
    pg = locking.leader_lock(make_settings(tmp_path, database_url="postgresql+psycopg://u@h/db"), "scheduler")
    assert isinstance(pg, PostgresLeaderLock) and pg.url == "postgresql://u@h/db"
    celery = make_settings(tmp_path, database_url=None, executor="celery", redis_url=redis_url)
    assert isinstance(locking.leader_lock(celery, "scheduler"), RedisLeaderLock)
    local_with_redis = make_settings(tmp_path, database_url=None, redis_url=redis_url)
    assert isinstance(locking.leader_lock(local_with_redis, "scheduler"), FileLeaderLock)


def test_three_apps_on_one_postgres_database_fire_each_tick_once(
    make_app: AppFactory, tmp_path: Path, postgres_database: str
) -> None:
    """Three processes' worth of apps (separate homes: no shared lock file) on one database: one leader,
    and every tick of a per-second schedule makes exactly one run."""
    real = {"scheduler_enabled": True, "scheduler_lock_retry_seconds": 0.1, "scheduler_sync_seconds": 0.3}
    real["secrets_key"] = Fernet.generate_key().decode()  # one install's key on every machine
    apps = [
        make_app(make_settings(tmp_path / f"home{i}", database_url=postgres_database, **real), start=i == 0)
        for i in range(3)
    ]
    client = apps[0].test_client()
    script = create_script(client, "tick", "print('tick')\n")
    for app in apps[1:]:
        app.extensions["scriptman.start_services"]()

    def leaders() -> list[int]:
        return [i for i, app in enumerate(apps) if app.extensions["scriptman.scheduler"].is_leader]

    wait_for(lambda: len(leaders()) == 1, 20, message="one leader")
    created = client.post(
        "/api/schedules",
        json={"name": "every second", "script_id": script["id"], "cron": "* * * * * *", "timezone": "UTC"},
    )
    assert created.status_code == 201, created.json

    def fires() -> list[tuple[object, int]]:
        with apps[0].app_context():
            try:
                rows = db.session.execute(
                    select(ScheduleFire.scheduled_for, func.count()).group_by(ScheduleFire.scheduled_for)
                ).all()
                return [(when, count) for when, count in rows]
            finally:
                db.session.remove()

    most = [0]
    sampling = threading.Event()

    def sample() -> None:  # how many apps lead at once, all along (the lock, not the unique index, keeps it one)
        while not sampling.wait(0.02):
            most[0] = max(most[0], len(leaders()))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    wait_for(lambda: len(fires()) >= 4, 30, 0.1, "four ticks to fire")
    assert all(count == 1 for _, count in fires())
    with apps[0].app_context():
        runs = db.session.scalar(select(func.count()).where(Execution.schedule_id == created.json["id"]))
        fired = db.session.scalar(select(func.count()).where(ScheduleFire.execution_id.is_not(None)))
        db.session.remove()
    assert runs == fired  # one run per tick, none rolled back by a second leader's duplicate fire

    # the leader goes away: another app takes over and the ticks go on, still once each
    leader = leaders()[0]
    apps[leader].extensions["scriptman.stop_services"]()
    wait_for(lambda: len([i for i in leaders() if i != leader]) == 1, 20, message="a new leader")
    before = len(fires())
    wait_for(lambda: len(fires()) >= before + 2, 30, 0.1, "ticks after the takeover")
    assert all(count == 1 for _, count in fires())
    sampling.set()
    sampler.join()
    assert most[0] == 1


# -- who leads, as /api/health tells it ------------------------------------------------------------------
def _stop(process: subprocess.Popen[str]) -> None:
    process.kill()
    process.wait()
    assert process.stdout is not None
    process.stdout.close()


def test_every_backend_names_the_process_holding_the_lock(
    postgres_database: str, redis_url: str, name: str, tmp_path: Path, release_all: list[LeaderLock]
) -> None:
    file_holder, file_other = FileLeaderLock(tmp_path / "x.lock"), FileLeaderLock(tmp_path / "x.lock")
    release_all += [file_holder, file_other]
    assert file_other.holder() is None
    before = time.time()
    assert file_holder.try_acquire()
    seen = file_other.holder()  # read from /proc/locks, not from this object's state
    assert seen is not None and (seen["host"], seen["pid"]) == (locking.HOST, os.getpid())
    assert seen["since"] is not None and seen["since"].timestamp() >= before - 1
    file_holder.release()
    assert file_other.holder() is None

    engine = sa.create_engine(postgres_database, poolclass=sa.pool.NullPool)
    standby = PostgresLeaderLock(postgres_database, name)
    release_all.append(standby)
    with engine.connect() as connection:
        assert standby.holder(connection) is None
        process = holder_process("pg", postgres_database, name)
        seen = standby.holder(connection)
        assert seen is not None and (seen["host"], seen["pid"]) == (locking.HOST, process.pid)
        assert seen["since"] is not None
        _stop(process)
        wait_for(lambda: standby.holder(connection) is None, 10, message="the killed holder's session to end")
    engine.dispose()

    redis_standby = RedisLeaderLock(redis_url, name, lease_seconds=LEASE, prefix=name)
    release_all.append(redis_standby)
    assert redis_standby.holder() is None
    process = holder_process("redis", redis_url, name, prefix=name)
    seen = redis_standby.holder()
    assert seen is not None and (seen["host"], seen["pid"]) == (locking.HOST, process.pid)
    _stop(process)
    wait_for(lambda: redis_standby.holder() is None, LEASE + 5, message="the killed holder's lease to end")


def test_health_reports_the_scheduler_leader_wherever_it_runs(
    make_app: AppFactory, tmp_path: Path, postgres_database: str, redis_url: str
) -> None:
    """A web process that does not lead names the process that does (another process: a subprocess here)."""
    web = make_app(make_settings(tmp_path / "pg", database_url=postgres_database), start=False).test_client()
    assert web.get("/api/health").json["scheduler"] == {
        "enabled": False,
        "leader_here": False,
        "lock": "postgresql",
        "leader": None,
    }
    process = holder_process("pg", postgres_database, "scheduler")
    try:
        scheduler = web.get("/api/health").json["scheduler"]
        assert scheduler["lock"] == "postgresql" and not scheduler["leader_here"]
        assert (scheduler["leader"]["host"], scheduler["leader"]["pid"]) == (locking.HOST, process.pid)
    finally:
        _stop(process)

    # the Redis lease (a Celery install on SQLite); set on the app, so the PostgreSQL pass checks it too
    prefix = f"t{uuid.uuid4().hex[:12]}"
    app = make_app(make_settings(tmp_path / "redis"), start=False)
    lease = app.extensions["scriptman.scheduler"].lock = RedisLeaderLock(redis_url, "scheduler", prefix=prefix)
    web = app.test_client()
    process = holder_process("redis", redis_url, "scheduler", prefix=prefix)
    try:
        scheduler = web.get("/api/health").json["scheduler"]
        assert scheduler["lock"] == "redis"
        assert (scheduler["leader"]["host"], scheduler["leader"]["pid"]) == (locking.HOST, process.pid)
    finally:
        _stop(process)
        lease.client.close()
