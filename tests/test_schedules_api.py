"""The schedules API with the scheduler off: validation, CRUD, toggle, run-now, preview, history."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from flask import Flask
from flask.testing import FlaskClient
from openapi_spec_validator import validate

from backend.extensions import db
from backend.models import Schedule
from tests.conftest import AppFactory
from tests.helpers import create_script, wait_final

PARAMS = [
    {"name": "COUNT", "type": "integer", "default": 1},
    {"name": "TOKEN", "type": "secret"},
    {"name": "MODE", "type": "choice", "choices": ["fast", "slow"], "default": "fast"},
]
PRINT_PARAMS = "import os\nprint('count', os.environ['COUNT'], 'mode', os.environ['MODE'])\n"


@pytest.fixture
def script(client: FlaskClient) -> dict:
    return create_script(client, "reporter", PRINT_PARAMS, parameters=PARAMS)


def make(client: FlaskClient, script_id: int, **fields: object) -> dict:
    body = {"name": "nightly", "script_id": script_id, "cron": "0 3 * * *", "timezone": "UTC", **fields}
    response = client.post("/api/schedules", json=body)
    assert response.status_code == 201, response.json
    return response.json


def test_a_schedule_is_created_with_its_next_run_and_script_name(client: FlaskClient, script: dict) -> None:
    body = make(client, script["id"], params={"COUNT": "3", "TOKEN": "s3cr3t"}, overlap_policy="queue")
    assert body["script_name"] == "reporter"
    assert body["params"] == {"COUNT": 3, "TOKEN": "***"}
    assert body["enabled"] is True and body["overlap_policy"] == "queue" and body["misfire_grace_seconds"] == 60
    assert body["last_run_at"] is None and body["last_status"] is None
    next_run = datetime.fromisoformat(body["next_run_at"])
    assert next_run.hour == 3 and next_run.minute == 0
    assert timedelta(0) < next_run - datetime.now(UTC) <= timedelta(days=1)
    listed = client.get("/api/schedules").json
    assert listed["total"] == 1 and listed["items"][0]["id"] == body["id"]
    assert client.get(f"/api/schedules/{body['id']}").json == body


def test_the_default_timezone_is_the_configured_one(make_app: AppFactory) -> None:
    client = make_app(timezone="America/New_York", start=False).test_client()
    target = create_script(client, "tz", "print(1)")
    with time_machine.travel(datetime(2030, 1, 15, 12, tzinfo=UTC), tick=False):  # EST, UTC-5
        response = client.post("/api/schedules", json={"name": "ny", "script_id": target["id"], "cron": "@daily"})
    assert response.status_code == 201
    assert response.json["timezone"] == "America/New_York"
    assert datetime.fromisoformat(response.json["next_run_at"]) == datetime(2030, 1, 16, 5, tzinfo=UTC)


@pytest.mark.parametrize(
    ("fields", "field", "text"),
    [
        ({"cron": "*/0 * * * *"}, "cron", "step"),
        ({"cron": "61 * * * *"}, "cron", "minute: 61 is out of range 0-59"),
        ({"cron": "0 0 * * foo"}, "cron", "day of week: 'foo' is not a number or name (0-6, sun-sat)"),
        (
            {"cron": "* * * *"},
            "cron",
            "expected 5 fields (minute hour day month weekday), or 6 with seconds first, got 4",
        ),
        ({"cron": "@reboot"}, "cron", "not supported"),
        ({"cron": "x" * 5000}, "cron", "200"),
        ({"timezone": "Mars/Olympus"}, "timezone", "unknown timezone"),
        ({"script_id": 999}, "script_id", "does not exist"),
        ({"params": {"COUNT": "many"}}, "params.COUNT", "integer"),
        ({"params": {"NOPE": 1}}, "params.NOPE", "unknown parameter"),
        ({"params": {"MODE": "medium"}}, "params.MODE", "one of"),
        ({"overlap_policy": "sometimes"}, "overlap_policy", ""),
        ({"misfire_grace_seconds": 0}, "misfire_grace_seconds", ""),
        ({"name": "  "}, "name", "empty"),
        ({"enabled": "yes"}, "enabled", ""),
    ],
)
def test_it_rejects_bad_input_with_a_422_naming_the_field(
    client: FlaskClient, script: dict, fields: dict, field: str, text: str
) -> None:
    body = {"name": "bad", "script_id": script["id"], "cron": "* * * * *", "timezone": "UTC", **fields}
    response = client.post("/api/schedules", json=body)
    assert response.status_code == 422, response.json
    assert response.mimetype == "application/problem+json"
    assert response.json["field"] == field
    assert text in response.json["detail"]


def test_a_required_parameter_without_default_must_be_given(client: FlaskClient) -> None:
    target = create_script(client, "needs", "print(1)", parameters=[{"name": "WHO", "required": True}])
    body = {"name": "s", "script_id": target["id"], "cron": "@hourly", "timezone": "UTC"}
    response = client.post("/api/schedules", json=body)
    assert response.status_code == 422 and response.json["field"] == "params.WHO"
    assert client.post("/api/schedules", json={**body, "params": {"WHO": "ada"}}).status_code == 201


def test_names_are_unique(client: FlaskClient, script: dict) -> None:
    make(client, script["id"])
    response = client.post(
        "/api/schedules", json={"name": "nightly", "script_id": script["id"], "cron": "@daily", "timezone": "UTC"}
    )
    assert response.status_code == 409 and response.json["field"] == "name"


def test_put_patch_toggle_and_delete(client: FlaskClient, script: dict, app: Flask) -> None:
    created = make(client, script["id"], params={"TOKEN": "keep-me"})
    sid = created["id"]
    patched = client.patch(f"/api/schedules/{sid}", json={"cron": "30 15 * * *", "timezone": "Europe/Berlin"}).json
    assert patched["cron"] == "30 15 * * *" and patched["timezone"] == "Europe/Berlin"
    assert datetime.fromisoformat(patched["next_run_at"]).astimezone(ZoneInfo("Europe/Berlin")).hour == 15
    # A secret sent back as *** keeps its value; the API never shows it.
    replaced = client.put(
        f"/api/schedules/{sid}",
        json={
            "name": "renamed",
            "script_id": script["id"],
            "cron": "0 4 * * *",
            "timezone": "UTC",
            "params": {"TOKEN": "***", "COUNT": 7},
            "overlap_policy": "parallel",
        },
    )
    assert replaced.status_code == 200, replaced.json
    assert replaced.json["params"] == {"TOKEN": "***", "COUNT": 7}
    with app.app_context():
        assert db.session.get(Schedule, sid).params == {"TOKEN": "keep-me", "COUNT": 7}
    assert client.patch(f"/api/schedules/{sid}", json={"params": None}).json["params"]["COUNT"] == 7

    off = client.post(f"/api/schedules/{sid}/toggle")
    assert off.status_code == 200 and off.json["enabled"] is False and off.json["next_run_at"] is None
    on = client.post(f"/api/schedules/{sid}/toggle").json
    assert on["enabled"] is True and on["next_run_at"] is not None
    assert client.get("/api/schedules?enabled=false").json["total"] == 0

    assert client.delete(f"/api/schedules/{sid}").status_code == 204
    assert client.get(f"/api/schedules/{sid}").status_code == 404
    assert client.post(f"/api/schedules/{sid}/toggle").status_code == 404
    assert client.patch(f"/api/schedules/{sid}", json={"enabled": False}).status_code == 404


def test_run_now_queues_a_schedule_run_and_records_it(client: FlaskClient, script: dict) -> None:
    sid = make(client, script["id"], params={"COUNT": 4}, enabled=False)["id"]
    response = client.post(f"/api/schedules/{sid}/run-now")
    assert response.status_code == 202, response.json
    run = response.json
    assert run["trigger"] == "schedule" and run["schedule_id"] == sid
    assert run["params"] == {"COUNT": 4, "MODE": "fast"}
    assert wait_final(client, run["id"])["status"] == "succeeded"
    fires = client.get(f"/api/schedules/{sid}/fires").json
    assert fires["total"] == 1
    assert fires["items"][0] | {"id": 0, "scheduled_for": "", "fired_at": ""} == {
        "id": 0,
        "schedule_id": sid,
        "scheduled_for": "",
        "fired_at": "",
        "outcome": "started",
        "execution_id": run["id"],
        "detail": "run now",
    }
    schedule = client.get(f"/api/schedules/{sid}").json
    assert schedule["last_status"] == "succeeded" and schedule["last_run_at"] is not None


def test_run_now_of_a_disabled_script_is_a_409(client: FlaskClient, script: dict) -> None:
    sid = make(client, script["id"])["id"]
    client.patch(f"/api/scripts/{script['id']}", json={"enabled": False})
    response = client.post(f"/api/schedules/{sid}/run-now")
    assert response.status_code == 409
    assert client.get(f"/api/schedules/{sid}/fires").json["total"] == 0


def test_deleting_the_script_deletes_its_schedules(client: FlaskClient, script: dict) -> None:
    sid = make(client, script["id"])["id"]
    assert client.delete(f"/api/scripts/{script['id']}").status_code == 204
    assert client.get(f"/api/schedules/{sid}").status_code == 404


def test_preview_lists_next_times_with_offsets(client: FlaskClient) -> None:
    response = client.get("/api/schedules/preview", query_string={"cron": "@hourly", "timezone": "Asia/Kolkata"})
    assert response.status_code == 200
    body = response.json
    assert body["fields"] == "0 * * * *" and body["has_seconds"] is False and len(body["times"]) == 5
    assert all(t.endswith("+05:30") for t in body["times"])
    seconds = client.get("/api/schedules/preview", query_string={"cron": "*/10 * * * * *", "count": 3}).json
    assert seconds["has_seconds"] is True and len(seconds["times"]) == 3


@pytest.mark.parametrize(
    "query",
    [
        {"cron": "*/0 * * * *"},
        {"cron": "not cron"},
        {"cron": "* * * * *", "timezone": "Nowhere/Land"},
        {"cron": "* * * * *", "count": 0},
        {"cron": "* * * * *", "count": 1000},
        {"cron": "x" * 10_000},
        {},
    ],
)
def test_preview_explains_bad_input_with_a_422(client: FlaskClient, query: dict) -> None:
    response = client.get("/api/schedules/preview", query_string=query)
    assert response.status_code == 422, response.json
    assert response.json["detail"]


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        # spring forward: 02:30 does not exist on 2026-03-29, so it fires once at 03:00 CEST
        (
            "2026-03-27T12:00:00Z",
            ["2026-03-28T02:30:00+01:00", "2026-03-29T03:00:00+02:00", "2026-03-30T02:30:00+02:00"],
        ),
        # fall back: 02:30 happens twice on 2026-10-25; a fixed time fires at the first one only
        (
            "2026-10-23T12:00:00Z",
            ["2026-10-24T02:30:00+02:00", "2026-10-25T02:30:00+02:00", "2026-10-26T02:30:00+01:00"],
        ),
    ],
)
def test_preview_across_dst_changes_is_deterministic(client: FlaskClient, day: str, expected: list[str]) -> None:
    with time_machine.travel(datetime.fromisoformat(day), tick=False):
        response = client.get(
            "/api/schedules/preview", query_string={"cron": "30 2 * * *", "timezone": "Europe/Berlin", "count": 3}
        )
    assert response.status_code == 200
    assert response.json["times"] == expected


def test_fires_of_an_unknown_schedule_are_a_404(client: FlaskClient) -> None:
    assert client.get("/api/schedules/12345/fires").status_code == 404
    assert client.get("/api/schedules/1/fires?outcome=exploded").status_code == 422


def test_the_openapi_document_describes_the_schedules_api(client: FlaskClient) -> None:
    spec = client.get("/api/openapi.json").json
    validate(spec)
    for path in ("/api/schedules", "/api/schedules/preview", "/api/schedules/{schedule_id}/fires"):
        assert path in spec["paths"]
