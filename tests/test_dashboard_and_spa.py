"""The dashboard numbers and the serving of the built web app."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from backend.app import create_app
from tests.conftest import AppFactory, make_settings
from tests.helpers import create_script, execute, wait_final


def test_stats_count_runs_per_day_and_list_failures(client: FlaskClient) -> None:
    ok = create_script(client, "ok", "print('fine')")
    bad = create_script(client, "bad", "raise SystemExit(3)")
    for script in (ok, ok, bad):
        wait_final(client, execute(client, script["id"])["id"])
    body = client.get("/api/stats?days=7").json
    assert len(body["days"]) == 7
    today = datetime.now(UTC).date().isoformat()
    assert body["days"][-1] == {"date": today, "succeeded": 2, "failed": 1, "other": 0}
    assert body["days"][0]["date"] == (datetime.now(UTC).date() - timedelta(days=6)).isoformat()
    assert (body["total"], body["succeeded"], body["failed"]) == (3, 2, 1)
    assert body["success_rate"] == pytest.approx(2 / 3, abs=1e-3)
    assert [f["script_name"] for f in body["recent_failures"]] == ["bad"]
    assert body["running"] == [] and body["queued"] == 0 and body["scripts"] == 2


def test_stats_without_runs_have_no_success_rate_and_bad_days_are_refused(client: FlaskClient) -> None:
    body = client.get("/api/stats").json
    assert len(body["days"]) == 14 and body["success_rate"] is None and body["total"] == 0
    assert client.get("/api/stats?days=0").status_code == 422
    assert client.get("/api/stats?days=x").status_code == 422
    assert client.application.test_client(role="viewer").get("/api/stats").status_code == 200
    assert client.application.test_client(role=None).get("/api/stats").status_code == 401


@pytest.fixture
def spa_app(tmp_path: Path, make_app: AppFactory) -> Flask:
    dist = tmp_path / "dist"
    (dist / "assets").mkdir(parents=True)
    (dist / "index.html").write_text("<!doctype html><div id=app></div>")
    (dist / "assets" / "index-abc123.js").write_text("console.log(1)")
    (tmp_path / "secret.txt").write_text("outside")
    return make_app(frontend_dist=dist, start=False)


def test_the_built_app_is_served_with_client_side_routes_falling_back(spa_app: Flask) -> None:
    browser = spa_app.test_client(role=None)
    for path in ("/", "/scripts/3", "/executions/7", "/login?next=/schedules"):
        response = browser.get(path)
        assert response.status_code == 200 and b"<div id=app>" in response.data, path
        assert response.headers["Cache-Control"] == "no-cache"
        assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    asset = browser.get("/assets/index-abc123.js")
    assert asset.status_code == 200 and "max-age=31536000" in asset.headers["Cache-Control"]
    assert browser.get("/assets/missing.js").status_code == 404
    assert b"outside" not in browser.get("/../secret.txt").data
    assert b"outside" not in browser.get("/%2e%2e/secret.txt").data


def test_api_paths_never_fall_back_to_the_app(spa_app: Flask) -> None:
    browser = spa_app.test_client(role=None)
    for method, path in (("GET", "/api/nope"), ("POST", "/api/nope"), ("GET", "/api")):
        response = browser.open(path, method=method)
        assert response.status_code == 404, (method, path)
        assert b"<div id=app>" not in response.data


def test_an_unbuilt_app_says_how_to_build_it(tmp_path: Path) -> None:
    app = create_app(make_settings(tmp_path, frontend_dist=tmp_path / "none"), {"TESTING": True})
    response = app.test_client(role=None).get("/scripts")
    assert response.status_code == 503 and b"make run" in response.data
