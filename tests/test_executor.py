"""The executor end to end: real subprocesses, tiny scripts, real SQLite."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import threading
import zipfile
from pathlib import Path

import click
import psutil
import pytest
from flask import Flask
from flask.testing import FlaskClient

from backend.cli_run import run_script
from backend.config import Settings
from backend.extensions import db
from backend.models import Execution
from backend.services.executor.local import LocalExecutor
from tests.conftest import AppFactory
from tests.helpers import HOLD, create_script, execute, log_text, server_env, wait_final, wait_for, wait_started

PY_PARAMS = """
import json, os
print("count", os.environ["COUNT"], "flag", os.environ["FLAG"])
print("all", os.environ["SCRIPT_PARAMETERS"])
print("meta", os.environ["SCRIPT_NAME"], os.environ["EXECUTION_ID"], os.environ["WORKSPACE"] == os.getcwd())
"""
PARAMS = [
    {"name": "COUNT", "type": "integer", "default": 1},
    {"name": "FLAG", "type": "boolean", "default": False},
]


def test_a_python_script_runs_with_its_parameters_as_environment(client: FlaskClient, settings: Settings) -> None:
    script = create_script(client, "py", PY_PARAMS, parameters=PARAMS)
    run = execute(client, script["id"], {"COUNT": "5", "FLAG": "yes"})
    assert run["status"] == "queued" and run["trigger"] == "api"  # a bearer token: a program calling
    done = wait_final(client, run["id"])
    assert done["status"] == "succeeded", log_text(client, run["id"], settings)
    assert done["exit_code"] == 0
    text = log_text(client, run["id"], settings)
    assert "count 5 flag true" in text
    assert 'all {"COUNT": 5, "FLAG": true}' in text
    assert f"meta py {run['id']} True" in text
    assert done["params"] == {"COUNT": 5, "FLAG": True}
    assert done["duration_ms"] is not None and done["peak_memory_kb"] > 0 and done["cpu_time_ms"] is not None


def test_a_javascript_script_runs_with_its_parameters(client: FlaskClient, settings: Settings) -> None:
    code = "console.log('js', process.env.WHO, JSON.parse(process.env.SCRIPT_PARAMETERS).WHO)\n"
    script = create_script(client, "js", code, language="javascript", parameters=[{"name": "WHO", "type": "string"}])
    done = wait_final(client, execute(client, script["id"], {"WHO": "ada"})["id"])
    assert done["status"] == "succeeded"
    assert "js ada ada" in log_text(client, done["id"], settings)


def test_a_shell_script_runs_and_stderr_is_marked(client: FlaskClient, settings: Settings) -> None:
    code = 'echo "hello $NAME"\necho "oops" >&2\n'
    script = create_script(client, "sh", code, language="shell", parameters=[{"name": "NAME", "default": "world"}])
    done = wait_final(client, execute(client, script["id"])["id"])
    text = log_text(client, done["id"], settings)
    assert done["status"] == "succeeded"
    assert " out hello world\n" in text
    assert " err oops\n" in text


def test_a_result_file_becomes_the_result(client: FlaskClient) -> None:
    code = "import json, os\njson.dump({'rows': 3}, open(os.environ['SCRIPTMAN_RESULT'], 'w'))\nprint('not json')\n"
    done = wait_final(client, execute(client, create_script(client, "rf", code)["id"])["id"])
    assert done["result"] == {"rows": 3}


def test_stdout_that_is_one_json_document_becomes_the_result(client: FlaskClient) -> None:
    code = "import json\nprint(json.dumps({'ok': True, 'items': [1, 2]}, indent=2))\n"
    done = wait_final(client, execute(client, create_script(client, "so", code)["id"])["id"])
    assert done["result"] == {"ok": True, "items": [1, 2]}


def test_plain_stdout_gives_no_result(client: FlaskClient) -> None:
    done = wait_final(client, execute(client, create_script(client, "pl", "print('hello')")["id"])["id"])
    assert done["result"] is None and done["status"] == "succeeded"


def test_a_result_over_the_limit_fails_the_run_with_a_clear_error(make_app: AppFactory) -> None:
    client = make_app(max_result_bytes=100).test_client()
    code = "import json, os\njson.dump({'x': 'y' * 500}, open(os.environ['SCRIPTMAN_RESULT'], 'w'))\n"
    done = wait_final(client, execute(client, create_script(client, "big", code)["id"])["id"])
    assert done["status"] == "failed"
    assert done["result"] is None
    assert "over the limit" in done["error"]


def test_a_non_zero_exit_code_fails_the_run(client: FlaskClient) -> None:
    done = wait_final(client, execute(client, create_script(client, "bad", "import sys\nsys.exit(3)")["id"])["id"])
    assert done["status"] == "failed" and done["exit_code"] == 3 and "exit code 3" in done["error"]


GRANDCHILD = """
import os, subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
open("grandchild.pid", "w").write(str(child.pid))
print("spawned", flush=True)
time.sleep(300)
"""


def _grandchild_gone(settings: Settings, execution_id: int) -> bool:
    pid = int((settings.workspaces_dir / f"execution_{execution_id}" / "grandchild.pid").read_text())
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_a_timeout_kills_the_script_and_its_grandchild(client: FlaskClient, settings: Settings) -> None:
    script = create_script(client, "slow", GRANDCHILD, timeout_seconds=1)
    done = wait_final(client, execute(client, script["id"])["id"])
    assert done["status"] == "timed_out"
    wait_for(lambda: _grandchild_gone(settings, done["id"]), 5, message="grandchild to die")
    assert "timed out" in log_text(client, done["id"], settings)


def test_cancel_kills_a_running_script_and_its_grandchild(client: FlaskClient, settings: Settings) -> None:
    run = execute(client, create_script(client, "cancel-me", GRANDCHILD)["id"])
    wait_for(lambda: "spawned" in log_text(client, run["id"], settings), message="the script to start")
    response = client.post(f"/api/executions/{run['id']}/cancel")
    assert response.status_code == 200
    done = wait_final(client, run["id"])
    assert done["status"] == "cancelled"
    wait_for(lambda: _grandchild_gone(settings, run["id"]), 5, message="grandchild to die")
    assert client.post(f"/api/executions/{run['id']}/cancel").status_code == 409


HOLD_PARAMS = [{"name": "SECONDS", "type": "number", "default": 30}]


def test_cancelling_a_queued_run_removes_it_from_the_queue(client: FlaskClient, settings: Settings) -> None:
    script = create_script(client, "hold", HOLD, parameters=HOLD_PARAMS, max_concurrent=1)
    first = execute(client, script["id"])
    second = execute(client, script["id"])
    wait_started(client, first["id"])
    assert client.get(f"/api/executions/{second['id']}").json["status"] == "queued"
    assert client.post(f"/api/executions/{second['id']}/cancel").json["status"] == "cancelled"
    client.post(f"/api/executions/{first['id']}/cancel")
    assert wait_final(client, first["id"])["status"] == "cancelled"
    # queued after the cancelled one, and one at a time: once it has run, the queue went past the second
    third = execute(client, script["id"], {"SECONDS": 0})
    assert wait_final(client, third["id"])["status"] == "succeeded"
    assert client.get(f"/api/executions/{second['id']}").json["status"] == "cancelled"
    assert not (settings.workspaces_dir / f"execution_{second['id']}").exists()


def test_the_pool_never_runs_more_than_its_limit(client: FlaskClient, settings: Settings, tmp_path: Path) -> None:
    """At most ``limit`` scripts execute at once, measured by the scripts themselves.

    Not by sampling the rows: a slot is given back as soon as a run's processes are gone, a moment
    before its end is written, so a row can still say ``running`` while the next run starts.
    """
    limit = settings.max_concurrency
    spans = tmp_path / "spans"
    code = (
        "import os, time\nstart = time.time()\ntime.sleep(0.6)\n"
        "open(os.environ['SPANS'], 'a').write(f'{start} {time.time()}\\n')\n"
    )
    script = create_script(client, "nap", code, parameters=[{"name": "SPANS", "type": "string"}])
    ids = [execute(client, script["id"], {"SPANS": str(spans)})["id"] for _ in range(limit + 2)]
    assert all(wait_final(client, i)["status"] == "succeeded" for i in ids)
    lines = spans.read_text().splitlines()
    events = sorted((float(t), step) for line in lines for t, step in zip(line.split(), (1, -1), strict=True))
    assert len(events) == 2 * len(ids)
    peak = max(itertools.accumulate(step for _t, step in events))
    assert 1 <= peak <= limit


def test_a_script_limit_of_one_runs_its_runs_one_at_a_time(client: FlaskClient) -> None:
    script = create_script(client, "serial", "import time\ntime.sleep(0.3)", max_concurrent=1)
    ids = [execute(client, script["id"])["id"] for _ in range(3)]
    runs = [wait_final(client, i) for i in ids]
    spans = sorted((r["started_at"], r["finished_at"]) for r in runs)
    for (_, end), (start, _) in itertools.pairwise(spans):
        assert start >= end


def test_the_refuse_policy_answers_409_while_a_run_is_in_progress(client: FlaskClient) -> None:
    script = create_script(client, "once", HOLD, max_concurrent=1, concurrency_policy="refuse")
    first = execute(client, script["id"])
    wait_started(client, first["id"])
    response = client.post(f"/api/scripts/{script['id']}/execute", json={})
    assert response.status_code == 409 and response.content_type == "application/problem+json"
    client.post(f"/api/executions/{first['id']}/cancel")
    wait_final(client, first["id"])


def test_failed_attempts_are_retried_as_linked_executions(client: FlaskClient, settings: Settings) -> None:
    script = create_script(client, "flaky", "import sys\nsys.exit(1)", max_retries=2, retry_delay_seconds=0)
    first = execute(client, script["id"])
    wait_for(
        lambda: (
            client.get(f"/api/executions?script_id={script['id']}").json["total"] == 3
            and all(
                e["status"] == "failed" for e in client.get(f"/api/executions?script_id={script['id']}").json["items"]
            )
        ),
        30,
        message="three failed attempts",
    )
    items = client.get(f"/api/executions?script_id={script['id']}").json["items"]
    assert [e["attempt"] for e in items] == [3, 2, 1]
    assert [e["trigger"] for e in items] == ["retry", "retry", "api"]
    assert all(e["retry_of_id"] == first["id"] for e in items[:2])
    assert "retrying: attempt 2 of 3" in log_text(client, first["id"], settings)
    assert "retrying" not in log_text(client, items[0]["id"], settings)


def test_rerun_uses_the_same_params_and_version_including_secrets(client: FlaskClient, settings: Settings) -> None:
    params = [{"name": "TOKEN", "type": "secret"}, {"name": "N", "type": "integer"}]
    code = "import os\nprint(len(os.environ['TOKEN']), os.environ['N'])"
    script = create_script(client, "again", code, parameters=params)
    first = wait_final(client, execute(client, script["id"], {"TOKEN": "s3cr3t-value", "N": 4})["id"])
    assert first["params"] == {"TOKEN": "***", "N": 4}
    client.patch(f"/api/scripts/{script['id']}", json={"code": code + "\nprint('v2')"})
    rerun = client.post(f"/api/executions/{first['id']}/rerun")
    assert rerun.status_code == 202 and rerun.json["trigger"] == "rerun" and rerun.json["version"] == 1
    done = wait_final(client, rerun.json["id"])
    text = log_text(client, done["id"], settings)
    assert "12 4" in text and "v2" not in text
    latest = wait_final(client, client.post(f"/api/executions/{first['id']}/rerun?latest=true").json["id"])
    assert latest["version"] == 2


def test_the_servers_own_secrets_do_not_reach_the_script(
    client: FlaskClient, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SCRIPTMAN_SECRET_KEY", "server-key")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "cloud-key")
    code = "import os\nprint(sorted(k for k in os.environ if 'SECRET' in k or k.startswith('SCRIPTMAN_')))"
    done = wait_final(client, execute(client, create_script(client, "env", code)["id"])["id"])
    text = log_text(client, done["id"], settings)
    assert "['SCRIPTMAN_RESULT', 'SCRIPTMAN_RUN_COOKIE']" in text
    assert "server-key" not in text and "cloud-key" not in text


def test_invalid_params_are_a_422_naming_the_parameter(client: FlaskClient) -> None:
    script = create_script(client, "typed", "pass", parameters=[{"name": "N", "type": "integer", "required": True}])
    for params, field in [({"N": "abc"}, "params.N"), ({}, "params.N"), ({"N": 1, "X": 2}, "params.X")]:
        response = client.post(f"/api/scripts/{script['id']}/execute", json={"params": params})
        assert response.status_code == 422 and response.json["field"] == field
    assert client.get("/api/executions").json["total"] == 0


def test_a_running_execution_cannot_be_deleted_but_a_finished_one_can(client: FlaskClient, settings: Settings) -> None:
    script = create_script(client, "del", HOLD, parameters=HOLD_PARAMS)
    run = execute(client, script["id"])
    wait_started(client, run["id"])
    assert client.delete(f"/api/executions/{run['id']}").status_code == 409
    assert client.delete(f"/api/scripts/{script['id']}").status_code == 409
    client.post(f"/api/executions/{run['id']}/cancel")
    wait_final(client, run["id"])
    assert client.delete(f"/api/executions/{run['id']}").status_code == 204
    assert client.get(f"/api/executions/{run['id']}").status_code == 404
    assert not (settings.workspaces_dir / f"execution_{run['id']}").exists()
    assert not (settings.logs_dir / f"execution_{run['id']}.log").exists()


def test_execution_list_filters_and_paginates_newest_first(client: FlaskClient) -> None:
    ok = create_script(client, "ok", "pass")
    bad = create_script(client, "ko", "raise SystemExit(2)")
    ids = [execute(client, ok["id"])["id"] for _ in range(3)] + [execute(client, bad["id"])["id"]]
    for i in ids:
        wait_final(client, i)
    page = client.get("/api/executions?per_page=2&page=1").json
    assert page["total"] == 4 and [e["id"] for e in page["items"]] == sorted(ids, reverse=True)[:2]
    assert client.get("/api/executions?status=failed").json["total"] == 1
    assert client.get(f"/api/executions?script_id={ok['id']}").json["total"] == 3
    assert client.get("/api/executions?trigger=api").json["total"] == 4
    assert client.get("/api/executions?status=bogus").status_code == 422


def test_a_running_row_left_by_a_previous_process_becomes_interrupted(app: Flask, settings: Settings) -> None:
    client = app.test_client()
    script = create_script(client, "ghost", "pass")
    # the "previous process" is gone before the rows appear: its dispatcher must not claim the queued one
    app.extensions["scriptman.stop_services"]()
    with app.app_context():
        ghost = Execution(script_id=script["id"], version_number=1, status="running", pid=2**22 - 1)
        queued = Execution(script_id=script["id"], version_number=1, status="queued")
        db.session.add_all([ghost, queued])
        db.session.commit()
        ghost_id, queued_id = ghost.id, queued.id
    restarted = LocalExecutor(app, settings)
    app.extensions["scriptman.executor"] = restarted
    restarted.start()
    try:
        body = client.get(f"/api/executions/{ghost_id}").json
        assert body["status"] == "interrupted" and "server stopped" in body["error"]
        assert wait_final(client, queued_id)["status"] == "succeeded"  # queued runs are kept and started
    finally:
        restarted.stop()


GATED = """import os, time
print('a', flush=True)
while not os.path.exists(os.environ['GATE']):
    time.sleep(0.02)
print('b')
"""


def test_a_run_survives_a_server_restart_and_is_reattached(app: Flask, settings: Settings, tmp_path: Path) -> None:
    client = app.test_client()
    gate = tmp_path / "gate"
    script = create_script(client, "long", GATED, parameters=[{"name": "GATE", "type": "string"}])
    run = execute(client, script["id"], {"GATE": str(gate)})
    wait_for(lambda: " out a" in log_text(client, run["id"], settings), message="first line")
    app.extensions["scriptman.stop_services"]()  # the "old server" goes away; the supervisor does not
    restarted = LocalExecutor(app, settings)
    app.extensions["scriptman.executor"] = restarted
    restarted.start()
    try:
        assert client.get(f"/api/executions/{run['id']}").json["status"] == "running"
        gate.touch()  # the run ends only now, under the new server
        done = wait_final(client, run["id"])
        assert done["status"] == "succeeded"
        assert " out b" in log_text(client, run["id"], settings)
    finally:
        restarted.stop()


def make_wheel(folder: Path, name: str = "tinypkg", version: str = "0.1") -> Path:
    """A minimal pure-Python wheel, built by hand so the test needs no network."""
    wheel = folder / f"{name}-{version}-py3-none-any.whl"
    dist = f"{name}-{version}.dist-info"
    files = {
        f"{name}/__init__.py": f"VALUE = 'from {name} {version}'\n",
        f"{dist}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
        f"{dist}/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = "".join(f"{path},,\n" for path in files) + f"{dist}/RECORD,,\n"
    with zipfile.ZipFile(wheel, "w") as archive:
        for path, content in files.items():
            archive.writestr(path, content)
        archive.writestr(f"{dist}/RECORD", record)
    return wheel


def test_two_runs_with_the_same_new_dependency_build_the_env_once(
    client: FlaskClient, settings: Settings, tmp_path: Path
) -> None:
    wheel = make_wheel(tmp_path)
    code = "import tinypkg\nprint(tinypkg.VALUE)"
    script = create_script(client, "deps", code, dependencies=[f"tinypkg @ {wheel.as_uri()}"])
    first, second = execute(client, script["id"]), execute(client, script["id"])
    runs = [wait_final(client, first["id"], 120), wait_final(client, second["id"], 120)]
    logs = [log_text(client, r["id"], settings) for r in runs]
    assert all(r["status"] == "succeeded" for r in runs), logs
    assert all("from tinypkg 0.1" in text for text in logs)
    assert sum("building environment" in text for text in logs) == 1
    assert sum("reusing cached environment" in text for text in logs) == 1
    third = wait_final(client, execute(client, script["id"])["id"], 60)
    assert "reusing cached environment" in log_text(client, third["id"], settings)
    envs = [p for p in settings.envs_dir.iterdir() if p.is_dir()]
    assert len(envs) == 1
    # compiled when built: runs write no bytecode, so each would otherwise compile the package again
    assert list(envs[0].glob("lib/python*/site-packages/tinypkg/__pycache__/__init__.*.pyc"))


def test_envs_dir_puts_the_dependency_cache_on_a_disk_of_its_own(make_app: AppFactory, tmp_path: Path) -> None:
    """A worker on a shared SCRIPTMAN_HOME keeps its environments on its own disk (SCRIPTMAN_ENVS_DIR)."""
    local = tmp_path / "local-disk" / "envs"
    app = make_app(envs_dir_setting=local)
    client = app.test_client()
    settings: Settings = app.extensions["scriptman.settings"]
    script = create_script(
        client,
        "deps",
        "import tinypkg\nprint(tinypkg.VALUE)",
        dependencies=[f"tinypkg @ {make_wheel(tmp_path).as_uri()}"],
    )
    done = wait_final(client, execute(client, script["id"])["id"], 120)
    assert done["status"] == "succeeded", log_text(client, done["id"], settings)
    assert [p.name for p in local.iterdir() if p.is_dir()] and (tmp_path / "local-disk" / "uv-cache").is_dir()
    shared = settings.data_dir / "envs"
    assert not shared.exists() or not [p for p in shared.iterdir() if p.is_dir()]


def test_a_failed_install_fails_the_run_and_leaves_no_half_built_env(
    client: FlaskClient, settings: Settings, tmp_path: Path
) -> None:
    missing = (tmp_path / "nope-1.0-py3-none-any.whl").as_uri()
    script = create_script(client, "broken-deps", "print('never')", dependencies=[f"nope @ {missing}"])
    done = wait_final(client, execute(client, script["id"])["id"], 120)
    text = log_text(client, done["id"], settings)
    assert done["status"] == "failed" and done["error"].startswith("dependency install failed: "), done["error"]
    assert "nope" in done["error"]
    assert "$ " in text and "never" not in text
    assert [p for p in settings.envs_dir.iterdir() if p.is_dir()] == []


def test_javascript_dependencies_are_installed_with_npm(
    client: FlaskClient, settings: Settings, tmp_path: Path
) -> None:
    package = tmp_path / "tinyjs"
    package.mkdir()
    (package / "package.json").write_text(json.dumps({"name": "tinyjs", "version": "1.0.0", "main": "index.js"}))
    (package / "index.js").write_text("module.exports = () => 'tiny js works';\n")
    code = "console.log(require('tinyjs')())\n"
    script = create_script(client, "jsdeps", code, language="javascript", dependencies=[f"tinyjs@file:{package}"])
    done = wait_final(client, execute(client, script["id"])["id"], 180)
    assert done["status"] == "succeeded", log_text(client, done["id"], settings)
    assert "tiny js works" in log_text(client, done["id"], settings)


def test_the_cli_runs_a_script_and_exits_with_its_code(app: Flask, settings: Settings) -> None:
    client = app.test_client()
    params = [{"name": "WHO", "type": "string", "required": True}]
    create_script(
        client,
        "cli-hello",
        "import sys\nprint('hi', sys.argv[0], __import__('os').environ['WHO'])\nsys.exit(4)",
        parameters=params,
    )
    env = server_env(settings)
    scriptman = Path(sys.executable).with_name("scriptman")
    result = subprocess.run(
        [str(scriptman), "run", "cli-hello", "--param", "WHO=you"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 4, result.stderr
    assert "hi main.py you" in result.stdout
    with pytest.raises(click.ClickException, match="No script is named 'nope'"):  # click prints it, exits 1
        run_script(app, "nope", ())


def test_many_threads_submitting_at_once_all_finish(client: FlaskClient, app: Flask) -> None:
    script = create_script(client, "burst", "print('x')")
    ids: list[int] = []
    lock = threading.Lock()

    def submit() -> None:
        c = app.test_client()
        for _ in range(5):
            run = c.post(f"/api/scripts/{script['id']}/execute", json={}).json
            with lock:
                ids.append(run["id"])

    threads = [threading.Thread(target=submit) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(ids)) == 20
    assert all(wait_final(client, i, 60)["status"] == "succeeded" for i in ids)


def test_a_submitted_run_is_audited_with_it_and_a_refused_one_is_not(app: Flask, client: FlaskClient) -> None:
    """The audit row is written in the submit's own transaction: one row naming the script, 202."""
    script = create_script(client, "audited", "print('x')\n")
    run = execute(client, script["id"])
    assert run["status"] == "queued"  # answered as created, even when claimed meanwhile
    client.patch(f"/api/scripts/{script['id']}", json={"enabled": False})
    assert client.post(f"/api/scripts/{script['id']}/execute", json={}).status_code == 409
    events = client.get("/api/audit", query_string={"action": "runs.execute", "per_page": 50}).json["items"]
    assert [(e["target_type"], e["target_id"], e["status"]) for e in events] == [("script", str(script["id"]), 202)]
    assert events[0]["username"] == "test-admin" and events[0]["target_name"] == "audited"
    assert wait_final(client, run["id"])["status"] == "succeeded"


def test_a_forked_child_joins_every_hierarchy_of_its_run_cgroup(settings: Settings) -> None:
    """The script's child moves itself in (v1: through ``tasks``, without the global lock)."""
    from backend.services.executor import containment

    layout = containment.cgroup_layout(settings)
    if layout is None:
        pytest.skip("no usable cgroup hierarchy on this machine")
    group = layout.run(f"scriptman-test-join-{os.getpid()}")
    group.create(max_processes=10, memory_bytes=None)
    try:
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child
            try:
                group.join()
                os.write(write, Path("/proc/self/cgroup").read_bytes())
            finally:
                os._exit(0)
        os.close(write)
        with os.fdopen(read, "rb") as handle:
            membership = handle.read().decode()
        os.waitpid(pid, 0)
        # one line per hierarchy (v1) or the one unified line (v2), each naming the run's cgroup
        assert membership.count(f"/scriptman-test-join-{os.getpid()}\n") == len(group.dirs), membership
    finally:
        group.kill()
        group.remove()
