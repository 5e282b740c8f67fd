"""Notifications through real local servers: an ``aiosmtpd`` SMTP server and an HTTP receiver.

Channels are created through the API; scripts' and schedules' ``notifications`` are set on the
rows directly (the script and schedule APIs take the field in a later change).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import ssl
import threading
from collections.abc import Iterator
from datetime import timedelta
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from flask import Flask
from flask.testing import FlaskClient

from backend.extensions import db
from backend.models import AuditEvent, Execution, NotificationChannel, Schedule, Script
from backend.models.types import utcnow
from backend.services.notifications.events import run_events
from backend.services.notifications.messages import build_message
from tests.conftest import AppFactory
from tests.helpers import create_script, execute, wait_final, wait_for

SECRET = "hunter2-very-secret-token"
FAIL_CODE = (
    "import json, os, sys\n"
    "params = json.loads(os.environ['SCRIPT_PARAMETERS'])\n"
    "for i in range(30):\n"
    "    print(f'line {i}')\n"
    "print('token is', params['token'])\n"
    "print('giving up', file=sys.stderr)\n"
    "sys.exit(3)\n"
)
# succeeds unless asked to fail
MAYBE_FAIL = (
    "import json, os, sys\nprint('working')\n"
    "sys.exit(1 if json.loads(os.environ['SCRIPT_PARAMETERS'])['fail'] else 0)\n"
)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Mailbox:
    """An ``aiosmtpd`` handler that keeps every message it accepts."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.envelopes: list[tuple[str, list[str]]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(message_from_bytes(envelope.content))
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return "250 Message accepted"


@pytest.fixture
def smtp_server() -> Iterator[tuple[Mailbox, int]]:
    mailbox = Mailbox()
    port = free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield mailbox, port
    finally:
        controller.stop()


class Receiver:
    """A local HTTP server that records each POST and answers the next status from ``statuses``
    (then 200 for ever)."""

    def __init__(self, statuses: list[int] | None = None) -> None:
        self.statuses = list(statuses or [])
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with receiver.lock:
                    receiver.requests.append((dict(self.headers.items()), body))
                    status = receiver.statuses.pop(0) if receiver.statuses else 200
                payload = b"ok" if status < 400 else b"receiver is having a bad day"
                self.send_response(status)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    made: list[Receiver] = []

    class Make(Receiver):
        def __init__(self, statuses: list[int] | None = None) -> None:
            super().__init__(statuses)
            made.append(self)

    yield Make  # type: ignore[misc]
    for item in made:
        item.close()


def fast_app(make_app: AppFactory, **overrides: Any) -> Flask:
    """An app whose sender retries after 0.2 s (the production waits are minutes)."""
    return make_app(notification_retry_delays_csv="0.2,0.2,0.2", **overrides)


def make_channel(client: FlaskClient, name: str, channel_type: str, config: dict[str, Any]) -> dict[str, Any]:
    response = client.post("/api/notification-channels", json={"name": name, "type": channel_type, "config": config})
    assert response.status_code == 201, response.json
    return response.json


def subscribe(app: Flask, script_id: int, channel_id: int, on: list[str]) -> None:
    with app.app_context():
        script = db.session.get(Script, script_id)
        script.notifications = [{"channel_id": channel_id, "on": on}]
        db.session.commit()


def run_deliveries(client: FlaskClient, execution_id: int) -> list[dict[str, Any]]:
    response = client.get(f"/api/executions/{execution_id}/notifications")
    assert response.status_code == 200, response.json
    return response.json["items"]


def wait_delivered(client: FlaskClient, execution_id: int, count: int = 1) -> list[dict[str, Any]]:
    """The run's deliveries once ``count`` of them have stopped being pending."""

    def done() -> list[dict[str, Any]] | None:
        items = run_deliveries(client, execution_id)
        settled = [d for d in items if d["status"] != "pending"]
        return items if len(settled) >= count else None

    return wait_for(done, timeout=30, message=f"{count} deliveries of run {execution_id}")


# -- e-mail -----------------------------------------------------------------------------------------


def test_a_failure_email_arrives_with_the_masked_log_tail(
    make_app: AppFactory, smtp_server: tuple[Mailbox, int]
) -> None:
    mailbox, port = smtp_server
    app = fast_app(make_app)
    client = app.test_client()
    channel = make_channel(
        client,
        "ops mail",
        "email",
        {
            "host": "127.0.0.1",
            "port": port,
            "security": "none",
            "from": "scriptman@example.com",
            "to": ["ops@example.com"],
        },
    )
    script = create_script(client, "nightly-backup", FAIL_CODE, parameters=[{"name": "token", "type": "secret"}])
    subscribe(app, script["id"], channel["id"], ["failure"])

    run = execute(client, script["id"], {"token": SECRET})
    assert wait_final(client, run["id"])["status"] == "failed"
    wait_for(lambda: mailbox.messages, message="the e-mail")

    mail = mailbox.messages[0]
    body = mail.get_payload(decode=True).decode()
    assert mailbox.envelopes[0] == ("scriptman@example.com", ["ops@example.com"])
    assert "nightly-backup" in mail["Subject"] and "failed" in mail["Subject"]
    assert "Status:   failed, exit code 3" in body
    assert "Trigger:  api" in body
    assert "Duration:" in body
    assert "[err] giving up" in body  # the end of the log …
    assert "line 29" in body and "line 5\n" not in body  # … its last 20 lines only
    assert "token is ***" in body
    assert SECRET not in mail.as_string()  # masked, in every part of the message
    assert "set SCRIPTMAN_PUBLIC_URL" in body  # no broken link without a public URL

    [delivery] = wait_delivered(client, run["id"])
    assert delivery["status"] == "sent" and delivery["attempts"] == 1
    assert delivery["event"] == "failure" and delivery["channel_name"] == "ops mail"
    assert delivery["response_status"] == 250 and delivery["sent_at"]
    assert len(mailbox.messages) == 1


def test_the_message_masks_the_runs_secrets_again(make_app: AppFactory) -> None:
    """A secret that reached the log file some other way is still masked in the message."""
    app = make_app()
    client = app.test_client()
    script = create_script(client, "leaky", FAIL_CODE, parameters=[{"name": "token", "type": "secret"}])
    run = execute(client, script["id"], {"token": SECRET})
    wait_final(client, run["id"])
    settings = app.extensions["scriptman.settings"]
    log = settings.logs_dir / f"execution_{run['id']}.log"
    with log.open("a") as handle:
        handle.write(f"2026-01-01T00:00:00.000Z out raw {SECRET} here\n")
    with app.app_context():
        execution = db.session.get(Execution, run["id"])
        message = build_message(settings, execution, db.session.get(Script, script["id"]), "failure")
    assert message["log_tail"][-1] == "raw *** here"
    assert SECRET not in json.dumps(message)


# -- webhooks -----------------------------------------------------------------------------------------


def test_a_webhook_is_retried_after_a_500_and_signed(make_app: AppFactory, receiver: type[Receiver]) -> None:
    hook = receiver([500, 200])
    app = fast_app(make_app, public_url="https://scriptman.example.com/")
    client = app.test_client()
    channel = make_channel(client, "ci", "webhook", {"url": hook.url, "secret": "sign-me"})
    assert channel["config"] == {"url": hook.url, "secret": "***"}
    script = create_script(client, "deploy", MAYBE_FAIL, parameters=[{"name": "fail", "type": "boolean"}])
    subscribe(app, script["id"], channel["id"], ["success", "failure"])

    run = execute(client, script["id"], {"fail": False})
    assert wait_final(client, run["id"])["status"] == "succeeded"
    [delivery] = wait_delivered(client, run["id"])

    assert delivery["status"] == "sent"
    assert delivery["attempts"] == 2  # 500, then 200
    assert delivery["response_status"] == 200
    assert "HTTP 500" in delivery["last_error"]  # why it took two
    assert len(hook.requests) == 2
    headers, body = hook.requests[-1]
    expected = "sha256=" + hmac.new(b"sign-me", body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(headers["X-Scriptman-Signature"], expected)
    payload = json.loads(body)
    assert payload["event"] == "success"
    assert payload["script"] == {"id": script["id"], "name": "deploy"}
    assert payload["execution"]["status"] == "succeeded"
    assert payload["execution"]["url"] == f"https://scriptman.example.com/executions/{run['id']}"
    assert payload["delivery_id"] == delivery["id"]
    assert headers["X-Scriptman-Event"] == "success"


def test_a_delivery_that_never_gets_through_ends_failed(make_app: AppFactory, receiver: type[Receiver]) -> None:
    hook = receiver([503] * 10)
    app = fast_app(make_app)
    client = app.test_client()
    channel = make_channel(client, "down", "webhook", {"url": hook.url})
    script = create_script(client, "job", MAYBE_FAIL, parameters=[{"name": "fail", "type": "boolean"}])
    subscribe(app, script["id"], channel["id"], ["failure"])

    run = execute(client, script["id"], {"fail": True})
    [delivery] = wait_delivered(client, run["id"])
    assert delivery["status"] == "failed"
    assert delivery["attempts"] == 4  # the first try and the 3 retries configured
    assert delivery["response_status"] == 503 and "HTTP 503" in delivery["last_error"]
    assert "X-Scriptman-Signature" not in hook.requests[0][0]  # no secret, no signature

    history = client.get(f"/api/notification-channels/{channel['id']}/deliveries?status=failed").json
    assert history["total"] == 1 and history["items"][0]["id"] == delivery["id"]


def test_recovery_is_sent_once_after_a_failure(make_app: AppFactory, receiver: type[Receiver]) -> None:
    hook = receiver()
    app = fast_app(make_app)
    client = app.test_client()
    channel = make_channel(client, "chat", "slack", {"url": hook.url})
    script = create_script(client, "flaky", MAYBE_FAIL, parameters=[{"name": "fail", "type": "boolean"}])
    subscribe(app, script["id"], channel["id"], ["success", "recovery"])

    events = []
    for fail in (False, True, False, False, True, True, False):
        run = execute(client, script["id"], {"fail": fail})
        wait_final(client, run["id"])
        items = wait_delivered(client, run["id"]) if not fail else run_deliveries(client, run["id"])
        events.append([d["event"] for d in items])
    # a success notifies every time; the one after failures is the recovery instead
    assert events == [["success"], [], ["recovery"], ["success"], [], [], ["recovery"]]
    texts = [json.loads(body)["text"] for _, body in hook.requests]
    assert len(texts) == 4
    assert texts[1].startswith("*flaky recovered")
    assert set(json.loads(hook.requests[0][1])) == {"text"}  # the Slack shape: text only


def test_a_superseded_retry_attempt_notifies_nobody(
    make_app: AppFactory, receiver: type[Receiver], tmp_path: Path
) -> None:
    hook = receiver()
    app = fast_app(make_app)
    client = app.test_client()
    channel = make_channel(client, "all", "webhook", {"url": hook.url})
    marker = tmp_path / "tried"
    code = (
        f"import os, sys\np = {str(marker)!r}\nif os.path.exists(p): sys.exit(0)\nopen(p, 'w').close()\nsys.exit(1)\n"
    )
    script = create_script(client, "second-time-lucky", code, max_retries=1, retry_delay_seconds=0)
    subscribe(app, script["id"], channel["id"], ["failure", "success", "recovery"])

    first = execute(client, script["id"])
    assert wait_final(client, first["id"])["status"] == "failed"
    retry_id = wait_for(lambda: client.get(f"/api/executions/{first['id']}").json.get("next_attempt_id"))
    assert wait_final(client, retry_id)["status"] == "succeeded"
    [delivery] = wait_delivered(client, retry_id)
    assert delivery["event"] == "success"  # the series succeeded; its first attempt was no failure
    assert run_deliveries(client, first["id"]) == []
    assert len(hook.requests) == 1


def test_events_are_judged_per_script_and_per_schedule(app: Flask) -> None:
    """Recovery looks back at the script's runs, or the schedule's; cancelled and superseded runs
    are skipped; interrupted counts as a failure."""
    with app.app_context():
        script = Script(name="s", language="python", code="")
        db.session.add(script)
        db.session.flush()
        schedule = Schedule(name="nightly", script_id=script.id, cron="0 3 * * *", timezone="UTC")
        db.session.add(schedule)
        db.session.flush()
        start = utcnow() - timedelta(hours=1)

        def run(status: str, minute: int, **fields: Any) -> Execution:
            row = Execution(
                script_id=script.id,
                version_number=1,
                status=status,
                finished_at=start + timedelta(minutes=minute),
                **fields,
            )
            db.session.add(row)
            db.session.flush()
            return row

        run("succeeded", 1, schedule_id=schedule.id)
        run("failed", 2)  # a manual run failed
        run("cancelled", 3, schedule_id=schedule.id)  # skipped when looking back
        superseded = run("failed", 4, schedule_id=schedule.id)
        superseded.next_attempt_id = 999  # its retry decides, not it
        latest = run("succeeded", 5, schedule_id=schedule.id)
        assert {e.value for e in run_events(latest)} == {"success", "recovery"}  # after the manual failure
        assert {e.value for e in run_events(latest, schedule_id=schedule.id)} == {"success"}  # schedule's were fine
        assert run_events(superseded) == set()
        assert {e.value for e in run_events(run("interrupted", 6))} == {"failure"}
        assert {e.value for e in run_events(run("timed_out", 7))} == {"timeout"}
        assert run_events(run("cancelled", 8)) == set()
        db.session.rollback()


def test_a_schedule_subscription_is_notified_of_its_runs(make_app: AppFactory, receiver: type[Receiver]) -> None:
    hook = receiver()
    app = fast_app(make_app)
    client = app.test_client()
    channel = make_channel(client, "sched", "webhook", {"url": hook.url})
    script = create_script(client, "cronjob", MAYBE_FAIL, parameters=[{"name": "fail", "type": "boolean"}])
    response = client.post(
        "/api/schedules",
        json={"name": "every night", "script_id": script["id"], "cron": "0 3 * * *", "params": {"fail": True}},
    )
    assert response.status_code == 201, response.json
    schedule_id = response.json["id"]
    with app.app_context():
        db.session.get(Schedule, schedule_id).notifications = [{"channel_id": channel["id"], "on": ["failure"]}]
        db.session.commit()
    fired = client.post(f"/api/schedules/{schedule_id}/run-now")
    assert fired.status_code == 202, fired.json
    execution_id = fired.json["id"]
    wait_final(client, execution_id)
    [delivery] = wait_delivered(client, execution_id)
    assert delivery["event"] == "failure"
    payload = json.loads(hook.requests[0][1])
    assert payload["schedule"] == {"id": schedule_id, "name": "every night"}
    assert "Trigger:  schedule (every night)" in payload["text"]
    assert run_deliveries(client, execute(client, script["id"], {"fail": True})["id"]) == []  # manual: not its


# -- the channels API ------------------------------------------------------------------------------------


def test_send_test_answers_the_delivery(make_app: AppFactory, receiver: type[Receiver]) -> None:
    hook = receiver([200])
    app = make_app()
    client = app.test_client()
    good = make_channel(client, "good", "slack", {"url": hook.url})
    response = client.post(f"/api/notification-channels/{good['id']}/test")
    assert response.status_code == 200, response.json
    assert response.json["status"] == "sent" and response.json["event"] == "test"
    assert response.json["attempts"] == 1 and response.json["response_status"] == 200
    assert "this channel works" in json.loads(hook.requests[0][1])["text"]

    closed = f"http://127.0.0.1:{free_port()}/nobody-listens"
    bad = make_channel(client, "bad", "webhook", {"url": closed})
    failed = client.post(f"/api/notification-channels/{bad['id']}/test").json
    assert failed["status"] == "failed" and failed["attempts"] == 1
    assert "could not connect" in failed["last_error"] and closed not in failed["last_error"]

    history = client.get(f"/api/notification-channels/{good['id']}/deliveries").json
    assert history["total"] == 1 and history["items"][0]["event"] == "test"


def test_send_test_by_email(make_app: AppFactory, smtp_server: tuple[Mailbox, int]) -> None:
    mailbox, port = smtp_server
    app = make_app(public_url="https://sm.example.org")
    client = app.test_client()
    config = {"host": "127.0.0.1", "port": port, "security": "none", "from": "a@example.com", "to": ["b@example.com"]}
    channel = make_channel(client, "mail", "email", config)
    assert client.post(f"/api/notification-channels/{channel['id']}/test").json["status"] == "sent"
    assert "https://sm.example.org" in mailbox.messages[0].get_payload(decode=True).decode()


def test_credentials_are_write_only_and_round_trip(app: Flask) -> None:
    client = app.test_client()
    config = {
        "host": "smtp.example.com",
        "security": "starttls",
        "username": "bot",
        "password": "smtp-pass-123",
        "from": "Scriptman <bot@example.com>",
        "to": ["a@example.com", "b@example.com"],
    }
    channel = make_channel(client, "mail", "email", config)
    assert channel["config"]["password"] == "***" and channel["config"]["port"] == 587
    assert channel["secrets"] == {"password": True}
    listed = client.get("/api/notification-channels").get_data(as_text=True)
    assert "smtp-pass-123" not in listed and "bot@example.com" in listed

    shown = client.get(f"/api/notification-channels/{channel['id']}").json["config"]
    changed = client.patch(
        f"/api/notification-channels/{channel['id']}", json={"config": {**shown, "host": "mail.example.com"}}
    )
    assert changed.status_code == 200, changed.json
    with app.app_context():
        row = db.session.get(NotificationChannel, channel["id"])
        assert row.secret_config == {"password": "smtp-pass-123"}  # *** kept it
        assert "password" not in row.config and row.config["host"] == "mail.example.com"
    client.patch(f"/api/notification-channels/{channel['id']}", json={"config": {**shown, "password": "new-pass"}})
    with app.app_context():
        assert db.session.get(NotificationChannel, channel["id"]).secret_config == {"password": "new-pass"}

    slack = make_channel(client, "chat", "slack", {"url": "https://hooks.slack.com/services/T0/B0/XYZsecret"})
    assert slack["config"] == {"url": "***"} and "XYZsecret" not in json.dumps(slack)
    renamed = client.patch(
        f"/api/notification-channels/{slack['id']}", json={"name": "chat2", "config": {"url": "***"}}
    )
    assert renamed.status_code == 200 and renamed.json["name"] == "chat2"

    with app.app_context():  # the audit trail names the channel and holds no credential
        rows = db.session.query(AuditEvent).filter(AuditEvent.target_type == "notification_channel").all()
        assert {r.action for r in rows} >= {"notifications.create_channel", "notifications.update_channel"}
        assert all(r.target_id for r in rows)
        assert "smtp-pass-123" not in json.dumps([r.detail for r in rows])


@pytest.mark.parametrize(
    ("channel_type", "config", "field"),
    [
        ("email", {"port": 25, "from": "a@b.c", "to": ["d@e.f"]}, "config.host"),
        ("email", {"host": "h", "port": 70000, "from": "a@b.c", "to": ["d@e.f"]}, "config.port"),
        ("email", {"host": "h", "from": "a@b.c", "to": []}, "config.to"),
        ("email", {"host": "h", "from": "a@b.c", "to": ["not an address"]}, "config.to.0"),
        ("email", {"host": "h", "from": "a@b.c\r\nBcc: x@y.z", "to": ["d@e.f"]}, "config.from"),
        ("email", {"host": "h", "from": "a@b.c", "to": ["d@e.f"], "security": "ssl"}, "config.security"),
        ("email", {"host": "h", "from": "a@b.c", "to": ["d@e.f"], "password": "p"}, "config.username"),
        ("webhook", {"url": "ftp://example.com/x"}, "config.url"),
        ("webhook", {"url": "https://example.com", "headers": {}}, "config.headers"),
        ("slack", {"url": "***"}, "config.url"),
        ("slack", {}, "config.url"),
    ],
)
def test_a_bad_config_is_a_422_naming_the_key(
    client: FlaskClient, channel_type: str, config: dict[str, Any], field: str
) -> None:
    response = client.post("/api/notification-channels", json={"name": "x", "type": channel_type, "config": config})
    assert response.status_code == 422, response.json
    assert response.json["field"] == field


def test_channel_rules_and_deletion(app: Flask) -> None:
    client = app.test_client()
    channel = make_channel(client, "hook", "webhook", {"url": "https://example.com/h"})
    assert (
        client.post(
            "/api/notification-channels", json={"name": "hook", "type": "slack", "config": {"url": "https://x.y/z"}}
        ).status_code
        == 409
    )
    assert client.post("/api/notification-channels", json={"name": "t", "type": "sms", "config": {}}).status_code == 422
    retype = client.patch(f"/api/notification-channels/{channel['id']}", json={"type": "slack"})
    assert retype.status_code == 422 and retype.json["field"] == "type"
    assert client.patch(f"/api/notification-channels/{channel['id']}", json={"enabled": False}).json["enabled"] is False

    script = create_script(client, "s", "print(1)")
    subscribe(app, script["id"], channel["id"], ["failure"])
    assert client.delete(f"/api/notification-channels/{channel['id']}").status_code == 204
    assert client.get(f"/api/notification-channels/{channel['id']}").status_code == 404
    with app.app_context():
        assert db.session.get(Script, script["id"]).notifications == []
        deleted = db.session.query(AuditEvent).filter(AuditEvent.action == "notifications.delete_channel").one()
        assert deleted.detail["name"] == "hook"


def test_channels_are_for_admins_and_a_runs_deliveries_for_viewers(app: Flask) -> None:
    admin = app.test_client()
    channel = make_channel(admin, "c", "webhook", {"url": "https://example.com/h"})
    run = execute(admin, create_script(admin, "s", "print(1)")["id"])
    for role in ("viewer", "editor"):
        other = app.test_client(role=role)
        assert other.get("/api/notification-channels").status_code == 403
        assert other.post(f"/api/notification-channels/{channel['id']}/test").status_code == 403
        assert other.get(f"/api/notification-channels/{channel['id']}/deliveries").status_code == 403
        assert other.get(f"/api/executions/{run['id']}/notifications").status_code == 200
        # an editor picks channels for a script by name: names, never the config
        names = other.get("/api/notification-channels/names")
        assert names.status_code == 200
        assert names.json["items"] == [{"id": channel["id"], "name": "c", "type": "webhook", "enabled": True}]
    assert app.test_client(role=None).get(f"/api/executions/{run['id']}/notifications").status_code == 401
    assert admin.get("/api/executions/999999/notifications").status_code == 404


def test_starttls_and_login(make_app: AppFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """STARTTLS against a server whose certificate the sender verifies, then an SMTP login."""
    import trustme
    from aiosmtpd.smtp import AuthResult

    authority = trustme.CA()
    certificate = authority.issue_cert("localhost")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    certificate.configure_cert(context)
    ca_file = tmp_path / "ca.pem"
    authority.cert_pem.write_to_path(str(ca_file))
    monkeypatch.setenv("SSL_CERT_FILE", str(ca_file))  # the sender verifies with the default trust store

    logins: list[tuple[bytes, bytes]] = []

    def authenticate(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        logins.append((data.login, data.password))
        return AuthResult(success=data.password == b"smtp-pass", handled=False)  # the server answers 535

    mailbox = Mailbox()
    port = free_port()
    controller = Controller(
        mailbox,
        hostname="localhost",
        port=port,
        tls_context=context,
        require_starttls=True,
        authenticator=authenticate,
        auth_require_tls=True,
    )
    controller.start()
    try:
        client = make_app().test_client()
        config = {
            "host": "localhost",
            "port": port,
            "security": "starttls",
            "username": "bot",
            "password": "smtp-pass",
            "from": "bot@example.com",
            "to": ["ops@example.com"],
        }
        channel = make_channel(client, "tls mail", "email", config)
        sent = client.post(f"/api/notification-channels/{channel['id']}/test").json
        assert sent["status"] == "sent", sent
        assert logins == [(b"bot", b"smtp-pass")] and len(mailbox.messages) == 1

        client.patch(f"/api/notification-channels/{channel['id']}", json={"config": {**config, "password": "wrong"}})
        refused = client.post(f"/api/notification-channels/{channel['id']}/test").json
        assert refused["status"] == "failed" and refused["response_status"] == 535
        assert "SMTP login refused" in refused["last_error"] and "wrong" not in refused["last_error"]
    finally:
        controller.stop()
