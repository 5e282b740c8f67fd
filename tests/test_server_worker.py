"""Serving: the connection board that keeps several web processes evenly loaded, and the settled heap."""

from __future__ import annotations

import gc
from types import SimpleNamespace
from typing import Any

import pytest

from backend import server, server_worker
from backend.config import Settings
from backend.server_worker import STALE_SECONDS, BalancedThreadWorker, ConnectionBoard


def test_a_process_holding_more_than_the_least_loaded_sibling_stops_accepting() -> None:
    board = ConnectionBoard(3)
    board.post(0, 5)
    board.post(1, 3)
    board.post(2, 4)
    assert not board.may_accept(0, 5)  # 5 > 3 + 1
    assert board.may_accept(2, 4)  # within the slack
    assert board.may_accept(1, 3)  # the least loaded always may: someone always accepts


def test_a_sibling_that_stopped_posting_is_left_out(monkeypatch: pytest.MonkeyPatch) -> None:
    board = ConnectionBoard(2)
    board.post(0, 9)
    board.post(1, 0)
    assert not board.may_accept(0, 9)
    later = server_worker.time.monotonic() + STALE_SECONDS + 1
    monkeypatch.setattr(server_worker.time, "monotonic", lambda: later)
    assert board.may_accept(0, 9)  # a dead or stuck sibling does not stop this one from accepting
    assert ConnectionBoard(1).may_accept(0, 100)  # alone: always


def test_the_master_gives_each_new_worker_a_slot_no_live_worker_holds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(server_worker, "BOARD", None)
    arbiter = SimpleNamespace(num_workers=3, WORKERS={})
    server_worker.share_connections(arbiter)
    slots = []
    for pid in (11, 12, 13):
        worker = SimpleNamespace()
        server_worker.assign_slot(arbiter, worker)
        arbiter.WORKERS[pid] = worker
        slots.append(worker.board_slot)
    assert slots == [0, 1, 2]
    del arbiter.WORKERS[12]  # the worker in slot 1 died: its replacement takes slot 1
    replacement = SimpleNamespace()
    server_worker.assign_slot(arbiter, replacement)
    assert replacement.board_slot == 1


def test_several_web_processes_are_served_by_the_balanced_worker() -> None:
    known: dict[str, Any] = {}
    assert server.gunicorn_options(Settings(web_processes=1), known)["worker_class"] == "gthread"
    options = server.gunicorn_options(Settings(web_processes=2), known)
    assert options["worker_class"] is BalancedThreadWorker
    assert options["on_starting"] is server_worker.share_connections
    assert options["pre_fork"] is server_worker.assign_slot


def test_the_loaded_app_is_frozen_out_of_the_collector(monkeypatch: pytest.MonkeyPatch) -> None:
    import backend.app

    monkeypatch.setattr(backend.app, "create_app", lambda settings: SimpleNamespace(extensions={}))
    gc.unfreeze()
    try:
        assert gc.get_freeze_count() == 0
        server._Server(Settings(), prepared=True).load()
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
