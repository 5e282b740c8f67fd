"""The executor suite on Celery workers: parameters, files, results, secrets and SSE resume.

What a user of the local executor relies on, checked for runs that two real ``scriptman worker``
processes run (real PostgreSQL and Redis, one shared SCRIPTMAN_HOME), through the web process's API.
Languages, timeout, cancel, retries, caps and a lost worker are in ``test_celery_executor.py``.
"""

from __future__ import annotations

import io
import json
import uuid
import zipfile
from collections.abc import Iterator
from typing import Any

import pytest
from flask.testing import FlaskClient

from backend.services import logship
from backend.services.executor import workspace
from backend.services.executor.logfile import read_records
from tests import sse
from tests.celery_cluster import Cluster, running_cluster
from tests.helpers import GATED_LINES, create_script, execute, log_text, wait_final

TYPED = """
import json, os, scriptman
print("env", os.environ["COUNT"], os.environ["RATIO"], os.environ["FLAG"], os.environ["MODE"], os.environ["WHO"])
print("config", json.loads(os.environ["CONFIG"])["a"])
print("all", os.environ["SCRIPT_PARAMETERS"])
print("sdk", scriptman.param("COUNT") + 1)
"""
TYPED_PARAMS = [
    {"name": "COUNT", "type": "integer", "required": True},
    {"name": "RATIO", "type": "number", "default": 0.5},
    {"name": "FLAG", "type": "boolean", "default": False},
    {"name": "MODE", "type": "choice", "choices": ["fast", "slow"], "default": "slow"},
    {"name": "CONFIG", "type": "json", "default": {}},
    {"name": "WHO", "type": "string", "default": "world"},
]
PRODUCER = """
import os, scriptman
data = open(scriptman.param("INPUT")).read()
open("upper.txt", "w").write(data.upper())
os.makedirs("reports/daily", exist_ok=True)
open("reports/daily/data.json", "w").write('{"n": 1}')
print("read", len(data), "bytes")
"""
SECRET = "s3cr3t-w0rker-" + uuid.uuid4().hex
LEAKY = """
import json, os, scriptman
token = os.environ["TOKEN"]
print("token is", token)
print("inline:", token, "end", file=__import__("sys").stderr)
scriptman.progress(50, "working with " + token)
json.dump({"token": token, "rows": 3, "nested": [token]}, open(os.environ["SCRIPTMAN_RESULT"], "w"))
"""


@pytest.fixture(scope="module")
def cluster(postgres_url: str, redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """One web app and two workers for the module: its tests share them."""
    with running_cluster(postgres_url, redis_url, tmp_path_factory.mktemp("celery-suite")) as built:
        yield built


def runs_of(client: FlaskClient, script_id: int) -> int:
    return int(client.get(f"/api/executions?script_id={script_id}").json["total"])


def test_typed_parameters_reach_the_script_on_a_worker_and_bad_ones_are_refused_at_submit(cluster: Cluster) -> None:
    client = cluster.client
    script = create_script(client, "typed", TYPED, parameters=TYPED_PARAMS)
    for params, field in [
        ({"COUNT": "abc"}, "params.COUNT"),
        ({}, "params.COUNT"),
        ({"COUNT": 1, "MODE": "medium"}, "params.MODE"),
        ({"COUNT": 1, "X": 2}, "params.X"),
    ]:
        response = client.post(f"/api/scripts/{script['id']}/execute", json={"params": params})
        assert response.status_code == 422 and response.json["field"] == field, response.json
    assert runs_of(client, script["id"]) == 0  # nothing was queued for a worker

    run = execute(client, script["id"], {"COUNT": "5", "FLAG": "yes", "CONFIG": {"a": [1, 2]}, "WHO": "ada"})
    done = wait_final(client, run["id"])
    text = log_text(client, run["id"], cluster.settings)
    assert done["status"] == "succeeded", text
    assert cluster.row(run["id"]).worker in ("w1", "w2")
    assert "env 5 0.5 true slow ada" in text
    assert "config [1, 2]" in text
    values = {"COUNT": 5, "RATIO": 0.5, "FLAG": True, "MODE": "slow", "CONFIG": {"a": [1, 2]}, "WHO": "ada"}
    assert f"all {json.dumps(values)}" in text
    assert "sdk 6" in text
    assert done["params"] == values


def test_uploads_reach_the_worker_and_its_workspace_is_listed_downloaded_and_zipped(cluster: Cluster) -> None:
    client = cluster.client
    upload = [{"name": "INPUT", "type": "file", "required": True}]
    script = create_script(client, "producer", PRODUCER, parameters=upload)
    data = {"params": json.dumps({}), "INPUT": (io.BytesIO(b"hello world"), "notes.txt")}
    response = client.post(f"/api/scripts/{script['id']}/execute", data=data, content_type="multipart/form-data")
    assert response.status_code == 202, response.json
    run = wait_final(client, response.json["id"])
    assert run["status"] == "succeeded", log_text(client, run["id"], cluster.settings)
    assert run["params"] == {"INPUT": "notes.txt"}
    assert " out read 11 bytes" in log_text(client, run["id"], cluster.settings)  # there before the script started

    rerun = client.post(f"/api/executions/{run['id']}/rerun", json={})
    assert rerun.status_code == 202, rerun.json
    again = wait_final(client, rerun.json["id"])
    assert again["status"] == "succeeded" and again["params"] == {"INPUT": "notes.txt"}
    assert {cluster.row(r["id"]).worker for r in (run, again)} <= {"w1", "w2"}

    for done in (run, again):
        base = f"/api/executions/{done['id']}"
        listing = {e["path"]: e for e in client.get(f"{base}/files").json["items"]}
        assert {"notes.txt", "main.py", "upper.txt", "reports/daily/data.json"} <= set(listing)
        assert listing["upper.txt"]["size"] == 11 and ".scriptman" not in listing
        assert client.get(f"{base}/files/upper.txt").data == b"HELLO WORLD"
        download = client.get(f"{base}/files/upper.txt?download=1")
        assert "attachment" in download.headers["Content-Disposition"] and download.data == b"HELLO WORLD"
        archive = client.get(f"{base}/archive")
        assert archive.status_code == 200 and archive.mimetype == "application/zip"
        with zipfile.ZipFile(io.BytesIO(archive.data)) as zipped:
            folder = f"execution_{done['id']}"
            assert zipped.read(f"{folder}/notes.txt") == b"hello world"
            assert zipped.read(f"{folder}/reports/daily/data.json") == b'{"n": 1}'
            assert not any(".scriptman" in name for name in zipped.namelist())


def test_a_worker_runs_result_and_metrics_are_recorded_and_its_secrets_masked_everywhere(cluster: Cluster) -> None:
    client, settings = cluster.client, cluster.settings
    leaky = create_script(client, "leaky", LEAKY, parameters=[{"name": "TOKEN", "type": "secret"}])
    stdout_json = create_script(client, "json-out", "import json\nprint(json.dumps({'ok': True, 'items': [1, 2]}))")
    run = execute(client, leaky["id"], {"TOKEN": SECRET})
    plain = execute(client, stdout_json["id"])
    done = wait_final(client, run["id"])
    assert done["status"] == "succeeded", log_text(client, run["id"], settings)
    assert done["result"] == {"token": "***", "rows": 3, "nested": ["***"]}
    assert done["progress_message"] == "working with ***"
    assert done["params"] == {"TOKEN": "***"}
    assert done["duration_ms"] is not None and done["peak_memory_kb"] > 0 and done["cpu_time_ms"] is not None
    assert wait_final(client, plain["id"])["result"] == {"ok": True, "items": [1, 2]}

    log = log_text(client, run["id"], settings)
    assert " out token is ***" in log and " err inline: *** end" in log
    outputs = {
        "log file": log,
        "status.json": (settings.data_dir / "runs" / f"execution_{run['id']}" / "status.json").read_text(),
        "API detail": client.get(f"/api/executions/{run['id']}").get_data(as_text=True),
        "API list": client.get("/api/executions").get_data(as_text=True),
        "log API": client.get(f"/api/executions/{run['id']}/logs?limit=1000").get_data(as_text=True),
        "SSE": client.get(f"/api/executions/{run['id']}/logs/stream").get_data(as_text=True),
    }
    for where, text in outputs.items():
        assert SECRET not in text, f"the secret leaks through the {where}"


def _read_until(response: Any, stop: Any) -> list[sse.Event]:
    """Events of an open SSE response until ``stop(events)`` says so (or the stream ends)."""
    events: list[sse.Event] = []
    for event in sse.parse(response.response):
        events.append(event)
        if stop(events):
            break
    return events


def test_sse_through_the_web_resumes_a_worker_run_exactly_once_live_and_after_its_end(cluster: Cluster) -> None:
    client, settings = cluster.client, cluster.settings
    executor = cluster.app.extensions["scriptman.executor"]
    gate = cluster.home / f"gate-{uuid.uuid4().hex}"
    script = create_script(client, "gated", GATED_LINES, parameters=[{"name": "GATE", "type": "string"}])
    run_id = execute(client, script["id"], {"GATE": str(gate)})["id"]
    url = f"/api/executions/{run_id}/logs/stream"

    # live: the first lines arrive while the script waits at its gate (it cannot have ended)
    response = client.get(url, buffered=False)
    assert response.status_code == 200
    first = _read_until(response, lambda events: sum(e.event == "log" for e in events) >= 25)
    response.close()
    assert not gate.exists() and [e.data["status"] for e in first if e.event == "status"][-1] == "running"
    assert executor.redis.exists(logship.key_for(settings, run_id))  # the worker ships this log to Redis
    resume = [e.id for e in first if e.id][-1]

    # resumed during the run: the rest once, across the end (the web leaves the stream for the file)
    def released(events: list[sse.Event]) -> bool:
        if events[-1].event == "log" and events[-1].data["text"] == "before 39":
            gate.touch()
        return False

    response = client.get(url, headers={"Last-Event-ID": resume}, buffered=False)
    assert response.status_code == 200
    rest = _read_until(response, released)
    response.close()
    assert rest[-1].event == "end" and rest[-1].data["status"] == "succeeded"
    in_file = [(r.text, r.offset) for r in read_records(str(workspace.run_paths(settings, run_id).log), 0, limit=10**6)]
    assert sse.records_of(first) + sse.records_of(rest) == in_file
    assert [f"after {i}" for i in range(60)] == [text for text, _ in in_file if text.startswith("after")]

    # resumed after the end (from the persisted file): exactly what followed that id
    middle = [e.id for e in first if e.event == "log"][10]
    assert middle is not None
    late = client.get(url, headers={"Last-Event-ID": middle})
    tail = list(sse.parse([late.data]))
    assert sse.records_of(tail) == [(text, offset) for text, offset in in_file if offset >= int(middle)]
    assert tail[-1].event == "end" and tail[-1].data["status"] == "succeeded"
