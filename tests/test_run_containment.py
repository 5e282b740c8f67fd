"""Every run ends on time and leaves nothing behind: cgroups, escapees, dead supervisors, planted paths.

Real runs through the real executor. The processes a test looks for are found by a unique
``sleep`` duration in their command line, never by pid alone.
"""

from __future__ import annotations

import contextlib
import io
import os
import random
import signal
import socket
import subprocess
import sys
from pathlib import Path

import psutil
import pytest
from flask import Flask
from flask.testing import FlaskClient

from backend.config import Settings
from backend.extensions import db
from backend.models import Execution
from backend.services.executor import containment
from tests.conftest import KILL_GRACE_SECONDS, AppFactory, make_settings
from tests.helpers import create_script, execute, log_text, server_env, wait_final, wait_for, wait_status

needs_cgroups = pytest.mark.skipif(
    containment.cgroup_layout(make_settings(Path("/tmp"))) is None,
    reason="no writable cgroup hierarchy on this machine",
)


def marker() -> str:
    """A sleep duration no other process on the machine has: how a test finds the run's processes."""
    return f"{random.randint(3000, 9000)}.{random.randint(100, 999)}"


def survivors(token: str) -> list[int]:
    found = []
    for proc in psutil.process_iter(["cmdline", "status"]):
        try:
            if proc.info["status"] != psutil.STATUS_ZOMBIE and token in " ".join(proc.info["cmdline"] or []):
                found.append(proc.pid)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return found


def kill_leftovers(token: str) -> None:
    for pid in survivors(token):
        os.kill(pid, signal.SIGKILL)


@pytest.fixture
def fallback(make_app: AppFactory, tmp_path: Path) -> Flask:
    """An app that may not use cgroups: process group, descendants and cookie only."""
    return make_app(make_settings(tmp_path / "fallback", cgroups="off"))


@pytest.fixture(params=["cgroup", "fallback"])
def contained(request: pytest.FixtureRequest, make_app: AppFactory) -> tuple[str, Flask]:
    """The same test with cgroups (where this machine has them) and without."""
    if request.param == "cgroup":
        if containment.cgroup_layout(make_settings(Path("/tmp"))) is None:
            pytest.skip("no cgroups here")
        return request.param, make_app()
    return request.param, make_app(cgroups="off")


def _supervisor_pid(app: Flask, execution_id: int) -> int:
    with app.app_context():
        pid = db.session.get(Execution, execution_id).pid
        db.session.remove()
    return int(pid)


# -- every run ends on time ----------------------------------------------------------------------


def test_a_detached_escapee_cannot_hold_a_run_past_its_timeout(contained: tuple[str, Flask]) -> None:
    client = contained[1].test_client()
    token = marker()
    code = f"env -i setsid sleep {token} &\nsleep {token}\n"
    script = create_script(client, "escapee", code, language="shell", timeout_seconds=1)
    try:
        run = execute(client, script["id"])
        done = wait_final(client, run["id"], timeout=30)
        assert done["status"] == "timed_out"
        # timeout 1 s + the kill grace (tests: KILL_GRACE_SECONDS) + at most 1 s to stop waiting on pipes
        assert done["duration_ms"] <= (1 + KILL_GRACE_SECONDS + 1) * 1000 + 500, done
        assert survivors(token) == []
    finally:
        kill_leftovers(token)


def test_a_background_escapee_is_ended_when_the_main_process_exits(contained: tuple[str, Flask]) -> None:
    app_client = contained[1].test_client()
    executor = contained[1].extensions["scriptman.executor"]
    token = marker()
    code = f"env -i setsid sleep {token} &\n( setsid sleep {token} & ) \necho started\n"
    script = create_script(app_client, "leaver", code, language="shell")
    try:
        run = execute(app_client, script["id"])
        done = wait_final(app_client, run["id"], timeout=30)
        assert done["status"] == "succeeded"
        assert done["duration_ms"] < 3000, done  # not the sleep's minutes
        assert survivors(token) == []
        wait_for(lambda: not executor.running_ids(), 5, message="the run to give back its slot")
    finally:
        kill_leftovers(token)


def test_a_killed_supervisor_leaves_no_process_and_a_failed_run(contained: tuple[str, Flask]) -> None:
    mode, the_app = contained
    client = the_app.test_client()
    token = marker()
    # without a cgroup, a process that clears its environment *and* outlives the supervisor is the
    # documented gap: there the escapee keeps its cookie
    detach = "env -i setsid" if mode == "cgroup" else "setsid"
    code = f"{detach} sleep {token} &\nsleep {token} &\necho up\nsleep {token}\n"
    script = create_script(client, "orphan", code, language="shell")
    try:
        run = execute(client, script["id"])
        wait_status(client, run["id"], "running")
        wait_for(lambda: len(survivors(token)) >= 3, message="the script's sleepers")
        os.kill(_supervisor_pid(the_app, run["id"]), signal.SIGKILL)
        done = wait_final(client, run["id"], timeout=20)
        assert done["status"] == "failed"
        assert "supervisor died (killed by signal 9)" in done["error"] and "every process" in done["error"]
        assert survivors(token) == []
    finally:
        kill_leftovers(token)


def test_recovery_after_a_crash_ends_every_process_of_the_run(make_app: AppFactory, settings: Settings) -> None:
    """``kill -9`` of a real server process and of the run's supervisor; the next start recovers."""
    app = make_app(settings, start=False)  # this process only writes rows: no executor yet
    client = app.test_client()
    token = marker()
    script = create_script(client, "crashy", f"env -i setsid sleep {token} &\nsleep {token}\n", language="shell")
    env = server_env(settings, SCRIPTMAN_PORT=str(_free_port()), SCRIPTMAN_SCHEDULER_ENABLED="false")
    server = subprocess.Popen(
        [sys.executable, "-m", "backend.cli", "serve"],
        env=env,
        cwd=Path(__file__).resolve().parents[1],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        run = execute(client, script["id"])  # queued in the shared database; the server starts it
        wait_for(lambda: len(survivors(token)) >= 2, 30, message="the script's sleepers")
        os.killpg(server.pid, signal.SIGKILL)  # the server crashes...
        server.wait(timeout=10)
        supervisor = psutil.Process(_supervisor_pid(app, run["id"]))
        supervisor.kill()  # ...and so does the supervisor
        supervisor.wait(timeout=10)
        assert client.get(f"/api/executions/{run['id']}").json["status"] == "running"
        app.extensions["scriptman.start_services"]()  # the next start: recovery runs first
        done = client.get(f"/api/executions/{run['id']}").json
        assert done["status"] == "interrupted"
        assert survivors(token) == []
        layout = containment.cgroup_layout(settings)
        if layout is not None:
            for folder in layout.run(containment.run_cgroup_name(settings, run["id"])).dirs.values():
                assert not Path(folder).exists()
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGKILL)
        kill_leftovers(token)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- what the cgroup measures and caps -----------------------------------------------------------


@needs_cgroups
def test_a_process_limit_holds_for_root(client: FlaskClient) -> None:
    assert os.geteuid() == 0, "this test is about root; CI runs as root"
    token = marker()
    code = f"""
import json, os, subprocess
started = []
try:
    for _ in range(200):
        started.append(subprocess.Popen(["sleep", "{token}"]))
except OSError as error:
    refused = str(error)
else:
    refused = None
json.dump({{"started": len(started), "refused": refused}}, open(os.environ["SCRIPTMAN_RESULT"], "w"))
"""
    script = create_script(client, "forker", code, limits={"processes": 64})
    try:
        done = wait_final(client, execute(client, script["id"])["id"])
        assert done["status"] == "succeeded", done
        assert done["result"]["refused"] is not None
        assert done["result"]["started"] < 64  # the script itself is one of the 64
        assert survivors(token) == []
    finally:
        kill_leftovers(token)


@needs_cgroups
def test_peak_memory_counts_a_setsid_childs_allocation(client: FlaskClient) -> None:
    code = """
import subprocess, sys
child = "b = bytearray(300 * 1024 * 1024)\\nfor i in range(0, len(b), 4096): b[i] = 1"
subprocess.run(["setsid", sys.executable, "-c", child], check=True)
"""
    script = create_script(client, "hungry child", code)
    done = wait_final(client, execute(client, script["id"])["id"])
    assert done["status"] == "succeeded"
    assert done["peak_memory_kb"] >= 300 * 1024


@needs_cgroups
def test_the_memory_limit_caps_the_whole_tree(client: FlaskClient, settings: Settings) -> None:
    # each child stays under the per-process address-space limit; together they pass the tree's.
    # They hold their memory until one of them is killed; then the script ends (and the tree with it).
    code = """
import subprocess, sys, time
child = "import time\\nb = bytearray(120 * 1024 * 1024)\\nfor i in range(0, len(b), 4096): b[i] = 1\\ntime.sleep(60)"
children = [subprocess.Popen([sys.executable, "-c", child]) for _ in range(3)]
while all(c.poll() is None for c in children):
    time.sleep(0.05)
sys.exit(1)
"""
    script = create_script(client, "tree", code, limits={"memory_mb": 200})
    done = wait_final(client, execute(client, script["id"])["id"])
    assert done["status"] == "failed"
    assert done["error"] == "memory limit reached", done
    assert done["peak_memory_kb"] <= 201 * 1024


@needs_cgroups
def test_cpu_time_counts_every_process_of_the_run(client: FlaskClient) -> None:
    burn = "import time\\nend = time.process_time() + 0.6\\nwhile time.process_time() < end: pass"
    code = f'import subprocess, sys\nsubprocess.run(["setsid", sys.executable, "-c", "{burn}"], check=True)\n'
    script = create_script(client, "burner", code)
    done = wait_final(client, execute(client, script["id"])["id"])
    assert done["status"] == "succeeded"
    assert done["cpu_time_ms"] >= 550


# -- limit reasons survive -----------------------------------------------------------------------


def test_node_over_its_memory_limit_says_memory_limit(client: FlaskClient) -> None:
    code = "const a = []; for (;;) { a.push(Buffer.alloc(16 * 1024 * 1024, 1)); }"
    script = create_script(client, "node hog", code, language="javascript", limits={"memory_mb": 256})
    done = wait_final(client, execute(client, script["id"])["id"], timeout=60)
    assert done["status"] == "failed"
    assert done["error"] == "memory limit reached", done


def test_a_cpu_limit_under_bwrap_is_reported_with_the_right_cpu_time(
    sandboxed: tuple[Flask, FlaskClient, Settings],
) -> None:
    _, client, _ = sandboxed
    script = create_script(client, "spin", "while True:\n    pass\n", limits={"cpu_seconds": 1})
    done = wait_final(client, execute(client, script["id"])["id"])
    assert done["status"] == "failed"
    assert done["error"] == "CPU time limit reached", done
    # the kernel's rlimit check samples per tick while the cgroup counts exactly: under load they
    # differ by a few ticks; the bug this guards against reported 2 ms
    assert 500 <= done["cpu_time_ms"] <= 2500, done


def test_a_file_size_limit_under_bwrap_is_reported(sandboxed: tuple[Flask, FlaskClient, Settings]) -> None:
    _, client, _ = sandboxed
    code = "head -c 3000000 /dev/zero > big.bin\n"
    script = create_script(client, "writer", code, language="shell", limits={"file_size_mb": 1})
    done = wait_final(client, execute(client, script["id"])["id"])
    assert done["status"] == "failed"
    assert done["error"] == "file size limit reached", done


# -- no reused paths -----------------------------------------------------------------------------


def test_a_planted_workspace_symlink_cannot_redirect_the_next_run(
    client: FlaskClient, settings: Settings, tmp_path: Path
) -> None:
    target = tmp_path / "elsewhere"
    target.mkdir()
    planter = """
import os
ws = os.environ["WORKSPACE"]
nxt = int(os.environ["EXECUTION_ID"]) + 1
os.symlink(os.environ["TARGET"], os.path.join(os.path.dirname(ws), f"execution_{nxt}"))
"""
    script = create_script(
        client, "planter", planter, parameters=[{"name": "TARGET", "type": "string", "default": str(target)}]
    )
    first = wait_final(client, execute(client, script["id"])["id"])
    assert first["status"] == "succeeded"
    victim = create_script(client, "victim", "print('hello')")
    upload = client.post(
        f"/api/scripts/{victim['id']}/execute", data={"params": "{}", "extra": (io.BytesIO(b"x"), "in.txt")}
    )
    assert upload.status_code == 202, upload.json  # the upload itself is kept server-side, not written through
    second = wait_final(client, upload.json["id"])
    assert second["id"] == first["id"] + 1
    assert second["status"] == "failed"
    assert "already exists" in second["error"]
    assert list(target.iterdir()) == []  # nothing written through the link


def test_a_planted_log_symlink_is_not_written_through(client: FlaskClient, settings: Settings, tmp_path: Path) -> None:
    outside = tmp_path / "outside.log"
    outside.write_text("untouched\n")
    planter = """
import os
nxt = int(os.environ["EXECUTION_ID"]) + 1
os.symlink(os.environ["TARGET"], os.path.join(os.environ["LOGS"], f"execution_{nxt}.log"))
"""
    params = [
        {"name": "TARGET", "type": "string", "default": str(outside)},
        {"name": "LOGS", "type": "string", "default": str(settings.logs_dir)},
    ]
    script = create_script(client, "log planter", planter, parameters=params)
    first = wait_final(client, execute(client, script["id"])["id"])
    assert first["status"] == "succeeded"
    second = wait_final(client, execute(client, create_script(client, "next", "print(1)")["id"])["id"])
    assert second["status"] == "failed" and "already exists" in second["error"]
    assert outside.read_text() == "untouched\n"


def test_execution_ids_are_never_reused_after_deletes(client: FlaskClient, settings: Settings) -> None:
    script = create_script(client, "counter", "print(1)")
    first = wait_final(client, execute(client, script["id"])["id"])
    second = wait_final(client, execute(client, script["id"])["id"])
    assert client.delete(f"/api/executions/{second['id']}").status_code == 204
    third = wait_final(client, execute(client, script["id"])["id"])
    assert third["id"] == second["id"] + 1 > first["id"]
    assert third["status"] == "succeeded"
    assert log_text(client, third["id"], settings).count("sys run ") == 1  # a fresh log, not an old one


def test_health_says_which_containment_is_active(client: FlaskClient, fallback: Flask) -> None:
    health = client.get("/api/health").json["containment"]
    layout = containment.cgroup_layout(make_settings(Path("/tmp")))
    assert health["cgroup"] == (f"v{layout.version}" if layout else "none")
    if os.geteuid() == 0:
        assert health["server_is_root"] is True
        assert any("SCRIPTMAN_RUN_AS_USER" in w for w in health["warnings"])
    off = fallback.test_client().get("/api/health").json["containment"]
    assert off["cgroup"] == "none" and "SCRIPTMAN_CGROUPS=off" in off["cgroup_detail"]
    assert any("env" in w and "escapes" in w for w in off["warnings"])


def test_a_result_file_swapped_for_a_link_is_not_read(client: FlaskClient, tmp_path: Path) -> None:
    outside = tmp_path / "outside.json"
    outside.write_text('{"leaked": true}')
    code = """
import os, shutil
shutil.rmtree(".scriptman")
os.mkdir("elsewhere")
os.symlink(os.environ["OUTSIDE"], "elsewhere/result.json")
os.symlink("elsewhere", ".scriptman")
"""
    params = [{"name": "OUTSIDE", "type": "string", "default": str(outside)}]
    script = create_script(client, "result swapper", code, parameters=params)
    done = wait_final(client, execute(client, script["id"])["id"])
    assert done["status"] == "succeeded"
    assert done["result"] is None
