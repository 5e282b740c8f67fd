"""A Celery cluster for tests: one web app (in the test process) and real ``scriptman worker`` processes.

Every process shares one SCRIPTMAN_HOME (the shared-storage decision), one PostgreSQL database and one
Redis prefix of the cluster's own (the session's Redis is shared by the tests). Starting two workers
costs seconds, so a test module builds one cluster (``running_cluster``, module-scoped) and its tests share it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psutil
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from backend.config import Settings
from backend.extensions import db
from backend.models import Execution, ExecutionStatus
from backend.services.executor import process
from tests.conftest import build_app, close_app, make_settings, new_postgres_database
from tests.helpers import wait_for

ROOT = Path(__file__).resolve().parents[1]
WORKER_START_SECONDS = 60.0

# A run whose script and grandchild both sleep; it writes both pids to ``pids`` in its workspace.
GRANDCHILD = """
import os, subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
open("pids", "w").write(f"{os.getpid()} {child.pid}")
print("spawned", flush=True)
time.sleep(300)
"""


class Cluster:
    """One web app (in this process) and ``scriptman worker`` subprocesses, all on one home."""

    def __init__(self, app: Flask, settings: Settings, home: Path) -> None:
        self.app = app
        self.client: FlaskClient = app.test_client()
        self.settings = settings
        self.home = home
        self.workers: dict[str, subprocess.Popen[bytes]] = {}

    def env(self) -> dict[str, str]:
        s = self.settings
        env = {k: v for k, v in os.environ.items() if not k.startswith("SCRIPTMAN_")}
        env.update(
            {
                "SCRIPTMAN_HOME": str(self.home),
                "SCRIPTMAN_DATABASE_URL": s.sqlalchemy_url,
                "SCRIPTMAN_EXECUTOR": "celery",
                "SCRIPTMAN_REDIS_URL": s.redis_url or "",
                "SCRIPTMAN_REDIS_PREFIX": s.redis_prefix,
                "SCRIPTMAN_MAX_CONCURRENCY": str(s.max_concurrency),
                "SCRIPTMAN_WORKER_CONCURRENCY": "2",
                "SCRIPTMAN_WORKER_HEARTBEAT_SECONDS": str(s.worker_heartbeat_seconds),
                "SCRIPTMAN_KILL_GRACE_SECONDS": str(s.kill_grace_seconds),
                "SCRIPTMAN_MAX_LOG_BYTES": str(s.max_log_bytes),
                "SCRIPTMAN_SCHEDULER_ENABLED": "false",
            }
        )
        return env

    def start_workers(self, *names: str) -> None:
        """Start the workers at once (each imports Celery and the app: seconds), then wait for all."""
        for name in names:
            out = (self.home / f"worker-{name}.out").open("ab")
            self.workers[name] = subprocess.Popen(
                [sys.executable, "-m", "backend.cli", "worker", "--name", name],
                cwd=ROOT,
                env=self.env(),
                stdout=out,
                stderr=subprocess.STDOUT,
            )
            out.close()
        for name in names:
            started = f"worker {name} to start"
            wait_for(lambda n=name: self.alive(n), WORKER_START_SECONDS, interval=0.2, message=started)

    def start_worker(self, name: str) -> subprocess.Popen[bytes]:
        self.start_workers(name)
        return self.workers[name]

    def alive(self, name: str) -> bool:
        worker = self.workers.get(name)
        if worker is not None and worker.poll() is not None:
            raise AssertionError(f"worker {name} exited ({worker.returncode}): {self.output(name)}")
        seen = {w["name"]: w for w in self.health()["workers"]}
        return bool(seen.get(name, {}).get("alive"))

    def output(self, name: str) -> str:
        path = self.home / f"worker-{name}.out"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""

    def health(self) -> dict[str, Any]:
        response = self.client.get("/api/health")
        assert response.status_code == 200, response.json
        return response.json

    def row(self, execution_id: int) -> Execution:
        with self.app.app_context():
            row = db.session.get(Execution, execution_id)
            assert row is not None
            db.session.expunge(row)
            db.session.remove()
            return row

    def kill_worker(self, name: str) -> None:
        worker = self.workers.pop(name)
        worker.kill()
        worker.wait()

    def stop(self) -> None:
        """Stop what the tests left running (their supervisors, then the workers), by pid."""
        with self.app.app_context():
            rows = db.session.execute(
                select(Execution.pid, Execution.pid_started_at).where(Execution.status == ExecutionStatus.RUNNING.value)
            ).all()
            db.session.remove()
        for pid, started_at in rows:
            process.signal_supervisor(pid, started_at)
        for worker in self.workers.values():
            worker.send_signal(signal.SIGTERM)
        for worker in self.workers.values():
            try:
                worker.wait(timeout=15)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait()
        self.workers.clear()


def cluster_settings(home: Path, database_url: str, redis_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": database_url,
        "executor": "celery",
        "redis_url": redis_url,
        "redis_prefix": f"t{uuid.uuid4().hex[:12]}",
        "worker_heartbeat_seconds": 1.0,
        **overrides,
    }
    return make_settings(home, **values)


@contextmanager
def running_cluster(
    postgres_url: str, redis_url: str, home: Path, workers: tuple[str, ...] = ("w1", "w2"), **overrides: Any
) -> Iterator[Cluster]:
    """A database of its own, a started web app and ``workers``; all stopped and dropped at the end."""
    database_url = new_postgres_database(postgres_url)
    try:
        app = build_app(cluster_settings(home, database_url, redis_url, **overrides))
        try:
            app.extensions["scriptman.start_services"]()
            built = Cluster(app, app.extensions["scriptman.settings"], home)
            try:
                built.start_workers(*workers)
                yield built
            finally:
                built.stop()
        finally:
            close_app(app)
    finally:
        admin = sa.create_engine(postgres_url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{database_url.rsplit("/", 1)[1]}" WITH (FORCE)'))
        admin.dispose()


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def script_pids(settings: Settings, execution_id: int) -> list[int]:
    """The pids a ``GRANDCHILD`` run wrote: its script's and its grandchild's."""
    path = settings.workspaces_dir / f"execution_{execution_id}" / "pids"
    return [int(p) for p in path.read_text().split()]


def processes_with_cookie(cookie: str) -> list[int]:
    """Every live process on this machine whose environment carries the run's cookie (from /proc)."""
    marker = f"SCRIPTMAN_RUN_COOKIE={cookie}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:  # gone meanwhile, or not ours to read (not one of the run's, which are ours)
            continue
        if marker in environ.split(b"\0") and not gone(int(entry.name)):
            found.append(int(entry.name))
    return found
