"""Layout a user sees, in Chromium: a phone-width page is not squeezed by the menu, and a run's log
stays where it is when the run ends (the result and details come below it)."""

from __future__ import annotations

import requests
from playwright.sync_api import Page, expect

from tests.e2e.conftest import ADMIN_PASSWORD, Server, login


def _api(server: Server) -> requests.Session:
    session = requests.Session()
    body = session.post(f"{server.url}/api/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD}).json()
    session.headers["X-CSRF-Token"] = body["csrf_token"]
    return session


def test_at_phone_width_the_menu_is_a_drawer_over_the_page(page: Page) -> None:
    page.set_viewport_size({"width": 390, "height": 844})
    login(page)
    page.goto("/executions")
    table = page.locator("[data-test=executions-table]")
    expect(table).to_be_visible()
    expect(page.locator("[data-test=sidebar]")).to_have_count(0)  # no rail taking 64 px
    left = table.bounding_box()
    assert left is not None and left["x"] < 24, f"the page starts {left} from the edge"
    headers = [h.strip() for h in table.locator("thead th").all_inner_texts() if h.strip()]
    assert headers == ["Status", "Script", "Started"], headers

    page.locator("[data-test=menu-toggle]").click()
    drawer = page.locator("[data-test=nav-drawer]")
    expect(drawer.get_by_text("Schedules")).to_be_visible()
    assert table.bounding_box() == left, "opening the menu moved the page instead of covering it"
    drawer.get_by_text("Schedules").click()
    page.wait_for_url(lambda url: url.endswith("/schedules"))
    expect(drawer.get_by_text("Schedules")).to_be_hidden()


def test_the_log_keeps_its_place_when_the_run_ends(page: Page, server: Server) -> None:
    api = _api(server)
    code = "import pathlib, time, scriptman\nprint('waiting', flush=True)\n"
    code += "while not pathlib.Path('go').exists():\n    time.sleep(0.05)\nscriptman.set_result({'rows': 3})\n"
    script = api.post(f"{server.url}/api/scripts", json={"name": "layout gate", "language": "python", "code": code})
    run = api.post(f"{server.url}/api/scripts/{script.json()['id']}/execute", json={}).json()
    login(page)
    page.goto(f"/executions/{run['id']}")
    log = page.locator("[data-test=log-view]")
    expect(log).to_contain_text("waiting")
    before = log.bounding_box()
    (server.home / "execution_spaces" / f"execution_{run['id']}" / "go").touch()
    expect(page.locator("[data-test=execution-status]")).to_contain_text("succeeded")
    expect(page.locator("[data-test=result-view]")).to_contain_text("rows")
    after = log.bounding_box()
    assert before is not None and after is not None
    assert after["y"] == before["y"], f"the log moved from y={before['y']} to y={after['y']} when the run ended"
