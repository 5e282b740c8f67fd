"""Markup in names, descriptions, parameters and log output is shown as text, never run (RELIABILITY A9)."""

from __future__ import annotations

import time

import requests
from playwright.sync_api import Page, expect

from tests.e2e.conftest import ADMIN_PASSWORD, Server, login

PAYLOAD = '<img src=x onerror="window.__xss=1"><script>window.__xss=2</script>'


def test_markup_everywhere_is_inert(page: Page, server: Server) -> None:
    api = requests.Session()
    body = api.post(f"{server.url}/api/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD}).json()
    api.headers["X-CSRF-Token"] = body["csrf_token"]
    script = api.post(
        f"{server.url}/api/scripts",
        json={
            "name": f"xss {PAYLOAD}",
            "description": PAYLOAD,
            "language": "shell",
            "tags": ["<b>tag</b>"],
            "code": f"echo '{PAYLOAD}'\necho \"$WHAT\" >&2\nprintf '\\033[31m{PAYLOAD}\\033[0m\\n'",
            "parameters": [{"name": "WHAT", "type": "string", "default": PAYLOAD, "description": PAYLOAD}],
        },
    ).json()
    run = api.post(f"{server.url}/api/scripts/{script['id']}/execute", json={"params": {}}).json()
    deadline = time.monotonic() + 30
    while api.get(f"{server.url}/api/executions/{run['id']}").json()["status"] not in ("succeeded", "failed"):
        assert time.monotonic() < deadline
        time.sleep(0.2)

    login(page)
    for path in ("/scripts", f"/scripts/{script['id']}", f"/executions/{run['id']}", "/executions", "/"):
        page.goto(path)
        expect(page.locator(".page-header h1").first).to_be_visible()
        page.wait_for_load_state("networkidle")
        assert page.evaluate("window.__xss") is None, path
    page.goto(f"/executions/{run['id']}")
    expect(page.locator("[data-test=log-view] .log-line", has_text=PAYLOAD)).to_have_count(
        4
    )  # 3 outputs + the header naming the script
    assert page.locator("[data-test=log-view] img, [data-test=log-view] script").count() == 0
    page.goto(f"/scripts/{script['id']}")
    page.locator("[data-test=run-script]").click()
    expect(page.locator("[data-test=run-dialog]")).to_contain_text(PAYLOAD)
    assert page.evaluate("window.__xss") is None
