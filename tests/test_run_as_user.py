"""Scripts as an unprivileged user: the server's state is out of reach, the workspace is theirs.

CI runs as root, so the account is made here with ``useradd`` (and kept: it is harmless and
re-used by the next run of the suite).
"""

from __future__ import annotations

import io
import json
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from backend.config import Settings
from backend.services.executor import sandbox
from tests.conftest import AppFactory, make_settings
from tests.helpers import create_script, wait_final

RUN_USER = "scriptman-test-run"

PROBE = """
import json, os
data = os.environ["DATA_DIR"]
found = {"uid": os.getuid(), "gid": os.getgid(), "home": os.environ["HOME"], "user": os.environ["USER"]}
def attempt(name, fn):
    try:
        value = fn()
        found[name] = "empty" if value in ([], "", b"") else "allowed"
    except OSError:
        found[name] = "denied"
attempt("read_secret_key", lambda: open(data + "/secret_key").read())
attempt("read_database", lambda: open(data + "/scriptman.db", "rb").read(1))
attempt("list_data", lambda: os.listdir(data))
attempt("list_runs", lambda: os.listdir(data + "/runs"))
attempt("list_logs", lambda: os.listdir(os.environ["LOGS_DIR"]))
own = os.path.basename(os.environ["WORKSPACE"])
attempt("list_workspaces", lambda: [n for n in os.listdir(os.path.dirname(os.environ["WORKSPACE"])) if n != own])
attempt("write_workspace", lambda: open("made-by-run.txt", "w").write("mine"))
attempt("read_upload", lambda: open("input.txt").read())
json.dump(found, open(os.environ["SCRIPTMAN_RESULT"], "w"))
"""
PARAMS = [{"name": "DATA_DIR", "type": "string"}, {"name": "LOGS_DIR", "type": "string"}]


@pytest.fixture(scope="module")
def run_user() -> pwd.struct_passwd:
    if os.geteuid() != 0:
        pytest.skip("switching users needs root (CI runs as root)")
    try:
        return pwd.getpwnam(RUN_USER)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", RUN_USER], check=True
        )
        return pwd.getpwnam(RUN_USER)


@pytest.fixture
def open_home() -> Iterator[Path]:
    """A home the run user can reach (pytest's own temporary folders are 0700 all the way down)."""
    home = Path(tempfile.mkdtemp(prefix="scriptman-run-as-"))
    home.chmod(0o755)
    yield home
    shutil.rmtree(home, ignore_errors=True)


def _started(make_app: AppFactory, settings: Settings) -> tuple[Flask, FlaskClient, Settings]:
    app = make_app(settings)
    return app, app.test_client(), settings


@pytest.fixture
def as_user(open_home: Path, run_user: pwd.struct_passwd, make_app: AppFactory) -> tuple[Flask, FlaskClient, Settings]:
    return _started(make_app, make_settings(open_home, run_as_user=RUN_USER))


@pytest.fixture
def as_user_sandboxed(
    open_home: Path, run_user: pwd.struct_passwd, make_app: AppFactory
) -> tuple[Flask, FlaskClient, Settings]:
    detail = sandbox.probe()
    if detail != "ok":
        pytest.skip(f"bubblewrap cannot run here: {detail}")
    return _started(make_app, make_settings(open_home, run_as_user=RUN_USER, sandbox="bwrap"))


def _probe(client: FlaskClient, settings: Settings) -> dict:
    script = create_script(client, "probe", PROBE, parameters=PARAMS)
    response = client.post(
        f"/api/scripts/{script['id']}/execute",
        data={
            "params": json.dumps({"DATA_DIR": str(settings.data_dir), "LOGS_DIR": str(settings.logs_dir)}),
            "upload": (io.BytesIO(b"uploaded"), "input.txt"),
        },
    )
    assert response.status_code == 202, response.json
    done = wait_final(client, response.json["id"])
    assert done["status"] == "succeeded", done
    return done


@pytest.mark.parametrize("mode", ["basic", "bwrap"])
def test_a_run_as_user_cannot_read_the_servers_state(
    mode: str, request: pytest.FixtureRequest, run_user: pwd.struct_passwd
) -> None:
    _, client, settings = request.getfixturevalue("as_user" if mode == "basic" else "as_user_sandboxed")
    done = _probe(client, settings)
    found = done["result"]
    assert found["uid"] == run_user.pw_uid and found["gid"] == run_user.pw_gid
    assert found["user"] == RUN_USER and found["home"] == run_user.pw_dir
    for what in ("read_secret_key", "read_database", "list_data", "list_runs", "list_logs", "list_workspaces"):
        # denied by file modes; under bwrap the folders are also hidden behind empty tmpfs mounts
        assert found[what] in (("denied",) if mode == "basic" else ("denied", "empty")), (what, found)
    assert found["write_workspace"] == "allowed" and found["read_upload"] == "allowed"
    made = settings.workspaces_dir / f"execution_{done['id']}" / "made-by-run.txt"
    assert made.stat().st_uid == run_user.pw_uid
    assert client.get(f"/api/executions/{done['id']}/files/made-by-run.txt").data == b"mine"
    health = client.get("/api/health").json["containment"]
    assert health["run_as_user"] == RUN_USER
    assert not any("run as root" in w for w in health["warnings"])


def test_an_admin_picks_a_scripts_account_and_editors_cannot_change_it(
    open_home: Path, run_user: pwd.struct_passwd, make_app: AppFactory
) -> None:
    app, client, _ = _started(make_app, make_settings(open_home))
    script = create_script(client, "whoami", "import os\nprint(os.getuid())", run_as_user=RUN_USER)
    assert script["run_as_user"] == RUN_USER
    run = client.post(f"/api/scripts/{script['id']}/execute", json={}).json
    done = wait_final(client, run["id"])
    assert done["status"] == "succeeded"
    editor = app.test_client(role="editor")
    refused = editor.patch(f"/api/scripts/{script['id']}", json={"run_as_user": None})
    assert refused.status_code == 403 and refused.json["field"] == "run_as_user"
    # an editor's other edits (PUT without the field) keep the admin's choice
    body = {"name": "whoami", "language": "python", "code": "print(2)"}
    kept = editor.put(f"/api/scripts/{script['id']}", json=body)
    assert kept.status_code == 200 and kept.json["run_as_user"] == RUN_USER
    unknown = client.patch(f"/api/scripts/{script['id']}", json={"run_as_user": "no-such-account-here"})
    assert unknown.status_code == 422 and unknown.json["field"] == "run_as_user"
    bad = client.patch(f"/api/scripts/{script['id']}", json={"run_as_user": "Robert'); DROP"})
    assert bad.status_code == 422
