"""Trigger URLs: made, listed, rotated and revoked by editors; ``POST /hooks/<token>`` starts real runs.

The token is a password: shown once, refused after a rotate or revoke, never in a listing, an audit
row or the server's log (the last checked on a real ``scriptman serve``).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import requests
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from backend.extensions import db
from backend.models import AuditEvent
from tests.conftest import AppFactory, seed_database
from tests.helpers import create_script, log_text, wait_final, wait_for

GREET = """import json, os
name, count = os.environ["who"], int(os.environ["count"])
print(f"hello {name} x{count}", flush=True)
result = {"greeted": name, "count": count, "key": os.environ.get("api_key", "")}
json.dump(result, open(os.environ["SCRIPTMAN_RESULT"], "w"))
"""
GREET_PARAMS = [
    {"name": "who", "type": "string", "required": True},
    {"name": "count", "type": "integer", "default": 1},
    {"name": "api_key", "type": "secret"},
]
# Waits until the file named by its 'gate' parameter exists: a run that outlives any ?wait until released.
GATED = """import os, time
print("waiting", flush=True)
while not os.path.exists(os.environ["gate"]):
    time.sleep(0.05)
print("released", flush=True)
"""
QUICK = "print('quick')\n"


def make_hook(client: FlaskClient, script_id: int, name: str = "ci") -> dict:
    response = client.post(f"/api/scripts/{script_id}/hooks", json={"name": name})
    assert response.status_code == 201, response.json
    return response.json


def hook_path(created: dict) -> str:
    return urlsplit(created["url"]).path


def public(app: Flask) -> FlaskClient:
    """A caller with no account, as a CI system or a form on another site is."""
    return app.test_client(role=None)


def audit_text(app: Flask) -> str:
    with app.app_context():
        rows = db.session.scalars(select(AuditEvent)).all()
        return json.dumps([[r.action, r.username, r.target_type, r.target_id, r.detail] for r in rows])


def test_a_webhook_run_gets_the_body_as_parameters_and_is_listed_without_its_token(
    app: Flask, client: FlaskClient
) -> None:
    script = create_script(client, "greet", GREET, parameters=GREET_PARAMS)
    created = make_hook(client, script["id"], "GitHub push")
    token = created["token"]
    assert token.startswith("smh_") and len(token) >= 4 + 43  # 256 random bits, URL-safe
    assert created["url"] == f"http://localhost/hooks/{token}" and created["prefix"] == token[:10]

    response = public(app).post(hook_path(created), json={"who": "Ada", "count": 3})
    assert response.status_code == 202, response.json
    body = response.json
    assert body["status"] in ("queued", "running")  # as it is when answered
    assert body["url"] == f"http://localhost/executions/{body['execution_id']}"
    assert body["status_url"] == f"http://localhost/api/executions/{body['execution_id']}"
    assert token not in response.get_data(as_text=True)

    run = wait_final(client, body["execution_id"])
    assert run["status"] == "succeeded", run
    assert run["trigger"] == "webhook" and run["created_by"] == "test-admin"
    assert run["params"]["who"] == "Ada" and run["params"]["count"] == 3
    assert "hello Ada x3" in log_text(client, run["id"], app.extensions["scriptman.settings"])

    listing = client.get(f"/api/scripts/{script['id']}/hooks")
    assert listing.status_code == 200
    (hook,) = listing.json["items"]
    assert hook["id"] == created["id"] and hook["name"] == "GitHub push" and hook["prefix"] == token[:10]
    assert hook["created_by"] == "test-admin" and hook["last_used_ip"] == "127.0.0.1"
    assert hook["last_used_at"] is not None and "token" not in hook and "url" not in hook
    assert token not in listing.get_data(as_text=True)


def test_an_empty_body_runs_with_the_defaults(app: Flask, client: FlaskClient) -> None:
    script = create_script(
        client,
        "defaults",
        "import os\nprint('n=' + os.environ['n'])\n",
        parameters=[{"name": "n", "type": "integer", "default": 7}],
    )
    created = make_hook(client, script["id"])
    response = public(app).post(hook_path(created))  # curl -X POST <url>: no body, no Content-Type
    assert response.status_code == 202, response.json
    run = wait_final(client, response.json["execution_id"])
    assert run["status"] == "succeeded" and run["params"] == {"n": 7}


def test_wait_answers_with_the_result_and_masks_secrets(app: Flask, client: FlaskClient) -> None:
    script = create_script(client, "greet", GREET, parameters=GREET_PARAMS)
    created = make_hook(client, script["id"])
    response = public(app).post(
        hook_path(created) + "?wait=60",
        data=json.dumps({"who": "Grace", "api_key": "hook-secret-4711"}),
        content_type="application/x-www-form-urlencoded",  # what `curl -d` sends: the body is still JSON
    )
    assert response.status_code == 200, response.json
    body = response.json
    assert body["status"] == "succeeded" and body["exit_code"] == 0 and body["error"] is None
    assert body["result"] == {"greeted": "Grace", "count": 1, "key": "***"}
    assert "hook-secret-4711" not in response.get_data(as_text=True)
    assert response.headers["Cache-Control"] == "no-store"


def test_wait_answers_202_when_the_run_outlives_it_and_is_capped_by_the_setting(
    make_app: AppFactory, tmp_path: Path
) -> None:
    app = make_app(hook_max_wait_seconds=0.5)
    client = app.test_client()
    script = create_script(client, "gated", GATED, parameters=[{"name": "gate", "type": "string"}])
    created = make_hook(client, script["id"])
    gate = tmp_path / "gate"
    # asks for an hour; the server's cap (0.5 s) answers long before the run can end
    response = public(app).post(hook_path(created) + "?wait=3600", json={"gate": str(gate)})
    assert response.status_code == 202, response.json
    assert response.json["status"] in ("queued", "running") and "exit_code" not in response.json
    execution_id = response.json["execution_id"]
    assert client.get(f"/api/executions/{execution_id}").json["status"] in ("queued", "running")
    gate.touch()
    assert wait_final(client, execution_id)["status"] == "succeeded"


def test_a_rotated_or_revoked_token_is_refused_without_saying_which(app: Flask, client: FlaskClient) -> None:
    script = create_script(client, "quick", QUICK)
    created = make_hook(client, script["id"])
    caller = public(app)

    rotated = client.post(f"/api/scripts/{script['id']}/hooks/{created['id']}/rotate")
    assert rotated.status_code == 200, rotated.json
    assert rotated.json["id"] == created["id"] and rotated.json["token"] != created["token"]
    assert rotated.json["prefix"] == rotated.json["token"][:10] and rotated.json["rotated_at"] is not None
    old = caller.post(hook_path(created))
    assert old.status_code == 404 and old.mimetype == "application/problem+json"
    fresh = caller.post(hook_path(rotated.json))
    assert fresh.status_code == 202
    wait_final(client, fresh.json["execution_id"])

    assert client.delete(f"/api/scripts/{script['id']}/hooks/{created['id']}").status_code == 204
    revoked = caller.post(hook_path(rotated.json))
    assert revoked.status_code == 404
    unknown = caller.post("/hooks/smh_" + "x" * 43)
    garbage = caller.post("/hooks/not-a-token")
    assert revoked.json == unknown.json == garbage.json == old.json  # nothing tells them apart
    assert caller.get(hook_path(created)).status_code == 405  # not the web app's page either
    assert client.get(f"/api/scripts/{script['id']}/hooks").json["items"] == []
    assert client.delete(f"/api/scripts/{script['id']}/hooks/{created['id']}").status_code == 404


def test_urls_use_the_configured_public_address(make_app: AppFactory) -> None:
    app = make_app(public_url="https://scripts.example.com/")
    client = app.test_client()
    created = make_hook(client, create_script(client, "quick", QUICK)["id"])
    assert created["url"] == f"https://scripts.example.com/hooks/{created['token']}"
    response = public(app).post(hook_path(created) + "?wait=30")
    assert response.status_code == 200, response.json
    execution_id = response.json["execution_id"]
    assert response.json["url"] == f"https://scripts.example.com/executions/{execution_id}"
    assert response.json["status_url"] == f"https://scripts.example.com/api/executions/{execution_id}"


def test_bad_parameters_are_a_422_naming_the_parameter_and_start_nothing(app: Flask, client: FlaskClient) -> None:
    script = create_script(client, "greet", GREET, parameters=GREET_PARAMS)
    path = hook_path(make_hook(client, script["id"]))
    caller = public(app)

    wrong = caller.post(path, json={"who": "Ada", "count": "many"})
    assert wrong.status_code == 422 and wrong.json["field"] == "params.count", wrong.json
    missing = caller.post(path, json={"count": 2})
    assert missing.status_code == 422 and missing.json["field"] == "params.who", missing.json
    not_an_object = caller.post(path, json=["Ada"])
    assert not_an_object.status_code == 422 and not_an_object.json["field"] == "body"
    malformed = caller.post(path, data="{nope", content_type="application/json")
    assert malformed.status_code == 400 and malformed.mimetype == "application/problem+json"
    too_big = caller.post(path, data=json.dumps({"who": "x" * 1_100_000}), content_type="application/json")
    assert too_big.status_code == 413
    assert client.get(f"/api/executions?script_id={script['id']}").json["total"] == 0


def test_a_disabled_script_is_a_409(app: Flask, client: FlaskClient) -> None:
    script = create_script(client, "quick", QUICK)
    path = hook_path(make_hook(client, script["id"]))
    assert client.patch(f"/api/scripts/{script['id']}", json={"enabled": False}).status_code == 200
    response = public(app).post(path)
    assert response.status_code == 409 and "disabled" in response.json["detail"]


def test_each_trigger_url_is_rate_limited_on_its_own(make_app: AppFactory) -> None:
    app = make_app(hook_rate_limit_per_minute=2)
    client = app.test_client()
    script = create_script(client, "quick", QUICK)
    first, second = make_hook(client, script["id"], "one"), make_hook(client, script["id"], "two")
    caller = public(app)
    accepted = [caller.post(hook_path(first)) for _ in range(2)]
    assert [r.status_code for r in accepted] == [202, 202]
    refused = caller.post(hook_path(first))
    assert refused.status_code == 429 and refused.mimetype == "application/problem+json"
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    other = caller.post(hook_path(second))  # another URL of the same script has its own budget
    assert other.status_code == 202
    for response in (*accepted, other):
        assert wait_final(client, response.json["execution_id"])["status"] == "succeeded"
    assert client.get(f"/api/executions?script_id={script['id']}").json["total"] == 3


def test_only_editors_and_admins_manage_trigger_urls(app: Flask, client: FlaskClient) -> None:
    script = create_script(client, "quick", QUICK)
    created = make_hook(client, script["id"])
    base = f"/api/scripts/{script['id']}/hooks"
    viewer = app.test_client(role="viewer")
    assert viewer.get(base).status_code == 403
    assert viewer.post(base, json={}).status_code == 403
    assert viewer.post(f"{base}/{created['id']}/rotate").status_code == 403
    assert viewer.delete(f"{base}/{created['id']}").status_code == 403
    assert app.test_client(role=None).get(base).status_code == 401
    editor = app.test_client(role="editor")
    made = editor.post(base, json={})
    assert made.status_code == 201 and made.json["created_by"] == "test-editor" and made.json["name"] == ""
    assert editor.post(f"{base}/{made.json['id']}/rotate").status_code == 200
    assert editor.delete(f"{base}/{made.json['id']}").status_code == 204
    assert client.get("/api/scripts/999/hooks").status_code == 404
    assert client.post("/api/scripts/999/hooks", json={}).status_code == 404
    other = create_script(client, "other", QUICK)
    assert client.delete(f"/api/scripts/{other['id']}/hooks/{created['id']}").status_code == 404  # not its hook


def test_audit_rows_name_the_hook_and_never_hold_a_token(app: Flask, client: FlaskClient) -> None:
    script = create_script(client, "quick", QUICK)
    created = make_hook(client, script["id"], "deploy")
    rotated = client.post(f"/api/scripts/{script['id']}/hooks/{created['id']}/rotate").json
    run = public(app).post(hook_path(rotated))
    assert run.status_code == 202
    wait_final(client, run.json["execution_id"])
    assert client.delete(f"/api/scripts/{script['id']}/hooks/{created['id']}").status_code == 204

    text = audit_text(app)
    for token in (created["token"], rotated["token"]):
        assert token not in text and token[4:] not in text
    assert token not in client.get("/api/audit?per_page=200").get_data(as_text=True)
    with app.app_context():
        rows = {r.action: r for r in db.session.scalars(select(AuditEvent))}
    for action in ("hooks.create_hook", "hooks.rotate_hook", "hooks.revoke_hook", "hooks.trigger"):
        assert rows[action].detail["hook_id"] == created["id"], action
    trigger = rows["hooks.trigger"]
    assert (trigger.target_type, trigger.target_id) == ("execution", str(run.json["execution_id"]))
    assert trigger.detail["hook_name"] == "deploy" and trigger.ip == "127.0.0.1"


# -- the real server: its access log must not carry the token ----------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_the_servers_log_never_shows_a_token(tmp_path: Path) -> None:
    port = _free_port()
    env = {
        **os.environ,
        "SCRIPTMAN_HOME": str(tmp_path),
        "SCRIPTMAN_PORT": str(port),
        "SCRIPTMAN_ADMIN_PASSWORD": "hook-admin-password",
        "SCRIPTMAN_MAX_CONCURRENCY": "1",
        "SCRIPTMAN_SCHEDULER_ENABLED": "false",
    }
    repo = Path(__file__).resolve().parents[1]
    scriptman = [sys.executable, "-m", "backend.cli"]
    env.update(seed_database(tmp_path))  # migrated once per session
    log_path = tmp_path / "server.log"
    url = f"http://127.0.0.1:{port}"
    with log_path.open("wb") as log:
        server = subprocess.Popen([*scriptman, "serve"], env=env, cwd=repo, stdout=log, stderr=subprocess.STDOUT)
        try:

            def up() -> bool:
                assert server.poll() is None, log_path.read_text(errors="replace")
                try:
                    return requests.get(f"{url}/api/health", timeout=2).status_code == 200
                except requests.RequestException:
                    return False

            wait_for(up, timeout=30, interval=0.2, message="the server to start")
            api = requests.Session()
            login = api.post(
                f"{url}/api/auth/login", json={"username": "admin", "password": "hook-admin-password"}, timeout=10
            )
            api.headers["X-CSRF-Token"] = login.json()["csrf_token"]
            script = api.post(f"{url}/api/scripts", json={"name": "q", "language": "python", "code": QUICK}, timeout=10)
            created = api.post(f"{url}/api/scripts/{script.json()['id']}/hooks", json={"name": "ci"}, timeout=10).json()
            assert created["url"] == f"{url}/hooks/{created['token']}"
            done = requests.post(created["url"] + "?wait=30", json={}, timeout=40)  # no session, no CSRF token
            assert done.status_code == 200 and done.json()["status"] == "succeeded", done.text
            assert requests.post(f"{url}/hooks/smh_wrong-guess", timeout=10).status_code == 404
        finally:
            server.terminate()
            server.wait(timeout=20)
    text = log_path.read_text(errors="replace")
    assert "POST /hooks/[redacted]?wait=30" in text  # the access log has the request, without its secret
    assert created["token"] not in text and created["token"][4:] not in text and "smh_wrong-guess" not in text
    assert f"POST /api/scripts/{script.json()['id']}/hooks" in text
