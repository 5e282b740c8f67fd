"""Starting runs the same way from everywhere, and reading their history (issue 14).

One parameter rule for the API (JSON and multipart), ``scriptman run`` and schedules; what started
a run (``api``, ``manual``, ``cli``…); retries linked to the attempt they follow and counted once
on the dashboard; the history's filters; running a chosen version; re-running with changed
values; and a schedule's live status.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import time_machine
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import update

from backend.config import Settings
from backend.extensions import db
from backend.models import Execution
from tests.auth_client import token_for
from tests.helpers import (
    counting_queries,
    create_script,
    execute,
    log_text,
    server_env,
    wait_final,
    wait_for,
    wait_status,
)

# prints what the script got, as the runner hands it over
SHOW_PARAMS = "import os\nprint('PARAMS', os.environ['SCRIPT_PARAMETERS'])\n"
RULE_PARAMETERS = [
    {"name": "FLAG", "type": "boolean"},  # optional, no default: a checkbox left alone
    {"name": "N", "type": "integer", "required": True, "default": 3},  # required, satisfied by its default
    {"name": "LABEL", "type": "string", "default": "x"},
    {"name": "NOTE", "type": "string"},  # optional, no default: left out
]
EXPECTED = {"FLAG": False, "N": 3, "LABEL": "x"}
SECOND_TIME_LUCKY = """
import os, sys
marker = os.path.join(os.environ["DIR"], "tried")
if not os.path.exists(marker):
    open(marker, "w").close()
    print("first attempt fails")
    sys.exit(1)
print("second attempt succeeds")
"""
GATED = "import os, time\nwhile not os.path.exists(os.environ['GATE']):\n    time.sleep(0.02)\n"


def scriptman(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    """``scriptman …`` as a user types it, on the test app's home."""
    env = server_env(settings, SCRIPTMAN_SCHEDULER_ENABLED="false")
    command = [str(Path(sys.executable).with_name("scriptman")), *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=90, check=False)


def runs(client: FlaskClient, query: str = "") -> list[dict]:
    response = client.get(f"/api/executions?per_page=200{query}")
    assert response.status_code == 200, response.json
    return response.json["items"]  # type: ignore[no-any-return]


def logged_in(app: Flask, role: str = "editor") -> tuple[FlaskClient, dict[str, str]]:
    """A browser with a session cookie (the web app), and the CSRF header its writes need."""
    token_for(app, role)  # makes the user
    browser = app.test_client(role=None)
    body = browser.post("/api/auth/login", json={"username": f"test-{role}", "password": "test-password"}).json
    return browser, {"X-CSRF-Token": body["csrf_token"]}


def set_queued_at(app: Flask, moments: dict[int, datetime]) -> None:
    with app.app_context():
        for execution_id, moment in moments.items():
            db.session.execute(update(Execution).where(Execution.id == execution_id).values(queued_at=moment))
        db.session.commit()
        db.session.remove()


# -- 1. one parameter rule ------------------------------------------------------------------------


def test_every_entry_point_gives_the_script_the_same_values(
    client: FlaskClient, app: Flask, settings: Settings
) -> None:
    script = create_script(client, "rule", SHOW_PARAMS, parameters=RULE_PARAMETERS)
    sid = script["id"]
    url = f"/api/scripts/{sid}/execute"
    started: dict[str, int] = {}

    started["api, nothing given"] = execute(client, sid)["id"]
    nulls = {"FLAG": None, "N": None, "LABEL": None, "NOTE": None}
    started["api, nulls"] = execute(client, sid, nulls)["id"]
    form = client.post(url, data={"params": json.dumps({"N": None, "FLAG": None})}, content_type="multipart/form-data")
    assert form.status_code == 202, form.json
    started["multipart"] = form.json["id"]
    browser, csrf = logged_in(app)
    web = browser.post(url, json={"params": {"FLAG": None}}, headers=csrf)
    assert web.status_code == 202, web.json
    started["web app"] = web.json["id"]

    schedule = client.post(
        "/api/schedules",
        json={"name": "rule", "script_id": sid, "cron": "0 0 1 1 *", "timezone": "UTC", "params": nulls},
    )
    assert schedule.status_code == 201, schedule.json
    assert schedule.json["params"] == {}  # a null is not a value: nothing is frozen into the schedule
    fired = client.post(f"/api/schedules/{schedule.json['id']}/run-now")
    assert fired.status_code == 202, fired.json
    started["schedule"] = fired.json["id"]

    cli = scriptman(settings, "run", "rule", "--param", "N=", "--param", "FLAG=")
    assert cli.returncode == 0, cli.stderr
    started["cli"] = max(e["id"] for e in runs(client, f"&script_id={sid}"))

    seen = f"PARAMS {json.dumps(EXPECTED)}"
    for how, execution_id in started.items():
        done = wait_final(client, execution_id)
        assert done["status"] == "succeeded", (how, log_text(client, execution_id, settings))
        assert done["params"] == EXPECTED, how
        assert seen in log_text(client, execution_id, settings), how
    assert seen in cli.stdout


def test_a_required_parameter_without_a_default_is_still_required_when_null(client: FlaskClient) -> None:
    script = create_script(client, "strict", "pass", parameters=[{"name": "WHO", "type": "string", "required": True}])
    for params in ({}, {"WHO": None}):
        response = client.post(f"/api/scripts/{script['id']}/execute", json={"params": params})
        assert response.status_code == 422 and response.json["field"] == "params.WHO", params
    checked = create_script(client, "checked", "pass", parameters=[{"name": "ON", "type": "boolean"}])
    assert execute(client, checked["id"], {"ON": "yes"})["params"] == {"ON": True}


# -- 2. what started a run ------------------------------------------------------------------------


def test_triggers_say_what_started_a_run(client: FlaskClient, app: Flask, settings: Settings) -> None:
    script = create_script(client, "who", "print('ok')")
    by_token = execute(client, script["id"])
    assert by_token["trigger"] == "api" and by_token["created_by"] == "test-admin"
    browser, csrf = logged_in(app)
    by_session = browser.post(f"/api/scripts/{script['id']}/execute", json={}, headers=csrf).json
    assert by_session["trigger"] == "manual" and by_session["created_by"] == "test-editor"
    cli = scriptman(settings, "run", "who")
    assert cli.returncode == 0, cli.stderr
    for run in (by_token, by_session):
        wait_final(client, run["id"])
    rerun = browser.post(f"/api/executions/{by_token['id']}/rerun", headers=csrf).json
    assert rerun["trigger"] == "rerun"
    wait_final(client, rerun["id"])

    assert [e["trigger"] for e in runs(client)] == ["rerun", "cli", "manual", "api"]
    [by_cli] = runs(client, "&trigger=cli")
    assert by_cli["status"] == "succeeded" and by_cli["created_by"] is None
    assert runs(client, "&trigger=webhook") == []  # reserved: accepted as a filter, nothing has it yet
    assert client.get("/api/executions?trigger=cron").status_code == 422


def test_rows_written_before_keep_reading(client: FlaskClient, app: Flask) -> None:
    script = create_script(client, "old", "pass")
    with app.app_context():
        for trigger in ("manual", "webhook", "api", "schedule"):
            db.session.add(Execution(script_id=script["id"], version_number=1, trigger=trigger, status="succeeded"))
        db.session.commit()
        db.session.remove()
    listed = runs(client)
    assert [e["trigger"] for e in listed] == ["schedule", "api", "webhook", "manual"]
    assert all(e["next_attempt_id"] is None for e in listed)


# -- 3. retries -----------------------------------------------------------------------------------


def test_a_retried_failure_counts_once_by_how_the_series_ended(client: FlaskClient, tmp_path: Path) -> None:
    parameters = [{"name": "DIR", "type": "string", "required": True}]
    lucky = create_script(
        client, "lucky", SECOND_TIME_LUCKY, parameters=parameters, max_retries=1, retry_delay_seconds=0
    )
    doomed = create_script(client, "doomed", "raise SystemExit(3)", max_retries=1, retry_delay_seconds=0)
    first = execute(client, lucky["id"], {"DIR": str(tmp_path)})

    def series_done(execution_id: int) -> list[dict] | None:
        items = runs(client, f"&attempts_of={execution_id}")
        done = len(items) == 2 and all(e["status"] not in ("queued", "running") for e in items)
        return items if done else None

    series = wait_for(lambda: series_done(first["id"]), 30, message="the retry of the lucky run")
    assert [(e["attempt"], e["status"]) for e in series] == [(1, "failed"), (2, "succeeded")]
    assert series[0]["next_attempt_id"] == series[1]["id"] and series[1]["next_attempt_id"] is None
    assert series[1]["retry_of_id"] == first["id"] and series[1]["trigger"] == "retry"
    assert runs(client, f"&attempts_of={series[1]['id']}") == series  # from either attempt
    assert client.get(f"/api/executions/{first['id']}").json["next_attempt_id"] == series[1]["id"]

    stats = client.get("/api/stats?days=1").json
    assert (stats["total"], stats["succeeded"], stats["failed"]) == (1, 1, 0)
    assert stats["success_rate"] == 1.0 and stats["recent_failures"] == []
    assert stats["days"][-1] | {"date": None} == {"date": None, "succeeded": 1, "failed": 0, "other": 0}

    bad = execute(client, doomed["id"])
    bad_series = wait_for(lambda: series_done(bad["id"]), 30, message="the retry of the doomed run")
    stats = client.get("/api/stats?days=1").json
    assert (stats["total"], stats["succeeded"], stats["failed"], stats["success_rate"]) == (2, 1, 1, 0.5)
    assert [f["id"] for f in stats["recent_failures"]] == [bad_series[1]["id"]]  # the last attempt only

    # deleting the retry: the attempt before it ends its series again, and is a failure again
    assert client.delete(f"/api/executions/{series[1]['id']}").status_code == 204
    assert client.get(f"/api/executions/{first['id']}").json["next_attempt_id"] is None
    assert runs(client, f"&attempts_of={first['id']}") == [{**series[0], "next_attempt_id": None}]
    stats = client.get("/api/stats?days=1").json
    assert (stats["succeeded"], stats["failed"]) == (0, 2)
    assert {f["id"] for f in stats["recent_failures"]} == {first["id"], bad_series[1]["id"]}


def test_attempts_of_a_run_without_retries_is_itself_and_of_an_unknown_one_nothing(client: FlaskClient) -> None:
    run = wait_final(client, execute(client, create_script(client, "once", "pass")["id"])["id"])
    assert [e["id"] for e in runs(client, f"&attempts_of={run['id']}")] == [run["id"]]
    assert runs(client, "&attempts_of=424242") == []
    assert client.get("/api/executions?attempts_of=0").status_code == 422


# -- 4. the history's filters ---------------------------------------------------------------------


@pytest.fixture
def history(app: Flask, client: FlaskClient) -> dict[str, Any]:
    """Four finished runs of two scripts by two users, queued on known days."""
    editor = app.test_client(role="editor")
    backup = create_script(client, "nightly_backup", "print('saved')")
    payroll = create_script(client, "Payroll", "import sys\nprint('no ledger', file=sys.stderr)\nsys.exit(2)")
    ids = [
        execute(client, backup["id"])["id"],
        execute(editor, backup["id"])["id"],
        execute(editor, payroll["id"])["id"],
        execute(client, payroll["id"])["id"],
    ]
    for execution_id in ids:
        wait_final(client, execution_id)
    days = [datetime(2030, 1, d, 10, 0, tzinfo=UTC) for d in (1, 2, 3, 4)]
    set_queued_at(app, dict(zip(ids, days, strict=True)))
    return {"ids": ids, "backup": backup, "payroll": payroll}


def found(client: FlaskClient, query: str) -> list[int]:
    return [e["id"] for e in runs(client, "&" + query)]


def test_the_history_filters_by_who_started_a_run(client: FlaskClient, history: dict[str, Any]) -> None:
    a, b, c, d = history["ids"]
    assert found(client, "created_by=test-editor") == [c, b]
    assert found(client, "created_by=%20Test-Editor%20") == [c, b]  # as the login form takes it
    assert found(client, "created_by=test-admin") == [d, a]
    assert found(client, "created_by=nobody") == []
    assert found(client, "created_by=&since=&until=&q=") == [d, c, b, a]  # cleared filters filter nothing
    assert found(client, f"created_by=test-editor&script_id={history['payroll']['id']}") == [c]


def test_the_history_filters_by_when_a_run_was_queued(client: FlaskClient, history: dict[str, Any]) -> None:
    a, b, c, d = history["ids"]
    assert found(client, "since=2030-01-02T10:00:00Z") == [d, c, b]  # inclusive
    assert found(client, "until=2030-01-03T10:00:00Z") == [b, a]  # exclusive
    assert found(client, "since=2030-01-02T00:00:00Z&until=2030-01-04T00:00:00Z") == [c, b]
    assert found(client, "since=2030-01-03T11:00:00%2B01:00") == [d, c]  # 10:00 UTC
    assert found(client, "since=2030-01-03T11:00:00+01:00") == [d, c]  # a '+' typed into the URL is a space
    assert found(client, "until=2030-01-02T05:00:00-05:00") == [a]
    for query in ("since=2030-01-02T10:00:00", "until=2030-01-02", "since=yesterday"):
        response = client.get(f"/api/executions?{query}")
        field = query.split("=")[0]
        assert response.status_code == 422 and response.json["field"] == field, query


def test_the_history_searches_names_ids_and_errors(client: FlaskClient, history: dict[str, Any]) -> None:
    a, b, c, d = history["ids"]
    assert found(client, "q=PAYROLL") == [d, c]
    assert found(client, "q=backup") == [b, a]
    assert found(client, f"q=%23{b}") == [b]
    assert found(client, f"q={c}") == [c]
    assert found(client, "q=exit%20code%202") == [d, c]  # the error text
    assert found(client, "q=_") == [b, a]  # literally an underscore, not LIKE's any character
    assert found(client, "q=%25") == []
    assert found(client, "q=pay&created_by=test-admin&since=2030-01-04T00:00:00Z") == [d]
    assert client.get("/api/executions?q=" + "x" * 201).status_code == 422


def test_a_filtered_page_costs_the_same_queries_whatever_its_length(
    app: Flask, client: FlaskClient, history: dict[str, Any]
) -> None:
    query = "/api/executions?created_by=test-editor&q=a&since=2030-01-01T00:00:00Z"
    client.get(query)  # the token lookup's first-use work is not what is measured

    def statements(per_page: int) -> int:
        with counting_queries(app) as seen:
            assert len(client.get(f"{query}&per_page={per_page}").json["items"]) == per_page
        return len(seen)

    assert statements(1) == statements(2)


# -- 5. a chosen version --------------------------------------------------------------------------


@pytest.fixture
def two_versions(client: FlaskClient) -> dict:
    """Version 1 takes an integer A; version 2 (current) a string B."""
    v1 = "import os\nprint('v1 A', os.environ['A'])\n"
    script = create_script(client, "versioned", v1, parameters=[{"name": "A", "type": "integer", "required": True}])
    v2 = "import os\nprint('v2 B', os.environ['B'])\n"
    changed = client.patch(
        f"/api/scripts/{script['id']}", json={"code": v2, "parameters": [{"name": "B", "type": "string"}]}
    )
    assert changed.status_code == 200 and changed.json["version"] == 2, changed.json
    return changed.json  # type: ignore[no-any-return]


def test_a_run_of_a_chosen_version_uses_its_code_and_parameters(
    client: FlaskClient, settings: Settings, two_versions: dict
) -> None:
    url = f"/api/scripts/{two_versions['id']}/execute"
    old = client.post(url, json={"version": 1, "params": {"A": "7"}})
    assert old.status_code == 202 and old.json["version"] == 1, old.json
    assert "v1 A 7" in log_text(client, wait_final(client, old.json["id"])["id"], settings)
    current = execute(client, two_versions["id"], {"B": "b"})
    assert current["version"] == 2

    wrong = client.post(url, json={"version": 1, "params": {"B": "b"}})  # B is version 2's
    assert wrong.status_code == 422 and wrong.json["field"] == "params.B"
    missing = client.post(url, json={"version": 9})
    assert missing.status_code == 404 and missing.json["field"] == "version" and "version 9" in missing.json["detail"]
    assert client.post(url, json={"version": "1"}).status_code == 422  # a JSON number, as documented

    form = {"version": "1", "params": json.dumps({"A": 5})}
    multipart = client.post(url, data=form, content_type="multipart/form-data")
    assert multipart.status_code == 202 and multipart.json["version"] == 1, multipart.json
    assert "v1 A 5" in log_text(client, wait_final(client, multipart.json["id"])["id"], settings)
    for bad, status in (("9", 404), ("one", 422), ("-1", 422)):
        response = client.post(url, data={"version": bad}, content_type="multipart/form-data")
        assert response.status_code == status and response.json["field"] == "version", bad
    wait_final(client, current["id"])


def test_scriptman_run_takes_a_version(client: FlaskClient, settings: Settings, two_versions: dict) -> None:
    result = scriptman(settings, "run", "versioned", "--version", "1", "--param", "A=3")
    assert result.returncode == 0, result.stderr
    assert "v1 A 3" in result.stdout
    [run] = runs(client)
    assert (run["version"], run["trigger"], run["params"]) == (1, "cli", {"A": 3})
    unknown = scriptman(settings, "run", "versioned", "--version", "9")
    assert unknown.returncode == 1 and "no version 9" in unknown.stderr


# -- 6. re-running with changed values ------------------------------------------------------------

RERUN_CODE = """
import os, scriptman
print("N", os.environ["N"], "TOKEN", len(os.environ["TOKEN"]), "INPUT", open(scriptman.param("INPUT")).read())
"""
RERUN_PARAMETERS = [
    {"name": "N", "type": "integer", "required": True},
    {"name": "TOKEN", "type": "secret"},
    {"name": "INPUT", "type": "file", "required": True},
    {"name": "MODE", "type": "choice", "choices": ["fast", "slow"], "default": "fast"},
]


@pytest.fixture
def uploaded_run(client: FlaskClient) -> dict:
    script = create_script(client, "rerunnable", RERUN_CODE, parameters=RERUN_PARAMETERS)
    data = {
        "params": json.dumps({"N": 4, "TOKEN": "s3cr3t-value", "MODE": "slow"}),
        "INPUT": (io.BytesIO(b"hello"), "in.txt"),
    }
    response = client.post(f"/api/scripts/{script['id']}/execute", data=data, content_type="multipart/form-data")
    assert response.status_code == 202, response.json
    done = wait_final(client, response.json["id"])
    assert done["status"] == "succeeded"
    return done


def test_a_rerun_can_change_some_values_and_keeps_the_rest_and_the_files(
    client: FlaskClient, settings: Settings, uploaded_run: dict
) -> None:
    url = f"/api/executions/{uploaded_run['id']}/rerun"
    changed = client.post(url, json={"params": {"N": "7", "TOKEN": "***", "MODE": None}})
    assert changed.status_code == 202, changed.json
    assert changed.json["params"] == {"N": 7, "TOKEN": "***", "INPUT": "in.txt", "MODE": "fast"}
    assert changed.json["rerun_of_id"] == uploaded_run["id"] and changed.json["version"] == 1
    assert "N 7 TOKEN 12 INPUT hello" in log_text(client, wait_final(client, changed.json["id"])["id"], settings)

    same = client.post(url)  # no body: as before
    assert same.status_code == 202 and same.json["params"] == uploaded_run["params"]
    assert "N 4 TOKEN 12 INPUT hello" in log_text(client, wait_final(client, same.json["id"])["id"], settings)
    unchanged = client.post(url, json={"params": None})
    assert unchanged.status_code == 202 and unchanged.json["params"] == uploaded_run["params"]
    wait_final(client, unchanged.json["id"])


def test_a_rerun_with_values_that_do_not_fit_is_a_422_naming_the_parameter(
    client: FlaskClient, uploaded_run: dict
) -> None:
    url = f"/api/executions/{uploaded_run['id']}/rerun"
    before = len(runs(client))
    for params, field in (
        ({"N": "abc"}, "params.N"),
        ({"N": None}, "params.N"),  # required, no default
        ({"MODE": "medium"}, "params.MODE"),
        ({"GHOST": 1}, "params.GHOST"),
    ):
        response = client.post(url, json={"params": params})
        assert response.status_code == 422 and response.json["field"] == field, (params, response.json)
    for body in ({"params": [1]}, {"values": {}}, [1]):
        assert client.post(url, json=body).status_code == 422, body
    # the current version no longer has MODE's "slow": 422 naming it, not a conflict or a crash
    script_id = uploaded_run["script_id"]
    narrowed = [*RERUN_PARAMETERS[:3], {"name": "MODE", "type": "choice", "choices": ["fast"], "default": "fast"}]
    assert client.patch(f"/api/scripts/{script_id}", json={"parameters": narrowed}).status_code == 200
    latest = client.post(f"{url}?latest=true")
    assert latest.status_code == 422 and latest.json["field"] == "params.MODE", latest.json
    fixed = client.post(f"{url}?latest=true", json={"params": {"MODE": "fast"}})
    assert fixed.status_code == 202 and fixed.json["version"] == 2, fixed.json
    assert len(runs(client)) == before + 1
    wait_final(client, fixed.json["id"])


# -- 7. a schedule's live status ------------------------------------------------------------------


def test_a_schedules_last_status_is_its_newest_runs_status_now(client: FlaskClient, app: Flask, tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    script = create_script(client, "gated", GATED, parameters=[{"name": "GATE", "type": "string"}])
    t0 = datetime(2030, 3, 4, 12, 0, 0, tzinfo=UTC)
    body = {"name": "gated", "script_id": script["id"], "cron": "* * * * * *", "timezone": "UTC"}
    with time_machine.travel(t0, tick=False):
        created = client.post("/api/schedules", json={**body, "params": {"GATE": str(gate)}})
    assert created.status_code == 201, created.json
    sid = created.json["id"]
    with time_machine.travel(t0 + timedelta(seconds=1), tick=False):
        assert app.extensions["scriptman.scheduler"].tick() == [sid]
    [fire] = client.get(f"/api/schedules/{sid}/fires").json["items"]
    run_id = fire["execution_id"]
    wait_status(client, run_id, "running")

    def last_status() -> tuple[str, str]:
        listed = {s["id"]: s for s in client.get("/api/schedules").json["items"]}
        return listed[sid]["last_status"], client.get(f"/api/schedules/{sid}").json["last_status"]

    assert last_status() == ("running", "running")
    gate.touch()
    assert wait_final(client, run_id)["status"] == "succeeded"
    assert wait_for(lambda: last_status() == ("succeeded", "succeeded"), message="the schedule to say succeeded")


def test_a_schedules_page_reads_the_statuses_in_one_query(app: Flask, client: FlaskClient) -> None:
    script = create_script(client, "quick", "pass")
    for n in range(3):
        made = client.post(
            "/api/schedules", json={"name": f"q{n}", "script_id": script["id"], "cron": "0 0 1 1 *", "timezone": "UTC"}
        )
        wait_final(client, client.post(f"/api/schedules/{made.json['id']}/run-now").json["id"])

    def statements(per_page: int) -> list[str]:
        with counting_queries(app) as seen:
            items = client.get(f"/api/schedules?per_page={per_page}").json["items"]
        assert [s["last_status"] for s in items] == ["succeeded"] * per_page
        return seen

    assert len(statements(1)) == len(statements(3))
    assert sum("FROM executions" in s for s in statements(3)) == 1
