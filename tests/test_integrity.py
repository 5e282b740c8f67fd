"""Nothing is lost: deletes leave no files and no 500, reruns and retries keep their inputs,
offsets are record boundaries, and every run says who started it."""

from __future__ import annotations

import io
import json
from pathlib import Path

from flask import Flask
from flask.testing import FlaskClient

from backend.config import Settings
from backend.extensions import db
from backend.models import Schedule
from backend.services.executor import workspace
from backend.services.scheduler import fire
from tests.helpers import HOLD, create_script, execute, wait_final, wait_for, wait_started

READ_INPUT = "import os\nprint(open(os.environ['INPUT']).read())\n"
FILE_PARAM = [{"name": "INPUT", "type": "file", "required": True}]


def _paths(settings: Settings, execution_id: int) -> workspace.RunPaths:
    return workspace.run_paths(settings, execution_id)


def _on_disk(settings: Settings, execution_id: int) -> list[Path]:
    paths = _paths(settings, execution_id)
    return [p for p in (paths.workspace, paths.log, paths.control) if p.exists() or p.is_symlink()]


def _upload_run(client: FlaskClient, script_id: int, content: bytes = b"line one\n") -> dict:
    response = client.post(
        f"/api/scripts/{script_id}/execute",
        data={"params": "{}", "INPUT": (io.BytesIO(content), "data.csv")},
    )
    assert response.status_code == 202, response.json
    return response.json


def _audit_actions(client: FlaskClient) -> list[str]:
    return [row["action"] for row in client.get("/api/audit?per_page=200").json["items"]]


# -- deletes -------------------------------------------------------------------------------------


def test_deleting_a_script_with_runs_removes_rows_and_files_and_is_audited(
    client: FlaskClient, settings: Settings
) -> None:
    script = create_script(client, "with inputs", READ_INPUT, parameters=FILE_PARAM)
    runs = [wait_final(client, _upload_run(client, script["id"])["id"]) for _ in range(2)]
    assert all(run["status"] == "succeeded" for run in runs)
    assert all(_on_disk(settings, run["id"]) for run in runs)
    assert client.delete(f"/api/scripts/{script['id']}").status_code == 204
    for run in runs:
        assert _on_disk(settings, run["id"]) == []
        assert client.get(f"/api/executions/{run['id']}").status_code == 404
    assert "scripts.delete_script" in _audit_actions(client)


def test_a_script_with_a_running_run_cannot_be_deleted(client: FlaskClient) -> None:
    script = create_script(client, "busy", HOLD)
    run = execute(client, script["id"])
    wait_started(client, run["id"])
    refused = client.delete(f"/api/scripts/{script['id']}")
    assert refused.status_code == 409
    client.post(f"/api/executions/{run['id']}/cancel")
    wait_final(client, run["id"])
    assert client.delete(f"/api/scripts/{script['id']}").status_code == 204


def test_every_other_delete_answers_and_is_audited(app: Flask, client: FlaskClient, settings: Settings) -> None:
    script = create_script(client, "short", "print(1)")
    run = wait_final(client, execute(client, script["id"])["id"])
    assert client.delete(f"/api/executions/{run['id']}").status_code == 204
    assert _on_disk(settings, run["id"]) == []
    schedule = client.post(
        "/api/schedules", json={"name": "nightly", "script_id": script["id"], "cron": "0 3 * * *"}
    ).json
    assert client.delete(f"/api/schedules/{schedule['id']}").status_code == 204
    user = client.post("/api/users", json={"username": "temp", "password": "a-long-password", "role": "editor"}).json
    assert client.delete(f"/api/users/{user['id']}").status_code == 204
    token = client.post("/api/auth/tokens", json={"name": "short-lived"}).json
    assert client.delete(f"/api/auth/tokens/{token['id']}").status_code == 204
    actions = _audit_actions(client)
    for action in (
        "executions.delete_execution",
        "schedules.delete_schedule",
        "users.delete_user",
        "auth.delete_token",
    ):
        assert action in actions, (action, actions)


# -- inputs are part of the run ------------------------------------------------------------------


def test_a_rerun_of_an_upload_run_gets_the_file_again(client: FlaskClient, settings: Settings) -> None:
    script = create_script(client, "reader", READ_INPUT, parameters=FILE_PARAM)
    first = wait_final(client, _upload_run(client, script["id"], b"the uploaded rows\n")["id"])
    assert first["status"] == "succeeded"
    rerun = client.post(f"/api/executions/{first['id']}/rerun")
    assert rerun.status_code == 202, rerun.json
    second = wait_final(client, rerun.json["id"])
    assert second["status"] == "succeeded", second
    log = _paths(settings, second["id"]).log.read_text()
    assert "the uploaded rows" in log
    assert (_paths(settings, second["id"]).workspace / "data.csv").read_bytes() == b"the uploaded rows\n"


def test_retries_of_an_upload_run_get_the_file(client: FlaskClient, settings: Settings, tmp_path: Path) -> None:
    marker = tmp_path / "first-attempt-done"
    code = f"""
import os, sys
print(open(os.environ['INPUT']).read())
if not os.path.exists({str(marker)!r}):
    open({str(marker)!r}, "w").close()
    sys.exit(3)
"""
    script = create_script(client, "flaky reader", code, parameters=FILE_PARAM, max_retries=1, retry_delay_seconds=0)
    first = wait_final(client, _upload_run(client, script["id"], b"retry me\n")["id"])
    assert first["status"] == "failed"

    def second_attempt() -> dict | None:
        items = client.get(f"/api/executions?script_id={script['id']}").json["items"]
        return next((e for e in items if e["retry_of_id"] == first["id"]), None)

    retry = wait_final(client, wait_for(second_attempt, 30, message="the retry to be queued")["id"])
    assert retry["status"] == "succeeded", retry
    assert "retry me" in _paths(settings, retry["id"]).log.read_text()


def test_a_rerun_whose_inputs_are_gone_is_refused(client: FlaskClient, settings: Settings) -> None:
    script = create_script(client, "reader", READ_INPUT, parameters=FILE_PARAM)
    first = wait_final(client, _upload_run(client, script["id"])["id"])
    for kept in _paths(settings, first["id"]).inputs.iterdir():
        kept.unlink()
    refused = client.post(f"/api/executions/{first['id']}/rerun")
    assert refused.status_code == 409
    assert "no longer kept" in refused.json["detail"] and "data.csv" in refused.json["detail"]


# -- offsets -------------------------------------------------------------------------------------


def test_offsets_must_be_record_boundaries_on_both_log_endpoints(client: FlaskClient) -> None:
    script = create_script(client, "talker", "for i in range(5):\n    print('line', i)")
    run = wait_final(client, execute(client, script["id"])["id"])
    page = client.get(f"/api/executions/{run['id']}/logs").json
    boundary = page["records"][2]["offset"]  # where "line 1" starts
    size = page["size"]
    base = f"/api/executions/{run['id']}"
    assert client.get(f"{base}/logs?offset={boundary}").json["records"][0]["offset"] == boundary
    assert client.get(f"{base}/logs?offset={size}").json["records"] == []
    for bad in (boundary + 3, size + 1, 10**15):
        for url in (f"{base}/logs?offset={bad}", f"{base}/logs/stream?offset={bad}"):
            response = client.get(url)
            assert response.status_code == 400, (url, response.status_code)
            assert response.json["field"] == "offset"
    header = client.get(f"{base}/logs/stream", headers={"Last-Event-ID": str(boundary + 3)})
    assert header.status_code == 400 and header.json["field"] == "Last-Event-ID"
    resumed = client.get(f"{base}/logs/stream", headers={"Last-Event-ID": str(boundary)}).get_data(as_text=True)
    assert "line 0" not in resumed and "line 1" in resumed


# -- who -----------------------------------------------------------------------------------------


def test_every_run_records_who_started_it(app: Flask, client: FlaskClient) -> None:
    editor = app.test_client(role="editor")
    script = create_script(client, "whose", "print(1)")
    mine = wait_final(client, execute(client, script["id"])["id"])
    assert mine["created_by"] == "test-admin"
    theirs = wait_final(editor, execute(editor, script["id"])["id"])
    assert theirs["created_by"] == "test-editor"
    rerun = wait_final(client, editor.post(f"/api/executions/{mine['id']}/rerun").json["id"])
    assert rerun["created_by"] == "test-editor"
    schedule = editor.post("/api/schedules", json={"name": "s", "script_id": script["id"], "cron": "0 3 * * *"}).json
    now = wait_final(client, client.post(f"/api/schedules/{schedule['id']}/run-now").json["id"])
    assert now["created_by"] == "test-admin"
    with app.app_context():
        fired = fire.queue_run(db.session.get(Schedule, schedule["id"]))[1]
        db.session.commit()
        fired_id = fired.id
        db.session.remove()
    assert wait_final(client, fired_id)["created_by"] == "test-editor"  # the schedule's creator
    listed = {e["id"]: e["created_by"] for e in client.get("/api/executions").json["items"]}
    assert listed[mine["id"]] == "test-admin" and listed[theirs["id"]] == "test-editor"
    assert json.dumps(client.get(f"/api/executions/{mine['id']}").json).count("test-admin") == 1
