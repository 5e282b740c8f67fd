"""The request gate: reads wait in a short line, streams and writes never do, and no read waits long."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import Any

import pytest

from backend.request_gate import QUEUE_WAIT_SECONDS, FifoSlots, RequestGate
from tests.conftest import AppFactory
from tests.helpers import wait_for


class Held:
    """A WSGI app whose requests stay inside the handler until released; counts them."""

    def __init__(self) -> None:
        self.inside = 0
        self.peak = 0
        self.lock = threading.Lock()
        self.release = threading.Event()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        with self.lock:
            self.inside += 1
            self.peak = max(self.peak, self.inside)
        try:
            self.release.wait(30)
        finally:
            with self.lock:
                self.inside -= 1
        start_response("200 OK", [])
        return [b"ok"]


def _call(gate: RequestGate, method: str, path: str) -> threading.Thread:
    thread = threading.Thread(target=lambda: gate({"REQUEST_METHOD": method, "PATH_INFO": path}, lambda *a: None))
    thread.start()
    return thread


def test_reads_beyond_the_limit_wait_while_streams_and_writes_go_on() -> None:
    app = Held()
    gate = RequestGate(app, 2)
    threads = [_call(gate, "GET", f"/api/executions/{i}") for i in range(2)]
    wait_for(lambda: app.inside == 2, message="two reads inside")
    threads += [
        _call(gate, "GET", "/api/executions/1/logs/stream"),
        _call(gate, "GET", "/api/executions/1/logs/search"),
        _call(gate, "POST", "/api/scripts"),
    ]
    wait_for(lambda: app.inside == 5, message="a stream, a log search and a write beside them")
    waiting = _call(gate, "GET", "/api/stats")
    threads.append(waiting)
    assert not wait_for_inside(app, 6, within=QUEUE_WAIT_SECONDS / 5), "a third read waits in line"
    app.release.set()
    for thread in threads:
        thread.join(10)
    assert app.inside == 0 and gate.slots.acquire(blocking=False) and gate.slots.acquire(blocking=False)


def test_a_read_waits_in_line_at_most_the_bound_then_runs_beside_the_slow_one() -> None:
    app = Held()
    gate = RequestGate(app, 1)
    slow = _call(gate, "GET", "/api/executions/1/logs/search")
    wait_for(lambda: app.inside == 1, message="the slow read inside")
    late = _call(gate, "GET", "/api/health")
    wait_for(lambda: app.inside == 2, QUEUE_WAIT_SECONDS * 10, message="the next read to run anyway")
    app.release.set()
    slow.join(10)
    late.join(10)
    assert gate.slots.acquire(blocking=False) and not gate.slots.acquire(blocking=False)  # one slot, given back once


def test_the_server_answers_through_the_gate_and_without_it(make_app: AppFactory) -> None:
    for limit in (1, 0):
        client = make_app(request_concurrency=limit).test_client()
        assert client.get("/api/health").status_code == 200
        assert client.get("/api/executions").json["items"] == []


def wait_for_inside(app: Held, count: int, within: float) -> bool:
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            if app.inside >= count:
                done.set()
            done.wait(0.005)

    watcher = threading.Thread(target=watch)
    watcher.start()
    reached = done.wait(within)
    done.set()
    watcher.join()
    return reached and app.inside >= count


def test_a_slot_given_back_goes_to_the_longest_waiting_read_not_to_a_newcomer() -> None:
    slots = FifoSlots(1)
    assert slots.acquire(blocking=False)
    entered: list[str] = []

    def wait_in_line(name: str) -> threading.Thread:
        def take() -> None:
            if slots.acquire(timeout=10):
                entered.append(name)

        thread = threading.Thread(target=take)
        thread.start()
        return thread

    first = wait_in_line("first")
    wait_for(lambda: slots.waiting == 1, message="the first read in line")
    second = wait_in_line("second")
    wait_for(lambda: slots.waiting == 2, message="the second read in line")
    slots.release()
    # the slot is the first waiter's at once: a read arriving now (a threading.Semaphore would let it
    # take the slot while the woken waiter is still getting the GIL) waits its turn
    assert not slots.acquire(blocking=False)
    first.join(10)
    assert entered == ["first"]
    slots.release()
    second.join(10)
    assert entered == ["first", "second"]
    slots.release()
    assert slots.acquire(blocking=False) and not slots.acquire(blocking=False)


def test_a_read_that_gave_up_waiting_leaves_the_line() -> None:
    slots = FifoSlots(1)
    assert slots.acquire(blocking=False)
    assert not slots.acquire(timeout=0.05)
    assert slots.waiting == 0
    slots.release()  # nobody waits: the slot is free again, once
    assert slots.acquire(blocking=False)
    slots.release()
    with pytest.raises(ValueError):
        slots.release()
