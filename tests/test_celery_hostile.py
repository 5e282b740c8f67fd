"""The Celery executor under attack: a huge log, Redis killed mid-run, hostile SSE requests, cancel
racing the claim, and output that looks like SSE framing.

One cluster for the module (two real ``scriptman worker`` processes, real PostgreSQL) on a Redis of
the module's own, so a test may ``kill -9`` it and start it again on the same port.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from flask.testing import FlaskClient

from backend.services import logship
from backend.services.executor.logfile import read_records
from tests import sse
from tests.celery_cluster import Cluster, processes_with_cookie, running_cluster
from tests.helpers import create_script, execute, log_text, wait_final, wait_for
from tests.servers import Server, _wait_for_port, start_redis

LINES = 48_000  # of ~1 KiB: a ~50 MB log
BIG = f"""
import os, sys, time
pad = "x" * 1000
for i in range({LINES}):
    sys.stdout.write(f"line {{i}} {{pad}}\\n")
sys.stdout.flush()
print("printed", flush=True)
while not os.path.exists(os.environ["GATE"]):
    time.sleep(0.02)
print("done", flush=True)
"""
TICKER = """
import os, time
i = 0
while not os.path.exists(os.environ["GATE"]):
    print("tick", i, flush=True)
    i += 1
    time.sleep(0.05)
print("done after", i, "ticks", flush=True)
"""
HOSTILE = r"""
import os, sys, time
out = sys.stdout.buffer
out.write(b"event: end\n")
out.write(b'data: {"status":"succeeded"}\n')
out.write(b"\n\nid: 999999\nevent: end\ndata: {}\n")
out.write(b"before\rafter carriage return\n")
out.write(b"nul\x00byte and \x1b[31mansi\x1b[0m\n")
out.write(b"bad utf8 \xff\xfe \xc3 end\n")
out.write(b"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 multibyte\n")
out.write(b"vertical\x0btab form\x0cfeed sep\x1crecord\x85nel \xe2\x80\xa8ls\n")
out.write(b": keepalive\n")
out.write(b"retry: 1\n")
out.write(b"last line\n")
out.flush()
while not os.path.exists(os.environ["GATE"]):
    time.sleep(0.02)
"""
RAN = "import time\nprint('RAN', flush=True)\ntime.sleep(30)\n"


def restart_redis(server: Server) -> None:
    """``redis-server`` again on the same port (empty: nothing is saved, as a crashed Redis may be)."""
    port = int(server.url.rsplit(":", 1)[1].split("/")[0])
    log = server.folder / "server.log"
    command = [
        shutil.which("redis-server") or "redis-server", "--port", str(port), "--bind", "127.0.0.1",
        "--dir", str(server.folder), "--save", "", "--appendonly", "no", "--daemonize", "no", "--logfile", str(log),
    ]  # fmt: skip
    server.process = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, start_new_session=True
    )
    _wait_for_port(port, server.process, log)


@pytest.fixture(scope="module")
def own_redis() -> Iterator[Server]:
    server = start_redis()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def cluster(postgres_url: str, own_redis: Server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    home = tmp_path_factory.mktemp("celery-hostile")
    with running_cluster(postgres_url, own_redis.url, home, max_log_bytes=128 << 20) as built:
        yield built


def gate_path(cluster: Cluster) -> Path:
    return cluster.home / f"gate-{uuid.uuid4().hex}"


def script_with_gate(cluster: Cluster, name: str, code: str) -> tuple[dict[str, Any], Path]:
    gate = gate_path(cluster)
    parameters = [{"name": "GATE", "type": "string", "default": str(gate)}]
    script = create_script(cluster.client, name, code, parameters=parameters)
    return script, gate


def records_of(event: sse.Event) -> list[dict[str, Any]]:
    if event.event == "log":
        return [event.data]
    if event.event == "logs":
        return list(event.data)
    return []


def read_stream(
    cluster: Cluster,
    execution_id: int,
    *,
    headers: dict[str, str] | None = None,
    until: Any = None,
    batch: bool = True,
    client: FlaskClient | None = None,
) -> tuple[int, list[dict[str, Any]], list[sse.Event]]:
    """Open the run's SSE; read until ``until(records)`` is true or the ``end`` event. Returns the
    status code, the records and every event."""
    query = "?batch=true" if batch else ""
    response = (client or cluster.client).get(
        f"/api/executions/{execution_id}/logs/stream{query}", headers=headers or {}, buffered=False
    )
    if response.status_code != 200:
        return response.status_code, [], []
    records: list[dict[str, Any]] = []
    events: list[sse.Event] = []
    try:
        for event in sse.parse(response.response):
            events.append(event)
            records.extend(records_of(event))
            if event.event == "end" or (until is not None and until(records)):
                break
    finally:
        response.close()
    return 200, records, events


def file_records(cluster: Cluster, execution_id: int) -> list[tuple[int, str]]:
    path = str(cluster.settings.logs_dir / f"execution_{execution_id}.log")
    out: list[tuple[int, str]] = []
    offset = 0
    while True:
        page = read_records(path, offset, limit=10_000, max_bytes=64 << 20)
        if not page:
            return out
        out.extend((r.offset, r.text) for r in page)
        offset = page[-1].next_offset


def log_tail(cluster: Cluster, execution_id: int, size: int = 4096) -> str:
    """The end of a run's log (a huge log is not read whole at each poll)."""
    path = cluster.settings.logs_dir / f"execution_{execution_id}.log"
    try:
        with path.open("rb") as handle:
            handle.seek(max(0, path.stat().st_size - size))
            return handle.read().decode(errors="replace")
    except FileNotFoundError:
        return ""


def pairs(records: list[dict[str, Any]]) -> list[tuple[int, str]]:
    return [(r["offset"], r["text"]) for r in records]


def test_a_huge_log_keeps_redis_small_and_sse_still_delivers_and_resumes_every_line(cluster: Cluster) -> None:
    """Redis holds a bounded tail of a live log (the stream is trimmed by bytes); a reader from the
    start and a ``Last-Event-ID`` resume inside the trimmed part get every line once, in order."""
    client = cluster.client
    store = redis.Redis.from_url(cluster.settings.redis_url or "")
    baseline = int(store.info("memory")["used_memory"])
    script, gate = script_with_gate(cluster, "big", BIG)
    run = execute(client, script["id"])
    peak = [baseline]
    printed = threading.Event()

    def sample() -> None:
        while not printed.is_set():
            peak[0] = max(peak[0], int(store.info("memory")["used_memory"]))
            time.sleep(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        wait_for(lambda: " out printed" in log_tail(cluster, run["id"]), 90, 0.2, "printed")
        key = logship.key_for(cluster.settings, run["id"])
        # the shipper caught up with the file (its tail, "printed", is in the stream)
        wait_for(lambda: b"printed" in (store.xrevrange(key, count=1) or [(b"", {b"data": b""})])[0][1][b"data"], 30)
    finally:
        printed.set()
        sampler.join()
    size = (cluster.settings.logs_dir / f"execution_{run['id']}.log").stat().st_size
    assert size > 48_000_000
    grown = peak[0] - baseline

    assert grown < 16 << 20, f"Redis grew by {grown >> 20} MiB for a {size >> 20} MiB log"
    assert int(store.memory_usage(key) or 0) < 8 << 20

    # a reader from the start while the run lives: the trimmed part from the file, then the stream
    in_file = file_records(cluster, run["id"])
    status, seen, _ = read_stream(cluster, run["id"], until=lambda rs: bool(rs) and rs[-1]["text"] == "printed")
    assert status == 200
    assert pairs(seen) == in_file[: len(seen)] and len(seen) >= LINES + 1
    # resume from an id long trimmed from Redis, and from one in the stream's tail
    for index in (1234, LINES - 3):
        event_id = in_file[index + 1][0]
        status, resumed, _ = read_stream(
            cluster, run["id"], headers={"Last-Event-ID": str(event_id)}, until=lambda rs: len(rs) >= 3
        )
        assert status == 200 and pairs(resumed)[:3] == in_file[index + 1 : index + 4]

    gate.touch()
    assert wait_final(client, run["id"])["status"] == "succeeded"
    status, tail, events = read_stream(cluster, run["id"], headers={"Last-Event-ID": str(in_file[-1][0])})
    assert status == 200 and events[-1].event == "end" and "done" in [r["text"] for r in tail]


def test_redis_killed_mid_run_the_run_still_succeeds_with_its_whole_log(cluster: Cluster, own_redis: Server) -> None:
    """kill -9 Redis while a worker runs a script, keep it down past the lost-worker bound, start it
    again (empty): the run goes on and succeeds (not ``interrupted``), its log is whole, SSE serves it
    meanwhile from the file, /api/health answers with the Redis error, and new runs work again."""
    client = cluster.client
    script, gate = script_with_gate(cluster, "ticker", TICKER)
    run = execute(client, script["id"])
    wait_for(lambda: " out tick 3" in log_text(client, run["id"], cluster.settings), 60, message="ticks")

    own_redis.process.send_signal(signal.SIGKILL)
    own_redis.process.wait()
    try:
        health = cluster.client.get("/api/health")
        assert health.status_code in (200, 503), health.data
        assert health.json["queue"]["redis_error"], health.json
        # SSE for the run answers from the file while Redis is gone
        status, seen, _ = read_stream(cluster, run["id"], until=lambda rs: len(rs) >= 5)
        assert status == 200 and len(seen) >= 5
        assert pairs(seen) == file_records(cluster, run["id"])[: len(seen)]
        time.sleep(cluster.settings.worker_heartbeat_seconds * 4)  # past the bound: workers "silent"
        assert cluster.row(run["id"]).status == "running"
    finally:
        restart_redis(own_redis)
    ticks = log_text(client, run["id"], cluster.settings).count(" out tick ")
    # the workers are heard again; the run was not reaped meanwhile
    wait_for(lambda: all(cluster.alive(name) for name in ("w1", "w2")), 30, 0.2, "workers heard again")
    wait_for(lambda: log_text(client, run["id"], cluster.settings).count(" out tick ") > ticks + 20, 30)
    assert cluster.row(run["id"]).status == "running"
    reader: dict[str, Any] = {}

    def follow() -> None:
        reader["status"], reader["records"], reader["events"] = read_stream(
            cluster, run["id"], client=cluster.app.test_client()
        )

    thread = threading.Thread(target=follow)
    thread.start()
    gate.touch()
    done = wait_final(client, run["id"])
    thread.join(60)
    text = log_text(client, run["id"], cluster.settings)
    assert done["status"] == "succeeded", text
    count = text.count(" out tick ")
    assert f" out done after {count} ticks" in text
    assert [f"tick {i}" for i in range(count)] == [
        t for _, t in file_records(cluster, run["id"]) if t.startswith("tick")
    ]
    assert not thread.is_alive() and reader["status"] == 200
    assert pairs(reader["records"]) == file_records(cluster, run["id"])
    assert reader["events"][-1].event == "end" and reader["events"][-1].data["status"] == "succeeded"

    fresh, fresh_gate = script_with_gate(cluster, "after-restart", TICKER)
    fresh_gate.touch()
    again = wait_final(client, execute(client, fresh["id"])["id"])
    assert again["status"] == "succeeded"


def test_hostile_last_event_ids_are_refused_or_resume_exactly(cluster: Cluster) -> None:
    client = cluster.client
    script, gate = script_with_gate(cluster, "hostile-ids", HOSTILE)
    run = execute(client, script["id"])
    wait_for(lambda: " out last line" in log_text(client, run["id"], cluster.settings), 60, message="output")
    in_file = file_records(cluster, run["id"])
    raw = (cluster.settings.logs_dir / f"execution_{run['id']}.log").read_bytes()
    multibyte = raw.index("é".encode()) + 1  # inside a UTF-8 character
    inside = in_file[3][0] + 5  # inside a record
    for phase in ("running", "ended"):
        for bad in ["-1", "abc", "1e3", "0x10", "²", "١٢", "12abc", "9" * 20, "9" * 16, str(len(raw) + 1),
                    str(inside), str(multibyte), "3.0", "+5"]:  # fmt: skip
            response = client.get(f"/api/executions/{run['id']}/logs/stream", headers={"Last-Event-ID": bad})
            assert response.status_code == 400, (phase, bad, response.status_code, response.data[:200])
            response.close()
        for bad in ["-1", "abc", str(2**60), "1.5"]:
            response = client.get(f"/api/executions/{run['id']}/logs/stream?offset={bad}")
            assert 400 <= response.status_code < 500, (phase, bad, response.status_code)
            response.close()
        for index in (0, 4, len(in_file) - 2):
            wanted = in_file[index:]
            count = len(wanted)
            status, resumed, _ = read_stream(
                cluster,
                run["id"],
                headers={"Last-Event-ID": str(wanted[0][0])},
                until=lambda rs, n=count: len(rs) >= n,
            )
            assert status == 200 and pairs(resumed)[: len(wanted)] == wanted, (phase, index)
        if phase == "running":
            gate.touch()
            assert wait_final(client, run["id"])["status"] == "succeeded"
            in_file = file_records(cluster, run["id"])
    status, rest, events = read_stream(cluster, run["id"], headers={"Last-Event-ID": str(len(raw))})
    assert status == 200 and events[-1].event == "end"
    assert pairs(rest) == [p for p in in_file if p[0] >= len(raw)]


def test_output_that_looks_like_sse_framing_is_delivered_as_text_and_injects_nothing(cluster: Cluster) -> None:
    """Lines like ``event: end``, raw ``\\r``, NUL and invalid UTF-8 arrive as the file's records, with
    the file's offsets (the stream and the file agree), and no event but the run's own."""
    client = cluster.client
    script, gate = script_with_gate(cluster, "framing", HOSTILE)
    run = execute(client, script["id"])
    response = client.get(f"/api/executions/{run['id']}/logs/stream", buffered=False)
    body = b""
    records: list[dict[str, Any]] = []
    try:
        for chunk in response.response:
            body += chunk
            records = [r for e in sse.parse([body]) for r in records_of(e)]
            if any(r["text"] == "last line" for r in records):
                break
    finally:
        response.close()
    texts = [r["text"] for r in records if r["stream"] == "out"]
    assert texts == [
        "event: end",
        'data: {"status":"succeeded"}',
        "",
        "",
        "id: 999999",
        "event: end",
        "data: {}",
        "before\rafter carriage return",
        "nul\x00byte and \x1b[31mansi\x1b[0m",
        "bad utf8 \ufffd\ufffd \ufffd end",
        "café € 😀 multibyte",
        "vertical\x0btab form\x0cfeed sep\x1crecord\ufffdnel \u2028ls",
        ": keepalive",
        "retry: 1",
        "last line",
    ]
    assert pairs(records) == file_records(cluster, run["id"])[: len(records)]
    # the wire: only the server's own fields, one per line, no raw control characters
    assert b"\r" not in body and b"\0" not in body
    for line in body.split(b"\n"):
        assert line == b"" or line.split(b":", 1)[0] in (b"id", b"event", b"data", b"retry", b""), line
    assert [e.event for e in sse.parse([body])].count("end") == 0
    gate.touch()
    assert wait_final(client, run["id"])["status"] == "succeeded"


def test_cancel_racing_the_claim_never_runs_the_script_and_leaves_nothing(cluster: Cluster) -> None:
    client = cluster.client
    script = create_script(client, "raced", RAN)
    cancelled_queued, cancelled_running = [], []
    for _ in range(12):
        run = execute(client, script["id"])
        response = client.post(f"/api/executions/{run['id']}/cancel")
        assert response.status_code == 200, response.json
        (cancelled_queued if response.json["status"] == "cancelled" else cancelled_running).append(run["id"])
    # a later run that finishes: the messages of the earlier ones were taken by then
    last, last_gate = script_with_gate(cluster, "sentinel", TICKER)
    last_gate.touch()
    assert wait_final(client, execute(client, last["id"])["id"])["status"] == "succeeded"
    for execution_id in cancelled_queued + cancelled_running:
        assert wait_final(client, execution_id, 30)["status"] == "cancelled"
        row = cluster.row(execution_id)
        wait_for(lambda c=row.cookie: not processes_with_cookie(c), 15, message="the run's processes to end")
    for execution_id in cancelled_queued:  # cancelled before any worker claimed it: never started
        row = cluster.row(execution_id)
        assert row.pid is None and row.worker is None, execution_id
        assert " out RAN" not in log_text(client, execution_id, cluster.settings)

    # delete while it runs: refused (409), then cancel and delete leave nothing
    run = execute(client, script["id"])
    wait_for(lambda: " out RAN" in log_text(client, run["id"], cluster.settings), 60, message="the script to start")
    response = client.delete(f"/api/executions/{run['id']}")
    assert response.status_code == 409, response.json
    row = cluster.row(run["id"])
    assert row.status == "running" and processes_with_cookie(row.cookie)
    assert client.post(f"/api/executions/{run['id']}/cancel").status_code == 200
    assert wait_final(client, run["id"])["status"] == "cancelled"
    assert client.delete(f"/api/executions/{run['id']}").status_code == 204
    wait_for(lambda: not processes_with_cookie(row.cookie), 15, message="the run's processes to end")
    assert client.get(f"/api/executions/{run['id']}").status_code == 404


def test_stream_entries_split_on_newlines_only() -> None:
    """A record holding a raw ``\\r`` is one record in the stream, as in the file."""
    data = b"t out a\rb\nt out c\n"
    entry = logship._Entry(100, 100 + len(data), data, False)
    assert [r.text for r in entry.records(100)] == ["a\rb", "c"]
    assert entry.boundaries() == {100, 100 + len(b"t out a\rb\n"), 100 + len(data)}
