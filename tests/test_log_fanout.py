"""Many live streams on one run: each gets every record exactly once, in order, with ids that resume
exactly, while the run's log is read and its status looked up once for all of them (not once per
stream); a client that stops reading holds nobody up and grows no memory past the shared window."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from backend.services import logstream, logwatch, runstatus
from backend.services.executor.logfile import Record, format_record, read_records
from tests import sse
from tests.helpers import wait_for

RUN = 41


@pytest.fixture(autouse=True)
def fresh_watcher() -> Iterator[None]:
    logwatch.reset()
    yield
    logwatch.reset()
    assert logstream.hubs() == 0 and runstatus.followed() == 0  # every stream left nothing behind


class Run:
    """A run's log file and status as the streams see them, with the look-ups and reads counted."""

    def __init__(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.log = tmp_path / f"execution_{RUN}.log"
        self.log.touch()
        self.status: dict[str, Any] | None = {"status": "running", "id": RUN}
        self.lookups = 0
        self.reads = 0
        real_read = logstream.read_records

        def counted_read(*args: Any, **kwargs: Any) -> list[Record]:
            self.reads += 1
            return real_read(*args, **kwargs)

        monkeypatch.setattr(logstream, "read_records", counted_read)

    def lookup(self) -> dict[str, Any] | None:
        self.lookups += 1
        return dict(self.status) if self.status is not None else None

    def print(self, *texts: str, stream: str = "out") -> None:
        with open(self.log, "ab") as handle:
            handle.write(b"".join(format_record(stream, text) for text in texts))

    def finish(self, *, announce: bool = True) -> None:
        self.print("finished: succeeded", stream="sys")
        self.status = {"status": "succeeded", "id": RUN}
        if announce:
            runstatus.announce(RUN)

    def follow(self, offset: int = 0, *, batch: bool = False, watch: bool = True) -> Iterator[sse.Event]:
        return sse.parse(
            logstream.stream(str(self.log), offset, self.lookup, execution_id=RUN, batch=batch, watch=watch)
        )

    def records(self) -> list[dict[str, object]]:
        return [r.as_dict() for r in read_records(str(self.log), 0, limit=100_000)]


class Reader(threading.Thread):
    """A client reading one stream to its end; ``records`` flattens ``logs`` batches."""

    def __init__(self, events: Iterator[sse.Event]) -> None:
        super().__init__(daemon=True)
        self.events = events
        self.records: list[dict[str, object]] = []
        self.ids: list[str | None] = []
        self.kinds: list[str] = []
        self.start()

    def run(self) -> None:
        for event in self.events:
            self.kinds.append(event.event)
            if event.event in ("log", "logs"):
                batch = event.data if event.event == "logs" else [event.data]
                self.records.extend(batch)
                self.ids.extend([None] * (len(batch) - 1) + [event.id])

    def texts(self) -> list[object]:
        return [r["text"] for r in self.records if r["stream"] == "out"]


def _pull(events: Iterator[sse.Event], until: Callable[[sse.Event], bool]) -> list[sse.Event]:
    """Events of a stream read in this thread until one matches (a stream that then stops reading)."""
    taken = []
    for event in events:
        taken.append(event)
        if until(event):
            return taken
    raise AssertionError("the stream ended early")


def _flat(events: list[sse.Event]) -> list[dict[str, object]]:
    return [r for e in events if e.event in ("log", "logs") for r in (e.data if e.event == "logs" else [e.data])]


def _assert_exact(reader: Reader, run: Run) -> None:
    """Every record once, in order; each event id is the offset where the next record starts."""
    full = run.records()
    assert reader.records == full
    offsets = [r["offset"] for r in full[1:]] + [run.log.stat().st_size]
    assert all(i is None or int(i) == o for i, o in zip(reader.ids, offsets, strict=True))
    assert reader.kinds[-2:] == ["status", "end"]


def test_twenty_streams_get_every_line_from_one_read_and_one_status_lookup(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = Run(tmp_path, monkeypatch)
    readers = [Reader(run.follow(batch=i % 2 == 1)) for i in range(20)]
    wait_for(lambda: all("status" in r.kinds for r in readers), 10, 0.01, "every stream to start")
    for i in range(30):
        run.print(f"line {i}")
        wait_for(lambda i=i: all(len(r.records) > i for r in readers), 10, 0.005, f"line {i} on every stream")
    run.finish()
    for reader in readers:
        reader.join(10)
        assert not reader.is_alive()
        assert reader.texts() == [f"line {i}" for i in range(30)]
        _assert_exact(reader, run)
    # one look-up when the streams opened, one after the sys record / the announcement: not 20 each
    assert run.lookups <= 4
    # about one read per line for all 20 streams (before: 20 per line), plus each stream's last check
    assert run.reads <= 2 * 31 + 20 + 5


def test_a_client_that_stops_reading_holds_nobody_up_and_resumes_from_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(logstream, "WINDOW_CHARS", 4000)
    monkeypatch.setattr(logstream, "WINDOW_CHUNKS", 8)
    run = Run(tmp_path, monkeypatch)
    slow = run.follow()
    got = _pull(slow, lambda e: e.event == "status")  # connected, then it reads nothing more for a while
    fast = Reader(run.follow())
    wait_for(lambda: "status" in fast.kinds, 10, 0.01, "the fast stream to start")
    for i in range(200):
        run.print(f"line {i} " + "x" * 50)
        wait_for(lambda i=i: len(fast.records) > i, 10, 0.005, f"line {i} on the fast stream")
    hub = next(iter(logstream._hubs.values()))
    # the hub kept only its window, not everything the slow client has not read
    assert len(hub.chunks) <= 8 and hub.size <= 4000 + max(c.size for c in hub.chunks)
    assert hub.base is not None and hub.base > 0
    run.finish()
    fast.join(10)
    got += list(slow)  # the slow client catches up: from the file behind the window, then from the window
    assert _flat(got) == fast.records == run.records()
    assert [e.event for e in got][-2:] == ["status", "end"]
    _assert_exact(fast, run)


def test_batched_plain_and_mid_read_resumes_share_a_run_and_stay_exact(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = Run(tmp_path, monkeypatch)
    run.print(*[f"early {i}" for i in range(30)])
    run.print('{"percent": 50}', stream="prg")
    run.print(*[f"more {i}" for i in range(5)])
    full = run.records()
    batched = run.follow(batch=True)
    first = _pull(batched, lambda e: e.event == "status")
    assert [e.event for e in first] == ["logs", "progress", "logs", "status"]  # one read, grouped around progress
    assert first[0].data == full[:30] and first[1].data == {"percent": 50} and first[2].data == full[31:]
    assert first[0].id == str(full[30]["offset"]) and first[2].id == str(run.log.stat().st_size)
    # the same read, one event per record, and a resume from the middle of it (Last-Event-ID of record 9)
    plain = Reader(run.follow())
    middle = Reader(run.follow(int(str(full[10]["offset"])), batch=True))
    wait_for(lambda: "status" in plain.kinds and "status" in middle.kinds, 10, 0.01, "both streams to start")
    assert logstream.hubs() == 1
    run.print("late")
    run.finish()
    plain.join(10)
    middle.join(10)
    rest = list(batched)
    assert _flat(first + rest) == [r for r in run.records() if r["stream"] != "prg"]
    assert plain.records == _flat(first + rest)
    assert middle.records == plain.records[10:]
    assert [e.event for e in rest][-2:] == ["status", "end"]


def test_a_stream_resuming_ahead_of_the_others_and_a_replay_from_the_start_both_stay_exact(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = Run(tmp_path, monkeypatch)
    run.print(*[f"line {i}" for i in range(1200)])
    full = run.records()
    replay = run.follow()
    head = _pull(replay, lambda e: e.event == "log" and e.data["text"] == "line 3")  # the hub read 500 records
    ahead = Reader(run.follow(int(str(full[1000]["offset"]))))  # past what the hub read: it restarts there
    wait_for(lambda: "status" in ahead.kinds, 10, 0.01, "the stream ahead to start")
    run.finish()
    ahead.join(10)
    assert ahead.records == run.records()[1000:]
    assert _flat(head + list(replay)) == run.records()


def test_without_inotify_many_streams_still_get_every_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run = Run(tmp_path, monkeypatch)
    readers = [Reader(run.follow(watch=False)) for _ in range(8)]
    wait_for(lambda: all("status" in r.kinds for r in readers), 10, 0.01, "every stream to start")
    for i in range(5):
        run.print(f"line {i}")
        wait_for(lambda i=i: all(len(r.records) > i for r in readers), 10, 0.01, f"line {i} by the 100 ms poll")
    run.finish()
    for reader in readers:
        reader.join(10)
        _assert_exact(reader, run)
    assert logwatch._watcher is None  # nothing asked inotify


def test_an_unannounced_end_is_found_by_one_look_up_for_all_streams(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A status stored where no announcement reaches: the safety poll, shared by the run's streams."""
    monkeypatch.setattr(logstream, "STATUS_POLL_SECONDS", 0.5)
    run = Run(tmp_path, monkeypatch)
    readers = [Reader(run.follow()) for _ in range(10)]
    wait_for(lambda: all("status" in r.kinds for r in readers), 10, 0.01, "every stream to start")
    before = run.lookups
    run.finish(announce=False)
    for reader in readers:
        reader.join(10)
        assert not reader.is_alive()
        _assert_exact(reader, run)
    assert run.lookups - before <= 3  # the sys record, its re-check: for all ten streams at once


def test_a_deleted_run_ends_every_stream(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run = Run(tmp_path, monkeypatch)
    readers = [Reader(run.follow()) for _ in range(5)]
    wait_for(lambda: all("status" in r.kinds for r in readers), 10, 0.01, "every stream to start")
    run.status = None
    runstatus.announce(RUN)
    for reader in readers:
        reader.join(10)
        assert reader.kinds[-1] == "end"
