"""Hostile input across every endpoint: always a clear 4xx problem, never a 500, never a partial write."""

from __future__ import annotations

import json
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from backend.extensions import db
from backend.models import Execution, Schedule, Script, ScriptVersion, User
from tests.helpers import create_script

DEEP_JSON = "[" * 100_000 + "]" * 100_000
SCRIPT = {"name": "base", "language": "python", "code": "print(1)"}


def _script(**changes: Any) -> dict[str, Any]:
    return {**SCRIPT, "name": "hostile", **changes}


def _schedule(**changes: Any) -> dict[str, Any]:
    return {"name": "nightly", "script_id": 1, "cron": "0 3 * * *", "timezone": "UTC", **changes}


# (method, url, kind, payload): kind is "json" (payload serialised), "raw" (payload sent as-is as JSON),
# "text" (text/plain body) or "none".
CASES: list[tuple[str, str, str, Any]] = [
    # scripts: wrong types for every field
    *[
        ("POST", "/api/scripts", "json", _script(**{field: value}))
        for field, value in [
            ("name", 5),
            ("name", None),
            ("name", ["a"]),
            ("language", "cobol"),
            ("language", 3),
            ("code", ["x"]),
            ("code", 1),
            ("dependencies", "numpy"),
            ("dependencies", [1]),
            ("dependencies", ["-e ."]),
            ("dependencies", ["--index-url=http://evil"]),
            ("dependencies", ["not a req !!"]),
            ("parameters", {}),
            ("parameters", [1]),
            ("parameters", [{"name": "1bad"}]),
            ("parameters", [{"name": "PATH"}]),
            ("parameters", [{"name": "A"}, {"name": "A"}]),
            ("parameters", [{"name": "A", "type": "float"}]),
            ("parameters", [{"name": "A", "type": "integer", "default": "x"}]),
            ("parameters", [{"name": "A", "type": "choice"}]),
            ("parameters", [{"name": "A", "type": "choice", "choices": []}]),
            ("parameters", [{"name": "A", "extra": 1}]),
            ("tags", "a,b"),
            ("tags", [""]),
            ("tags", ["x" * 101]),
            ("folder", "../etc"),
            ("folder", "a/../b"),
            ("folder", "a/\x00"),
            ("folder", 5),
            ("timeout_seconds", "5"),
            ("timeout_seconds", 0),
            ("timeout_seconds", -1),
            ("timeout_seconds", 10**12),
            ("max_concurrent", 0),
            ("concurrency_policy", "drop"),
            ("max_retries", 100),
            ("retry_delay_seconds", -1),
            ("enabled", "yes"),
            ("enabled", 1),
            ("limits", "big"),
            ("limits", {"memory_mb": 1}),
            ("limits", {"gpus": 2}),
            ("sandbox_network", "no"),
            ("unknown_field", 1),
        ]
    ],
    ("POST", "/api/scripts", "json", _script(name="")),
    ("POST", "/api/scripts", "json", _script(name="   ")),
    ("POST", "/api/scripts", "json", _script(name="bad\x00name")),
    ("POST", "/api/scripts", "json", _script(name="line\nbreak")),
    ("POST", "/api/scripts", "json", _script(name="x" * 10_000)),
    ("POST", "/api/scripts", "json", {"language": "python"}),
    ("POST", "/api/scripts", "json", {"name": "only-name"}),
    ("POST", "/api/scripts", "json", SCRIPT),  # duplicate of the base script: 409
    ("POST", "/api/scripts", "raw", "{bad json"),
    ("POST", "/api/scripts", "raw", "[]"),
    ("POST", "/api/scripts", "raw", '"string"'),
    ("POST", "/api/scripts", "raw", "null"),
    ("POST", "/api/scripts", "raw", "1e999999"),
    ("POST", "/api/scripts", "raw", DEEP_JSON),
    ("POST", "/api/scripts", "raw", '{"name": "\\ud800", "language": "python"}'),
    ("POST", "/api/scripts", "text", json.dumps(SCRIPT)),
    ("POST", "/api/scripts", "none", None),
    ("PUT", "/api/scripts/1", "json", {"name": "base"}),
    ("PUT", "/api/scripts/1", "json", {**SCRIPT, "version": 99}),
    ("PUT", "/api/scripts/1", "json", {**SCRIPT, "version": "1"}),
    ("PATCH", "/api/scripts/1", "json", {"code": 5}),
    ("PATCH", "/api/scripts/999", "json", {"description": "x"}),
    ("PATCH", "/api/scripts/1", "json", {"version": 0}),
    ("GET", "/api/scripts?page=0", "none", None),
    ("GET", "/api/scripts?per_page=100000", "none", None),
    ("GET", "/api/scripts?page=abc", "none", None),
    ("GET", "/api/scripts/99999999999999999999999", "none", None),
    ("GET", "/api/scripts/1/versions/0", "none", None),
    ("GET", "/api/scripts/1/versions/99", "none", None),
    ("GET", "/api/scripts/1/diff?from=1", "none", None),
    ("GET", "/api/scripts/1/diff?from=a&to=1", "none", None),
    ("GET", "/api/scripts/1/diff?from=1&to=77", "none", None),
    ("POST", "/api/scripts/1/rollback/42", "none", None),
    ("DELETE", "/api/scripts/404", "none", None),
    # runs
    ("POST", "/api/scripts/1/execute", "json", {"params": []}),
    ("POST", "/api/scripts/1/execute", "json", {"params": "N=1"}),
    ("POST", "/api/scripts/1/execute", "json", {"params": {"N": "abc"}}),
    ("POST", "/api/scripts/1/execute", "json", {"params": {"N": 1.5}}),
    ("POST", "/api/scripts/1/execute", "json", {"params": {"N": True}}),
    ("POST", "/api/scripts/1/execute", "json", {"params": {"N": "1" * 40}}),
    ("POST", "/api/scripts/1/execute", "json", {"params": {"UNKNOWN": 1}}),
    ("POST", "/api/scripts/1/execute", "json", {"params": {"MODE": "nope"}}),
    ("POST", "/api/scripts/1/execute", "json", {"params": {"FLAG": "maybe"}}),
    ("POST", "/api/scripts/1/execute", "json", {"params": {"RATIO": "NaN"}}),
    ("POST", "/api/scripts/1/execute", "json", {"params": {"NOTE": "a\x00b"}}),
    ("POST", "/api/scripts/1/execute", "json", {"other": 1}),
    ("POST", "/api/scripts/1/execute", "raw", "{nope"),
    ("POST", "/api/scripts/1/execute", "raw", DEEP_JSON),
    ("POST", "/api/scripts/999/execute", "json", {}),
    # executions
    ("GET", "/api/executions?status=exploded", "none", None),
    ("GET", "/api/executions?trigger=cron", "none", None),
    ("GET", "/api/executions?script_id=abc", "none", None),
    ("GET", "/api/executions?per_page=0", "none", None),
    ("GET", "/api/executions/424242", "none", None),
    ("POST", "/api/executions/424242/cancel", "none", None),
    ("POST", "/api/executions/424242/rerun", "none", None),
    ("DELETE", "/api/executions/424242", "none", None),
    ("GET", "/api/executions/1/logs?offset=-1", "none", None),
    ("GET", "/api/executions/1/logs?limit=0", "none", None),
    ("GET", "/api/executions/1/logs?format=xml", "none", None),
    ("GET", "/api/executions/424242/logs/stream", "none", None),
    ("GET", "/api/executions/424242/files", "none", None),
    ("GET", "/api/executions/424242/archive", "none", None),
    # schedules
    *[
        ("POST", "/api/schedules", "json", _schedule(cron=cron))
        for cron in [
            "",
            "* * *",
            "* * * * * * *",
            "*/0 * * * *",
            "99 * * * *",
            "* 25 * * *",
            "@never",
            "x" * 5000,
            "0 0 31 2 *",
            "a b c d e",
            "* * * * MON-XYZ",
            "\x00",
        ]
    ],
    *[
        ("POST", "/api/schedules", "json", _schedule(timezone=tz))
        for tz in [
            "Mars/Base",
            "../../etc/localtime",
            "UTC\x00",
            "x" * 300,
            5,
        ]
    ],
    ("POST", "/api/schedules", "json", _schedule(script_id=999)),
    ("POST", "/api/schedules", "json", _schedule(script_id="1")),
    ("POST", "/api/schedules", "json", _schedule(overlap_policy="sometimes")),
    ("POST", "/api/schedules", "json", _schedule(misfire_grace_seconds=-5)),
    ("POST", "/api/schedules", "json", _schedule(params={"N": "abc"})),
    ("POST", "/api/schedules", "json", _schedule(params=[1])),
    ("POST", "/api/schedules", "json", _schedule(name="")),
    ("POST", "/api/schedules", "raw", "{"),
    ("GET", "/api/schedules/preview?cron=*/0+*+*+*+*", "none", None),
    ("GET", "/api/schedules/preview?cron=0+3+*+*+*&timezone=Nowhere/City", "none", None),
    ("GET", "/api/schedules/preview?cron=0+3+*+*+*&count=100000", "none", None),
    ("GET", "/api/schedules/preview", "none", None),
    ("GET", "/api/schedules/9999", "none", None),
    ("POST", "/api/schedules/9999/toggle", "none", None),
    ("POST", "/api/schedules/9999/run-now", "none", None),
    # users and auth
    ("POST", "/api/users", "json", {"username": "../../x", "password": "long-enough"}),
    ("POST", "/api/users", "json", {"username": "ok", "password": "short"}),
    ("POST", "/api/users", "json", {"username": "ok", "password": "long-enough", "role": "root"}),
    ("POST", "/api/users", "json", {"username": "", "password": "long-enough"}),
    ("POST", "/api/users", "json", {"username": "a\x00b", "password": "long-enough"}),
    ("PATCH", "/api/users/9999", "json", {"role": "viewer"}),
    ("DELETE", "/api/users/9999", "none", None),
    ("POST", "/api/auth/login", "json", {"username": 1, "password": 2}),
    ("POST", "/api/auth/login", "json", {"username": "admin", "password": "x" * 5000}),
    ("POST", "/api/auth/login", "raw", "{"),
    ("POST", "/api/auth/tokens", "json", {"name": ""}),
    ("DELETE", "/api/auth/tokens/9999", "none", None),
    ("GET", "/api/audit?page=-1", "none", None),
]


def _counts(app: Flask) -> tuple[int, ...]:
    with app.app_context():
        counts = tuple(
            db.session.scalar(select(func.count()).select_from(model)) or 0
            for model in (Script, ScriptVersion, Execution, Schedule, User)
        )
        db.session.remove()
        return counts


@pytest.fixture
def seeded(app: Flask) -> FlaskClient:
    client = app.test_client()
    parameters = [
        {"name": "N", "type": "integer"},
        {"name": "MODE", "type": "choice", "choices": ["a", "b"]},
        {"name": "FLAG", "type": "boolean"},
        {"name": "RATIO", "type": "number"},
        {"name": "NOTE", "type": "string"},
    ]
    create_script(client, SCRIPT["name"], SCRIPT["code"], parameters=parameters)
    return client


def test_there_are_well_over_a_hundred_cases() -> None:
    assert len(CASES) >= 100


@pytest.mark.parametrize(("method", "url", "kind", "payload"), CASES, ids=[f"{i}" for i in range(len(CASES))])
def test_hostile_input_gets_a_4xx_problem_and_changes_nothing(
    app: Flask, seeded: FlaskClient, method: str, url: str, kind: str, payload: Any
) -> None:
    before = _counts(app)
    if kind == "json":
        response = seeded.open(url, method=method, json=payload)
    elif kind == "raw":
        response = seeded.open(url, method=method, data=payload, content_type="application/json")
    elif kind == "text":
        response = seeded.open(url, method=method, data=payload, content_type="text/plain")
    else:
        response = seeded.open(url, method=method)
    assert 400 <= response.status_code < 500, (method, url, response.status_code, response.get_data()[:300])
    assert response.content_type == "application/problem+json"
    body = response.json
    assert body["status"] == response.status_code and body["detail"] and body["title"]
    after = _counts(app)
    login_side_effect = url == "/api/auth/login"
    assert after == before or login_side_effect, (before, after)
