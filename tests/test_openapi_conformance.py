"""The OpenAPI document tells the truth: schemathesis calls every operation and checks each answer.

Every operation in ``/api/openapi.json`` is called in-process (WSGI) as an admin with generated
valid and invalid requests (a fixed seed, a small budget), and each response must be no 5xx, a
documented status, a documented content type and match the documented schema; an operation that
declares authentication must refuse a request without it. Nothing is excluded:
``test_every_api_route_is_in_the_document`` fails if a route is missing from the document.

Notes on operations that need care (all are run, none is skipped):

- ``DELETE /api/auth/tokens/{id}`` may revoke the token the run uses, ``PATCH /api/users/{id}`` may
  demote or deactivate its admin: ``admin_headers`` notices and makes a new admin and token.
- ``POST /api/auth/logout`` ends a cookie session only; the run authenticates with a bearer token.
- ``POST /api/auth/password`` needs the current password, which generated data never guesses (422,
  then 429 from the throttle, both documented).
- ``GET …/logs/stream`` (SSE) ends once the run is over and its log drained; the seeded run is over,
  and schemathesis stops reading a stream after ``request-timeout`` in any case.
- ``POST …/execute``, ``…/rerun`` and ``…/run-now`` really run the tiny seeded script: every run
  still queued or running is cancelled and waited for before the app stops, and no process may be
  left (checked).
"""

from __future__ import annotations

import contextlib
import itertools
import shutil
import tempfile
import time
from collections.abc import Collection, Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
import schemathesis
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from openapi_spec_validator import validate
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
    unsupported_method,
)

from backend.app import JSON_METHODS, create_app
from backend.config import Settings
from backend.openapi_doc import BODY_METHODS, openapi_path
from backend.policies import Policy, policy_for
from tests.conftest import build_app, close_app, copy_home_database, make_settings
from tests.helpers import FINAL, create_script, execute, wait_final, wait_for

MAX_EXAMPLES = 10  # generated requests per operation, plus schemathesis' boundary cases: the module takes ~45 s
SEED_CODE = "open('out.txt', 'w').write('hello\\n')\nprint('hello')\n"
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
    ignored_auth,  # an operation that declares security refuses a request without it (401)
    unsupported_method,  # a method the path does not document is a 405 with an Allow header
]
# Not run: positive_data_acceptance / negative_data_rejection judge how strict request validation is
# (e.g. a cron expression or timezone the schema cannot describe), not whether responses are documented.
_ADMINS = itertools.count(1)


def _served_document() -> dict[str, Any]:
    """The document as ``GET /api/openapi.json`` serves it (needs no database)."""
    with tempfile.TemporaryDirectory() as home:
        app = create_app(make_settings(Path(home)), {"TESTING": True})
        return app.test_client(role=None).get("/api/openapi.json").json  # type: ignore[no-any-return]


class CurrentApp:
    """The WSGI app schemathesis calls: the running test's fresh app (the schema is built at import)."""

    app: Flask | None = None

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        assert self.app is not None, "only inside a test that uses the seeded_app fixture"
        return self.app(environ, start_response)


CURRENT = CurrentApp()
DOCUMENT = _served_document()
schema = schemathesis.openapi.from_dict(
    DOCUMENT,
    config=schemathesis.Config.from_dict({"request-timeout": 5, "continue-on-failure": True}),
)
# As schemathesis.openapi.from_wsgi does: requests (and the auth probes) go in-process. The schema is
# built at import and forwards to each test's app because schemathesis.pytest.from_fixture (a schema
# per test) fails on pytest 9.2 (schemathesis 4.32 sets `Function._nodeid`, which pytest 9.2 removed).
schema.app = CURRENT


def admin_headers(app: Flask) -> dict[str, str]:
    """A bearer token of an active admin, made again if the run revoked, demoted or deactivated it."""
    from backend.models import Role
    from backend.services.auth import tokens, users

    raw = app.extensions.get("conformance.token")
    with app.app_context():
        user = tokens.resolve(raw) if raw else None
        if user is None or user.role != Role.ADMIN.value:
            user = users.create_user(f"conformance-admin-{next(_ADMINS)}", "conformance-password", Role.ADMIN.value)
            _, raw = tokens.create_token(user, "conformance")
            app.extensions["conformance.token"] = raw
    return {"Authorization": f"Bearer {raw}"}


def _live_children(outside: Collection[int] = ()) -> set[int]:
    """Our descendants that still run (a zombie counts as dead: no reaping init in containers),
    leaving out ``outside`` and everything below them: the end-to-end tests' server lives for the
    whole session and starts runs of its own (its schedules fire whenever their minute comes)."""
    alive = set()
    below_outside: set[int] = set()
    for pid in outside:
        with contextlib.suppress(psutil.NoSuchProcess):
            below_outside.update(child.pid for child in psutil.Process(pid).children(recursive=True))
    for child in psutil.Process().children(recursive=True):
        if child.pid in outside or child.pid in below_outside:
            continue
        try:
            if child.status() != psutil.STATUS_ZOMBIE:
                alive.add(child.pid)
        except psutil.NoSuchProcess:
            pass
    return alive


def _stop_runs(app: Flask) -> None:
    """Cancel whatever the generated requests queued or started, and wait until every run has ended."""
    client = app.test_client(role=None)

    def unfinished() -> list[dict]:
        listing = client.get("/api/executions?per_page=200", headers=admin_headers(app))
        return [e for e in listing.json["items"] if e["status"] not in FINAL]

    for execution in unfinished():  # 200, or 409 if it just ended
        client.post(f"/api/executions/{execution['id']}/cancel", headers=admin_headers(app))
    wait_for(lambda: not unfinished(), timeout=30, message="every run to end")


@pytest.fixture(scope="module")
def seeded_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Made once: a home with a script (id 1), its finished run (id 1, a workspace file) and a schedule (id 1)."""
    home = tmp_path_factory.mktemp("seeded-home")
    app = build_app(make_settings(home))
    app.extensions["scriptman.start_services"]()
    try:
        client = app.test_client()
        script = create_script(client, "conformance", SEED_CODE)
        run = wait_final(client, execute(client, script["id"])["id"])
        assert run["status"] == "succeeded", run
        schedule = client.post("/api/schedules", json={"name": "nightly", "script_id": script["id"], "cron": "@daily"})
        assert schedule.status_code == 201, schedule.json
    finally:
        close_app(app)  # the last connection closes: SQLite folds its WAL into the database file
    return home


@pytest.fixture
def settings(tmp_path: Path, seeded_home: Path) -> Settings:
    """Overrides conftest's: each test here gets its own copy of the seeded home (cheaper than a new run)."""
    shutil.copytree(seeded_home, tmp_path, dirs_exist_ok=True, symlinks=True)
    copy_home_database(seeded_home, tmp_path)  # PostgreSQL's is not in the folder
    return make_settings(tmp_path)


@pytest.fixture
def seeded_app(app: Flask) -> Iterator[Flask]:
    """A fresh app on a copy of the seeded home; schemathesis' requests go to it."""
    before = _live_children()  # e.g. the end-to-end tests' server and browser, alive for the whole session
    CURRENT.app = app
    yield app
    CURRENT.app = None
    _stop_runs(app)
    wait_for(lambda: not _live_children(before), timeout=10, message="no process left by the runs")


@schema.parametrize()
@hypothesis_settings(
    max_examples=MAX_EXAMPLES,
    derandomize=True,  # the same requests on every run: a failure is reproducible, not flaky
    database=None,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
def test_every_operation_answers_as_documented(case: schemathesis.Case, seeded_app: Flask) -> None:
    case.call_and_validate(headers=admin_headers(seeded_app), checks=CHECKS)


def _operations() -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in DOCUMENT["paths"].items():
        for method, operation in item.items():
            yield path, method, operation


def test_every_api_route_is_in_the_document(app: Flask) -> None:
    """Nothing escapes the run above: each API route and method is an operation of the document."""
    documented = {(path, method.upper()) for path, method, _ in _operations()}
    routes = {
        (openapi_path(rule.rule), method)
        for rule in app.url_map.iter_rules()
        # not operations: the document itself, and flask-openapi3's documentation pages under /api/docs
        if rule.rule.startswith(("/api/", "/hooks/"))
        and rule.endpoint != "system.openapi_document"
        and not rule.endpoint.startswith("openapi.")
        for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}
    }
    assert routes == documented


def test_the_openapi_document_is_valid_and_lists_the_common_statuses(app: Flask) -> None:
    validate(DOCUMENT)
    assert BODY_METHODS == JSON_METHODS  # the methods whose body the JSON guard reads (400/413)
    endpoints = {
        (openapi_path(rule.rule), method.lower()): rule.endpoint
        for rule in app.url_map.iter_rules()
        for method in rule.methods or set()
    }
    for path, method, operation in _operations():
        responses = operation["responses"]
        label = f"{method.upper()} {path}"
        assert {"414", "500"} <= set(responses), label
        if policy_for(endpoints[path, method]) != Policy.PUBLIC:
            assert "401" in responses and operation["security"] == [{"bearer": []}, {"session": []}], label
        if method in ("post", "put", "patch"):
            assert {"400", "413"} <= set(responses), label
        if "{" in path:
            assert "404" in responses, label
        for status, response in responses.items():  # a problem is served as problem+json, not application/json
            content = response.get("content", {})
            if any(media.get("schema", {}).get("$ref", "").endswith("/Problem") for media in content.values()):
                assert set(content) == {"application/problem+json"}, (label, status)
    assert DOCUMENT["components"]["securitySchemes"]["session"]["name"] == "scriptman_session"


def test_the_log_stream_is_documented_as_server_sent_events() -> None:
    ok = DOCUMENT["paths"]["/api/executions/{execution_id}/logs/stream"]["get"]["responses"]["200"]
    assert list(ok["content"]) == ["text/event-stream"]
    event = ok["content"]["text/event-stream"]["schema"]  # OpenAPI 3.1: the schema describes one event
    assert event["properties"]["event"]["enum"] == ["log", "logs", "progress", "status", "end"]
    for words in ("`log`", "`logs`", "batch=true", "`progress`", "`status`", "`end`", "Last-Event-ID", "byte offset"):
        assert words in ok["description"]


def test_the_log_stream_sends_events_and_ends(seeded_app: Flask) -> None:
    """The stream as a client sees it: the documented events, with byte offsets as ids, then ``end``."""
    client = seeded_app.test_client()
    started = time.monotonic()
    response = client.get("/api/executions/1/logs/stream")
    body = response.get_data(as_text=True)  # returns: the run is over, so the stream ends
    assert response.status_code == 200 and response.mimetype == "text/event-stream"
    assert time.monotonic() - started < 10
    assert (
        "event: log\n" in body
        and "event: status\n" in body
        and body.rstrip().split("\n\n")[-1].startswith("event: end")
    )
    assert "id: " in body
    resumed = client.get("/api/executions/1/logs/stream", headers={"Last-Event-ID": "0"})
    assert resumed.status_code == 200
    bad = client.get("/api/executions/1/logs/stream", headers={"Last-Event-ID": "x"})
    assert bad.status_code == 400 and bad.mimetype == "application/problem+json"


def test_a_wrong_method_is_a_405_problem_naming_the_allowed_ones(client: FlaskClient) -> None:
    response = client.open("/api/scripts", method="TRACE")
    assert response.status_code == 405 and response.mimetype == "application/problem+json"
    assert set(response.headers["Allow"].replace(" ", "").split(",")) >= {"GET", "POST"}


def test_null_in_a_user_patch_leaves_the_field_as_it_is(client: FlaskClient) -> None:
    """Found by schemathesis: ``{"username": null}`` (or password, role, full_name) was a 500, and
    ``{"active": null}`` deactivated the account. null now means "unchanged", as in the other PATCH bodies."""
    user = client.post("/api/users", json={"username": "bob", "password": "password123", "role": "editor"}).json
    for field in ("username", "password", "role", "full_name", "active"):
        response = client.patch(f"/api/users/{user['id']}", json={field: None})
        assert response.status_code == 200, (field, response.json)
        assert response.json == user
    assert client.patch(f"/api/users/{user['id']}", json={"bogus": None}).status_code == 422
