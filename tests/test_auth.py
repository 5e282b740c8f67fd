"""Accounts, roles, sessions, CSRF, tokens, throttling and the audit trail."""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from backend.policies import Policy, policy_for
from tests.auth_client import token_for
from tests.conftest import AppFactory, make_settings
from tests.helpers import create_script, database_dump

# hook_trigger.trigger: POST /hooks/<token>, whose token is the credential (tests/test_hooks.py)
PUBLIC_ENDPOINTS = {
    "system.health",
    "system.openapi_document",
    "auth.login",
    "auth.current_session",
    "static",
    "hook_trigger.trigger",
}


def _sample_url(rule: Any) -> str:
    url = rule.rule
    for name in rule.arguments:
        url = re.sub(rf"<(?:[a-z]+:)?{name}>", "1", url)
    return url


def _api_rules(app: Flask) -> list[tuple[Any, str]]:
    rules = []
    for rule in app.url_map.iter_rules():
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            rules.append((rule, method))
    return rules


def test_every_route_has_a_declared_access_policy(app: Flask) -> None:
    missing = [rule.endpoint for rule in app.url_map.iter_rules() if policy_for(rule.endpoint) is None]
    assert missing == []


def test_anonymous_requests_get_401_on_every_protected_route(app: Flask) -> None:
    anonymous = app.test_client(role=None)
    checked = 0
    for rule, method in _api_rules(app):
        policy = policy_for(rule.endpoint)
        if policy == Policy.PUBLIC:
            continue
        response = anonymous.open(_sample_url(rule), method=method, json={})
        assert response.status_code == 401, (rule.rule, method, response.status_code)
        assert response.content_type == "application/problem+json"
        checked += 1
    assert checked >= 30


def test_public_routes_answer_without_login(app: Flask) -> None:
    anonymous = app.test_client(role=None)
    assert anonymous.get("/api/health").status_code == 200
    assert anonymous.get("/api/openapi.json").status_code == 200
    public = {rule.endpoint for rule in app.url_map.iter_rules() if policy_for(rule.endpoint) == Policy.PUBLIC}
    assert public - PUBLIC_ENDPOINTS <= {e for e in public if e.startswith(("openapi.", "spa."))}


ROLE_MATRIX = [
    # (method, url, body, {role: expected status})
    ("GET", "/api/scripts", None, {"viewer": 200, "editor": 200, "admin": 200}),
    ("POST", "/api/scripts", {"name": "m", "language": "shell", "code": "true"}, {"viewer": 403, "editor": 201}),
    ("GET", "/api/executions", None, {"viewer": 200, "editor": 200}),
    ("POST", "/api/scripts/1/execute", {}, {"viewer": 403, "editor": 202}),
    ("GET", "/api/users", None, {"viewer": 403, "editor": 403, "admin": 200}),
    (
        "POST",
        "/api/users",
        {"username": "newbie", "password": "longenough"},
        {"viewer": 403, "editor": 403, "admin": 201},
    ),
    ("GET", "/api/audit", None, {"viewer": 403, "editor": 403, "admin": 200}),
    ("GET", "/api/auth/tokens", None, {"viewer": 200, "editor": 200, "admin": 200}),
    ("DELETE", "/api/scripts/1", None, {"viewer": 403}),
]


@pytest.mark.parametrize(("method", "url", "body", "expected"), ROLE_MATRIX)
def test_the_role_matrix(app: Flask, method: str, url: str, body: Any, expected: dict[str, int]) -> None:
    create_script(app.test_client(), "target", "true", language="shell")
    for role, status in expected.items():
        response = app.test_client(role=role).open(url, method=method, json=body)
        assert response.status_code == status, (role, method, url, response.json)


def test_login_sets_an_httponly_lax_cookie_and_me_returns_the_user(app: Flask) -> None:
    browser = app.test_client(role=None)
    token_for(app, "editor")  # creates test-editor
    response = browser.post("/api/auth/login", json={"username": " TEST-Editor ", "password": "test-password"})
    assert response.status_code == 200
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "scriptman_session=" in cookie
    body = response.json
    assert body["user"]["username"] == "test-editor" and body["user"]["role"] == "editor"
    me = browser.get("/api/auth/me").json
    assert me["user"]["username"] == "test-editor" and me["csrf_token"] == body["csrf_token"]
    assert browser.get("/api/auth/session").json == me


def test_the_session_endpoint_answers_anonymous_visitors_without_a_401(app: Flask) -> None:
    response = app.test_client(role=None).get("/api/auth/session")
    assert response.status_code == 200 and response.json == {"user": None, "csrf_token": None}
    assert app.test_client(role="viewer").get("/api/auth/session").json["user"]["role"] == "viewer"


def _logged_in(app: Flask, role: str = "editor") -> tuple[FlaskClient, str]:
    token_for(app, role)
    browser = app.test_client(role=None)
    body = browser.post("/api/auth/login", json={"username": f"test-{role}", "password": "test-password"}).json
    return browser, body["csrf_token"]


def test_cookie_writes_need_the_csrf_token_and_a_same_origin(app: Flask) -> None:
    browser, csrf = _logged_in(app)
    body = {"name": "csrf", "language": "shell", "code": "true"}
    assert browser.post("/api/scripts", json=body).status_code == 403
    assert browser.post("/api/scripts", json=body, headers={"X-CSRF-Token": "wrong"}).status_code == 403
    foreign = {"X-CSRF-Token": csrf, "Origin": "https://evil.example"}
    assert browser.post("/api/scripts", json=body, headers=foreign).status_code == 403
    assert browser.post("/api/scripts", data="{}", content_type="text/plain").status_code == 403
    assert browser.get("/api/scripts").json["total"] == 0
    ok = browser.post("/api/scripts", json=body, headers={"X-CSRF-Token": csrf, "Origin": "http://localhost"})
    assert ok.status_code == 201


def test_logout_and_password_change_end_sessions(app: Flask) -> None:
    first, csrf = _logged_in(app)
    second, _ = _logged_in(app)
    assert first.post("/api/auth/logout", headers={"X-CSRF-Token": csrf}).status_code == 204
    assert first.get("/api/auth/me").status_code == 401
    assert second.get("/api/auth/me").status_code == 200
    admin = app.test_client()
    user_id = second.get("/api/auth/me").json["user"]["id"]
    assert admin.patch(f"/api/users/{user_id}", json={"password": "a-new-password"}).status_code == 200
    assert second.get("/api/auth/me").status_code == 401
    fresh = app.test_client(role=None)
    assert (
        fresh.post("/api/auth/login", json={"username": "test-editor", "password": "a-new-password"}).status_code == 200
    )


def test_a_forged_or_foreign_session_cookie_is_not_accepted(app: Flask, make_app: AppFactory, tmp_path: Any) -> None:
    browser, _ = _logged_in(app)
    cookie = browser.get_cookie("scriptman_session")
    assert cookie is not None
    other = make_app(make_settings(tmp_path / "other"), start=False)
    stranger = other.test_client(role=None)
    stranger.set_cookie("scriptman_session", cookie.value)
    assert stranger.get("/api/auth/me").status_code == 401


def test_tokens_work_until_revoked_and_are_shown_once(app: Flask) -> None:
    browser, csrf = _logged_in(app, "viewer")
    created = browser.post("/api/auth/tokens", json={"name": "ci"}, headers={"X-CSRF-Token": csrf})
    assert created.status_code == 201 and created.json["token"].startswith("smt_")
    raw = created.json["token"]
    listed = browser.get("/api/auth/tokens").json["items"]
    assert "ci" in [t["name"] for t in listed] and all("token" not in t for t in listed)
    api = app.test_client(role=None)
    assert api.get("/api/scripts", headers={"Authorization": f"Bearer {raw}"}).status_code == 200
    assert api.post("/api/scripts", json={}, headers={"Authorization": f"Bearer {raw}"}).status_code == 403
    gone = browser.delete(f"/api/auth/tokens/{created.json['id']}", headers={"X-CSRF-Token": csrf})
    assert gone.status_code == 204
    assert api.get("/api/scripts", headers={"Authorization": f"Bearer {raw}"}).status_code == 401
    assert api.get("/api/scripts", headers={"Authorization": "Bearer smt_guessed"}).status_code == 401
    assert api.get("/api/scripts", headers={"Authorization": "Basic abc"}).status_code == 401


def test_a_token_value_never_appears_in_responses_audit_or_the_database(app: Flask, settings: Any) -> None:
    admin = app.test_client()
    raw = admin.post("/api/auth/tokens", json={"name": "secret-check"}).json["token"]
    app.test_client(role=None).get("/api/scripts", headers={"Authorization": f"Bearer {raw}"})
    assert raw not in admin.get("/api/audit?per_page=200").data.decode()
    assert raw not in admin.get("/api/auth/tokens").data.decode()
    with app.app_context():
        from backend.extensions import db

        db.session.remove()
        db.engine.dispose()
    assert raw.encode() not in database_dump(settings)


def test_repeated_failed_logins_are_throttled(app: Flask) -> None:
    token_for(app, "viewer")
    browser = app.test_client(role=None)
    codes = [
        browser.post("/api/auth/login", json={"username": "test-viewer", "password": "nope-nope"}).status_code
        for _ in range(11)
    ]
    assert codes[:10] == [401] * 10 and codes[10] == 429
    blocked = browser.post("/api/auth/login", json={"username": "test-viewer", "password": "test-password"})
    assert blocked.status_code == 429 and int(blocked.headers["Retry-After"]) > 0


def test_users_are_managed_by_admins_and_the_last_admin_is_protected(app: Flask) -> None:
    admin = app.test_client()
    created = admin.post("/api/users", json={"username": "Ada", "password": "lovelace-1", "role": "editor"})
    assert created.status_code == 201 and created.json["username"] == "ada"
    assert admin.post("/api/users", json={"username": "ADA", "password": "lovelace-1"}).status_code == 409
    assert admin.post("/api/users", json={"username": "x", "password": "short"}).status_code == 422
    assert admin.post("/api/users", json={"username": "../x", "password": "long-enough"}).status_code == 422
    me = admin.get("/api/auth/me").json["user"]
    assert admin.patch(f"/api/users/{me['id']}", json={"role": "viewer"}).status_code == 409
    assert admin.delete(f"/api/users/{me['id']}").status_code == 409
    ada = created.json["id"]
    assert admin.patch(f"/api/users/{ada}", json={"active": False}).status_code == 200
    login = app.test_client(role=None).post("/api/auth/login", json={"username": "ada", "password": "lovelace-1"})
    assert login.status_code == 401
    assert admin.delete(f"/api/users/{ada}").status_code == 204


def test_changes_are_audited_with_who_what_and_where(app: Flask) -> None:
    editor = app.test_client(role="editor")
    script = create_script(editor, "audited", "true", language="shell")
    editor.patch(f"/api/scripts/{script['id']}", json={"description": "x"})
    run = editor.post(f"/api/scripts/{script['id']}/execute", json={}).json
    editor.delete(f"/api/scripts/{script['id']}")
    app.test_client(role=None).post("/api/auth/login", json={"username": "nobody", "password": "whatever"})
    events = app.test_client().get("/api/audit?per_page=50").json["items"]
    actions = [(e["action"], e["username"], e["target_id"]) for e in events]
    assert ("scripts.create_script", "test-editor", str(script["id"])) in actions
    assert ("scripts.patch_script", "test-editor", str(script["id"])) in actions
    assert ("runs.execute", "test-editor", str(script["id"])) in actions
    assert ("auth.login", "nobody", "") in actions
    assert all(e["ip"] == "127.0.0.1" for e in events)
    assert run["id"] >= 1


def test_responses_carry_security_headers(client: FlaskClient) -> None:
    response = client.get("/api/health")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]


def test_cors_is_off_by_default(client: FlaskClient) -> None:
    response = client.get("/api/scripts", headers={"Origin": "https://elsewhere.example"})
    assert "Access-Control-Allow-Origin" not in response.headers


def test_users_change_their_own_password_and_their_other_sessions_end(app: Flask) -> None:
    here, csrf = _logged_in(app, "editor")
    elsewhere, _ = _logged_in(app, "editor")
    wrong = here.post(
        "/api/auth/password",
        json={"current_password": "nope", "new_password": "a-new-password"},
        headers={"X-CSRF-Token": csrf},
    )
    assert wrong.status_code == 422 and wrong.json["field"] == "current_password"
    short = here.post(
        "/api/auth/password",
        json={"current_password": "test-password", "new_password": "short"},
        headers={"X-CSRF-Token": csrf},
    )
    assert short.status_code == 422
    changed = here.post(
        "/api/auth/password",
        json={"current_password": "test-password", "new_password": "a-new-password"},
        headers={"X-CSRF-Token": csrf},
    )
    assert changed.status_code == 200 and changed.json["csrf_token"] != csrf
    assert here.get("/api/auth/me").status_code == 200  # this browser stays in, with a fresh session
    assert elsewhere.get("/api/auth/me").status_code == 401  # every other session ended
    fresh = app.test_client(role=None)
    assert (
        fresh.post("/api/auth/login", json={"username": "test-editor", "password": "test-password"}).status_code == 401
    )
    assert (
        fresh.post("/api/auth/login", json={"username": "test-editor", "password": "a-new-password"}).status_code == 200
    )
    assert "a-new-password" not in str(app.test_client().get("/api/audit?per_page=200").json)
