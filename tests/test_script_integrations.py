"""The issue-15 fields of a script and a schedule through their APIs, and what a run does with them.

- ``variables``: shared variables reach the script as environment variables, a secret one masked
  in its log and result; the run records the names it received; an unknown name is a 422.
- ``notifications``: a round trip through create/PUT/PATCH/duplicate, a 422 for a channel that does
  not exist, and a failed run that queues a delivery for its channel.
- editors may set all of them on scripts.
"""

from __future__ import annotations

import socket
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import delete

from backend.extensions import db
from backend.models import AuditEvent, Variable
from tests.helpers import create_script, execute, log_text, wait_final, wait_for

SECRET = "s3cr3t-warehouse-token-42"
USES_VARIABLES = (
    "import json, os\n"
    "print('region', os.environ['REGION'])\n"
    "print('token', os.environ['WAREHOUSE_TOKEN'])\n"
    "json.dump({'token': os.environ['WAREHOUSE_TOKEN'], 'region': os.environ['REGION']},\n"
    "          open(os.environ['SCRIPTMAN_RESULT'], 'w'))\n"
)


def make_variable(client: FlaskClient, name: str, value: str, **fields: object) -> None:
    response = client.post("/api/variables", json={"name": name, "value": value, **fields})
    assert response.status_code == 201, response.json


def closed_port_url() -> str:
    """A URL nobody answers: deliveries to it are recorded (and fail), which is all these tests need."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}/hook"


def make_channel(client: FlaskClient, name: str) -> dict[str, Any]:
    response = client.post(
        "/api/notification-channels", json={"name": name, "type": "webhook", "config": {"url": closed_port_url()}}
    )
    assert response.status_code == 201, response.json
    return response.json  # type: ignore[no-any-return]


# -- shared variables ------------------------------------------------------------------------------


def test_a_shared_secret_reaches_the_script_masked_in_its_log_and_result(client: FlaskClient, app: Flask) -> None:
    make_variable(client, "REGION", "eu-west-1")
    make_variable(client, "WAREHOUSE_TOKEN", SECRET, secret=True)
    script = create_script(client, "load", USES_VARIABLES, variables=["REGION", "WAREHOUSE_TOKEN", "REGION"])
    assert script["variables"] == ["REGION", "WAREHOUSE_TOKEN"]

    run = wait_final(client, execute(client, script["id"])["id"])
    assert run["status"] == "succeeded", run
    assert run["variables"] == ["REGION", "WAREHOUSE_TOKEN"]
    assert run["result"] == {"token": "***", "region": "eu-west-1"}
    text = log_text(client, run["id"], app.extensions["scriptman.settings"])
    assert "region eu-west-1" in text and "token ***" in text
    assert SECRET not in text
    assert SECRET not in client.get(f"/api/executions/{run['id']}").get_data(as_text=True)
    assert SECRET not in client.get(f"/api/executions/{run['id']}/log").get_data(as_text=True)


def test_an_unknown_variable_is_a_422_and_a_vanished_one_is_skipped(client: FlaskClient, app: Flask) -> None:
    make_variable(client, "REGION", "eu-west-1")
    unknown = client.post(
        "/api/scripts", json={"name": "x", "language": "python", "code": "", "variables": ["REGION", "NOPE"]}
    )
    assert unknown.status_code == 422, unknown.json
    assert unknown.json["field"] == "variables.1" and "'NOPE'" in unknown.json["detail"]

    code = "import os\nprint('region', os.environ.get('REGION'))\n"
    script = create_script(client, "regional", code, variables=["REGION"])
    patched = client.patch(f"/api/scripts/{script['id']}", json={"variables": ["NOPE"]})
    assert patched.status_code == 422 and patched.json["field"] == "variables.0"

    with app.app_context():  # gone behind the API's back (the API refuses to delete a variable in use)
        db.session.execute(delete(Variable).where(Variable.name == "REGION"))
        db.session.commit()
    run = wait_final(client, execute(client, script["id"])["id"])
    assert run["status"] == "succeeded" and run["variables"] == []
    text = log_text(client, run["id"], app.extensions["scriptman.settings"])
    assert "shared variable REGION no longer exists; the run goes on without it" in text
    assert "region None" in text
    # an unrelated edit is not refused for the name the script already had
    assert (
        client.patch(f"/api/scripts/{script['id']}", json={"variables": ["REGION"], "description": "d"}).status_code
        == 200
    )


# -- notifications ---------------------------------------------------------------------------------


def test_script_notifications_round_trip_and_a_failure_queues_a_delivery(client: FlaskClient) -> None:
    ops = make_channel(client, "ops")
    chat = make_channel(client, "chat")
    entries = [{"channel_id": ops["id"], "on": ["failure", "timeout"]}]
    script = create_script(client, "nightly", "import sys\nsys.exit(4)\n", notifications=entries)
    assert script["notifications"] == [{"channel_id": ops["id"], "on": ["failure", "timeout"]}]

    missing = client.patch(f"/api/scripts/{script['id']}", json={"notifications": [{"channel_id": 999, "on": ["x"]}]})
    assert missing.status_code == 422
    no_channel = client.patch(
        f"/api/scripts/{script['id']}", json={"notifications": [{"channel_id": 999, "on": ["failure"]}]}
    )
    assert no_channel.status_code == 422 and no_channel.json["field"] == "notifications.0.channel_id"

    both = [*entries, {"channel_id": chat["id"], "on": ["recovery"]}]
    patched = client.patch(f"/api/scripts/{script['id']}", json={"notifications": both})
    assert patched.status_code == 200 and patched.json["notifications"] == both
    put = client.put(
        f"/api/scripts/{script['id']}",
        json={"name": "nightly", "language": "python", "code": "import sys\nsys.exit(4)\n"},
    )
    assert put.json["notifications"] == both  # left out of a PUT: kept
    copy = client.post(f"/api/scripts/{script['id']}/duplicate").json
    assert copy["notifications"] == both

    run = wait_final(client, execute(client, script["id"])["id"])
    assert run["status"] == "failed"

    def deliveries() -> list[dict[str, Any]]:
        response = client.get(f"/api/executions/{run['id']}/notifications")
        assert response.status_code == 200, response.json
        return response.json["items"]  # type: ignore[no-any-return]

    [delivery] = wait_for(deliveries, message="the failure's delivery")
    assert delivery["channel_id"] == ops["id"] and delivery["event"] == "failure"


def test_schedule_notifications_round_trip(client: FlaskClient) -> None:
    ops = make_channel(client, "ops")
    script = create_script(client, "nightly", "print(1)\n")
    body = {"name": "n", "script_id": script["id"], "cron": "0 3 * * *"}
    entries = [{"channel_id": ops["id"], "on": ["failure"]}]
    made = client.post("/api/schedules", json={**body, "notifications": entries})
    assert made.status_code == 201 and made.json["notifications"] == entries, made.json
    assert client.put(f"/api/schedules/{made.json['id']}", json=body).json["notifications"] == entries
    bad = client.patch(
        f"/api/schedules/{made.json['id']}", json={"notifications": [{"channel_id": 77, "on": ["success"]}]}
    )
    assert bad.status_code == 422 and bad.json["field"] == "notifications.0.channel_id"
    cleared = client.patch(f"/api/schedules/{made.json['id']}", json={"notifications": []})
    assert cleared.json["notifications"] == []


# -- who may set them ------------------------------------------------------------------------------


def test_an_editor_sets_chains_variables_and_notifications_and_it_is_audited(app: Flask, client: FlaskClient) -> None:
    ops = make_channel(client, "ops")  # channels and variables are an admin's
    make_variable(client, "REGION", "eu-west-1")
    editor = app.test_client(role="editor")
    viewer = app.test_client(role="viewer")
    next_one = create_script(editor, "next", "print(2)\n")
    script = create_script(editor, "first", "print(1)\n")
    fields = {
        "on_success": [next_one["id"]],
        "on_failure": [],
        "variables": ["REGION"],
        "notifications": [{"channel_id": ops["id"], "on": ["failure"]}],
    }
    assert viewer.patch(f"/api/scripts/{script['id']}", json=fields).status_code == 403
    changed = editor.patch(f"/api/scripts/{script['id']}", json=fields)
    assert changed.status_code == 200, changed.json
    assert {k: changed.json[k] for k in fields} == fields
    assert editor.post("/api/variables", json={"name": "MINE", "value": "x"}).status_code == 403
    with app.app_context():
        rows = db.session.query(AuditEvent).filter(AuditEvent.target_id == str(script["id"])).all()
        assert any(row.action == "scripts.patch_script" for row in rows), [row.action for row in rows]
