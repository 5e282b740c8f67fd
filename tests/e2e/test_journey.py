"""A real session in Chromium: log in, write a script with a parameter, run it from the generated form,
watch its log arrive live, download its output, roll back a version, schedule it with a preview."""

from __future__ import annotations

import re
from pathlib import Path

import requests
from playwright.sync_api import Page, expect

from tests.e2e.conftest import ADMIN_PASSWORD, Server, login, screenshot

CODE = """import os, pathlib, time
print("hello", os.environ["WHO"], flush=True)
pathlib.Path("report.txt").write_text("report for " + os.environ["WHO"])
gate = pathlib.Path("go")
while not gate.exists():
    time.sleep(0.05)
print("\\033[32mdone\\033[0m", flush=True)
"""


def _api(server: Server) -> requests.Session:
    session = requests.Session()
    session.headers["Authorization"] = "Bearer " + _token(server)
    return session


def _token(server: Server) -> str:
    cached = getattr(server, "_token", None)
    if cached:
        return cached
    browser = requests.Session()
    body = browser.post(f"{server.url}/api/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD}).json()
    made = browser.post(
        f"{server.url}/api/auth/tokens", json={"name": "e2e"}, headers={"X-CSRF-Token": body["csrf_token"]}
    ).json()
    server._token = made["token"]  # type: ignore[attr-defined]
    return made["token"]


def _select(page: Page, hook: str, option: str) -> None:
    page.locator(f"[data-test={hook}]").click()
    page.locator(
        ".el-select-dropdown__item:visible", has_text=re.compile(rf"^\s*{re.escape(option)}\s*$")
    ).first.click()


def _set_code(page: Page, code: str) -> None:
    editor = page.locator("[data-test=code-editor] .cm-content")
    editor.click()
    page.keyboard.press("Control+A")
    page.keyboard.press("Delete")
    editor.fill(code)


def test_write_run_watch_download_rollback_and_schedule(page: Page, server: Server, tmp_path: Path) -> None:
    login(page)
    expect(page.locator("[data-test=runs-chart]")).to_be_visible()

    # write a script with one parameter
    page.goto("/scripts")
    page.locator("[data-test=new-script]").click()
    page.locator("[data-test=script-name] input").fill("e2e report")
    _set_code(page, CODE)
    page.locator("[data-test=add-parameter]").click()
    page.locator("[data-test=param-name] input").last.fill("WHO")
    page.locator("[data-test=param-default] input").last.fill("world")
    page.locator("[data-test=save-script]").click()
    page.wait_for_url(re.compile(r"/scripts/\d+$"))
    script_id = int(page.url.rsplit("/", 1)[1])
    expect(page.locator("[data-test=script-version]")).to_contain_text("v1")
    saved = _api(server).get(f"{server.url}/api/scripts/{script_id}").json()
    assert saved["code"].strip() == CODE.strip() and saved["parameters"][0]["name"] == "WHO"
    screenshot(page, "editor")

    # run it from the generated form
    page.locator("[data-test=run-script]").click()
    who = page.locator("[data-test=run-param-WHO] input")
    expect(who).to_have_value("world")
    who.fill("browser")
    page.locator("[data-test=run-submit]").click()
    page.wait_for_url(re.compile(r"/executions/\d+$"))
    execution_id = int(page.url.rsplit("/", 1)[1])

    # the first line shows while the script is still waiting on its gate
    log = page.locator("[data-test=log-view]")
    expect(log).to_contain_text("hello browser")
    expect(page.locator("[data-test=execution-status]")).to_contain_text("running")
    (server.home / "execution_spaces" / f"execution_{execution_id}" / "go").touch()
    expect(log).to_contain_text("done")
    expect(page.locator("[data-test=execution-status]")).to_contain_text("succeeded")
    colour = (
        log.locator(".log-line", has_text="done")
        .locator("span", has_text="done")
        .first.evaluate("el => getComputedStyle(el).color")
    )
    red, green, blue = (int(v) for v in re.findall(r"\d+", colour)[:3])
    assert green > red + 40 and green > blue + 40, f"ANSI green shown as {colour}"
    screenshot(page, "execution")

    # download the file it produced
    link = page.locator("[data-test=download-file][data-path='report.txt']")
    with page.expect_download() as download_info:
        link.click()
    downloaded = tmp_path / "report.txt"
    download_info.value.save_as(downloaded)
    assert downloaded.read_text() == "report for browser"

    # edit (v2), then roll back to v1 (v3)
    page.goto(f"/scripts/{script_id}")
    _set_code(page, 'print("second version")\n')
    page.keyboard.press("Control+s")
    expect(page.locator("[data-test=script-version]")).to_contain_text("v2")
    page.locator("[data-test=script-history]").click()
    page.wait_for_url(re.compile(rf"/scripts/{script_id}/history$"))
    expect(page.locator("[data-test=version-2]")).to_be_visible()
    expect(page.locator("[data-test=diff-view]")).to_contain_text("second version")
    screenshot(page, "history")
    page.locator("[data-test=rollback-1]").click()
    page.locator(".el-message-box").get_by_role("button", name="Roll back").click()
    expect(page.locator("[data-test=version-3]")).to_be_visible()
    current = _api(server).get(f"{server.url}/api/scripts/{script_id}").json()
    assert current["version"] == 3 and current["code"].strip() == CODE.strip()

    # schedule it, with the next-runs preview
    page.goto("/schedules")
    page.locator("[data-test=new-schedule]").click()
    page.locator("[data-test=schedule-name] input").fill("every five minutes")
    _select(page, "schedule-script", "e2e report")
    cron = page.locator("[data-test=cron-input] input")
    cron.fill("*/5 * * * *")
    expect(page.locator("[data-test=cron-description]")).to_contain_text("Every 5 minutes")
    expect(page.locator("[data-test=cron-preview] li")).to_have_count(5)
    screenshot(page, "schedule")
    expect(page.locator("[data-test=schedule-unsaved]")).to_be_visible()
    page.locator(".el-menu-item", has_text="Scripts").click()  # leaving would lose the form: asked first
    page.locator(".el-message-box").get_by_role("button", name="Stay").click()
    expect(page).to_have_url(re.compile(r"/schedules/new$"))
    page.locator("[data-test=save-schedule]").click()
    page.wait_for_url(re.compile(r"/schedules/\d+$"))
    schedules = _api(server).get(f"{server.url}/api/schedules").json()["items"]
    assert [(s["name"], s["cron"], s["script_id"]) for s in schedules] == [
        ("every five minutes", "*/5 * * * *", script_id)
    ]

    page.goto("/schedules")
    expect(page.locator("[data-test=schedule-link]", has_text="every five minutes")).to_be_visible()
