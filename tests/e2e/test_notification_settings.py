"""Issue 15 in Chromium: an admin adds a webhook notification channel, presses "Send test" and a local
HTTP receiver gets the signed JSON while the page says "sent" (and the channel's history lists it);
then a script is subscribed to the channel on failure from its settings."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import Server, login, screenshot
from tests.e2e.test_journey import _api

SIGNING_SECRET = "e2e-signing-secret"
RECEIVE_SECONDS = 15
CHECKED = re.compile(r"\bis-checked\b")  # an Element Plus checkbox button that is on


class Receiver:
    """A local HTTP endpoint that records every POST (headers and raw body) and answers 200."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        received = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with received.lock:
                    received.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass  # no noise in the test output

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.http.server_address[1]}/scriptman-hook"
        self.thread = threading.Thread(target=self.http.serve_forever, daemon=True)

    def wait_for_one(self) -> dict[str, Any]:
        deadline = time.monotonic() + RECEIVE_SECONDS
        while True:
            with self.lock:
                if self.requests:
                    return self.requests[0]
            assert time.monotonic() < deadline, "the receiver got nothing"
            time.sleep(0.05)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver()
    found.thread.start()
    yield found
    found.http.shutdown()
    found.http.server_close()
    found.thread.join(timeout=5)


def test_webhook_channel_test_and_script_subscription(page: Page, server: Server, receiver: Receiver) -> None:
    api = _api(server)
    created = api.post(
        f"{server.url}/api/scripts",
        json={"name": "e2e nightly export", "language": "python", "code": "print('export')\n"},
        timeout=10,
    )
    assert created.status_code == 201, created.text
    script = created.json()

    login(page)
    page.goto("/admin/notifications")
    expect(page.locator(".page-header h1")).to_have_text("Notifications")
    assert page.title() == "Notifications · Scriptman"
    page.locator("[data-test=new-channel]").click()
    dialog = page.locator("[data-test=channel-dialog]")
    dialog.locator("[data-test=channel-name] input").fill("e2e ops hook")
    dialog.locator("[data-test=channel-type-webhook]").click()
    dialog.locator("[data-test=channel-url] input").fill(receiver.url)
    dialog.locator("[data-test=channel-secret] input").fill(SIGNING_SECRET)
    dialog.locator("[data-test=save-channel]").click()
    expect(dialog).to_be_hidden()

    row = page.locator("[data-test=channel-list] tr", has_text="e2e ops hook")
    expect(row).to_contain_text("Webhook")
    expect(row).to_contain_text(receiver.url)
    row.locator("[data-test=send-test]").click()
    expect(row.locator("[data-test=test-status]")).to_have_text("sent")
    expect(row.locator("[data-test=test-error]")).to_have_count(0)

    got = receiver.wait_for_one()
    assert got["path"] == "/scriptman-hook"
    assert got["headers"]["Content-Type"].startswith("application/json")
    message = json.loads(got["body"])
    assert isinstance(message, dict) and message, message
    signature = hmac.new(SIGNING_SECRET.encode(), got["body"], hashlib.sha256).hexdigest()
    assert got["headers"]["X-Scriptman-Signature"] == f"sha256={signature}"

    # the channel's history lists the test delivery
    row.locator("[data-test=channel-history]").click()
    history = page.locator("[data-test=history-drawer] [data-test=delivery-history]")
    expect(history.locator("tbody tr").first).to_contain_text("test")
    expect(history.locator("tbody tr").first).to_contain_text("sent")
    screenshot(page, "notification-channel")
    page.keyboard.press("Escape")
    expect(history).to_be_hidden()

    # editing shows the stored secret as "set", never its value
    row.locator("[data-test=edit-channel]").click()
    expect(dialog.locator("[data-test=secret-set]")).to_have_text("set")
    expect(dialog.locator("[data-test=channel-secret] input")).to_have_value("")
    dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).to_be_hidden()

    # the script subscribes to the channel on failure, in its settings
    page.goto(f"/scripts/{script['id']}")
    page.get_by_text("Settings: timeout").click()
    picker = page.locator("[data-test=notification-picker]")
    expect(picker.locator("[data-test=no-notifications]")).to_be_visible()
    picker.locator("[data-test=add-channel-select]").click()
    page.get_by_role("option", name="e2e ops hook").click()
    picker.locator("[data-test=add-channel]").click()
    subscription = picker.locator("[data-test^=subscription-]")
    expect(subscription).to_contain_text("e2e ops hook")
    expect(subscription.locator("[data-test=event-failure]")).to_have_class(CHECKED)
    expect(subscription.locator("[data-test=event-success]")).not_to_have_class(CHECKED)
    page.locator("[data-test=save-script]").click()
    # the answer came back (the button is disabled while it saves too, so that alone proves nothing)
    expect(page.get_by_text("Saved", exact=True)).to_be_visible()
    expect(page.locator("[data-test=save-script]")).to_be_disabled()  # saved: nothing unsaved left

    saved = api.get(f"{server.url}/api/scripts/{script['id']}", timeout=10).json()
    channel_id = int((subscription.get_attribute("data-test") or "").removeprefix("subscription-"))
    assert saved["notifications"] == [{"channel_id": channel_id, "on": ["failure"]}]
    page.reload()
    page.get_by_text("Settings: timeout").click()
    expect(page.locator("[data-test=notification-picker] [data-test^=subscription-]")).to_contain_text("e2e ops hook")
