"""Containment of runs: resource limits and the optional bubblewrap sandbox."""

from __future__ import annotations

import socket

from flask import Flask
from flask.testing import FlaskClient

from backend.config import Settings
from tests.helpers import create_script, execute, log_text, wait_final


def test_a_run_over_its_memory_limit_fails_with_a_clear_reason(client: FlaskClient, settings: Settings) -> None:
    code = "buf = bytearray(2 * 1024 * 1024 * 1024)\nprint('allocated')"
    script = create_script(client, "hog", code, limits={"memory_mb": 256})
    done = wait_final(client, execute(client, script["id"])["id"])
    assert done["status"] == "failed" and done["error"] == "memory limit reached"
    text = log_text(client, done["id"], settings)
    assert "MemoryError" in text and "memory limit reached" in text and "allocated" not in text


def test_a_run_writing_past_its_file_size_limit_fails(client: FlaskClient, settings: Settings) -> None:
    code = "with open('big.bin', 'wb') as f:\n    for _ in range(50):\n        f.write(b'x' * 1024 * 1024)\n"
    script = create_script(client, "writer", code, limits={"file_size_mb": 10})
    done = wait_final(client, execute(client, script["id"])["id"])
    assert done["status"] == "failed" and done["error"] == "file size limit reached"
    assert (settings.workspaces_dir / f"execution_{done['id']}" / "big.bin").stat().st_size <= 10 * 1024 * 1024


def test_a_run_over_its_cpu_limit_is_stopped(client: FlaskClient) -> None:
    script = create_script(client, "spin", "while True:\n    pass", limits={"cpu_seconds": 1})
    done = wait_final(client, execute(client, script["id"])["id"])
    assert done["status"] == "failed" and done["error"] == "CPU time limit reached"
    assert 800 <= done["cpu_time_ms"] <= 3000


def test_node_starts_under_the_default_memory_limit(client: FlaskClient, settings: Settings) -> None:
    assert settings.limit_memory_mb  # the default is on: node must still start (RLIMIT_DATA, not RLIMIT_AS)
    script = create_script(client, "node-hello", "console.log('hello from node')", language="javascript")
    done = wait_final(client, execute(client, script["id"])["id"])
    assert done["status"] == "succeeded"


def test_per_script_limits_are_validated(client: FlaskClient) -> None:
    bad = client.post("/api/scripts", json={"name": "x", "language": "shell", "limits": {"memory_mb": 1}})
    assert bad.status_code == 422 and bad.json["field"].startswith("limits")
    unknown = client.post("/api/scripts", json={"name": "y", "language": "shell", "limits": {"gpus": 1}})
    assert unknown.status_code == 422


def test_health_reports_the_sandbox_status(client: FlaskClient) -> None:
    health = client.get("/api/health").json
    assert health["sandbox"]["mode"] == "none" and isinstance(health["sandbox"]["available"], bool)


ESCAPE_PROBE = """
import os, socket, sys
results = {}
def attempt(name, fn):
    try:
        fn()
        results[name] = "allowed"
    except OSError as error:
        results[name] = "denied"
attempt("write_workspace", lambda: open("mine.txt", "w").write("ok"))
attempt("write_data", lambda: open(os.environ["DATA_DIR"] + "/planted.txt", "w").write("x"))
attempt("write_root", lambda: open("/etc/planted.txt", "w").write("x"))
def read_db():
    if not open(os.environ["DATA_DIR"] + "/scriptman.db", "rb").read(1):
        raise OSError("empty")
attempt("read_db", read_db)
attempt("read_other_workspace", lambda: os.listdir(os.environ["OTHER"]))
attempt("tcp_loopback", lambda: socket.create_connection(("127.0.0.1", int(os.environ["PORT"])), timeout=2).close())
print(sorted(results.items()))
import json; json.dump(results, open(os.environ["SCRIPTMAN_RESULT"], "w"))
"""


def test_a_sandboxed_run_cannot_reach_outside_its_workspace_or_the_network(
    sandboxed: tuple[Flask, FlaskClient, Settings],
) -> None:
    _, client, settings = sandboxed
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    port = listener.getsockname()[1]
    other = wait_final(client, execute(client, create_script(client, "other", "open('x','w')")["id"])["id"])
    params = [{"name": n, "type": "string"} for n in ("DATA_DIR", "OTHER", "PORT")]
    script = create_script(client, "probe", ESCAPE_PROBE, parameters=params, sandbox_network=False)
    values = {
        "DATA_DIR": str(settings.data_dir),
        "OTHER": str(settings.workspaces_dir / f"execution_{other['id']}"),
        "PORT": str(port),
    }
    done = wait_final(client, execute(client, script["id"], values)["id"], 60)
    listener.close()
    assert done["status"] == "succeeded", log_text(client, done["id"], settings)
    assert done["sandboxed"] is True
    done["result"].pop("write_data")
    assert done["result"] == {
        "write_workspace": "allowed",
        "write_root": "denied",
        "read_db": "denied",
        "read_other_workspace": "denied",
        "tcp_loopback": "denied",
    }
    assert not (settings.data_dir / "planted.txt").exists()  # it went to a throwaway tmpfs, if anywhere
    assert (settings.workspaces_dir / f"execution_{done['id']}" / "mine.txt").read_text() == "ok"


def test_a_sandboxed_run_with_network_on_can_connect(sandboxed: tuple[Flask, FlaskClient, Settings]) -> None:
    _, client, settings = sandboxed
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    code = "import os, socket\nsocket.create_connection(('127.0.0.1', int(os.environ['PORT'])), timeout=2).close()"
    script = create_script(client, "net", code, parameters=[{"name": "PORT", "type": "integer"}])
    done = wait_final(client, execute(client, script["id"], {"PORT": listener.getsockname()[1]})["id"], 60)
    listener.close()
    assert done["status"] == "succeeded", log_text(client, done["id"], settings)
