"""Live logs across machines: a worker ships its run's log to a Redis Stream, web processes serve SSE from it.

Real Redis (the session's, tests/servers.py), the real log writer (``LogWriter``) or a real run, and
the real SSE code (``logstream.stream_shipped``, the endpoint with ``SCRIPTMAN_EXECUTOR=celery``). The
contract under test is the local one: every record once, in order, with the byte offset after it as
its id, across reconnects (``Last-Event-ID``) and across the switch from the stream to the file.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from backend.services import logship, logstream
from backend.services.executor import workspace
from backend.services.executor.logfile import LogWriter, Masker, Record, format_record, read_records
from tests import sse
from tests.conftest import AppFactory, make_settings
from tests.helpers import GATED_LINES, create_script, execute, wait_final, wait_for


@pytest.fixture
def client(redis_url: str) -> Iterator[redis.Redis]:
    connection = redis.Redis.from_url(redis_url)
    yield connection
    connection.close()


@pytest.fixture
def prefix(client: redis.Redis) -> Iterator[str]:
    """Keys of this test only (the session's Redis is shared); removed afterwards."""
    name = f"t{uuid.uuid4().hex[:10]}"
    yield name
    for key in client.scan_iter(f"{name}:*"):
        client.delete(key)


class Writer(threading.Thread):
    """The supervisor's part: the real ``LogWriter`` appends lines in bursts of 1-7, with pauses."""

    def __init__(self, path: Path, lines: int, pause: float = 0.0) -> None:
        super().__init__(daemon=True)
        self.path, self.lines, self.pause = path, lines, pause
        self.writer = LogWriter(str(path), Masker([]), max_bytes=1 << 30, max_line_bytes=4096)

    def run(self) -> None:
        rng = random.Random(7)
        i = 0
        while i < self.lines:
            burst = min(rng.randint(1, 7), self.lines - i)
            self.writer.feed(
                "out", b"".join(f"line {n} {'x' * rng.randint(0, 300)}\n".encode() for n in range(i, i + burst))
            )
            i += burst
            if self.pause:
                time.sleep(self.pause * rng.random())
        self.writer.write("sys", "finished")
        self.writer.close()


def shipped_records(client: redis.Redis, key: str) -> tuple[list[Record], int | None]:
    """Every record in the stream, and the end marker's offset (None without one)."""
    records: list[Record] = []
    final = None
    for entry_id, fields in client.xrange(key):
        entry = logship._Entry.of(entry_id, fields)
        if entry.final:
            final = entry.end
        else:
            assert not records or records[-1].next_offset == entry.start, "entries follow each other"
            records.extend(entry.records(entry.start))
    return records, final


def test_the_shipper_delivers_every_record_with_the_files_offsets(
    client: redis.Redis, prefix: str, tmp_path: Path
) -> None:
    path = tmp_path / "run.log"
    shipper = logship.LogShipper(client, 5, path, prefix=prefix, chunk_bytes=2048)
    shipper.start()  # before the file exists: a queued run's log appears when it starts
    writer = Writer(path, 3000, pause=0.0005)
    writer.start()
    key = logship.stream_key(5, prefix)
    wait_for(lambda: client.exists(key), 10, message="the first entry while the run writes")
    writer.join()
    shipper.stop()

    in_file = read_records(str(path), 0, limit=10**6)
    records, final = shipped_records(client, key)
    assert records == in_file  # offsets, times, streams, texts: the same records as the file
    assert len(records) == 3001 and records[-1].text == "finished"
    assert final == path.stat().st_size
    assert shipper.shipped_entries > 10  # many reads, so entries and ids were really exercised
    assert 0 < client.ttl(key) <= logship.END_TTL_SECONDS  # the file serves the history

    # a resume at any record boundary (an event id) reads on from exactly there
    for record in random.Random(3).sample(in_file, 40):
        got = logship.read(client, key, record.offset, aligned=False)
        assert got.records and got.records[0] == record
        assert logship.is_boundary(client, key, record.offset)
    assert not logship.is_boundary(client, key, in_file[10].offset + 1)
    assert logship.read(client, key, final).ended

    # a second shipper for the same run (a re-delivered task) ships nothing twice
    again = logship.LogShipper(client, 5, path, prefix=prefix)
    again.start()
    again.stop()
    assert shipped_records(client, key) == (records, final)


class Status:
    """The run's status as the web sees it (the database's part), switched by the test."""

    def __init__(self) -> None:
        self.value = "running"

    def __call__(self) -> dict[str, Any]:
        return {"id": 9, "status": self.value}


def follow(
    client: redis.Redis, key: str, path: Path, status: Status, offset: int, batch: bool, limit: int | None
) -> tuple[list[sse.Event], bool]:
    """One SSE connection from ``offset``: its events, up to ``limit`` log events, and whether it ended."""
    stream = logstream.stream_shipped(
        str(path), offset, status, execution_id=9, client=client, key=key, batch=batch, block_seconds=0.2
    )
    events: list[sse.Event] = []
    try:
        for event in sse.parse(stream):
            events.append(event)
            if event.event == "end":
                return events, True
            if limit is not None and sum(e.event in ("log", "logs") for e in events) >= limit:
                return events, False
    finally:
        stream.close()  # the client went away
    raise AssertionError("the stream stopped without an end event")


@pytest.mark.parametrize("batch", [False, True])
def test_sse_from_the_stream_resumes_with_every_line_exactly_once(
    client: redis.Redis, prefix: str, tmp_path: Path, batch: bool
) -> None:
    path = tmp_path / "run.log"
    key = logship.stream_key(9, prefix)
    shipper = logship.LogShipper(client, 9, path, prefix=prefix, chunk_bytes=1024)
    shipper.start()
    writer = Writer(path, 1500, pause=0.002)
    writer.start()
    status = Status()

    def finish() -> None:  # the worker: the run ends, the shipper drains, then the status is stored
        writer.join()
        shipper.stop()
        with path.open("ab") as log:  # written after the end marker (say, the web's own note): the file has it
            log.write(format_record("sys", "after the end marker"))
        status.value = "succeeded"

    ender = threading.Thread(target=finish, daemon=True)
    ender.start()
    offset, connections, seen = 0, 0, []
    rng = random.Random(11)
    ended = False
    while not ended:
        connections += 1
        events, ended = follow(
            client, key, path, status, offset, batch, None if connections > 12 else rng.randint(1, 60)
        )
        seen.extend(sse.records_of(events))
        ids = [e.id for e in events if e.id is not None]
        offset = int(ids[-1]) if ids else offset  # Last-Event-ID
    ender.join()

    in_file = read_records(str(path), 0, limit=10**6)
    assert seen == [(r.text, r.offset) for r in in_file]  # every line once, in order, none lost at the switch
    assert seen[-1][0] == "after the end marker"
    assert events[-2].event == "status" and events[-2].data["status"] == "succeeded"
    assert events[-1].data["offset"] == path.stat().st_size
    assert connections > 5


def test_a_reader_behind_the_trimmed_stream_reads_the_file_then_the_stream(
    client: redis.Redis, prefix: str, tmp_path: Path
) -> None:
    path = tmp_path / "run.log"
    key = logship.stream_key(9, prefix)
    shipper = logship.LogShipper(client, 9, path, prefix=prefix, chunk_bytes=512)
    shipper.start()
    writer = Writer(path, 400)
    writer.start()
    writer.join()
    wait_for(lambda: shipper.offset == path.stat().st_size, 10, message="the shipper to catch up")
    client.xtrim(key, maxlen=3)  # what MAXLEN does to a long run's early entries
    first = logship._Entry.of(*client.xrange(key, count=1)[0])
    assert first.start > 0
    status = Status()

    in_file = read_records(str(path), 0, limit=10**6)
    middle = next(r for r in in_file if r.offset > first.start).offset  # inside an entry still in the stream
    for start in (0, in_file[5].offset, middle):
        events, ended = follow(client, key, path, status, start, False, len([r for r in in_file if r.offset >= start]))
        assert not ended
        assert sse.records_of(events) == [(r.text, r.offset) for r in in_file if r.offset >= start]

    shipper.stop()
    status.value = "failed"
    events, ended = follow(client, key, path, status, 0, True, None)
    assert ended and sse.records_of(events) == [(r.text, r.offset) for r in in_file]


def test_no_stream_yet_then_a_stream(client: redis.Redis, prefix: str, tmp_path: Path) -> None:
    """A queued run has no stream: the follower waits, and takes the records once the run starts."""
    path = tmp_path / "run.log"
    key = logship.stream_key(9, prefix)
    status = Status()
    status.value = "queued"
    got: list[sse.Event] = []
    done = threading.Event()

    def reader() -> None:
        stream = logstream.stream_shipped(
            str(path), 0, status, execution_id=9, client=client, key=key, block_seconds=0.2
        )
        for event in sse.parse(stream):
            got.append(event)
        done.set()

    threading.Thread(target=reader, daemon=True).start()
    time.sleep(0.3)  # the follower is waiting on a stream that does not exist
    assert not got[1:]  # only the queued status so far
    shipper = logship.LogShipper(client, 9, path, prefix=prefix)
    shipper.start()
    status.value = "running"
    writer = Writer(path, 50)
    writer.start()
    writer.join()
    wait_for(lambda: any(e.event == "log" for e in got), 10, message="the first shipped line")
    shipper.stop()
    status.value = "succeeded"
    assert done.wait(10)
    assert sse.records_of(got) == [(r.text, r.offset) for r in read_records(str(path), 0, limit=1000)]
    assert [e.data["status"] for e in got if e.event == "status"] == ["queued", "running", "succeeded"]


def test_the_endpoint_serves_a_celery_runs_log_from_redis(
    make_app: AppFactory,
    tmp_path: Path,
    redis_url: str,
    client: redis.Redis,
    prefix: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A real run; its log shipped as a worker would; SSE from a web process configured for Celery."""
    from_redis: list[int] = []
    shipped_stream = logstream.stream_shipped

    def spy(*args: Any, **kwargs: Any) -> Iterator[bytes]:
        from_redis.append(kwargs["execution_id"])
        return shipped_stream(*args, **kwargs)

    monkeypatch.setattr(logstream, "stream_shipped", spy)
    runner = make_app()  # runs the script (here the "worker" machine's supervisor writes the log)
    web = make_app(make_settings(tmp_path, executor="celery", redis_url=redis_url, redis_prefix=prefix), start=False)
    gate = tmp_path / "gate"
    script = create_script(runner.test_client(), "gated", GATED_LINES, parameters=[{"name": "GATE", "type": "string"}])
    run_id = execute(runner.test_client(), script["id"], {"GATE": str(gate)})["id"]
    log_path = workspace.run_paths(runner.extensions["scriptman.settings"], run_id).log
    shipper = logship.LogShipper(client, run_id, log_path, prefix=prefix)
    shipper.start()
    http = web.test_client()
    key = logship.stream_key(run_id, prefix)
    wait_for(lambda: len(shipped_records(client, key)[0]) >= 40, 20, message="the first lines shipped")

    response = http.get(f"/api/executions/{run_id}/logs/stream", buffered=False)
    assert response.status_code == 200
    first: list[sse.Event] = []
    for event in sse.parse(response.response):
        first.append(event)
        if sum(e.event == "log" for e in first) == 25:
            break
    response.close()
    resume = [e.id for e in first if e.id][-1]
    ended: dict[str, Any] = {}

    def worker_end() -> None:  # the worker: the run ends, then its shipper drains and marks the end
        ended.update(wait_final(runner.test_client(), run_id))
        shipper.stop()

    finisher = threading.Thread(target=worker_end, daemon=True)
    response = http.get(f"/api/executions/{run_id}/logs/stream", headers={"Last-Event-ID": resume}, buffered=False)
    assert response.status_code == 200
    rest: list[sse.Event] = []
    for event in sse.parse(response.response):  # the run is still live: this stream reads Redis
        rest.append(event)
        if event.event == "log" and event.data["text"] == "before 39":
            gate.touch()
            finisher.start()
    finisher.join()
    assert from_redis == [run_id, run_id]  # both connections were served from the Redis Stream
    texts = [r[0] for r in sse.records_of(first) + sse.records_of(rest)]
    in_file = read_records(str(log_path), 0, limit=10**6)
    assert texts == [r.text for r in in_file]
    assert [f"after {i}" for i in range(60)] == [t for t in texts if t.startswith("after")]
    assert rest[-1].event == "end" and rest[-1].data["status"] == ended["status"] == "succeeded"
    bad = http.get(f"/api/executions/{run_id}/logs/stream", headers={"Last-Event-ID": str(in_file[3].offset + 2)})
    assert bad.status_code == 400
