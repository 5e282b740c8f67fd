"""A busy install as a team would see it: scripts in folders, runs that succeeded and failed, schedules.
The lists and the dashboard must show all of it (and this is where the README's screenshots come from)."""

from __future__ import annotations

import time

import requests
from playwright.sync_api import Page, expect

from tests.e2e.conftest import ADMIN_PASSWORD, Server, login, screenshot

SCRIPTS = [
    {
        "name": "nightly sales report",
        "language": "python",
        "folder": "reports/daily",
        "tags": ["reports"],
        "description": "Totals per region, mailed at 06:00",
        "code": "import json, os\nprint('regions:', os.environ['REGIONS'])\nprint(json.dumps({'total': 1234}))\n",
        "parameters": [{"name": "REGIONS", "type": "string", "default": "EU,US"}],
    },
    {
        "name": "cleanup temp files",
        "language": "shell",
        "folder": "ops",
        "tags": ["ops", "maintenance"],
        "code": "echo removing old files\nls -la\n",
    },
    {
        "name": "sync crm contacts",
        "language": "javascript",
        "folder": "integrations",
        "tags": ["crm"],
        "code": "console.log('synced', 42, 'contacts')\n",
    },
    {
        "name": "import supplier feed",
        "language": "python",
        "folder": "integrations",
        "tags": ["suppliers"],
        "code": "import sys\nprint('downloading feed')\n"
        "print('feed is malformed at line 7', file=sys.stderr)\nsys.exit(2)\n",
    },
]


def _admin_api(server: Server) -> requests.Session:
    session = requests.Session()
    body = session.post(f"{server.url}/api/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD}).json()
    session.headers["X-CSRF-Token"] = body["csrf_token"]
    return session


def _seed(server: Server) -> list[int]:
    api = _admin_api(server)
    ids = []
    for script in SCRIPTS:
        made = api.post(f"{server.url}/api/scripts", json=script)
        assert made.status_code == 201, made.text
        ids.append(made.json()["id"])
    runs = [api.post(f"{server.url}/api/scripts/{sid}/execute", json={"params": {}}).json()["id"] for sid in ids + ids]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        statuses = {api.get(f"{server.url}/api/executions/{run}").json()["status"] for run in runs}
        if statuses <= {"succeeded", "failed"}:
            break
        time.sleep(0.2)
    for name, cron, sid in (("sales report at 06:00", "0 6 * * 1-5", ids[0]), ("hourly cleanup", "@hourly", ids[1])):
        made = api.post(
            f"{server.url}/api/schedules",
            json={"name": name, "cron": cron, "script_id": sid, "timezone": "Europe/Berlin"},
        )
        assert made.status_code == 201, made.text
    return ids


def test_a_busy_install_shows_in_the_lists_and_the_dashboard(page: Page, server: Server) -> None:
    ids = _seed(server)
    login(page)

    page.goto("/scripts")
    for script in SCRIPTS:
        expect(page.locator("[data-test=script-link]", has_text=script["name"])).to_be_visible()
    expect(page.get_by_text("integrations").first).to_be_visible()
    screenshot(page, "scripts")

    page.goto("/executions")
    expect(page.locator("[data-test=executions-table]")).to_contain_text("import supplier feed")
    screenshot(page, "executions")

    page.goto("/schedules")
    expect(page.locator("[data-test=schedule-link]", has_text="sales report at 06:00")).to_be_visible()
    expect(page.locator("body")).to_contain_text("At 06:00, Monday through Friday")
    screenshot(page, "schedules")

    page.goto("/")
    expect(page.locator("[data-test=recent-failures]")).to_contain_text("import supplier feed")
    expect(page.locator("[data-test=stat-success-rate]")).not_to_contain_text("100")
    screenshot(page, "dashboard")

    page.goto(f"/scripts/{ids[0]}")
    expect(page.locator("[data-test=code-editor] .cm-content")).to_contain_text("regions")
    page.locator("[data-test=theme-toggle]").click()
    expect(page.locator("html")).to_have_class("dark")
    screenshot(page, "editor-dark")
    page.locator("[data-test=theme-toggle]").click()
