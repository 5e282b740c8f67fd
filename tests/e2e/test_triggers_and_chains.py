"""Issue 15 in Chromium: a trigger URL made on the script's Triggers tab starts a run from outside (its
token shown once, its last use listed, a revoke refusing it at once), and the run page links a chain
both ways."""

from __future__ import annotations

import re
import time
from typing import Any

import requests
from playwright.sync_api import Page, expect

from tests.e2e.conftest import Server, login, screenshot
from tests.e2e.test_journey import _api

GREETER = """import json, os
json.dump({"greeting": "hello " + os.environ["WHO"]}, open(os.environ["SCRIPTMAN_RESULT"], "w"))
print("greeted", os.environ["WHO"])
"""
RUN_END_SECONDS = 30


def _create_script(api: requests.Session, server: Server, name: str, code: str, **fields: Any) -> dict[str, Any]:
    response = api.post(
        f"{server.url}/api/scripts", json={"name": name, "language": "python", "code": code, **fields}, timeout=10
    )
    assert response.status_code == 201, response.text
    return response.json()


def _wait_for(api: requests.Session, server: Server, execution_id: int, done: Any) -> dict[str, Any]:
    """The execution once ``done(execution)`` holds (polling the API), failing after a while."""
    deadline = time.monotonic() + RUN_END_SECONDS
    while True:
        execution = api.get(f"{server.url}/api/executions/{execution_id}", timeout=10).json()
        if done(execution):
            return execution
        assert time.monotonic() < deadline, f"run {execution_id} did not get there: {execution}"
        time.sleep(0.2)


def test_trigger_url_made_used_and_revoked_in_the_triggers_tab(page: Page, server: Server) -> None:
    api = _api(server)
    script = _create_script(
        api,
        server,
        "e2e greeter hook",
        GREETER,
        parameters=[{"name": "WHO", "type": "string", "default": "world"}],
    )
    login(page)
    page.goto(f"/scripts/{script['id']}")
    page.get_by_role("tab", name="Triggers").click()
    panel = page.locator("[data-test=triggers-panel]")
    expect(panel).to_contain_text("No trigger URLs yet.")
    # the examples are built from the script's parameters, on this server's address
    expect(panel.locator("[data-test=curl-wait]")).to_contain_text(f"{server.url}/hooks/<token>?wait=30")
    expect(panel.locator("[data-test=curl-wait]")).to_contain_text('{"WHO":"world"}')

    # create: the URL and the token are shown once
    panel.locator("[data-test=trigger-name] input").fill("CI deploy")
    panel.locator("[data-test=create-trigger]").click()
    dialog = page.locator(".el-dialog", has=page.locator("[data-test=created-token]"))
    expect(dialog).to_contain_text("it will not be shown again")
    token = dialog.locator("[data-test=created-token]").inner_text().strip()
    url = dialog.locator("[data-test=created-url]").inner_text().strip()
    assert url == f"{server.url}/hooks/{token}"
    expect(dialog.locator("[data-test=created-curl-wait]")).to_contain_text(f"{url}?wait=30")
    screenshot(page, "triggers")
    dialog.locator("[data-test=trigger-done]").click()
    expect(dialog).to_be_hidden()
    row = panel.locator("[data-test=trigger-list] .el-table__body tr")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("CI deploy")
    expect(row).to_contain_text(token[:6])
    expect(row.locator("[data-test=trigger-never-used]")).to_be_visible()
    assert token not in page.content()  # gone with the dialog

    # call it from outside, waiting for the result
    answer = requests.post(url, json={"WHO": "hook"}, params={"wait": 10}, timeout=30)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["status"] == "succeeded" and body["exit_code"] == 0
    assert body["result"] == {"greeting": "hello hook"}
    run = api.get(f"{server.url}/api/executions/{body['execution_id']}", timeout=10).json()
    assert run["trigger"] == "webhook" and run["params"] == {"WHO": "hook"}

    # the tab now says when and from where it was last used
    panel.locator("[data-test=reload-triggers]").click()
    expect(row.locator("[data-test=trigger-last-used]")).to_contain_text("127.0.0.1")

    # revoke it: the same URL is refused at once
    row.locator("[data-test=revoke-trigger]").click()
    box = page.locator(".el-message-box")
    expect(box).to_contain_text("Revoke “CI deploy”")
    box.get_by_role("button", name="Revoke").click()
    expect(panel).to_contain_text("No trigger URLs yet.")
    refused = requests.post(url, json={"WHO": "again"}, params={"wait": 10}, timeout=30)
    assert refused.status_code == 404, refused.text


def test_run_page_links_a_chain_both_ways(page: Page, server: Server) -> None:
    api = _api(server)
    downstream = _create_script(api, server, "e2e chain load", 'print("loading", flush=True)\n')
    upstream = _create_script(
        api,
        server,
        "e2e chain extract",
        'import json, os\njson.dump({"rows": 3}, open(os.environ["SCRIPTMAN_RESULT"], "w"))\n',
        on_success=[downstream["id"]],
    )
    started = api.post(f"{server.url}/api/scripts/{upstream['id']}/execute", json={"params": {}}, timeout=10)
    assert started.status_code == 202, started.text
    first = _wait_for(api, server, started.json()["id"], lambda e: e["status"] == "succeeded" and e["downstream"])
    (next_run,) = first["downstream"]
    assert next_run["script_id"] == downstream["id"]
    second = _wait_for(api, server, next_run["id"], lambda e: e["status"] == "succeeded")
    assert second["trigger"] == "chain" and second["upstream_execution_id"] == first["id"]

    login(page)
    page.goto(f"/executions/{first['id']}")
    forward = page.locator("[data-test=chain-downstream]")
    expect(forward).to_contain_text(f"Started next: e2e chain load #{next_run['id']}")
    forward.locator("[data-test=chain-downstream-link]").click()
    page.wait_for_url(re.compile(rf"/executions/{next_run['id']}$"))
    expect(page.locator(".meta")).to_contain_text("Chain")
    back = page.locator("[data-test=chain-upstream]")
    expect(back).to_contain_text(f"Started by run #{first['id']} (e2e chain extract) on success")
    screenshot(page, "chain")
    back.locator("[data-test=chain-upstream-link]").click()
    page.wait_for_url(re.compile(rf"/executions/{first['id']}$"))
    expect(page.locator("[data-test=chain-downstream]")).to_contain_text(f"#{next_run['id']}")
