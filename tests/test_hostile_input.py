"""Hostile input across every endpoint: the one 4xx problem each deserves, never a 500, never a partial write."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any, NamedTuple

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from backend.extensions import db
from backend.models import Execution, Schedule, Script, ScriptVersion, User
from tests.conftest import build_app, close_app, make_settings
from tests.helpers import create_script

DEEP_JSON = "[" * 100_000 + "]" * 100_000
SCRIPT = {"name": "base", "language": "python", "code": "print(1)"}


def _script(**changes: Any) -> dict[str, Any]:
    return {**SCRIPT, "name": "hostile", **changes}


def _schedule(**changes: Any) -> dict[str, Any]:
    return {"name": "nightly", "script_id": 1, "cron": "0 3 * * *", "timezone": "UTC", **changes}


class Case(NamedTuple):
    """A request and the one answer it must get: ``status``, and the ``field`` its problem names."""

    method: str
    url: str
    kind: str  # "json" (payload serialised), "raw" (payload sent as-is as JSON), "text" (text/plain) or "none"
    payload: Any
    status: int
    field: str | None


def bad_script(field: str, value: Any, at: str | None = None) -> Case:
    """A new script with one wrong field: a 422 naming it (or the item ``at`` fault)."""
    return Case("POST", "/api/scripts", "json", _script(**{field: value}), 422, at or field)


def bad_schedule(field: str, value: Any) -> Case:
    return Case("POST", "/api/schedules", "json", _schedule(**{field: value}), 422, field)


def bad_run(params: Any, at: str) -> Case:
    return Case("POST", "/api/scripts/1/execute", "json", {"params": params}, 422, at)


def get(url: str, status: int, field: str | None) -> Case:
    return Case("GET", url, "none", None, status, field)


def missing(method: str, url: str, payload: Any = None) -> Case:
    """An id that does not exist: 404, whatever else is wrong with the request."""
    return Case(method, url, "none" if payload is None else "json", payload, 404, None)


CASES: list[Case] = [
    # scripts: wrong types and values for every field
    bad_script("name", 5),
    bad_script("name", None),
    bad_script("name", ["a"]),
    bad_script("language", "cobol"),
    bad_script("language", 3),
    bad_script("code", ["x"]),
    bad_script("code", 1),
    bad_script("dependencies", "numpy"),
    bad_script("dependencies", [1], "dependencies.0"),
    bad_script("dependencies", ["-e ."], "dependencies[0]"),
    bad_script("dependencies", ["--index-url=http://evil"], "dependencies[0]"),
    bad_script("dependencies", ["not a req !!"], "dependencies[0]"),
    bad_script("parameters", {}),
    bad_script("parameters", [1], "parameters.0"),
    bad_script("parameters", [{"name": "1bad"}], "parameters.0.name"),
    bad_script("parameters", [{"name": "PATH"}], "parameters.0.name"),
    bad_script("parameters", [{"name": "A"}, {"name": "A"}], "parameters[1].name"),
    bad_script("parameters", [{"name": "A", "type": "float"}], "parameters.0.type"),
    bad_script("parameters", [{"name": "A", "type": "integer", "default": "x"}], "parameters.0"),
    bad_script("parameters", [{"name": "A", "type": "choice"}], "parameters.0"),
    bad_script("parameters", [{"name": "A", "type": "choice", "choices": []}], "parameters.0"),
    bad_script("parameters", [{"name": "A", "extra": 1}], "parameters.0.extra"),
    bad_script("tags", "a,b"),
    bad_script("tags", [""]),
    bad_script("tags", ["x" * 101]),
    bad_script("folder", "../etc"),
    bad_script("folder", "a/../b"),
    bad_script("folder", "a/\x00"),
    bad_script("folder", 5),
    bad_script("timeout_seconds", "5"),
    bad_script("timeout_seconds", 0),
    bad_script("timeout_seconds", -1),
    bad_script("timeout_seconds", 10**12),
    bad_script("max_concurrent", 0),
    bad_script("concurrency_policy", "drop"),
    bad_script("max_retries", 100),
    bad_script("retry_delay_seconds", -1),
    bad_script("enabled", "yes"),
    bad_script("enabled", 1),
    bad_script("limits", "big"),
    bad_script("limits", {"memory_mb": 1}, "limits.memory_mb"),
    bad_script("limits", {"gpus": 2}, "limits.gpus"),
    bad_script("sandbox_network", "no"),
    bad_script("unknown_field", 1),
    bad_script("name", ""),
    bad_script("name", "   "),
    bad_script("name", "bad\x00name"),
    bad_script("name", "line\nbreak"),
    bad_script("name", "x" * 10_000),
    Case("POST", "/api/scripts", "json", {"language": "python"}, 422, "name"),
    Case("POST", "/api/scripts", "json", {"name": "only-name"}, 422, "language"),
    Case("POST", "/api/scripts", "json", SCRIPT, 409, "name"),  # the base script's name again
    # bodies that are not a JSON object
    Case("POST", "/api/scripts", "raw", "{bad json", 400, "body"),
    Case("POST", "/api/scripts", "raw", "[]", 422, "body"),
    Case("POST", "/api/scripts", "raw", '"string"', 422, "body"),
    Case("POST", "/api/scripts", "raw", "null", 422, "body"),
    Case("POST", "/api/scripts", "raw", "1e999999", 422, "body"),
    Case("POST", "/api/scripts", "raw", DEEP_JSON, 400, "body"),
    Case("POST", "/api/scripts", "raw", '{"name": "\\ud800", "language": "python"}', 422, "name"),
    Case("POST", "/api/scripts", "text", json.dumps(SCRIPT), 422, "body"),
    Case("POST", "/api/scripts", "none", None, 422, "body"),
    # edits and versions
    Case("PUT", "/api/scripts/1", "json", {"name": "base"}, 422, "language"),
    Case("PUT", "/api/scripts/1", "json", {**SCRIPT, "version": 99}, 409, "version"),
    Case("PUT", "/api/scripts/1", "json", {**SCRIPT, "version": "1"}, 422, "version"),
    Case("PATCH", "/api/scripts/1", "json", {"code": 5}, 422, "code"),
    missing("PATCH", "/api/scripts/999", {"description": "x"}),
    Case("PATCH", "/api/scripts/1", "json", {"version": 0}, 422, "version"),
    get("/api/scripts?page=0", 422, "page"),
    get("/api/scripts?per_page=100000", 422, "per_page"),
    get("/api/scripts?page=abc", 422, "page"),
    get("/api/scripts/99999999999999999999999", 422, "script_id"),
    get("/api/scripts/1/versions/0", 422, "number"),
    get("/api/scripts/1/versions/99", 404, "version"),
    get("/api/scripts/1/diff?from=1", 422, "to"),
    get("/api/scripts/1/diff?from=a&to=1", 422, "from"),
    get("/api/scripts/1/diff?from=1&to=77", 404, "version"),
    Case("POST", "/api/scripts/1/rollback/42", "none", None, 404, "version"),
    missing("DELETE", "/api/scripts/404"),
    # runs
    bad_run([], "params"),
    bad_run("N=1", "params"),
    bad_run({"N": "abc"}, "params.N"),
    bad_run({"N": 1.5}, "params.N"),
    bad_run({"N": True}, "params.N"),
    bad_run({"N": "1" * 40}, "params.N"),
    bad_run({"UNKNOWN": 1}, "params.UNKNOWN"),
    bad_run({"MODE": "nope"}, "params.MODE"),
    bad_run({"FLAG": "maybe"}, "params.FLAG"),
    bad_run({"RATIO": "NaN"}, "params.RATIO"),
    bad_run({"NOTE": "a\x00b"}, "params.NOTE"),
    Case("POST", "/api/scripts/1/execute", "json", {"other": 1}, 422, "other"),
    Case("POST", "/api/scripts/1/execute", "raw", "{nope", 400, "body"),
    Case("POST", "/api/scripts/1/execute", "raw", DEEP_JSON, 400, "body"),
    missing("POST", "/api/scripts/999/execute", {}),
    # executions
    get("/api/executions?status=exploded", 422, "status"),
    get("/api/executions?trigger=cron", 422, "trigger"),
    get("/api/executions?script_id=abc", 422, "script_id"),
    get("/api/executions?per_page=0", 422, "per_page"),
    missing("GET", "/api/executions/424242"),
    missing("POST", "/api/executions/424242/cancel"),
    missing("POST", "/api/executions/424242/rerun"),
    missing("DELETE", "/api/executions/424242"),
    get("/api/executions/1/logs?offset=-1", 422, "offset"),
    get("/api/executions/1/logs?limit=0", 422, "limit"),
    get("/api/executions/1/logs?format=xml", 422, "format"),
    missing("GET", "/api/executions/424242/logs/stream"),
    missing("GET", "/api/executions/424242/files"),
    missing("GET", "/api/executions/424242/archive"),
    # schedules
    *[
        bad_schedule("cron", cron)
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
    *[bad_schedule("timezone", tz) for tz in ["Mars/Base", "../../etc/localtime", "UTC\x00", "x" * 300, 5]],
    bad_schedule("script_id", 999),
    bad_schedule("script_id", "1"),
    bad_schedule("overlap_policy", "sometimes"),
    bad_schedule("misfire_grace_seconds", -5),
    Case("POST", "/api/schedules", "json", _schedule(params={"N": "abc"}), 422, "params.N"),
    bad_schedule("params", [1]),
    bad_schedule("name", ""),
    Case("POST", "/api/schedules", "raw", "{", 400, "body"),
    get("/api/schedules/preview?cron=*/0+*+*+*+*", 422, "cron"),
    get("/api/schedules/preview?cron=0+3+*+*+*&timezone=Nowhere/City", 422, "timezone"),
    get("/api/schedules/preview?cron=0+3+*+*+*&count=100000", 422, "count"),
    get("/api/schedules/preview", 422, "cron"),
    missing("GET", "/api/schedules/9999"),
    missing("POST", "/api/schedules/9999/toggle"),
    missing("POST", "/api/schedules/9999/run-now"),
    # users and auth
    Case("POST", "/api/users", "json", {"username": "../../x", "password": "long-enough"}, 422, "username"),
    Case("POST", "/api/users", "json", {"username": "ok", "password": "short"}, 422, "password"),
    Case("POST", "/api/users", "json", {"username": "ok", "password": "long-enough", "role": "root"}, 422, "role"),
    Case("POST", "/api/users", "json", {"username": "", "password": "long-enough"}, 422, "username"),
    Case("POST", "/api/users", "json", {"username": "a\x00b", "password": "long-enough"}, 422, "username"),
    missing("PATCH", "/api/users/9999", {"role": "viewer"}),
    missing("DELETE", "/api/users/9999"),
    Case("POST", "/api/auth/login", "json", {"username": 1, "password": 2}, 422, "username"),
    Case("POST", "/api/auth/login", "json", {"username": "admin", "password": "x" * 5000}, 422, "password"),
    Case("POST", "/api/auth/login", "raw", "{", 400, "body"),
    Case("POST", "/api/auth/tokens", "json", {"name": ""}, 422, "name"),
    missing("DELETE", "/api/auth/tokens/9999"),
    get("/api/audit?page=-1", 422, "page"),
]


def _counts(app: Flask) -> tuple[int, ...]:
    with app.app_context():
        counts = tuple(
            db.session.scalar(select(func.count()).select_from(model)) or 0
            for model in (Script, ScriptVersion, Execution, Schedule, User)
        )
        db.session.remove()
        return counts


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FlaskClient]:
    """One app for every case: each must leave it as it found it, and checks that it did."""
    app = build_app(make_settings(tmp_path_factory.mktemp("hostile")))
    client = app.test_client()
    parameters = [
        {"name": "N", "type": "integer"},
        {"name": "MODE", "type": "choice", "choices": ["a", "b"]},
        {"name": "FLAG", "type": "boolean"},
        {"name": "RATIO", "type": "number"},
        {"name": "NOTE", "type": "string"},
    ]
    create_script(client, SCRIPT["name"], SCRIPT["code"], parameters=parameters)
    yield client
    close_app(app)


@pytest.mark.parametrize("case", CASES, ids=[f"{i:03d}-{case.method}" for i, case in enumerate(CASES)])
def test_hostile_input_gets_its_4xx_problem_and_changes_nothing(seeded: FlaskClient, case: Case) -> None:
    app = seeded.application
    before = _counts(app)
    method, url = case.method, case.url
    if case.kind == "json":
        response = seeded.open(url, method=method, json=case.payload)
    elif case.kind == "raw":
        response = seeded.open(url, method=method, data=case.payload, content_type="application/json")
    elif case.kind == "text":
        response = seeded.open(url, method=method, data=case.payload, content_type="text/plain")
    else:
        response = seeded.open(url, method=method)
    assert (response.status_code, response.content_type) == (case.status, "application/problem+json"), (
        response.get_data()[:300]
    )
    body = response.json
    assert body["status"] == case.status and body["title"] and body["detail"]
    assert body.get("field") == case.field, body
    assert _counts(app) == before
