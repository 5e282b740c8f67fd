"""``SCRIPTMAN_WEB_PROCESSES=3``: a real ``scriptman serve`` with three gunicorn workers on one home.

Every worker serves HTTP; one dispatches runs and one fires schedules. A request is sent through a
chosen worker by opening connections until the kernel hands one to it (the worker is found by the
connection it holds). The server runs with the dispatcher's idle timer and the log stream's status
poll set to an hour, so a run submitted to a worker that does not dispatch starts only if the wake
crosses processes, and a stream ends only if the run's end is announced across processes.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import pytest

from tests import sse
from tests.auth_client import token_for
from tests.conftest import build_app, close_app, make_settings
from tests.helpers import FINAL, server_env, wait_for

WORKERS = 3
HOUR = 3600.0
REPO = Path(__file__).resolve().parents[1]
# the server, with the timers that would hide a missing cross-process signal set to an hour
BOOT = f"""
from backend.services import logstream
from backend.services.executor import local
local.POLL_SECONDS = {HOUR}  # only a wake starts a run
logstream.STATUS_POLL_SECONDS = {HOUR}  # only an announcement ends a stream
from backend.cli import main
main(["serve"])
"""
RECORD = "import os\nwith open(os.environ['OUT'], 'a') as out:\n    out.write(os.environ['EXECUTION_ID'] + '\\n')\n"
GATED = """
import os, time
print("before", flush=True)
while not os.path.exists(os.environ["GATE"]):
    time.sleep(0.02)
print("after", flush=True)
"""


@dataclass
class Cluster:
    server: subprocess.Popen[bytes]
    port: int
    token: str
    home: Path
    out: Path  # where RECORD scripts write their execution ids

    def workers(self) -> list[int]:
        return [child.pid for child in psutil.Process(self.server.pid).children() if child.status() != "zombie"]

    def holder(self, lock: str) -> int | None:
        """The pid written into a leader lock by its holder (None while it is being rewritten)."""
        text = (self.home / "data" / lock).read_text().strip()
        return int(text) if text.isdigit() else None

    def connect(self, pid: int) -> http.client.HTTPConnection:
        """A kept-alive connection served by worker ``pid``."""
        for _ in range(500):
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            conn.request("GET", "/api/health")
            conn.getresponse().read()
            if conn.sock is not None and _owner(pid, conn.sock.getsockname()[1]):
                return conn
            conn.close()  # another worker's, or not kept alive
        raise AssertionError(f"no connection reached worker {pid}")

    def call(self, conn: http.client.HTTPConnection, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"}
        conn.request(method, path, body=None if body is None else json.dumps(body), headers=headers)
        response = conn.getresponse()
        raw = response.read()
        return response.status, json.loads(raw) if raw else None

    def any(self, method: str, path: str, body: Any = None) -> Any:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            status, payload = self.call(conn, method, path, body)
        finally:
            conn.close()
        assert status < 300, (status, payload)
        return payload

    def execute(self, conn: http.client.HTTPConnection, script_id: int, params: dict[str, str]) -> int:
        status, run = self.call(conn, "POST", f"/api/scripts/{script_id}/execute", {"params": params})
        assert status == 202, run
        return int(run["id"])

    def submit(self, pid: int, script_id: int, params: dict[str, str]) -> int:
        """Queue a run through worker ``pid``."""
        conn = self.connect(pid)
        try:
            return self.execute(conn, script_id, params)
        finally:
            conn.close()

    def status(self, execution_id: int) -> str:
        return str(self.any("GET", f"/api/executions/{execution_id}")["status"])

    def wait_final(self, execution_id: int, timeout: float = 30) -> str:
        """Within ``timeout``: an hour-long dispatcher timer would never get there."""
        return str(wait_for(lambda: self.status(execution_id) if self.status(execution_id) in FINAL else None, timeout))

    def script(self, name: str, code: str, *params: str) -> int:
        body = {"name": name, "language": "python", "code": code, "parameters": [{"name": p} for p in params]}
        return int(self.any("POST", "/api/scripts", body)["id"])

    def recorded(self) -> list[int]:
        return [int(line) for line in self.out.read_text().split()] if self.out.exists() else []


def _owner(pid: int, local_port: int) -> bool:
    with contextlib.suppress(psutil.Error):
        for connection in psutil.Process(pid).net_connections(kind="tcp"):
            if connection.raddr and connection.raddr.port == local_port:
                return True
    return False


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _up(port: int) -> bool:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        conn.request("GET", "/api/health")
        return conn.getresponse().status == 200
    except (OSError, http.client.HTTPException):
        return False
    finally:
        conn.close()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    base = tmp_path_factory.mktemp("procs")
    settings = make_settings(base / "home")
    app = build_app(settings)
    try:
        token = token_for(app, "editor")
    finally:
        close_app(app)
    port = _free_port()
    env = {
        **server_env(settings),
        "SCRIPTMAN_PORT": str(port),
        "SCRIPTMAN_WEB_PROCESSES": str(WORKERS),
        "SCRIPTMAN_MAX_CONCURRENCY": "4",
        "SCRIPTMAN_KILL_GRACE_SECONDS": "0.5",
    }
    log = base / "server.log"
    with log.open("wb") as sink:
        server = subprocess.Popen(
            [sys.executable, "-c", BOOT],
            env=env,
            cwd=REPO,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    running = Cluster(server, port, token, settings.home, base / "ran.txt")
    try:
        wait_for(lambda: _up(port) and len(running.workers()) == WORKERS, 60, 0.1, "three workers to serve")
        wait_for(lambda: running.holder("executor.lock") in running.workers(), 30, 0.05, "a dispatching worker")
        yield running
    except BaseException:
        sys.stderr.write(log.read_text(errors="replace")[-5000:])
        raise
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=10)


def test_a_run_submitted_to_any_worker_starts_at_once_and_runs_once(cluster: Cluster) -> None:
    script = cluster.script("record", RECORD, "OUT")
    leader = cluster.holder("executor.lock")
    others = [pid for pid in cluster.workers() if pid != leader]
    assert leader is not None and len(others) == WORKERS - 1
    # alone, through each worker that does not dispatch: nothing else could wake the dispatcher
    alone: list[int] = []
    for pid in others:
        alone.append(cluster.submit(pid, script, {"OUT": str(cluster.out)}))
        assert cluster.wait_final(alone[-1]) == "succeeded"
    # then a burst through every worker at once
    conns = [cluster.connect(pid) for pid in cluster.workers()]
    burst = [cluster.execute(conn, script, {"OUT": str(cluster.out)}) for conn in conns for _ in range(2)]
    for conn in conns:
        conn.close()
    assert [cluster.wait_final(run) for run in burst] == ["succeeded"] * len(burst)
    assert sorted(cluster.recorded()) == sorted(alone + burst)  # each ran, exactly once


def test_a_live_log_in_one_worker_ends_when_the_run_ends_in_another(cluster: Cluster, tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    script = cluster.script("gated", GATED, "GATE")
    follower = next(pid for pid in cluster.workers() if pid != cluster.holder("executor.lock"))
    stream = Stream(cluster, follower, cluster.submit(follower, script, {"GATE": str(gate)}))
    wait_for(lambda: "before" in stream.lines, 30, 0.02, "the first line")
    gate.touch()
    stream.thread.join(timeout=30)
    # with the status poll at an hour, only the run's end announced across processes ends the stream
    assert stream.end is not None and stream.end["status"] == "succeeded"
    assert [text for text in stream.lines if text in ("before", "after")] == ["before", "after"]


def test_the_schedule_fires_once_per_tick_with_three_workers(cluster: Cluster) -> None:
    scheduler = cluster.holder("scheduler.lock")
    assert scheduler in cluster.workers()
    script = cluster.script("ticked", RECORD, "OUT")
    out = cluster.out.with_name("ticks.txt")
    body = {
        "name": "every second",
        "script_id": script,
        "cron": "* * * * * *",
        "timezone": "UTC",
        "params": {"OUT": str(out)},
    }
    created = cluster.any("POST", "/api/schedules", body)

    def fired() -> list[dict[str, Any]]:
        items = cluster.any("GET", f"/api/schedules/{created['id']}/fires?per_page=100")["items"]
        return [fire for fire in items if fire["execution_id"] is not None]

    wait_for(lambda: len(fired()) >= 3, 30, 0.1, "three ticks to fire")
    cluster.any("PATCH", f"/api/schedules/{created['id']}", {"enabled": False})  # a fire checks it first

    def settled() -> list[int] | None:
        runs = [fire["execution_id"] for fire in fired()]
        return runs if all(cluster.status(run) in FINAL for run in runs) else None

    runs = wait_for(settled, 30, 0.1, "the fired runs to end")
    ticks = [fire["scheduled_for"] for fire in fired()]
    assert len(ticks) == len(set(ticks))
    recorded = [int(line) for line in out.read_text().split()]
    assert sorted(recorded) == sorted(runs)  # one run per tick, each ran once
    assert cluster.holder("scheduler.lock") == scheduler


def test_killing_the_dispatching_worker_hands_its_runs_to_another(cluster: Cluster, tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    script = cluster.script("survivor", GATED, "GATE")
    leader = cluster.holder("executor.lock")
    assert leader is not None
    follower = next(pid for pid in cluster.workers() if pid != leader)
    run = cluster.submit(follower, script, {"GATE": str(gate)})
    stream = Stream(cluster, follower, run)
    wait_for(lambda: "before" in stream.lines, 30, 0.02, "the script to be running")

    os.kill(leader, signal.SIGKILL)
    new_leader = wait_for(
        lambda: (pid := cluster.holder("executor.lock")) not in (None, leader) and pid,
        10,
        0.02,
        "a standby to take over",
    )
    assert new_leader in cluster.workers()
    gate.touch()  # the run outlived its dispatcher; the new one re-attached to it and sees it end
    assert cluster.wait_final(run) == "succeeded"
    stream.thread.join(timeout=30)
    assert stream.end is not None and stream.end["status"] == "succeeded"
    assert [text for text in stream.lines if text in ("before", "after")] == ["before", "after"]
    # the new leader also takes new runs at once, from any worker (gunicorn replaced the dead one)
    wait_for(lambda: len(cluster.workers()) == WORKERS, 30, 0.1, "gunicorn to replace the worker")
    again = cluster.script("after", RECORD, "OUT")
    for pid in cluster.workers():
        assert cluster.wait_final(cluster.submit(pid, again, {"OUT": str(cluster.out)})) == "succeeded"


class Stream:
    """A run's live log followed through worker ``pid`` on a thread: its lines, then its end."""

    def __init__(self, cluster: Cluster, pid: int, run: int) -> None:
        self.lines: list[str] = []
        self.end: dict[str, Any] | None = None
        self.conn = cluster.connect(pid)
        self.conn.request(
            "GET", f"/api/executions/{run}/logs/stream", headers={"Authorization": f"Bearer {cluster.token}"}
        )
        self.response = self.conn.getresponse()
        assert self.response.status == 200
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        try:
            for event in sse.parse(iter(lambda: self.response.read1(65536), b"")):  # times out after 30 s
                if event.event == "log":
                    self.lines.append(event.data["text"])
                elif event.event == "logs":
                    self.lines.extend(record["text"] for record in event.data)
                elif event.event == "end":
                    self.end = event.data
                    return
        except (OSError, http.client.HTTPException):
            return  # the server went away (a failed test's teardown): ``end`` stays None
        finally:
            self.conn.close()


def test_kept_alive_connections_are_shared_out_evenly(cluster: Cluster) -> None:
    """30 clients connecting at once: no worker holds more than its share (the first awake took most)."""
    for pid in cluster.workers():  # each worker is up and posting its count (a loading one accepts nothing)
        cluster.connect(pid).close()
    count = 30
    start = threading.Barrier(count)
    conns: list[http.client.HTTPConnection] = []
    lock = threading.Lock()

    def open_one() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", cluster.port, timeout=30)
        start.wait(10)
        conn.request("GET", "/api/health")
        conn.getresponse().read()
        with lock:
            conns.append(conn)

    threads = [threading.Thread(target=open_one) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    try:
        assert len(conns) == count
        ports = [conn.sock.getsockname()[1] for conn in conns if conn.sock is not None]
        held = {pid: sum(_owner(pid, port) for port in ports) for pid in cluster.workers()}
        assert sum(held.values()) == count, held
        assert max(held.values()) - min(held.values()) <= 3, held
    finally:
        for conn in conns:
            conn.close()
