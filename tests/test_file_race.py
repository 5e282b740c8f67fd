"""Serving workspace files while the script swaps its folders for symlinks, hard-links or plants FIFOs.

The race tests run a real script that keeps renaming a folder ``d`` of its workspace back and forth
with symlinks to ``/etc`` and to the server's ``data/`` folder, and fetch ``d/passwd``,
``d/secret_key``, ranges, the listing and the zip meanwhile through the real routes. Each 200 must
be exactly the script's own harmless file, everything else a 4xx, and some of each must happen, so
the test fails on code that checks a path and then opens it again by name.
"""

from __future__ import annotations

import errno
import io
import os
import time
import uuid
import zipfile
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from backend.config import Settings
from backend.services.executor import beneath, sandbox
from tests.conftest import AppFactory, make_settings
from tests.helpers import create_script, execute, log_text, wait_final, wait_for, wait_status

INSIDE_PASSWD = b"inside passwd: the script's own harmless file\n"
INSIDE_SECRET = b"inside secret_key: nothing secret here\n"
RANGE = (0, 9)
# Over 1,000 requests per mode, about 3 s here. The old check-then-open code served a foreign file
# to 1-2 % of the file requests (10-20 per mode) and answered 500 to about as many.
FILE_REQUESTS = 420
SECRET_REQUESTS = 300
RANGE_REQUESTS = 200
LISTINGS = 100
ZIPS = 40

RACER = """
import os, time
os.mkdir("d")
open("d/passwd", "wb").write(INSIDE_PASSWD)
open("d/secret_key", "wb").write(INSIDE_SECRET)
os.symlink("/etc", "l_etc")
os.symlink(DATA_DIR, "l_data")
open("ready", "w").close()
deadline = time.monotonic() + 90  # the test stops it much sooner
while time.monotonic() < deadline and not os.path.exists("stop"):
    for link in ("l_etc", "l_data"):
        for _ in range(100):
            # d is a folder, then gone, then a link, then gone, then a folder again
            os.rename("d", "d_dir")
            os.rename(link, "d")
            os.rename("d", link)
            os.rename("d_dir", "d")
"""
# Every name the racing workspace can hold; the listing and the zip may show nothing else.
RACE_NAMES = {"main.py", "ready", "stop", "d", "d_dir", "l_etc", "l_data"}
INSIDE_FILES = {"passwd": INSIDE_PASSWD, "secret_key": INSIDE_SECRET}


def _racer_code(settings: Settings) -> str:
    code = RACER.replace("INSIDE_PASSWD", repr(INSIDE_PASSWD)).replace("INSIDE_SECRET", repr(INSIDE_SECRET))
    return code.replace("DATA_DIR", repr(str(settings.data_dir)))


@pytest.fixture(params=["none", "bwrap"])
def racing(request: pytest.FixtureRequest, tmp_path: Path, make_app: AppFactory) -> tuple[FlaskClient, Settings, bytes]:
    """An app like conftest's whose data/secret_key holds a unique marker (it becomes its key)."""
    if request.param == "bwrap" and (detail := sandbox.probe()) != "ok":
        pytest.skip(f"bubblewrap cannot run here: {detail}")
    settings = make_settings(tmp_path, sandbox=request.param)
    marker = f"data-dir-marker-{uuid.uuid4().hex}".encode()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    (settings.data_dir / "secret_key").write_bytes(marker)
    return make_app(settings).test_client(), settings, marker


def _foreign(data: bytes, marker: bytes) -> list[bytes]:
    """Fragments of files outside the workspace found in a response body."""
    return [needle for needle in (b"root:x:0:0", b"/usr/sbin/nologin", marker) if needle in data]


def _check_file(response: TestResponse, expected: bytes, marker: bytes, tally: Counter[str]) -> None:
    status, data = response.status_code, response.data
    assert status < 500, (status, data[:300])
    assert not _foreign(data, marker), data[:300]
    if status in (200, 206):
        assert data == expected, data[:300]
        tally["inside"] += 1
    else:
        assert 400 <= status < 500 and response.mimetype == "application/problem+json", (status, data[:300])
        tally["refused"] += 1


def _check_listing(response: TestResponse) -> None:
    assert response.status_code == 200, response.data[:300]
    for entry in response.json["items"]:
        top, _, rest = entry["path"].partition("/")
        assert top in RACE_NAMES, entry
        if rest:
            assert top in ("d", "d_dir") and rest in INSIDE_FILES, entry
            assert entry["size"] == len(INSIDE_FILES[rest]), entry


def _check_zip(response: TestResponse, folder: str, marker: bytes) -> None:
    assert response.status_code == 200, response.data[:300]
    with zipfile.ZipFile(io.BytesIO(response.data)) as zipped:
        for name in zipped.namelist():
            top, _, rest = name.removeprefix(f"{folder}/").rstrip("/").partition("/")
            assert name.startswith(f"{folder}/") and top in RACE_NAMES, name
            content = zipped.read(name)
            assert not _foreign(content, marker), (name, content[:300])
            if rest:
                assert rest in INSIDE_FILES and content in (INSIDE_FILES[rest], b""), (name, content[:300])


def _hammer(client: FlaskClient, execution_id: int, marker: bytes) -> tuple[dict[str, Counter[str]], int]:
    """Interleave every kind of request while the script races; returns what file requests got, and a count."""
    base = f"/api/executions/{execution_id}"
    tallies: dict[str, Counter[str]] = {"passwd": Counter(), "secret_key": Counter(), "range": Counter()}
    header = {"Range": f"bytes={RANGE[0]}-{RANGE[1]}"}
    others = 0
    for i in range(FILE_REQUESTS):
        _check_file(client.get(f"{base}/files/d/passwd"), INSIDE_PASSWD, marker, tallies["passwd"])
        if i < SECRET_REQUESTS:
            _check_file(
                client.get(f"{base}/files/d/secret_key?download=1"), INSIDE_SECRET, marker, tallies["secret_key"]
            )
        if i < RANGE_REQUESTS:
            ranged = client.get(f"{base}/files/d/passwd", headers=header)
            _check_file(ranged, INSIDE_PASSWD[RANGE[0] : RANGE[1] + 1], marker, tallies["range"])
        if i % (FILE_REQUESTS // LISTINGS) == 0:
            _check_listing(client.get(f"{base}/files"))
            others += 1
        if i % (FILE_REQUESTS // ZIPS) == 0:
            _check_zip(client.get(f"{base}/archive"), f"execution_{execution_id}", marker)
            others += 1
    return tallies, others + sum(sum(t.values()) for t in tallies.values())


def test_files_served_while_the_script_swaps_folders_for_symlinks_never_leave_the_workspace(
    racing: tuple[FlaskClient, Settings, bytes],
) -> None:
    client, settings, marker = racing
    run = execute(client, create_script(client, "racer", _racer_code(settings))["id"])
    workspace = settings.workspaces_dir / f"execution_{run['id']}"
    wait_status(client, run["id"], "running", timeout=30)
    wait_for(lambda: (workspace / "ready").exists(), timeout=30, message="the racer to set up")
    try:
        tallies, requests = _hammer(client, run["id"], marker)
        still = client.get(f"/api/executions/{run['id']}").json
        assert still["status"] == "running", log_text(client, run["id"], settings)  # it raced all along
    finally:
        (workspace / "stop").touch()
        client.post(f"/api/executions/{run['id']}/cancel")
        wait_final(client, run["id"])
    assert requests >= 1000
    for kind, tally in tallies.items():  # the race really happened for every kind of file request
        assert tally["inside"] > 0 and tally["refused"] > 0, (kind, tally)


# -- planted hard links, FIFOs, devices and loops ---------------------------------------------------

PLANTER = """
import errno, json, os, stat
open("single.txt", "w").write("single")
open("mine.txt", "w").write("mine")
os.link("mine.txt", "twin.txt")
try:
    os.link(os.environ["OUTSIDE"], "stolen.txt")
    stolen = "linked"
except OSError as error:
    stolen = errno.errorcode[error.errno]
os.makedirs("sub/deeper")
os.mkfifo("sub/fifo")
os.symlink("loop", "sub/loop")
os.symlink("../..", "sub/deeper/up")
try:
    os.mknod("sub/null", stat.S_IFCHR | 0o666, os.makedev(1, 3))
except OSError:
    pass
open(b"odd\\xff.txt", "w").write("odd")  # a name that is not UTF-8
json.dump({"stolen": stolen}, open(os.environ["SCRIPTMAN_RESULT"], "w"))
"""


@pytest.fixture
def planted(client: FlaskClient, tmp_path: Path) -> tuple[str, dict, bytes]:
    marker = f"outside-marker-{uuid.uuid4().hex}".encode()
    outside = tmp_path / "outside.txt"  # same file system as the workspaces, so a hard link works
    outside.write_bytes(marker)
    script = create_script(client, "planter", PLANTER, parameters=[{"name": "OUTSIDE", "type": "string"}])
    done = wait_final(client, execute(client, script["id"], {"OUTSIDE": str(outside)})["id"])
    assert done["status"] == "succeeded", done
    return f"/api/executions/{done['id']}", done, marker


def test_hard_linked_files_are_refused_and_left_out_of_the_zip(
    client: FlaskClient, planted: tuple[str, dict, bytes]
) -> None:
    base, done, marker = planted
    if done["result"]["stolen"] != "linked":
        pytest.skip(f"the kernel refused the hard link to a file outside: {done['result']['stolen']}")
    assert client.get(f"{base}/files/single.txt").data == b"single"
    for name in ("mine.txt", "twin.txt", "stolen.txt"):
        for suffix in ("", "?download=1"):
            response = client.get(f"{base}/files/{name}{suffix}", headers={"Range": "bytes=0-3"} if suffix else {})
            assert response.status_code == 403, (name, response.status_code)
            assert "hard links" in response.json["detail"] and marker not in response.data
    listed = {e["path"] for e in client.get(f"{base}/files").json["items"]}
    assert {"single.txt", "mine.txt", "twin.txt", "stolen.txt"} <= listed
    with zipfile.ZipFile(io.BytesIO(client.get(f"{base}/archive").data)) as zipped:
        names = {n.split("/", 1)[1] for n in zipped.namelist()}
        assert "single.txt" in names and not {"mine.txt", "twin.txt", "stolen.txt"} & names
        assert all(marker not in zipped.read(n) for n in zipped.namelist())


def test_nested_fifos_devices_and_link_loops_answer_4xx_at_once_and_stay_out_of_the_zip(
    client: FlaskClient, planted: tuple[str, dict, bytes]
) -> None:
    """Nothing planted may block a request or end up in the zip; a name that is not UTF-8 must not break it."""
    base, done, _ = planted
    started = time.monotonic()
    for path in ("sub/fifo", "sub/null", "sub/loop", "sub/loop/x", "sub/deeper/up/main.py", "sub", "sub/deeper"):
        response = client.get(f"{base}/files/{path}")
        assert response.status_code == 404, (path, response.status_code)
    listed = {e["path"] for e in client.get(f"{base}/files").json["items"]}
    assert {"sub/fifo", "sub/loop", "sub/deeper/up"} <= listed and not any("up/" in p for p in listed)
    with zipfile.ZipFile(io.BytesIO(client.get(f"{base}/archive").data)) as zipped:
        names = {n.split("/", 1)[1] for n in zipped.namelist()}
        assert zipped.read(f"execution_{done['id']}/odd?.txt") == b"odd"
    assert "sub/deeper/" in names and not {"sub/fifo", "sub/null", "sub/loop", "sub/deeper/up"} & names
    assert time.monotonic() - started < 10  # a FIFO opened for reading would block until the timeout


# -- beneath, directly ------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", ["..", "a/../b", "a\\..\\b", "/etc/passwd", "\\etc\\passwd", "a\x00b", "./../x"])
def test_malformed_relative_paths_are_refused(bad: str) -> None:
    with pytest.raises(beneath.MalformedPath):
        beneath.split(bad)


def test_split_normalises_separators_and_dots() -> None:
    assert beneath.split("a//./b\\c/") == ["a", "b", "c"] and beneath.split(".") == []


@pytest.fixture
def root_fd(tmp_path: Path) -> Iterator[int]:
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "f").write_bytes(b"inside")
    fd = beneath.open_root(tmp_path)
    yield fd
    os.close(fd)


def _read(fd: int) -> bytes:
    with os.fdopen(fd, "rb") as handle:
        return handle.read()


def test_a_folder_replaced_by_a_symlink_between_calls_is_refused(tmp_path: Path, root_fd: int) -> None:
    assert _read(beneath.open_file(root_fd, ["d", "f"])) == b"inside"
    held = beneath.open_dir(root_fd, ["d"])
    (tmp_path / "d").rename(tmp_path / "d_real")
    (tmp_path / "d").symlink_to("/etc")
    for attempt in (lambda: beneath.open_file(root_fd, ["d", "passwd"]), lambda: beneath.open_dir(root_fd, ["d"])):
        with pytest.raises(OSError) as caught:
            attempt()
        assert caught.value.errno == errno.ELOOP and caught.value.filename == "d"
    with pytest.raises(OSError):
        beneath.open_file(root_fd, ["d"])  # a symlink as the last component too
    assert os.listdir(held) == ["f"]  # a folder already open stays that folder
    os.close(held)


def test_a_workspace_folder_that_is_a_symlink_is_not_opened(tmp_path: Path) -> None:
    (tmp_path / "ws").symlink_to("/etc")
    with pytest.raises(OSError):
        beneath.open_root(tmp_path / "ws")


@pytest.mark.parametrize("replacement", ["symlink", "folder"])
def test_the_walk_does_not_enter_a_folder_swapped_after_it_was_listed(
    tmp_path: Path, root_fd: int, replacement: str
) -> None:
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "g").write_bytes(b"x")
    seen = []
    for relative, _ in beneath.walk(root_fd):
        seen.append(relative)
        if relative == "d":  # listed as a folder: swap it before the walk enters it
            (tmp_path / "d").rename(tmp_path / "d_real")
            if replacement == "folder":
                (tmp_path / "other").rename(tmp_path / "d")
            else:
                (tmp_path / "d").symlink_to("/etc")
    assert seen[0] == "d" and not [p for p in seen if p.startswith("d/")], seen
