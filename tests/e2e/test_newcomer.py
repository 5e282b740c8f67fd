"""A newcomer's first hour, end to end in Chromium: first login, a script with parameters, a run
followed live, its log searched, a file downloaded, a re-run with a changed value, a schedule that
fires. No console error (the ``page`` fixture checks) and no request answered 5xx (checked here)."""

from __future__ import annotations

import re
import time
from pathlib import Path

import requests
from playwright.sync_api import Page, Response, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from tests.e2e.conftest import ADMIN_PASSWORD, Server

CODE = """import os, pathlib, sys
who, count = os.environ["WHO"], int(os.environ["COUNT"])
for n in range(1, count + 1):
    print(f"line {n} for {who}", flush=True)
print("[WARNING] nothing is wrong, this is a warning", file=sys.stderr, flush=True)
pathlib.Path("report.csv").write_text("n,who\\n" + "".join(f"{n},{who}\\n" for n in range(1, count + 1)))
"""
FIRE_SECONDS = 75  # a `* * * * *` schedule fires at the next minute's start


def _api(server: Server) -> requests.Session:
    session = requests.Session()
    body = session.post(f"{server.url}/api/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD}).json()
    session.headers["X-CSRF-Token"] = body["csrf_token"]
    return session


def _choose(page: Page, field: str, option: str) -> None:
    page.locator(f"[data-test={field}]").last.click()
    exact = re.compile(rf"^\s*{re.escape(option)}\s*$")
    page.locator(".el-select-dropdown__item:visible", has_text=exact).first.click()


def _set_code(page: Page, code: str) -> None:
    editor = page.locator("[data-test=code-editor] .cm-content")
    editor.click()
    page.keyboard.press("Control+A")
    page.keyboard.press("Delete")
    editor.fill(code)


def _execution_id(page: Page, other_than: int = 0) -> int:
    page.wait_for_url(re.compile(rf"/executions/(?!{other_than}$)\d+$"))
    return int(page.url.rsplit("/", 1)[1])


def test_a_newcomers_first_hour(page: Page, server: Server, tmp_path: Path) -> None:
    server_errors: list[str] = []

    def on_response(response: Response) -> None:
        if response.status >= 500:
            server_errors.append(f"{response.status} {response.request.method} {response.url}")

    page.on("response", on_response)

    # first login: the app sends a stranger to the login page, and back to the dashboard after
    page.goto("/")
    page.wait_for_url(re.compile(r"/login"))
    page.get_by_label("Username").fill("admin")
    page.get_by_label("Password", exact=True).fill(ADMIN_PASSWORD)
    page.locator("[data-test=login-submit]").click()
    expect(page.locator("[data-test=runs-chart]")).to_be_visible()
    expect(page).to_have_title(re.compile("Scriptman"))

    # a script with two parameters: a text with a default, and an integer with a default
    page.goto("/scripts")
    page.locator("[data-test=new-script]").click()
    page.locator("[data-test=script-name] input").fill("newcomer report")
    _set_code(page, CODE)
    page.locator("[data-test=add-parameter]").click()
    page.locator("[data-test=param-name] input").last.fill("WHO")
    page.locator("[data-test=param-default] input").last.fill("world")
    page.locator("[data-test=add-parameter]").click()
    page.locator("[data-test=param-name] input").last.fill("COUNT")
    _choose(page, "param-type", "integer")
    page.locator("[data-test=param-default] input").last.fill("3")
    page.locator("[data-test=save-script]").click()
    page.wait_for_url(re.compile(r"/scripts/\d+$"))
    script_id = int(page.url.rsplit("/", 1)[1])
    expect(page).to_have_title(re.compile("newcomer report"))

    # run it from the form: an integer left empty takes its default, a fraction is refused
    page.locator("[data-test=run-script]").click()
    page.locator("[data-test=run-param-WHO] input").fill("newcomer")
    count = page.locator("[data-test=run-param-COUNT] input")
    count.fill("3.5")
    page.locator("[data-test=run-submit]").click()
    expect(page.locator("[data-test=run-dialog]")).to_contain_text("whole number")
    count.fill("")
    page.locator("[data-test=run-submit]").click()
    first_run = _execution_id(page)

    # follow the log live, then search it
    log = page.locator("[data-test=log-view]")
    expect(log).to_contain_text("line 3 for newcomer")
    expect(page.locator("[data-test=execution-status]")).to_contain_text("succeeded")
    expect(page).to_have_title(re.compile(rf"Run #{first_run} · newcomer report"))
    search = page.get_by_placeholder("Search the whole log")
    search.fill("line 2")
    search.press("Enter")
    expect(page.locator("[data-test=log-search-count]")).to_have_text("1 of 1")
    expect(log.locator("mark.log-hit")).to_have_text(re.compile("line 2", re.I))

    # download the file it wrote
    with page.expect_download() as download_info:
        page.locator("[data-test=download-file][data-path='report.csv']").click()
    downloaded = tmp_path / "report.csv"
    download_info.value.save_as(downloaded)
    assert downloaded.read_text() == "n,who\n1,newcomer\n2,newcomer\n3,newcomer\n"

    # re-run with one value changed: the dialog opens with this run's values
    page.locator("[data-test=rerun] button").first.click()
    who = page.locator("[data-test=run-param-WHO] input")
    expect(who).to_have_value("newcomer")
    who.fill("again")
    page.locator("[data-test=run-submit]").click()
    second_run = _execution_id(page, other_than=first_run)
    expect(log).to_contain_text("line 3 for again")
    api = _api(server)
    rerun = api.get(f"{server.url}/api/executions/{second_run}").json()
    assert (rerun["trigger"], rerun["rerun_of_id"], rerun["params"]) == (
        "rerun",
        first_run,
        {"WHO": "again", "COUNT": 3},
    )

    # schedule it every minute, and see it fire
    page.goto("/schedules")
    page.locator("[data-test=new-schedule]").click()
    page.locator("[data-test=schedule-name] input").fill("every minute")
    _choose(page, "schedule-script", "newcomer report")
    expect(page.get_by_role("link", name="Open the script")).to_have_attribute("href", f"/scripts/{script_id}")
    page.locator("[data-test=cron-input] input").fill("* * * * *")
    expect(page.locator("[data-test=cron-description]")).to_contain_text("Every minute")
    expect(page.locator("[data-test=cron-preview] li").first).to_be_visible()
    page.locator("[data-test=save-schedule]").click()
    try:
        page.wait_for_url(re.compile(r"/schedules/\d+$"))
    except PlaywrightTimeout as error:  # say what the form said instead of only "timeout"
        said = page.locator(".el-form-item__error, .el-message, .el-alert").all_inner_texts()
        raise AssertionError(f"the schedule was not created; the page says: {said}") from error
    schedule_id = int(page.url.rsplit("/", 1)[1])

    deadline = time.monotonic() + FIRE_SECONDS
    fired: list[dict] = []
    while not fired:
        assert time.monotonic() < deadline, "the schedule did not fire within a minute"
        fired = api.get(f"{server.url}/api/executions", params={"script_id": script_id, "trigger": "schedule"}).json()[
            "items"
        ]
        time.sleep(1)
    assert fired[0]["schedule_id"] == schedule_id
    paused = api.patch(f"{server.url}/api/schedules/{schedule_id}", json={"enabled": False})
    assert paused.status_code == 200, paused.text  # one fire is enough; the other tests share the server
    page.goto(f"/executions?script_id={script_id}&trigger=schedule")
    page.locator(f"a[href='/executions/{fired[0]['id']}']").first.click()
    expect(page.locator("[data-test=log-view]")).to_contain_text("line 3 for world")
    page.goto("/schedules")
    expect(page.locator("[data-test=schedule-link]", has_text="every minute")).to_be_visible()
    expect(page.locator("[data-test=schedule-last-status]").first).to_contain_text(re.compile("succeeded|running"))
    assert server_errors == [], "requests answered 5xx:\n" + "\n".join(server_errors)
