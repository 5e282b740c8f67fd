"""Dispatch without waiting: a run starts because it was submitted or a slot freed, not because the
dispatcher's timer came round. The timer is set to an hour here, so only a wake-up can start a run."""

from __future__ import annotations

import pytest
from flask import Flask

from backend.services import runstatus
from backend.services.executor import local
from tests.conftest import AppFactory
from tests.helpers import HOLD, create_script, execute, wait_final, wait_for, wait_started

NEVER = 3600.0  # the dispatcher's idle pass: no run in these tests may wait for it


@pytest.fixture
def idle_dispatcher(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(local, "POLL_SECONDS", NEVER)


def test_a_submitted_run_starts_without_waiting_for_the_dispatchers_timer(
    idle_dispatcher: None, make_app: AppFactory
) -> None:
    client = make_app().test_client()
    script = create_script(client, "quick", "print('hi')\n")
    run = execute(client, script["id"])
    done = wait_final(client, run["id"], timeout=30)  # an hour-long timer would never get there
    assert done["status"] == "succeeded"


def test_the_next_queued_run_starts_when_a_slot_frees(idle_dispatcher: None, make_app: AppFactory) -> None:
    client = make_app(max_concurrency=1).test_client()
    script = create_script(client, "short", "import time\ntime.sleep(0.2)\nprint('done')\n")
    first, second, third = (execute(client, script["id"]) for _ in range(3))
    assert [wait_final(client, run["id"], timeout=30)["status"] for run in (first, second, third)] == ["succeeded"] * 3
    finished = [client.get(f"/api/executions/{run['id']}").json for run in (first, second, third)]
    # one slot: each run started after the one before it ended (first in, first out)
    assert finished[0]["finished_at"] <= finished[1]["started_at"]
    assert finished[1]["finished_at"] <= finished[2]["started_at"]


def test_a_follower_of_a_queued_run_hears_that_it_started(idle_dispatcher: None, make_app: AppFactory) -> None:
    """The claim announces the run: a live log waiting on a queued run wakes when it is running
    (long before it ends: the run holds until it is cancelled)."""
    app: Flask = make_app(max_concurrency=1)
    client = app.test_client()
    blocker = execute(client, create_script(client, "short", "import time\ntime.sleep(0.3)\n")["id"])
    queued = execute(client, create_script(client, "hold", HOLD)["id"])
    with runstatus.follow(queued["id"]) as channel:
        assert channel.status_changes == 0
        wait_final(client, blocker["id"], timeout=30)
        wait_for(lambda: channel.status_changes > 0, timeout=30, message="the queued run to be announced")
        assert client.get(f"/api/executions/{queued['id']}").json["status"] == "running"
    wait_started(client, queued["id"])
    client.post(f"/api/executions/{queued['id']}/cancel")
    assert wait_final(client, queued["id"], timeout=30)["status"] == "cancelled"


def test_a_run_behind_many_held_back_ones_of_a_capped_script_still_starts(
    idle_dispatcher: None, make_app: AppFactory
) -> None:
    """The dispatcher reads a few candidates first; when all of them wait for their script's cap it
    reads on, so a free slot still goes to the run queued behind them."""
    client = make_app(max_concurrency=2).test_client()
    capped = create_script(client, "capped", HOLD, max_concurrent=1)
    held = [execute(client, capped["id"]) for _ in range(local.CANDIDATES_FIRST + 3)]
    wait_started(client, held[0]["id"])
    other = create_script(client, "other", "print('free')\n")
    assert wait_final(client, execute(client, other["id"])["id"], timeout=30)["status"] == "succeeded"
    assert [client.get(f"/api/executions/{run['id']}").json["status"] for run in held[1:]] == ["queued"] * (
        len(held) - 1
    )
    for run in held:
        client.post(f"/api/executions/{run['id']}/cancel")
    for run in held:
        assert wait_final(client, run["id"], timeout=30)["status"] == "cancelled"
