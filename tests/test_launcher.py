"""The launcher: supervisors are forks of one ready process, and losing it never loses a run."""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path

import psutil
import pytest
from flask import Flask
from flask.testing import FlaskClient

from backend.config import Settings
from backend.services.executor import launcher as launcher_module
from tests.conftest import AppFactory
from tests.helpers import create_script, execute, log_text, wait_final, wait_for, wait_status

GATED = """import os, time
print('a', flush=True)
while not os.path.exists(os.environ['GATE']):
    time.sleep(0.02)
print('b')
"""


def _launcher(app: Flask) -> launcher_module.Launcher:
    return app.extensions["scriptman.launcher"]  # type: ignore[no-any-return]


def _supervisor(app: Flask, client: FlaskClient, execution_id: int) -> psutil.Process:
    from backend.extensions import db
    from backend.models import Execution

    def pid() -> int | None:
        with app.app_context():
            row = db.session.get(Execution, execution_id)
            value = row.pid if row else None
            db.session.remove()
            return value

    return psutil.Process(wait_for(pid, message="the supervisor's pid"))


def test_a_run_is_supervised_by_a_fork_of_the_launcher_in_its_own_session(
    app: Flask, client: FlaskClient, settings: Settings, tmp_path: Path
) -> None:
    gate = tmp_path / "gate"
    script = create_script(client, "forked", GATED, parameters=[{"name": "GATE", "type": "string"}])
    run = execute(client, script["id"], {"GATE": str(gate)})
    wait_for(lambda: " out a" in log_text(client, run["id"], settings), message="first line")
    supervisor = _supervisor(app, client, run["id"])
    launcher = _launcher(app)
    assert launcher.popen is not None
    assert supervisor.ppid() == launcher.popen.pid  # forked by the launcher, no interpreter start
    # its own session, apart from the launcher's and the server's: a signal to either group misses it
    assert os.getsid(supervisor.pid) == supervisor.pid
    assert os.getsid(launcher.popen.pid) not in (os.getsid(0), supervisor.pid)
    gate.touch()
    done = wait_final(client, run["id"])
    assert done["status"] == "succeeded" and done["exit_code"] == 0
    assert " out b" in log_text(client, run["id"], settings)


def test_a_run_outlives_a_killed_launcher_and_the_next_run_gets_a_new_one(
    app: Flask, client: FlaskClient, settings: Settings, tmp_path: Path
) -> None:
    gate = tmp_path / "gate"
    script = create_script(client, "orphaned", GATED, parameters=[{"name": "GATE", "type": "string"}])
    run = execute(client, script["id"], {"GATE": str(gate)})
    wait_for(lambda: " out a" in log_text(client, run["id"], settings), message="first line")
    launcher = _launcher(app)
    assert launcher.popen is not None
    first = launcher.popen.pid
    os.kill(first, signal.SIGKILL)  # nobody will report this supervisor's exit now
    wait_for(lambda: not launcher.alive, message="the server to notice the launcher is gone")
    assert wait_status(client, run["id"], "running")
    gate.touch()
    done = wait_final(client, run["id"])  # seen by watching the pid instead
    assert done["status"] == "succeeded" and " out b" in log_text(client, run["id"], settings)
    again = wait_final(client, execute(client, script["id"], {"GATE": str(gate)})["id"])
    assert again["status"] == "succeeded"
    assert launcher.alive and launcher.popen is not None and launcher.popen.pid != first


def test_a_killed_supervisor_is_reported_with_its_signal(
    app: Flask, client: FlaskClient, settings: Settings, tmp_path: Path
) -> None:
    script = create_script(client, "doomed", GATED, parameters=[{"name": "GATE", "type": "string"}])
    run = execute(client, script["id"], {"GATE": str(tmp_path / "never")})
    wait_for(lambda: " out a" in log_text(client, run["id"], settings), message="first line")
    _supervisor(app, client, run["id"]).kill()
    done = wait_final(client, run["id"])
    assert done["status"] == "failed"
    assert "supervisor died (killed by signal 9)" in done["error"], done["error"]  # the launcher's report


def test_without_a_launcher_supervisors_are_started_directly(
    app: Flask, client: FlaskClient, settings: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    launcher = _launcher(app)
    launcher.stop()
    wait_for(lambda: not launcher.alive, message="the launcher to stop")
    monkeypatch.setattr(launcher_module, "FORKSERVER", tmp_path / "missing.py")  # it cannot come back
    script = create_script(client, "direct", "print('direct')")
    done = wait_final(client, execute(client, script["id"])["id"])
    assert done["status"] == "succeeded" and " out direct" in log_text(client, done["id"], settings)
    assert "could not" not in (done["error"] or "")
    assert (settings.data_dir / "launcher.err").read_text()  # the failed launcher said why
    assert not launcher.alive and launcher.retry_at > 0  # the next runs do not try again at once
    second = wait_final(client, execute(client, script["id"])["id"])
    assert second["status"] == "succeeded"


def test_spawn_mode_starts_each_supervisor_as_a_fresh_child(make_app: AppFactory, settings: Settings) -> None:
    app = make_app(supervisor_start="spawn")
    client = app.test_client()
    assert app.extensions["scriptman.launcher"] is None
    gate = settings.home / "gate"
    script = create_script(client, "spawned", GATED, parameters=[{"name": "GATE", "type": "string"}])
    run = execute(client, script["id"], {"GATE": str(gate)})
    wait_for(lambda: " out a" in log_text(client, run["id"], settings), message="first line")
    assert _supervisor(app, client, run["id"]).ppid() == os.getpid()
    gate.touch()
    assert wait_final(client, run["id"])["status"] == "succeeded"


def test_a_launcher_that_does_not_answer_fails_the_run_and_never_runs_it_late(
    app: Flask, client: FlaskClient, settings: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    launcher = _launcher(app)
    launcher.start()
    wait_for(lambda: launcher.ready.is_set(), message="the launcher to be ready")
    assert launcher.popen is not None
    monkeypatch.setattr(launcher_module, "REPLY_SECONDS", 0.5)
    marker = tmp_path / "ran"
    script = create_script(client, "late", f"open({str(marker)!r}, 'w').write('x')")
    os.kill(launcher.popen.pid, signal.SIGSTOP)  # a hung launcher: it reads the request only later
    try:
        done = wait_final(client, execute(client, script["id"])["id"])
    finally:
        os.kill(launcher.popen.pid, signal.SIGCONT)
    assert done["status"] == "failed" and "launcher did not answer" in done["error"], done["error"]
    # the launcher wakes and forks for the old request first: that supervisor finds no spec and ends
    again = wait_final(client, execute(client, create_script(client, "after", "print('ok')")["id"])["id"])
    assert again["status"] == "succeeded"
    assert not marker.exists()  # the timed-out run's script never ran, not even late


def _children(pid: int) -> set[int]:
    return {child.pid for child in psutil.Process(pid).children() if child.status() != psutil.STATUS_ZOMBIE}


def test_the_next_supervisor_waits_ready_and_a_spare_ends_with_the_launcher(
    app: Flask, client: FlaskClient, settings: Settings, tmp_path: Path
) -> None:
    """A run's supervisor was forked before the run was claimed (the launcher's spare, already in its
    own session); the launcher forks the next spare at once; a spare never used ends with the launcher."""
    script = create_script(client, "spare", GATED, parameters=[{"name": "GATE", "type": "string"}])
    gate = tmp_path / "gate"
    gate.touch()
    assert wait_final(client, execute(client, script["id"], {"GATE": str(gate)})["id"])["status"] == "succeeded"
    launcher = _launcher(app)
    assert launcher.popen is not None
    spare = wait_for(lambda: _children(launcher.popen.pid), message="a spare supervisor").pop()
    assert os.getsid(spare) == spare
    gate.unlink()
    run = execute(client, script["id"], {"GATE": str(gate)})
    wait_for(lambda: " out a" in log_text(client, run["id"], settings), message="first line")
    assert _supervisor(app, client, run["id"]).pid == spare  # the spare served this run
    following = wait_for(lambda: _children(launcher.popen.pid) - {spare}, message="the next spare").pop()
    os.kill(launcher.popen.pid, signal.SIGKILL)
    wait_for(lambda: not psutil.pid_exists(following) or psutil.Process(following).status() == psutil.STATUS_ZOMBIE)
    gate.touch()
    done = wait_final(client, run["id"])  # the run it served goes on
    assert done["status"] == "succeeded" and " out b" in log_text(client, run["id"], settings)


def test_a_spare_that_died_unused_is_replaced_and_reported_to_nobody(
    app: Flask, client: FlaskClient, tmp_path: Path
) -> None:
    script = create_script(client, "respare", "print('ok')\n")
    assert wait_final(client, execute(client, script["id"])["id"])["status"] == "succeeded"
    launcher = _launcher(app)
    assert launcher.popen is not None
    spare = wait_for(lambda: _children(launcher.popen.pid), message="a spare supervisor").pop()
    os.kill(spare, signal.SIGKILL)
    wait_for(lambda: spare not in _children(launcher.popen.pid), message="the launcher to reap it")
    runs = [wait_final(client, execute(client, script["id"])["id"]) for _ in range(2)]
    assert [run["status"] for run in runs] == ["succeeded", "succeeded"]
    assert spare not in launcher.early_exits  # its end was nobody's run
    assert launcher.alive


def test_a_run_whose_worker_stops_beating_is_stopped_whole_and_interrupted(
    app: Flask, client: FlaskClient, settings: Settings, tmp_path: Path
) -> None:
    """A Celery worker that never comes back must not leave its runs going on its machine."""
    lifeline = tmp_path / "worker.alive"
    lifeline.touch()
    app.extensions["scriptman.lifeline"] = {"path": str(lifeline), "stale_seconds": 2}
    code = (
        "import subprocess, time\nchild = subprocess.Popen(['sleep', '300'])\n"
        "print('child', child.pid, flush=True)\ntime.sleep(300)\n"
    )
    script = create_script(client, "orphan", code)
    run = execute(client, script["id"])
    line = wait_for(
        lambda: next((ln for ln in log_text(client, run["id"], settings).splitlines() if " out child " in ln), None),
        message="the child's pid",
    )
    child = psutil.Process(int(line.rsplit(" ", 1)[1]))
    lifeline.unlink()  # the worker is gone for good
    done = wait_final(client, run["id"])
    assert done["status"] == "interrupted"
    assert "stopped answering" in (done["error"] or "")
    assert "the worker holding the run stopped answering: stopping every process" in log_text(
        client, run["id"], settings
    )
    wait_for(lambda: not child.is_running() or child.status() == psutil.STATUS_ZOMBIE, message="the child killed")


def test_a_run_outlives_the_stale_bound_while_its_worker_beats(app: Flask, client: FlaskClient, tmp_path: Path) -> None:
    lifeline = tmp_path / "worker.alive"
    lifeline.touch()
    app.extensions["scriptman.lifeline"] = {"path": str(lifeline), "stale_seconds": 1}
    beating = threading.Event()

    def beat() -> None:
        while not beating.wait(0.2):
            lifeline.touch()

    beater = threading.Thread(target=beat, daemon=True)
    beater.start()
    try:
        script = create_script(client, "long", "import time\ntime.sleep(3)\nprint('done')\n")
        done = wait_final(client, execute(client, script["id"])["id"])
    finally:
        beating.set()
        beater.join()
    assert done["status"] == "succeeded", done["error"]
