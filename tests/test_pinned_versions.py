"""Pinned versions (issue 15): a run or a schedule may name the script version it runs.

The script moves on to a newer version; a run started with ``version`` and a schedule pinned to an
older version (its due fires and run-now alike) still run the old code, with that version's
parameter definitions. A version the script does not have is refused when the schedule is saved.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import time_machine
from flask import Flask
from flask.testing import FlaskClient

from tests.helpers import create_script, log_text, wait_final

OLD = "print('running the old code')\n"
NEW = "print('running the new code')\n"


def two_versions(client: FlaskClient) -> dict:
    """A script at version 2 whose version 1 prints something else (and had a parameter with a default)."""
    script = create_script(client, "nightly", OLD, parameters=[{"name": "LIMIT", "type": "integer", "default": 5}])
    changed = client.patch(f"/api/scripts/{script['id']}", json={"code": NEW, "parameters": []})
    assert changed.status_code == 200 and changed.json["version"] == 2, changed.json
    return changed.json  # type: ignore[no-any-return]


def said(client: FlaskClient, execution_id: int) -> str:
    run = wait_final(client, execution_id)
    assert run["status"] == "succeeded", run
    return log_text(client, execution_id, client.application.extensions["scriptman.settings"])


def test_a_run_of_a_pinned_version_runs_the_old_code(client: FlaskClient) -> None:
    script = two_versions(client)
    pinned = client.post(f"/api/scripts/{script['id']}/execute", json={"version": 1, "params": {"LIMIT": 7}})
    assert pinned.status_code == 202 and pinned.json["version"] == 1, pinned.json
    assert "running the old code" in said(client, pinned.json["id"])
    current = client.post(f"/api/scripts/{script['id']}/execute", json={})
    assert current.json["version"] == 2 and "running the new code" in said(client, current.json["id"])


def test_a_pinned_schedule_runs_the_old_code(client: FlaskClient, app: Flask) -> None:
    script = two_versions(client)
    t0 = datetime(2030, 5, 6, 7, 0, 0, tzinfo=UTC)
    body = {"name": "pinned", "script_id": script["id"], "cron": "* * * * *", "timezone": "UTC", "version": 1}
    with time_machine.travel(t0, tick=False):
        # LIMIT exists in version 1 only: the params are checked against the pinned version
        created = client.post("/api/schedules", json={**body, "params": {"LIMIT": 9}})
    assert created.status_code == 201, created.json
    schedule = created.json
    assert schedule["version"] == 1 and schedule["params"] == {"LIMIT": 9}

    now = client.post(f"/api/schedules/{schedule['id']}/run-now")
    assert now.status_code == 202 and now.json["version"] == 1, now.json
    assert "running the old code" in said(client, now.json["id"])

    with time_machine.travel(t0 + timedelta(minutes=1), tick=False):
        assert app.extensions["scriptman.scheduler"].tick() == [schedule["id"]]
    fires = client.get(f"/api/schedules/{schedule['id']}/fires").json["items"]
    fired = next(f for f in fires if f["detail"] != "run now")
    assert fired["outcome"] == "started"
    run = client.get(f"/api/executions/{fired['execution_id']}").json
    assert run["version"] == 1 and run["trigger"] == "schedule"
    assert "running the old code" in said(client, run["id"])

    # a PUT that leaves the version out keeps the pin; null unpins (the current version again)
    put = client.put(
        f"/api/schedules/{schedule['id']}",
        json={"name": "pinned", "script_id": script["id"], "cron": "0 * * * *", "params": {"LIMIT": 9}},
    )
    assert put.status_code == 200 and put.json["version"] == 1, put.json
    unpinned = client.patch(f"/api/schedules/{schedule['id']}", json={"version": None, "params": {}})
    assert unpinned.status_code == 200 and unpinned.json["version"] is None, unpinned.json
    latest = client.post(f"/api/schedules/{schedule['id']}/run-now")
    assert latest.json["version"] == 2 and "running the new code" in said(client, latest.json["id"])


def test_a_schedule_cannot_pin_a_version_the_script_does_not_have(client: FlaskClient) -> None:
    script = two_versions(client)
    body = {"name": "bad pin", "script_id": script["id"], "cron": "0 3 * * *", "version": 3}
    missing = client.post("/api/schedules", json=body)
    assert missing.status_code == 422, missing.json
    assert missing.json["field"] == "version" and "has no version 3" in missing.json["detail"]
    assert client.post("/api/schedules", json={**body, "version": 0}).status_code == 422

    made = client.post("/api/schedules", json={**body, "version": 2})
    assert made.status_code == 201, made.json
    patched = client.patch(f"/api/schedules/{made.json['id']}", json={"version": 9})
    assert patched.status_code == 422 and patched.json["field"] == "version"
    # pinned to version 2, which has no LIMIT: refused; pinned back to 1, accepted
    old_param = client.patch(f"/api/schedules/{made.json['id']}", json={"params": {"LIMIT": 1}})
    assert old_param.status_code == 422, old_param.json
    assert client.patch(f"/api/schedules/{made.json['id']}", json={"version": 1, "params": {"LIMIT": 1}}).json[
        "params"
    ] == {"LIMIT": 1}
