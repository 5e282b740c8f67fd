"""Input files and workspace files: upload, list, preview, download, zip, and path safety."""

from __future__ import annotations

import io
import json
import os
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from backend.config import Settings
from tests.conftest import AppFactory, build_app, close_app, make_settings
from tests.helpers import create_script, execute, wait_final

PRODUCER = """
import os, scriptman
data = open(scriptman.param("INPUT")).read()
open("upper.txt", "w").write(data.upper())
os.makedirs("reports/daily", exist_ok=True)
open("reports/daily/data.json", "w").write('{"n": 1}')
open("page.html", "w").write("<script>alert(1)</script>")
open("image.svg", "w").write("<svg onload='alert(1)'/>")
"""


def _upload_run(client: FlaskClient, files: dict, params: dict | None = None, name: str = "producer") -> dict:
    script = create_script(client, name, PRODUCER, parameters=[{"name": "INPUT", "type": "file", "required": True}])
    data = {"params": json.dumps(params or {}), **files}
    response = client.post(f"/api/scripts/{script['id']}/execute", data=data, content_type="multipart/form-data")
    assert response.status_code == 202, response.json
    return wait_final(client, response.json["id"])


def test_an_uploaded_file_is_read_and_its_outputs_can_be_listed_previewed_downloaded_and_zipped(
    client: FlaskClient,
) -> None:
    run = _upload_run(client, {"INPUT": (io.BytesIO(b"hello world"), "notes.txt")})
    assert run["status"] == "succeeded" and run["params"] == {"INPUT": "notes.txt"}
    base = f"/api/executions/{run['id']}"
    listing = {e["path"]: e for e in client.get(f"{base}/files").json["items"]}
    assert {"notes.txt", "main.py", "upper.txt", "reports", "reports/daily", "reports/daily/data.json"} <= set(listing)
    assert listing["upper.txt"]["size"] == 11 and listing["reports"]["is_dir"]
    assert ".scriptman" not in listing

    preview = client.get(f"{base}/files/upper.txt")
    assert preview.data == b"HELLO WORLD" and preview.mimetype == "text/plain"
    assert "inline" in preview.headers["Content-Disposition"]
    assert preview.headers["X-Content-Type-Options"] == "nosniff"
    assert client.get(f"{base}/files/reports/daily/data.json").json == {"n": 1}

    download = client.get(f"{base}/files/upper.txt?download=1")
    assert "attachment" in download.headers["Content-Disposition"] and download.data == b"HELLO WORLD"
    assert download.headers["Content-Length"] == "11" and download.headers["Accept-Ranges"] == "bytes"
    head = client.get(f"{base}/files/upper.txt", headers={"Range": "bytes=0-4"})
    assert head.status_code == 206 and head.data == b"HELLO" and head.headers["Content-Range"] == "bytes 0-4/11"
    assert client.get(f"{base}/files/upper.txt", headers={"Range": "bytes=50-60"}).status_code == 416
    unchanged = client.get(f"{base}/files/upper.txt", headers={"If-None-Match": download.headers["ETag"]})
    assert unchanged.status_code == 304

    for active in ("page.html", "image.svg"):
        response = client.get(f"{base}/files/{active}")
        assert "attachment" in response.headers["Content-Disposition"]
        assert response.mimetype == "application/octet-stream"
        assert "sandbox" in response.headers["Content-Security-Policy"]

    archive = client.get(f"{base}/archive")
    assert archive.mimetype == "application/zip" and "attachment" in archive.headers["Content-Disposition"]
    with zipfile.ZipFile(io.BytesIO(archive.data)) as zipped:
        names = zipped.namelist()
        assert f"execution_{run['id']}/upper.txt" in names
        assert zipped.read(f"execution_{run['id']}/reports/daily/data.json") == b'{"n": 1}'
        assert not any(".scriptman" in n for n in names)


@pytest.mark.parametrize(
    ("uploaded", "stored"),
    [
        ("../../etc/passwd", "passwd"),
        ("/abs/path.txt", "path.txt"),
        ("a\\..\\..\\win.txt", "a....win.txt"),  # werkzeug itself drops the backslashes
        ("$(id).txt", "_(id).txt"),
        (";rm -rf x", "_rm -rf x"),
        ("caf\u00e9 \u2215 r\u00e9sum\u00e9.txt", "caf\u00e9 _ r\u00e9sum\u00e9.txt"),
        ("x" * 300 + ".txt", "x" * 200),
    ],
)
def test_hostile_upload_names_are_sanitised_into_the_workspace(
    client: FlaskClient, settings: Settings, uploaded: str, stored: str
) -> None:
    run = _upload_run(client, {"INPUT": (io.BytesIO(b"data"), uploaded)})
    workspace = settings.workspaces_dir / f"execution_{run['id']}"
    assert run["params"]["INPUT"] == stored
    assert (workspace / stored).read_bytes() == b"data"
    assert not (settings.home / "etc").exists()


@pytest.mark.parametrize("name", ["..", ".", "/", "main.py", "...", "../.."])
def test_upload_names_that_leave_nothing_safe_are_refused(client: FlaskClient, name: str) -> None:
    script = create_script(client, "refuse", "pass")
    data = {"extra": (io.BytesIO(b"x"), name)}
    response = client.post(f"/api/scripts/{script['id']}/execute", data=data, content_type="multipart/form-data")
    assert response.status_code == 400, response.json
    assert client.get("/api/executions").json["total"] == 0


def test_an_oversized_upload_is_413_and_creates_no_run(tmp_path: Path, make_app: AppFactory) -> None:
    client = make_app(max_request_bytes=1024, start=False).test_client()
    script = create_script(client, "small", "pass")
    data = {"f": (io.BytesIO(b"x" * 4096), "big.bin")}
    response = client.post(f"/api/scripts/{script['id']}/execute", data=data, content_type="multipart/form-data")
    assert response.status_code == 413 and response.content_type == "application/problem+json"
    assert client.get("/api/executions").json["total"] == 0
    assert not any((tmp_path / "data" / "uploads").glob("*/*"))


def test_malformed_multipart_params_are_400(client: FlaskClient) -> None:
    script = create_script(client, "mp", "pass")
    for params in ("{bad", "[1, 2]", '"text"'):
        response = client.post(
            f"/api/scripts/{script['id']}/execute", data={"params": params}, content_type="multipart/form-data"
        )
        assert response.status_code == 400 and response.json["field"] == "params"


PLANTER = """
import os
os.symlink("/etc/passwd", "passwd_link")
os.symlink("/etc", "etc_dir")
os.symlink("loop", "loop")
os.mkfifo("fifo")
os.makedirs("inner", exist_ok=True)
open("inner/ok.txt", "w").write("fine")
os.symlink(os.path.abspath("inner/ok.txt"), "inner/inside_link")
"""

# Each payload and the one answer it gets: 400 for a path that tries to leave (it names the path),
# 404 for what is not served: links, a FIFO, a folder, a missing file, a URL no route matches.
TRAVERSAL = [
    ("../execution_1/main.py", 400),
    ("..%2fexecution_1%2fmain.py", 400),
    ("%2e%2e/%2e%2e/etc/passwd", 400),
    ("..%252f..%252fetc%252fpasswd", 404),  # decoded once: a (missing) file named "..%2f.."
    ("inner/../../x", 400),
    ("inner/..%2f..%2fx", 400),
    ("/etc/passwd", 404),
    ("%2fetc%2fpasswd", 404),
    ("//etc/passwd", 404),
    ("\\etc\\passwd", 400),
    ("..\\..\\etc\\passwd", 400),
    ("passwd_link", 404),
    ("etc_dir/passwd", 404),
    ("etc_dir", 404),
    ("loop", 404),
    ("fifo", 404),
    ("inner/inside_link", 404),
    ("inner", 404),
    ("nope.txt", 404),
    ("inner/nope/deeper", 404),
    ("main.py%00.txt", 400),
    (".scriptman/../../../etc/passwd", 400),
    ("....//....//etc/passwd", 404),
    ("%c0%ae%c0%ae/%c0%ae%c0%ae/etc/passwd", 404),
]


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[FlaskClient, str]]:
    """A finished run (id 2) whose workspace holds links out, a loop, a FIFO; run 1 is a neighbour to reach for."""
    app = build_app(make_settings(tmp_path_factory.mktemp("planted")))
    app.extensions["scriptman.start_services"]()
    client = app.test_client()
    victim = wait_final(client, execute(client, create_script(client, "victim", "pass")["id"])["id"])
    assert victim["id"] == 1
    run = wait_final(client, execute(client, create_script(client, "planter", PLANTER)["id"])["id"])
    assert run["status"] == "succeeded"
    yield client, f"/api/executions/{run['id']}"
    close_app(app)


@pytest.mark.parametrize(("payload", "status"), TRAVERSAL)
def test_no_path_payload_reaches_outside_the_workspace(
    planted: tuple[FlaskClient, str], payload: str, status: int
) -> None:
    client, base = planted
    for url in (f"{base}/files/{payload}", f"{base}/files/{payload}?download=1"):
        response = client.get(url)
        assert (response.status_code, response.content_type) == (status, "application/problem+json"), payload
        assert response.json.get("field") == ("path" if status == 400 else None)
        assert b"root:" not in response.data and b"print" not in response.data


def test_a_planted_workspace_serves_its_own_file_and_lists_but_never_zips_the_links(
    planted: tuple[FlaskClient, str],
) -> None:
    client, base = planted
    assert client.get(f"{base}/files/inner/ok.txt").data == b"fine"
    zipped = zipfile.ZipFile(io.BytesIO(client.get(f"{base}/archive").data))
    assert all("passwd" not in n and "etc_dir" not in n for n in zipped.namelist())
    listing = {e["path"]: e for e in client.get(f"{base}/files").json["items"]}
    assert listing["passwd_link"]["is_symlink"] and listing["passwd_link"]["size"] < 100


def test_the_sanitiser_never_produces_a_path_component(tmp_path: Path) -> None:
    from hypothesis import given
    from hypothesis import settings as hsettings
    from hypothesis import strategies as st

    from backend.errors import BadRequest
    from backend.services.executor.workspace import sanitize_filename

    @hsettings(max_examples=2000, deadline=None)
    @given(st.text(min_size=0, max_size=400))
    def check(name: str) -> None:
        try:
            clean = sanitize_filename(name)
        except BadRequest:
            return
        assert "/" not in clean and "\x00" not in clean and clean not in (".", "..")
        assert len(clean.encode()) <= 200
        assert os.path.dirname(os.path.normpath(os.path.join(str(tmp_path), clean))) == str(tmp_path)

    check()
