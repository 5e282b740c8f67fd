"""Run logs: paging, plain text, live SSE with resume, masking of secrets, odd output."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import requests
from flask.testing import FlaskClient

from backend.config import Settings
from tests import sse
from tests.auth_client import token_for
from tests.conftest import AppFactory, build_app, close_app, make_settings
from tests.helpers import create_script, execute, server_env, wait_final, wait_for

GATED = """
import os, time
print("before", flush=True)
while not os.path.exists(os.environ["GATE"]):
    time.sleep(0.02)
print("after", flush=True)
"""


def _stream(client: FlaskClient, execution_id: int, **headers: str):  # type: ignore[no-untyped-def]
    response = client.get(f"/api/executions/{execution_id}/logs/stream", headers=headers, buffered=False)
    assert response.status_code == 200 and response.mimetype == "text/event-stream"
    return sse.parse(response.response)


def _gated_run(client: FlaskClient, tmp_path: Path) -> tuple[int, Path]:
    gate = tmp_path / "gate"
    script = create_script(client, "gated", GATED, parameters=[{"name": "GATE", "type": "string"}])
    return execute(client, script["id"], {"GATE": str(gate)})["id"], gate


def test_the_stream_shows_lines_while_the_script_is_still_running(client: FlaskClient, tmp_path: Path) -> None:
    execution_id, gate = _gated_run(client, tmp_path)
    events = _stream(client, execution_id)
    texts: list[str] = []
    for event in events:
        if event.event == "log":
            texts.append(event.data["text"])
            if event.data["text"] == "before":
                assert client.get(f"/api/executions/{execution_id}").json["status"] == "running"
                gate.touch()
        if event.event == "end":
            assert event.data["status"] == "succeeded"
            break
    assert texts.index("before") < texts.index("after")
    assert texts[-1].startswith("finished: succeeded")


def test_reconnecting_with_last_event_id_resumes_without_loss_or_repeats(client: FlaskClient, tmp_path: Path) -> None:
    execution_id, gate = _gated_run(client, tmp_path)
    first: list[sse.Event] = []
    for event in _stream(client, execution_id):
        if event.event == "log":
            first.append(event)
            if event.data["text"] == "before":
                break  # the client drops the connection mid-run
    gate.touch()
    wait_final(client, execution_id)
    rest = [e for e in _stream(client, execution_id, **{"Last-Event-ID": first[-1].id}) if e.event == "log"]
    full = [e for e in _stream(client, execution_id) if e.event == "log"]
    assert [e.data for e in first + rest] == [e.data for e in full]
    assert rest[0].data["text"] == "after"


def test_two_readers_get_identical_streams_and_a_finished_run_replays(client: FlaskClient) -> None:
    script = create_script(client, "many", "for i in range(300):\n    print('line', i)")
    execution_id = execute(client, script["id"])["id"]
    a = _stream(client, execution_id)
    b = _stream(client, execution_id)
    logs_a = [e.data for e in a if e.event == "log"]
    logs_b = [e.data for e in b if e.event == "log"]
    assert logs_a == logs_b
    assert [d["text"] for d in logs_a if d["stream"] == "out"] == [f"line {i}" for i in range(300)]
    replay = list(_stream(client, execution_id))
    assert [e.data for e in replay if e.event == "log"] == logs_a
    assert replay[-1].event == "end" and replay[-1].data["status"] == "succeeded"


def test_logs_page_by_byte_offset_and_download_as_text(client: FlaskClient) -> None:
    script = create_script(
        client, "paged", "import sys\nfor i in range(10):\n    print(i)\nprint('bad', file=sys.stderr)"
    )
    execution_id = wait_final(client, execute(client, script["id"])["id"])["id"]
    page = client.get(f"/api/executions/{execution_id}/logs?limit=3").json
    assert len(page["records"]) == 3 and not page["complete"]
    rest = client.get(f"/api/executions/{execution_id}/logs?offset={page['next_offset']}").json
    texts = [r["text"] for r in page["records"] + rest["records"]]
    assert texts[1:12] == [str(i) for i in range(10)] + ["bad"]
    assert rest["complete"] and rest["next_offset"] == rest["size"]
    assert client.get(f"/api/executions/{execution_id}/logs?offset={rest['size'] + 5}").status_code == 400
    text = client.get(f"/api/executions/{execution_id}/logs?format=text")
    assert "attachment" in text.headers["Content-Disposition"]
    assert "[err] bad" in text.data.decode()


def test_secret_values_never_reach_the_log_the_api_or_the_stream(client: FlaskClient, settings: Settings) -> None:
    secret = "p@ss+w.rd$(x)\\*"
    code = (
        "import os, sys\nv = os.environ['TOKEN']\nprint('token is', v)\nprint(v, file=sys.stderr)\n"
        "sys.stdout.write('partial ' + v[:5]); sys.stdout.flush(); sys.stdout.write(v[5:] + ' done\\n')\n"
        "print('x' * 70000 + v + 'y')\n"
    )
    script = create_script(client, "secretive", code, parameters=[{"name": "TOKEN", "type": "secret"}])
    execution = wait_final(client, execute(client, script["id"], {"TOKEN": secret})["id"])
    assert execution["status"] == "succeeded" and execution["params"] == {"TOKEN": "***"}
    raw = (settings.logs_dir / f"execution_{execution['id']}.log").read_text()
    assert secret not in raw and "token is ***" in raw and "partial *** done" in raw
    api = client.get(f"/api/executions/{execution['id']}/logs?limit=10000").data.decode()
    streamed = "".join(str(e.data) for e in _stream(client, execution["id"]))
    assert secret not in api and secret not in streamed and "p@ss" not in raw


def test_long_lines_binary_and_invalid_utf8_are_stored_safely(client: FlaskClient) -> None:
    code = (
        "import sys\nsys.stdout.buffer.write(b'\\xff\\xfe bad utf8\\n')\n"
        "sys.stdout.buffer.write(b'\\x00\\x01\\x1b[31mred\\x1b[0m\\n')\n"
        "print('z' * 200000)\nprint('bar\\r50%\\r100%')\n"
    )
    execution = wait_final(client, execute(client, create_script(client, "odd", code)["id"])["id"])
    assert execution["status"] == "succeeded"
    records = client.get(f"/api/executions/{execution['id']}/logs?limit=10000").json["records"]
    texts = [r["text"] for r in records if r["stream"] == "out"]
    assert texts[0].startswith("\ufffd")
    assert "\x1b[31mred" in texts[1]
    long_parts = [t for t in texts if t.startswith("z")]
    assert len(long_parts) >= 3 and all(len(t.encode()) <= 64 * 1024 + 20 for t in long_parts)
    assert sum(t.count("z") for t in long_parts) == 200000


def test_a_long_line_that_ends_in_the_chunk_that_brought_it_is_still_split(tmp_path: Path) -> None:
    from backend.services.executor.logfile import LogWriter, Masker, read_records

    path = str(tmp_path / "run.log")
    writer = LogWriter(path, Masker(["SECRET"]), max_bytes=10**9, max_line_bytes=1000)
    writer.feed("out", b"z" * 500)  # short so far: waits for more
    writer.feed("out", b"z" * 2000 + b"SECRET" + b"z" * 500 + b"\nnext\n")  # the rest, and the end, at once
    writer.close()
    texts = [r.text for r in read_records(path)]
    assert texts[-1] == "next"
    parts = texts[:-1]
    assert len(parts) == 4 and all(len(t.encode()) <= 1000 + 20 for t in parts)  # 3003 bytes after masking
    assert "".join(t.replace("z", "") for t in parts).count("***") == 1 and "SECRET" not in "".join(parts)


def test_a_huge_output_is_capped_and_does_not_grow_the_server(tmp_path: Path, make_app: AppFactory) -> None:
    settings = make_settings(tmp_path, max_log_bytes=1024 * 1024)
    client = make_app(settings).test_client()
    before = psutil.Process().memory_info().rss
    code = "import sys\nline = 'x' * 99 + '\\n'\nfor _ in range(500000):\n    sys.stdout.write(line)\n"
    execution = wait_final(client, execute(client, create_script(client, "flood", code)["id"])["id"], 60)
    grown = psutil.Process().memory_info().rss - before
    assert execution["status"] == "succeeded"
    size = (settings.logs_dir / f"execution_{execution['id']}.log").stat().st_size
    assert size <= 1024 * 1024 + 64 * 1024
    assert grown < 20 * 1024 * 1024, f"server grew by {grown} bytes"
    tail = (settings.logs_dir / f"execution_{execution['id']}.log").read_text()[-300:]
    assert "log limit" in tail and "further output discarded" in tail


def test_progress_and_the_python_helper_module(client: FlaskClient) -> None:
    code = (
        "import scriptman\nscriptman.progress(40, 'loading')\nscriptman.log('warning', 'careful')\n"
        "scriptman.set_result({'n': scriptman.param('N', 0) * 2, 'missing': scriptman.param('NOPE', 'd')})\n"
    )
    script = create_script(client, "sdk", code, parameters=[{"name": "N", "type": "integer", "default": 21}])
    execution_id = execute(client, script["id"])["id"]
    events = list(_stream(client, execution_id))
    progress = [e.data for e in events if e.event == "progress"]
    assert progress == [{"percent": 40.0, "message": "loading"}]
    done = wait_final(client, execution_id)
    assert done["result"] == {"n": 42, "missing": "d"}
    assert done["progress"] == 40.0 and done["progress_message"] == "loading"
    assert any(e.event == "log" and e.data == {**e.data, "stream": "err", "text": "[WARNING] careful"} for e in events)


def test_the_javascript_helper_module(client: FlaskClient) -> None:
    code = "const s = require('scriptman');\ns.progress(10, 'go');\ns.setResult({who: s.param('WHO', 'x')});\n"
    script = create_script(client, "jssdk", code, language="javascript", parameters=[{"name": "WHO", "default": "js"}])
    done = wait_final(client, execute(client, script["id"])["id"])
    assert done["status"] == "succeeded" and done["result"] == {"who": "js"} and done["progress"] == 10.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_the_real_server_streams_events_as_they_happen(settings: Settings, tmp_path: Path) -> None:
    """`scriptman serve` (gunicorn gthread) must not buffer the stream."""
    port = _free_port()
    env = server_env(settings, SCRIPTMAN_PORT=str(port))
    server = subprocess.Popen(
        [str(Path(sys.executable).with_name("scriptman")), "serve"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    auth = {"Authorization": f"Bearer {_token(settings)}"}
    try:
        wait_for(lambda: _up(base), 30, 0.2, "the server to start")
        script = requests.post(
            f"{base}/api/scripts",
            headers=auth,
            json={"name": "live", "language": "python", "code": GATED, "parameters": [{"name": "GATE"}]},
            timeout=10,
        ).json()
        gate = tmp_path / "live-gate"
        run = requests.post(
            f"{base}/api/scripts/{script['id']}/execute", headers=auth, json={"params": {"GATE": str(gate)}}, timeout=10
        ).json()
        started = time.monotonic()
        with requests.get(
            f"{base}/api/executions/{run['id']}/logs/stream", headers=auth, stream=True, timeout=30
        ) as response:
            seen_before = False
            for event in sse.parse(response.iter_content(chunk_size=None)):
                if event.event == "log" and event.data["text"] == "before":
                    seen_before = True
                    assert not gate.exists()
                    gate.touch()
                if event.event == "end":
                    break
        assert seen_before and time.monotonic() - started < 20
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=15)


def _token(settings: Settings) -> str:
    app = build_app(settings)
    try:
        return token_for(app, "editor")
    finally:
        close_app(app)


def _up(base: str) -> bool:
    try:
        return requests.get(f"{base}/api/health", timeout=1).status_code == 200
    except requests.RequestException:
        return False


def test_unknown_execution_logs_are_404(client: FlaskClient) -> None:
    for url in ("/api/executions/999/logs", "/api/executions/999/logs/stream", "/api/executions/999/files"):
        response = client.get(url)
        assert response.status_code == 404 and response.content_type == "application/problem+json"
    assert client.get("/api/executions/1/logs?offset=-1").status_code == 422
    # the run is looked up first: a bad resume point on a run that does not exist is still a 404
    assert client.get("/api/executions/999/logs/stream", headers={"Last-Event-ID": "abc"}).status_code == 404


def test_a_malformed_last_event_id_is_a_400_naming_the_header(client: FlaskClient) -> None:
    run = wait_final(client, execute(client, create_script(client, "short", "print(1)")["id"])["id"])
    response = client.get(f"/api/executions/{run['id']}/logs/stream", headers={"Last-Event-ID": "abc"})
    assert response.status_code == 400 and response.content_type == "application/problem+json"
    assert response.json["field"] == "Last-Event-ID"
