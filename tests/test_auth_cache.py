"""A reading request finds its session or token without the database, and loses it the moment it
is revoked: in the process that revoked it and in any other one on the same home (two apps on
one home stand for two web processes)."""

from __future__ import annotations

from flask import Flask

from backend.config import Settings
from backend.services.auth import users
from tests.auth_client import token_for
from tests.conftest import AppFactory
from tests.helpers import counting_queries


def _two_processes(make_app: AppFactory, settings: Settings) -> tuple[Flask, Flask]:
    return make_app(settings, start=False), make_app(settings, start=False)


def test_a_reading_request_finds_its_token_without_a_query(make_app: AppFactory, settings: Settings) -> None:
    app = make_app(settings, start=False)
    client = app.test_client(role="viewer")
    client.get("/api/auth/me")  # the first use writes last_used_at
    client.get("/api/auth/me")
    with counting_queries(app) as seen:
        answer = client.get("/api/auth/me")
    assert answer.status_code == 200 and answer.json["user"]["username"] == "test-viewer"
    assert seen == []


def test_a_revoked_token_is_refused_at_once_in_every_process(make_app: AppFactory, settings: Settings) -> None:
    first, second = _two_processes(make_app, settings)
    raw = token_for(first, "viewer")
    headers = {"Authorization": f"Bearer {raw}"}
    here, there = first.test_client(role=None), second.test_client(role=None)
    for client in (here, there, here, there):  # remembered by both
        assert client.get("/api/auth/me", headers=headers).status_code == 200
    token_id = here.get("/api/auth/tokens", headers=headers).json["items"][0]["id"]
    assert here.delete(f"/api/auth/tokens/{token_id}", headers=headers).status_code == 204
    assert here.get("/api/auth/me", headers=headers).status_code == 401
    assert there.get("/api/auth/me", headers=headers).status_code == 401


def test_a_deactivated_user_and_a_lost_role_count_at_once_in_every_process(
    make_app: AppFactory, settings: Settings
) -> None:
    first, second = _two_processes(make_app, settings)
    with first.app_context():
        users.create_user("alice", "alice-password-1", "admin")
    browser = first.test_client(role=None)
    login = {"username": "alice", "password": "alice-password-1"}
    assert browser.post("/api/auth/login", json=login).status_code == 200
    for _ in range(2):
        assert browser.get("/api/users").status_code == 200  # an admin's list
    admin = second.test_client()  # another admin, in the other process
    alice = next(u for u in admin.get("/api/users").json["items"] if u["username"] == "alice")
    assert admin.patch(f"/api/users/{alice['id']}", json={"role": "viewer"}).status_code == 200
    assert browser.get("/api/users").status_code == 403
    assert browser.get("/api/auth/me").json["user"]["role"] == "viewer"
    assert admin.patch(f"/api/users/{alice['id']}", json={"active": False}).status_code == 200
    assert browser.get("/api/auth/me").status_code == 401


def test_a_logged_out_cookie_is_refused_at_once(make_app: AppFactory, settings: Settings) -> None:
    first, second = _two_processes(make_app, settings)
    token_for(first, "viewer")  # creates test-viewer
    browser = first.test_client(role=None)
    login = {"username": "test-viewer", "password": "test-password"}
    assert browser.post("/api/auth/login", json=login).status_code == 200
    cookie = browser.get_cookie("scriptman_session")
    assert cookie is not None
    csrf = browser.get("/api/auth/me").json["csrf_token"]
    copy = second.test_client(role=None)  # the same cookie, replayed against the other process
    copy.set_cookie("scriptman_session", cookie.value)
    for _ in range(2):
        assert copy.get("/api/auth/me").status_code == 200
        assert browser.get("/api/auth/me").status_code == 200
    assert browser.post("/api/auth/logout", headers={"X-CSRF-Token": csrf}).status_code == 204
    assert copy.get("/api/auth/me").status_code == 401
