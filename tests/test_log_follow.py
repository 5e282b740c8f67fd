"""Event-driven log following: a line or the end reaches a live stream at once, not at the next poll;
the poll still works where inotify does not; batched records keep their ids and resume exactly."""

from __future__ import annotations

import errno
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from backend.services import logstream, logwatch, runstatus
from backend.services.executor.logfile import format_record
from tests import sse
from tests.conftest import AppFactory
from tests.helpers import create_script, execute, wait_final

GATED = """
import os, sys, time
for i in range(int(os.environ.get("LINES", "1"))):
    print("before", i, flush=True)
while not os.path.exists(os.environ["GATE"]):
    time.sleep(0.005)
print("after", flush=True)
"""

BOUND = 1.0  # seconds: far below the 30 s polls these tests set, far above a wake-up's few ms


@pytest.fixture(autouse=True)
def fresh_watcher() -> Iterator[None]:
    logwatch.reset()
    yield
    logwatch.reset()


@pytest.fixture
def slow_polls(monkeypatch: pytest.MonkeyPatch) -> None:
    """Polls so slow that anything arriving within ``BOUND`` was woken by an event."""
    monkeypatch.setattr(logstream, "FOLLOW_POLL_SECONDS", 30.0)
    monkeypatch.setattr(logstream, "STATUS_POLL_SECONDS", 30.0)


def _gated_run(client: FlaskClient, tmp_path: Path, lines: int = 1) -> tuple[int, Path]:
    gate = tmp_path / "gate"
    script = create_script(
        client, f"gated{lines}", GATED, parameters=[{"name": "GATE", "type": "string"}, {"name": "LINES"}]
    )
    return execute(client, script["id"], {"GATE": str(gate), "LINES": str(lines)})["id"], gate


def _stream(client: FlaskClient, execution_id: int, query: str = "", **headers: str) -> Iterator[sse.Event]:
    response = client.get(f"/api/executions/{execution_id}/logs/stream{query}", headers=headers, buffered=False)
    assert response.status_code == 200
    return sse.parse(response.response)


def _timed_follow(client: FlaskClient, execution_id: int, gate: Path) -> dict[str, float]:
    """Follow the gated run, open the gate on "before 0"; when "after", the final line and `end` came."""
    arrived: dict[str, float] = {"open": time.monotonic()}
    kinds: list[str] = []
    for event in _stream(client, execution_id):
        kinds.append(event.event)
        now = time.monotonic()
        if event.event == "log" and event.data["text"] == "before 0":
            arrived["gate"] = time.monotonic()
            gate.touch()
        elif event.event == "log" and event.data["text"] == "after":
            arrived["after"] = now
        elif event.event == "log" and event.data["text"].startswith("finished: "):
            arrived["final line"] = now
        elif event.event == "end":
            assert event.data["status"] == "succeeded"
            arrived["end"] = now
    # the contract: the final line, then the final status, then the end
    assert kinds[-3:] == ["log", "status", "end"]
    return arrived


def test_a_printed_line_and_the_end_arrive_without_waiting_for_a_poll(
    client: FlaskClient, tmp_path: Path, slow_polls: None
) -> None:
    execution_id, gate = _gated_run(client, tmp_path)
    arrived = _timed_follow(client, execution_id, gate)
    assert arrived["gate"] - arrived["open"] < 10 * BOUND  # the log's creation woke it (start-up, not a poll)
    assert arrived["after"] - arrived["gate"] < BOUND  # the write woke the follower (inotify)
    assert arrived["end"] - arrived["final line"] < BOUND  # the run-end announcement woke it
    assert runstatus.followed() == 0  # the finished stream left no channel or watch behind
    assert logwatch._watcher is not None and not logwatch._watcher._runs


@pytest.mark.parametrize("failure", ["no inotify", "too many watches"])
def test_without_inotify_the_stream_falls_back_to_polling(
    client: FlaskClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failure: str
) -> None:
    def refuse(*_args: object) -> None:
        raise OSError(errno.EMFILE if failure == "no inotify" else errno.ENOSPC, failure)

    if failure == "no inotify":
        monkeypatch.setattr(logwatch, "INotify", refuse)
    else:
        monkeypatch.setattr(logwatch.LogWatcher, "add", refuse)
    execution_id, gate = _gated_run(client, tmp_path, lines=3)
    arrived = _timed_follow(client, execution_id, gate)
    assert arrived["after"] - arrived["gate"] < BOUND  # the 100 ms file poll still brings every line
    log = client.get(f"/api/executions/{execution_id}/logs").json["records"]
    assert [r["text"] for r in log if r["stream"] == "out"] == ["before 0", "before 1", "before 2", "after"]


def test_log_follow_poll_turns_inotify_off(make_app: AppFactory, tmp_path: Path) -> None:
    client = make_app(log_follow="poll").test_client()
    execution_id, gate = _gated_run(client, tmp_path)
    arrived = _timed_follow(client, execution_id, gate)
    assert arrived["after"] - arrived["gate"] < BOUND
    assert logwatch._watcher is None  # nothing ever asked inotify


def _flatten(events: Iterator[sse.Event]) -> Iterator[tuple[dict, str | None, bool]]:
    """(record, event id or None inside a batch, was batched) for every log record of a stream."""
    for event in events:
        if event.event == "logs":
            for index, record in enumerate(event.data):
                yield record, event.id if index == len(event.data) - 1 else None, True
        elif event.event == "log":
            yield event.data, event.id, False


def test_waiting_records_come_as_one_batch_with_ids_that_resume_exactly(client: FlaskClient, tmp_path: Path) -> None:
    execution_id, gate = _gated_run(client, tmp_path, lines=700)
    live: list[dict] = []
    for record, _, _ in _flatten(_stream(client, execution_id, "?batch=true")):
        live.append(record)
        if record["text"] == "before 699":
            gate.touch()
    wait_final(client, execution_id)
    plain = [r for r, _, _ in _flatten(_stream(client, execution_id))]
    assert live == plain  # the same records in the same order, however the server grouped them live
    # a finished run's 700+ records are all waiting: they come as a few big batches, not 700 events
    batches = [e for e in _stream(client, execution_id, "?batch=true") if e.event in ("log", "logs")]
    assert len(batches) <= 3 and len(batches[0].data) > 1
    # a batch's id is the offset after its last record: the next record starts there
    for event in batches[:-1]:
        assert int(event.id or "") == plain[plain.index(event.data[-1]) + 1]["offset"]
    # resuming from a batch's id continues exactly after it, batched or not
    after = plain.index(batches[0].data[-1]) + 1
    for query in ("", "?batch=true"):
        resumed = _stream(client, execution_id, query, **{"Last-Event-ID": batches[0].id or ""})
        assert [r for r, _, _ in _flatten(resumed)] == plain[after:]


def test_the_stream_of_a_cancelled_run_ends_without_waiting_for_a_poll(
    client: FlaskClient, tmp_path: Path, slow_polls: None
) -> None:
    execution_id, gate = _gated_run(client, tmp_path)
    events = _stream(client, execution_id)
    for event in events:
        if event.event == "log" and event.data["text"] == "before 0":
            break
    asked = time.monotonic()
    assert client.post(f"/api/executions/{execution_id}/cancel").status_code in (200, 202)
    last = None
    for event in events:
        last = event
    assert last is not None and last.event == "end" and last.data["status"] == "cancelled"
    assert time.monotonic() - asked < 5 * BOUND  # the supervisor's stop grace, not a 30 s poll
    gate.touch()


def test_a_follower_waits_for_a_log_that_does_not_exist_yet_and_wakes_on_each_write(
    tmp_path: Path, slow_polls: None
) -> None:
    """A queued run has no log yet: the follower watches the folder for it, then the file."""
    log_path = tmp_path / "execution_9.log"
    status = {"status": "queued"}
    followed = logstream.events(str(log_path), 0, lambda: dict(status), execution_id=9)
    assert next(followed).status == {"status": "queued"}
    arrived: list[tuple[str, float]] = []
    written: list[float] = []

    def writer() -> None:
        for text in ("one", "two"):
            time.sleep(0.2)  # the follower is asleep by now: only a wake-up can bring the line
            written.append(time.monotonic())
            with open(log_path, "ab") as handle:
                handle.write(format_record("out", text))
        status["status"] = "succeeded"
        runstatus.announce(9)

    thread = threading.Thread(target=writer)
    thread.start()
    for event in followed:
        if event.kind == "record" and event.record is not None:
            arrived.append((event.record.text, time.monotonic()))
    thread.join()  # the loop ended with `end`, the last event
    assert [text for text, _ in arrived] == ["one", "two"]
    assert all(at - sent < BOUND for (_, at), sent in zip(arrived, written, strict=True))
    assert runstatus.followed() == 0 and logwatch._watcher is not None and not logwatch._watcher._runs
