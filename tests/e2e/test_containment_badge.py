"""The shell's containment badge (from /api/health) with its details, and the script's run-as user:
an admin sets it (a missing account is refused under the field), an editor sees it read-only and saves
without touching it."""

from __future__ import annotations

import re

import requests
from playwright.sync_api import Browser, Page, expect

from tests.e2e.conftest import ADMIN_PASSWORD, Console, Server, login


def _admin_api(server: Server) -> requests.Session:
    session = requests.Session()
    body = session.post(f"{server.url}/api/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD}).json()
    session.headers["X-CSRF-Token"] = body["csrf_token"]
    return session


def _new_script(api: requests.Session, server: Server, name: str) -> int:
    made = api.post(f"{server.url}/api/scripts", json={"name": name, "language": "python", "code": "print(1)\n"})
    assert made.status_code == 201, made.text
    return int(made.json()["id"])


def _open_settings(page: Page) -> None:
    page.locator(".el-collapse-item__header", has_text="Settings: timeout").click()
    expect(page.locator("input[data-test=script-run-as]")).to_be_visible()


def test_the_badge_shows_the_containment_and_an_admin_sets_the_run_as_user(
    page: Page, server: Server, console: Console
) -> None:
    health = requests.get(f"{server.url}/api/health", timeout=10).json()
    containment = health["containment"]
    cgroup = "no cgroup" if containment["cgroup"] == "none" else f"cgroup {containment['cgroup']}"
    warned = bool(containment["warnings"]) or (
        health["sandbox"]["mode"] == "bwrap" and not health["sandbox"]["available"]
    )

    login(page)
    badge = page.locator("[data-test=containment-badge]")
    expect(badge).to_be_visible()
    expect(badge).to_contain_text(cgroup)
    expect(badge).to_have_class(re.compile(r"\bwarning\b" if warned else r"\bok\b"))
    badge.click()
    details = page.locator("[data-test=containment-details]")
    expect(details).to_be_visible()
    expect(details).to_contain_text("Runs as")
    expect(details.locator("[data-test=containment-run-as]")).to_have_text(containment["run_as_user"])
    for warning in containment["warnings"]:
        expect(details.locator("[data-test=containment-warnings]")).to_contain_text(warning[1:])

    # dark mode styles it too; on a phone only the icon shows, and it still opens
    badge.click()
    expect(details).to_be_hidden()
    page.locator("[data-test=theme-toggle]").click()
    expect(page.locator("html")).to_have_class("dark")
    assert badge.evaluate("el => getComputedStyle(el).backgroundColor") != "rgb(255, 255, 255)"
    page.set_viewport_size({"width": 390, "height": 860})
    expect(badge.locator("[data-test=containment-label]")).to_be_hidden()
    box = badge.bounding_box()
    assert box is not None and box["width"] <= 40, box
    badge.click()
    expect(details).to_be_visible()
    expect(details.locator("[data-test=containment-run-as]")).to_be_visible()
    badge.click()
    expect(details).to_be_hidden()
    page.locator("[data-test=theme-toggle]").click()
    page.set_viewport_size({"width": 1280, "height": 860})

    # an admin edits the run-as user: an unknown account is refused under the field, a real one saved
    api = _admin_api(server)
    script_id = _new_script(api, server, "runs as someone")
    page.goto(f"/scripts/{script_id}")
    _open_settings(page)
    run_as = page.locator("input[data-test=script-run-as]")
    expect(run_as).to_be_enabled()
    expect(run_as).to_have_attribute("placeholder", re.compile("server's default"))
    expect(page.locator("[data-test=run-as-hint]")).to_have_count(0)
    run_as.fill("no-such-account")
    page.locator("[data-test=save-script]").click()
    field = page.locator(".el-form-item", has=run_as)
    expect(field.locator(".el-form-item__error")).to_contain_text("There is no account 'no-such-account'")
    run_as.fill("nobody")
    page.locator("[data-test=save-script]").click()
    expect(page.get_by_text("Saved", exact=True)).to_be_visible()
    assert api.get(f"{server.url}/api/scripts/{script_id}").json()["run_as_user"] == "nobody"
    run_as.fill("")
    page.keyboard.press("Control+s")
    expect(page.get_by_text("Saved", exact=True).first).to_be_visible()
    page.wait_for_function(
        "async id => (await (await fetch(`/api/scripts/${id}`)).json()).run_as_user === null", arg=script_id
    )
    # the refused save is the one console error this test expects (Chromium logs every 4xx response)
    console.errors[:] = [e for e in console.errors if "status of 422" not in e]


def test_an_editor_sees_the_run_as_user_read_only_and_saves_without_changing_it(
    browser: Browser, server: Server, console: Console
) -> None:
    api = _admin_api(server)
    made = api.post(
        f"{server.url}/api/users", json={"username": "edna", "password": "editor-password-1", "role": "editor"}
    )
    assert made.status_code in (201, 409), made.text
    script_id = _new_script(api, server, "runs as nobody")
    changed = api.patch(f"{server.url}/api/scripts/{script_id}", json={"run_as_user": "nobody"})
    assert changed.status_code == 200, changed.text

    context = browser.new_context(base_url=server.url, viewport={"width": 1280, "height": 860})
    page = context.new_page()
    page.on("console", console.on_console)
    page.on("pageerror", console.on_page_error)
    login(page, "edna", "editor-password-1")
    expect(page.locator("[data-test=containment-badge]")).to_be_visible()
    page.goto(f"/scripts/{script_id}")
    _open_settings(page)
    run_as = page.locator("input[data-test=script-run-as]")
    expect(run_as).to_be_disabled()
    expect(run_as).to_have_value("nobody")
    expect(page.locator("[data-test=run-as-hint]")).to_have_text("Set by an administrator")
    page.locator("[data-test=script-description] textarea, [data-test=script-description] input").first.fill("edited")
    page.locator("[data-test=save-script]").click()
    expect(page.get_by_text("Saved", exact=True)).to_be_visible()
    saved = api.get(f"{server.url}/api/scripts/{script_id}").json()
    assert saved["description"] == "edited" and saved["run_as_user"] == "nobody", saved
    context.close()
    assert console.errors == []
