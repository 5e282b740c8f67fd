"""The Celery executor: a web app and two real ``scriptman worker`` processes on real PostgreSQL and Redis.

Every process shares one SCRIPTMAN_HOME (the shared-storage decision) and one Redis prefix of the
test's own (the session's Redis is shared by the tests).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
from flask import Flask
from flask.testing import FlaskClient
from pydantic import ValidationError
from sqlalchemy import select

from backend.config import Settings
from backend.extensions import db
from backend.models import Execution, ExecutionStatus
from backend.services.executor import process
from backend.services.executor.celery_executor import TASK_NAME, heartbeat_bound
from tests.conftest import AppFactory, make_settings
from tests.helpers import HOLD, create_script, execute, log_text, wait_final, wait_for

ROOT = Path(__file__).resolve().parents[1]
WORKER_START_SECONDS = 60.0

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
                "SCRIPTMAN_SCHEDULER_ENABLED": "false",
            }
        )
        return env

    def start_worker(self, name: str) -> subprocess.Popen[bytes]:
        out = (self.home / f"worker-{name}.out").open("ab")
        worker = subprocess.Popen(
            [sys.executable, "-m", "backend.cli", "worker", "--name", name],
            cwd=ROOT,
            env=self.env(),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        out.close()
        self.workers[name] = worker
        wait_for(lambda: self.alive(name), WORKER_START_SECONDS, interval=0.2, message=f"worker {name} to start")
        return worker

    def alive(self, name: str) -> bool:
        seen = {w["name"]: w for w in self.health()["workers"]}
        return bool(seen.get(name, {}).get("alive"))

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


def build_cluster(make_app: AppFactory, tmp_path: Path, database_url: str, redis_url: str, **overrides: Any) -> Cluster:
    values: dict[str, Any] = {
        "database_url": database_url,
        "executor": "celery",
        "redis_url": redis_url,
        "redis_prefix": f"t{uuid.uuid4().hex[:12]}",
        "worker_heartbeat_seconds": 1.0,
        **overrides,
    }
    settings = make_settings(tmp_path, **values)
    return Cluster(make_app(settings), settings, tmp_path)


@pytest.fixture
def cluster(postgres_database: str, redis_url: str, make_app: AppFactory, tmp_path: Path) -> Iterator[Cluster]:
    # the database first: its fixture is torn down last, after the app stopped using it
    built = build_cluster(make_app, tmp_path, postgres_database, redis_url)
    try:
        built.start_worker("w1")
        built.start_worker("w2")
        yield built
    finally:
        built.stop()


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def _pids(settings: Settings, execution_id: int) -> list[int]:
    path = settings.workspaces_dir / f"execution_{execution_id}" / "pids"
    return [int(p) for p in path.read_text().split()]


def test_celery_without_a_redis_url_is_a_startup_error() -> None:
    with pytest.raises(ValidationError, match="SCRIPTMAN_REDIS_URL"):
        Settings(executor="celery")


def test_python_node_and_bash_runs_succeed_on_the_workers_with_their_output(cluster: Cluster) -> None:
    client, settings = cluster.client, cluster.settings
    health = cluster.health()
    assert health["executor"] == "celery"
    assert {w["name"] for w in health["workers"] if w["alive"]} == {"w1", "w2"}
    params = [{"name": "WHO", "type": "string", "required": True}]
    python = create_script(client, "py", "import os\nprint('hello', os.environ['WHO'])", parameters=params)
    node = create_script(client, "js", "console.log('node says', process.env.WHO)", "javascript", parameters=params)
    bash = create_script(client, "sh", 'echo "bash says $WHO"; echo oops >&2', "shell", parameters=params)
    runs = {name: execute(client, s["id"], {"WHO": name}) for name, s in (("py", python), ("js", node), ("sh", bash))}
    done = {name: wait_final(client, run["id"]) for name, run in runs.items()}
    assert all(d["status"] == "succeeded" for d in done.values()), done
    assert "hello py" in log_text(client, runs["py"]["id"], settings)
    assert "node says js" in log_text(client, runs["js"]["id"], settings)
    assert "bash says sh" in log_text(client, runs["sh"]["id"], settings)
    assert " err oops" in log_text(client, runs["sh"]["id"], settings)
    assert {cluster.row(r["id"]).worker for r in runs.values()} <= {"w1", "w2"}
    assert cluster.health()["queue"]["queued"] == 0


def test_a_second_delivery_of_a_run_does_not_run_it_again(cluster: Cluster) -> None:
    client = cluster.client
    script = create_script(client, "once", "print('ran')")
    run = wait_final(client, execute(client, script["id"])["id"])
    assert run["status"] == "succeeded"
    executor = cluster.app.extensions["scriptman.executor"]
    for _ in range(2):
        executor.celery.send_task(TASK_NAME, args=[run["id"]], queue=executor.keys.queue)
    # a later run finishing means both workers went through their queue past the duplicates
    later = execute(client, script["id"])
    assert wait_final(client, later["id"])["status"] == "succeeded"
    wait_for(lambda: cluster.health()["queue"]["redis_messages"] == 0, message="the duplicates to be consumed")
    assert log_text(client, run["id"], cluster.settings).count(f"run {run['id']} of") == 1
    assert client.get(f"/api/executions/{run['id']}").json["status"] == "succeeded"


def test_timeout_and_cancel_kill_the_whole_process_tree_on_the_worker(cluster: Cluster) -> None:
    client, settings = cluster.client, cluster.settings
    slow = create_script(client, "slow", GRANDCHILD, timeout_seconds=2)
    held = create_script(client, "held", GRANDCHILD)
    timed = execute(client, slow["id"])
    cancelled = execute(client, held["id"])
    wait_for(lambda: "spawned" in log_text(client, cancelled["id"], settings), 60, message="the script to start")
    assert client.post(f"/api/executions/{cancelled['id']}/cancel").status_code == 200
    assert wait_final(client, cancelled["id"])["status"] == "cancelled"
    for pid in _pids(settings, cancelled["id"]):
        wait_for(lambda pid=pid: _gone(pid), 10, message=f"process {pid} of the cancelled run to die")
    done = wait_final(client, timed["id"])
    assert done["status"] == "timed_out"
    for pid in _pids(settings, timed["id"]):
        wait_for(lambda pid=pid: _gone(pid), 10, message=f"process {pid} of the timed-out run to die")


def test_failed_runs_are_retried_after_their_delay_and_a_rerun_repeats_the_values(cluster: Cluster) -> None:
    client = cluster.client
    flaky = create_script(client, "flaky", "import sys\nsys.exit(1)", max_retries=1, retry_delay_seconds=1)
    first = wait_final(client, execute(client, flaky["id"])["id"])
    assert first["status"] == "failed"
    retry_id = wait_for(lambda: client.get(f"/api/executions/{first['id']}").json.get("next_attempt_id"))
    retry = wait_final(client, retry_id)
    assert retry["status"] == "failed" and retry["attempt"] == 2 and retry["trigger"] == "retry"
    params = [{"name": "N", "type": "number", "required": True}]
    echo = create_script(client, "echo", "import os\nprint('N is', os.environ['N'])", parameters=params)
    original = wait_final(client, execute(client, echo["id"], {"N": 7})["id"])
    rerun = client.post(f"/api/executions/{original['id']}/rerun", json={})
    assert rerun.status_code == 202, rerun.json
    again = wait_final(client, rerun.json["id"])
    assert again["status"] == "succeeded" and again["params"] == {"N": 7}
    assert "N is 7" in log_text(client, again["id"], cluster.settings)


def test_the_global_and_per_script_caps_hold_across_two_workers(cluster: Cluster) -> None:
    client = cluster.client
    cap = cluster.settings.max_concurrency  # 2, while the two workers have 4 slots between them
    nap = create_script(client, "nap", "import time\ntime.sleep(1)")
    serial = create_script(client, "serial", "import time\ntime.sleep(0.5)", max_concurrent=1)
    ids = [execute(client, nap["id"])["id"] for _ in range(cap + 3)]
    ids += [execute(client, serial["id"])["id"] for _ in range(2)]
    peak = 0
    serial_peak = 0

    def sample() -> bool:
        nonlocal peak, serial_peak
        items = client.get("/api/executions?per_page=100").json["items"]
        mine = [e for e in items if e["id"] in ids]
        running = [e for e in mine if e["status"] == "running"]
        peak = max(peak, len(running))
        serial_peak = max(serial_peak, sum(e["script_id"] == serial["id"] for e in running))
        return len(mine) == len(ids) and all(e["status"] == "succeeded" for e in mine)

    wait_for(sample, 120, interval=0.02, message="every run to finish")
    assert 1 <= peak <= cap
    assert serial_peak == 1
    assert {cluster.row(i).worker for i in ids} <= {"w1", "w2"}


def test_a_worker_killed_mid_run_leaves_it_interrupted_within_the_bound(cluster: Cluster) -> None:
    client, settings = cluster.client, cluster.settings
    script = create_script(client, "long", GRANDCHILD)
    run = execute(client, script["id"])
    wait_for(lambda: "spawned" in log_text(client, run["id"], settings), 60, message="the script to start")
    holder = cluster.row(run["id"]).worker
    assert holder in ("w1", "w2")
    killed_at = time.monotonic()
    cluster.kill_worker(holder)
    done = wait_final(client, run["id"], timeout=60)
    waited = time.monotonic() - killed_at
    assert done["status"] == "interrupted" and holder in done["error"]
    # the bound: 3 heartbeats, plus one reaper pass and the test's own polling
    assert waited <= heartbeat_bound(settings) + 5, waited
    # the worker comes back: what was left of its interrupted run is stopped
    cluster.start_worker(holder)
    for pid in _pids(settings, run["id"]):
        wait_for(lambda pid=pid: _gone(pid), 20, message=f"leftover process {pid} to be stopped")


def test_a_worker_restarted_within_the_bound_reattaches_its_run(
    postgres_database: str, redis_url: str, make_app: AppFactory, tmp_path: Path
) -> None:
    # a generous bound (3 x 5 s) so the restart comes back in time on a loaded machine
    built = build_cluster(make_app, tmp_path, postgres_database, redis_url, worker_heartbeat_seconds=5.0)
    try:
        built.start_worker("solo")
        client, settings = built.client, built.settings
        script = create_script(client, "hold", HOLD, parameters=[{"name": "SECONDS", "type": "number", "default": 4}])
        run = execute(client, script["id"])
        wait_for(lambda: " out started" in log_text(client, run["id"], settings), 60, message="the script to start")
        built.kill_worker("solo")
        built.start_worker("solo")
        done = wait_final(client, run["id"], timeout=60)
        assert done["status"] == "succeeded", done
    finally:
        built.stop()
