"""Chains (issue 15): a script's ``on_success`` / ``on_failure`` start the next scripts when its run ends.

Real runs through the real app: the next run gets the upstream's result as ``UPSTREAM_RESULT`` and its
id as ``UPSTREAM_EXECUTION_ID``, trigger ``chain``, and both runs link to each other in the API. A
cycle is refused at save time; a chain's length is capped; what could not start is said in the
upstream run's log.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from tests.conftest import AppFactory
from tests.helpers import HOLD, create_script, execute, log_text, wait_final, wait_for, wait_started

# succeeds with a result, or fails with one when FAIL is set
UPSTREAM = (
    "import json, os, sys\n"
    "fail = os.environ.get('FAIL') == 'yes'\n"
    "json.dump({'rows': 3, 'failed': fail}, open(os.environ['SCRIPTMAN_RESULT'], 'w'))\n"
    "sys.exit(2 if fail else 0)\n"
)
# says what it received from upstream, and hands it on as its own result
SHOW_UPSTREAM = (
    "import json, os\n"
    "print('UPSTREAM_ID', os.environ.get('UPSTREAM_EXECUTION_ID'))\n"
    "print('UPSTREAM_RESULT', os.environ.get('UPSTREAM_RESULT'))\n"
    "json.dump({'got': json.loads(os.environ['UPSTREAM_RESULT'])}, open(os.environ['SCRIPTMAN_RESULT'], 'w'))\n"
)
FAIL_PARAM = [{"name": "FAIL", "type": "string", "default": "no"}]


def downstream_of(client: FlaskClient, execution_id: int, count: int = 1) -> list[dict[str, Any]]:
    """The runs ``execution_id``'s end started, once there are ``count`` of them."""

    def listed() -> list[dict[str, Any]] | None:
        items = client.get(f"/api/executions/{execution_id}").json["downstream"]
        return items if len(items) >= count else None

    return wait_for(listed, message=f"{count} downstream run(s) of {execution_id}")  # type: ignore[no-any-return]


def chained_runs(client: FlaskClient, script_id: int) -> list[dict[str, Any]]:
    return client.get(f"/api/executions?script_id={script_id}").json["items"]  # type: ignore[no-any-return]


def link(client: FlaskClient, script_id: int, **fields: list[int]) -> Any:
    return client.patch(f"/api/scripts/{script_id}", json=fields)


def test_a_chain_on_success_and_on_failure_carries_the_upstream_result(client: FlaskClient, app: Flask) -> None:
    report = create_script(client, "report", SHOW_UPSTREAM)
    alert = create_script(client, "alert", SHOW_UPSTREAM)
    extract = create_script(
        client, "extract", UPSTREAM, parameters=FAIL_PARAM, on_success=[report["id"]], on_failure=[alert["id"]]
    )
    assert extract["on_success"] == [report["id"]] and extract["on_failure"] == [alert["id"]]

    # success → report, with the result
    upstream = wait_final(client, execute(client, extract["id"])["id"])
    assert upstream["status"] == "succeeded"
    [started] = downstream_of(client, upstream["id"])
    assert started["script_id"] == report["id"] and started["script_name"] == "report"
    run = wait_final(client, started["id"])
    assert run["status"] == "succeeded", run
    assert run["trigger"] == "chain" and run["upstream_execution_id"] == upstream["id"]
    assert run["result"] == {"got": {"rows": 3, "failed": False}}
    assert run["created_by"] == upstream["created_by"]
    settings = app.extensions["scriptman.settings"]
    text = log_text(client, run["id"], settings)
    assert f"UPSTREAM_ID {upstream['id']}" in text
    assert 'UPSTREAM_RESULT {"rows": 3, "failed": false}' in text
    assert f"chained after run {upstream['id']}" in text
    assert f"chain: started run {run['id']} of 'report'" in log_text(client, upstream["id"], settings)
    assert chained_runs(client, alert["id"]) == []

    # failure → alert, with the failed run's result
    failed = wait_final(client, execute(client, extract["id"], {"FAIL": "yes"})["id"])
    assert failed["status"] == "failed"
    [started] = downstream_of(client, failed["id"])
    assert started["script_id"] == alert["id"]
    run = wait_final(client, started["id"])
    assert run["upstream_execution_id"] == failed["id"] and run["result"] == {"got": {"rows": 3, "failed": True}}
    assert len(chained_runs(client, report["id"])) == 1  # the failure started no report
    # the history can be filtered by the new trigger
    assert {r["id"] for r in client.get("/api/executions?trigger=chain").json["items"]} == {
        r["id"] for r in chained_runs(client, report["id"]) + chained_runs(client, alert["id"])
    }


def test_a_run_without_a_result_hands_on_null(client: FlaskClient) -> None:
    show = create_script(client, "show", "import os\nprint(repr(os.environ['UPSTREAM_RESULT']))\n")
    first = create_script(client, "first", "print('no result')\n", on_success=[show["id"]])
    upstream = wait_final(client, execute(client, first["id"])["id"])
    [started] = downstream_of(client, upstream["id"])
    assert wait_final(client, started["id"])["status"] == "succeeded"
    settings = client.application.extensions["scriptman.settings"]
    assert "'null'" in log_text(client, started["id"], settings)


def test_a_cycle_is_refused_at_save_time(client: FlaskClient) -> None:
    a = create_script(client, "a", "print(1)\n")
    b = create_script(client, "b", "print(2)\n")
    c = create_script(client, "c", "print(3)\n")

    to_itself = link(client, a["id"], on_success=[a["id"]])
    assert to_itself.status_code == 422, to_itself.json
    assert "chain cycle: a → a" in to_itself.json["detail"] and to_itself.json["field"] == "on_success.0"

    assert link(client, a["id"], on_success=[b["id"]]).status_code == 200
    back = link(client, b["id"], on_failure=[a["id"]])  # a mix of success and failure links is a cycle too
    assert back.status_code == 422, back.json
    assert back.json["detail"] == "chain cycle: b → a → b" and back.json["field"] == "on_failure"

    assert link(client, b["id"], on_success=[c["id"]]).status_code == 200
    longer = link(client, c["id"], on_success=[a["id"]])
    assert longer.status_code == 422 and longer.json["detail"] == "chain cycle: c → a → b → c"
    assert client.get(f"/api/scripts/{c['id']}").json["on_success"] == []  # nothing was saved

    # a diamond is no cycle: a → b, a → c, b → c
    assert link(client, a["id"], on_success=[b["id"], c["id"], b["id"]]).json["on_success"] == [b["id"], c["id"]]

    unknown = link(client, a["id"], on_failure=[c["id"], 999])
    assert unknown.status_code == 422 and unknown.json["field"] == "on_failure.1"
    assert "script 999 does not exist" in unknown.json["detail"]
    too_many = link(client, a["id"], on_failure=[c["id"]] * 21)
    assert too_many.status_code == 422

    # a PUT that leaves the links out keeps them; deleting a script drops it from every chain
    current = client.get(f"/api/scripts/{a['id']}").json
    put = client.put(f"/api/scripts/{a['id']}", json={"name": "a", "language": "python", "code": "print(11)\n"})
    assert put.status_code == 200 and put.json["on_success"] == [b["id"], c["id"]], put.json
    assert current["on_success"] == put.json["on_success"]
    assert client.delete(f"/api/scripts/{c['id']}").status_code == 204
    assert client.get(f"/api/scripts/{a['id']}").json["on_success"] == [b["id"]]
    assert client.get(f"/api/scripts/{b['id']}").json["on_success"] == []


def test_a_chain_stops_at_the_depth_cap(make_app: AppFactory) -> None:
    app = make_app(chain_max_depth=3)
    client = app.test_client()
    last = create_script(client, "d", "print('d')\n")
    c = create_script(client, "c", "print('c')\n", on_success=[last["id"]])
    b = create_script(client, "b", "print('b')\n", on_success=[c["id"]])
    a = create_script(client, "a", "print('a')\n", on_success=[b["id"]])

    first = wait_final(client, execute(client, a["id"])["id"])
    [second] = downstream_of(client, first["id"])
    [third] = downstream_of(client, wait_final(client, second["id"])["id"])
    third = wait_final(client, third["id"])
    assert third["script_name"] == "c" and third["status"] == "succeeded"
    settings = app.extensions["scriptman.settings"]
    wait_for(lambda: "chain: not starting" in log_text(client, third["id"], settings), message="the cap's note")
    assert "SCRIPTMAN_CHAIN_MAX_DEPTH allows is 3" in log_text(client, third["id"], settings)
    assert client.get(f"/api/executions/{third['id']}").json["downstream"] == []
    assert chained_runs(client, last["id"]) == []


SECOND_TIME_LUCKY = """
import os, sys
marker = os.path.join(os.environ["DIR"], "tried")
if not os.path.exists(marker):
    open(marker, "w").close()
    sys.exit(1)
print("second attempt succeeds")
"""


def test_only_the_last_attempt_of_a_retried_run_starts_the_chain(client: FlaskClient, tmp_path: Path) -> None:
    report = create_script(client, "report", "print('report')\n")
    alert = create_script(client, "alert", "print('alert')\n")
    flaky = create_script(
        client,
        "flaky",
        SECOND_TIME_LUCKY,
        parameters=[{"name": "DIR", "type": "string", "default": str(tmp_path)}],
        max_retries=1,
        on_success=[report["id"]],
        on_failure=[alert["id"]],
    )
    first = wait_final(client, execute(client, flaky["id"])["id"])
    assert first["status"] == "failed"
    retry = wait_for(lambda: client.get(f"/api/executions/{first['id']}").json["next_attempt_id"])
    second = wait_final(client, retry)
    assert second["status"] == "succeeded"
    [started] = downstream_of(client, second["id"])
    assert started["script_id"] == report["id"]
    wait_final(client, started["id"])
    assert client.get(f"/api/executions/{first['id']}").json["downstream"] == []
    assert chained_runs(client, alert["id"]) == []


def test_a_next_script_that_cannot_start_is_noted_in_the_upstream_log(client: FlaskClient, app: Flask) -> None:
    needs = create_script(
        client, "needs input", "print(1)\n", parameters=[{"name": "TARGET", "type": "string", "required": True}]
    )
    off = create_script(client, "switched off", "print(2)\n")
    fine = create_script(client, "fine", "print(3)\n")
    head = create_script(client, "head", "print(0)\n", on_success=[needs["id"], off["id"], fine["id"]])
    assert client.patch(f"/api/scripts/{off['id']}", json={"enabled": False}).status_code == 200

    upstream = wait_final(client, execute(client, head["id"])["id"])
    [started] = downstream_of(client, upstream["id"])
    assert started["script_name"] == "fine"
    settings = app.extensions["scriptman.settings"]
    text = wait_for(lambda: (t := log_text(client, upstream["id"], settings)) and "chain: started" in t and t)
    assert "chain: not starting 'needs input': " in text and "TARGET" in text
    assert "chain: not starting 'switched off': it is disabled" in text
    assert chained_runs(client, needs["id"]) == [] and chained_runs(client, off["id"]) == []
    wait_final(client, started["id"])


def test_a_cancelled_run_starts_nothing(client: FlaskClient) -> None:
    after = create_script(client, "after", "print('after')\n")
    slow = create_script(client, "slow", HOLD, on_success=[after["id"]], on_failure=[after["id"]])
    run = execute(client, slow["id"])
    wait_started(client, run["id"])
    assert client.post(f"/api/executions/{run['id']}/cancel").status_code == 200
    assert wait_final(client, run["id"])["status"] == "cancelled"
    assert json.dumps(client.get(f"/api/executions/{run['id']}").json["downstream"]) == "[]"
    assert chained_runs(client, after["id"]) == []
