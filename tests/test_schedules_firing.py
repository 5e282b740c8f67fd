"""The scheduler end to end: per-second crons fire real runs through the executor.

Negative checks ("no fire after toggling off") watch for a bounded window of a couple of ticks;
everything else waits on a condition with a deadline.
"""

from __future__ import annotations

import itertools
import re
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select, update

from backend.app import create_app
from backend.cli import upgrade_database
from backend.extensions import db
from backend.models import Execution, Schedule, ScheduleFire
from backend.models.types import utcnow
from backend.services.scheduler import SchedulerService
from tests.conftest import make_settings
from tests.helpers import create_script, wait_for

EVERY_SECOND = "* * * * * *"
FAST = "print('tick')\n"


def build_app(home: Path, **overrides: Any) -> Flask:
    settings = make_settings(
        home,
        scheduler_enabled=True,
        scheduler_lock_retry_seconds=0.1,
        scheduler_sync_seconds=0.3,
        **overrides,
    )
    app = create_app(settings, {"TESTING": True})
    upgrade_database(app)
    return app


def start(app: Flask) -> None:
    app.extensions["scriptman.start_services"]()


def stop(app: Flask) -> None:
    app.extensions["scriptman.stop_services"]()
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def apps(tmp_path: Path) -> Iterator[Callable[..., Flask]]:
    """Builds (not starts) apps on one home; stops whatever was built at the end."""
    built: list[Flask] = []

    def factory(**overrides: Any) -> Flask:
        app = build_app(tmp_path, **overrides)
        built.append(app)
        return app

    yield factory
    for app in built:
        stop(app)


def scheduler(app: Flask) -> SchedulerService:
    return app.extensions["scriptman.scheduler"]  # type: ignore[no-any-return]


def schedule(client: FlaskClient, script_id: int, cron: str = EVERY_SECOND, **fields: Any) -> dict:
    body = {"name": f"s-{cron}-{fields}", "script_id": script_id, "cron": cron, "timezone": "UTC", **fields}
    response = client.post("/api/schedules", json=body)
    assert response.status_code == 201, response.json
    return response.json


def has_job(app: Flask, schedule_id: int) -> bool:
    service = scheduler(app)
    return service.scheduler is not None and service.scheduler.get_job(f"schedule-{schedule_id}") is not None


def fires(client: FlaskClient, schedule_id: int) -> list[dict]:
    return client.get(f"/api/schedules/{schedule_id}/fires?per_page=200").json["items"][::-1]


def runs(app: Flask, schedule_id: int) -> list[Execution]:
    with app.app_context():
        rows = list(
            db.session.scalars(select(Execution).where(Execution.schedule_id == schedule_id).order_by(Execution.id))
        )
        db.session.remove()
        return rows


def test_a_per_second_schedule_runs_through_the_executor_until_toggled_off(apps: Callable[..., Flask]) -> None:
    app = apps()
    start(app)
    client = app.test_client()
    target = create_script(client, "ticker", FAST)
    sid = schedule(client, target["id"])["id"]

    wait_for(lambda: sum(r.status == "succeeded" for r in runs(app, sid)) >= 2, 15, message="two scheduled runs")
    done = [r for r in runs(app, sid) if r.status == "succeeded"]
    assert all(r.trigger == "schedule" for r in done)
    started = [f for f in fires(client, sid) if f["outcome"] == "started"]
    assert {f["execution_id"] for f in started} >= {r.id for r in done}
    ticks = [datetime.fromisoformat(f["scheduled_for"]) for f in started]
    assert all(t.microsecond == 0 for t in ticks) and ticks == sorted(set(ticks))
    body = client.get(f"/api/schedules/{sid}").json
    assert body["last_run_at"] is not None and body["last_status"] in ("queued", "running", "succeeded")

    off = client.post(f"/api/schedules/{sid}/toggle").json
    assert off["enabled"] is False and off["next_run_at"] is None
    count = len(fires(client, sid))
    deadline = time.monotonic() + 2.5  # two and a half ticks: none may fire
    while time.monotonic() < deadline:
        assert len(fires(client, sid)) == count
        time.sleep(0.1)
    assert not has_job(app, sid)


def test_editing_the_cron_takes_effect_immediately(apps: Callable[..., Flask]) -> None:
    app = apps()
    start(app)
    client = app.test_client()
    target = create_script(client, "edited", FAST)
    sid = schedule(client, target["id"], cron="0 0 1 1 *")["id"]
    wait_for(lambda: has_job(app, sid), 5, message="the yearly job")
    assert fires(client, sid) == []

    edited_at = utcnow()
    patched = client.patch(f"/api/schedules/{sid}", json={"cron": EVERY_SECOND}).json
    assert datetime.fromisoformat(patched["next_run_at"]) - edited_at <= timedelta(seconds=1)
    first = wait_for(lambda: fires(client, sid), 5, message="a fire after the edit")[0]
    assert datetime.fromisoformat(first["scheduled_for"]) - edited_at <= timedelta(seconds=2)
    assert first["outcome"] == "started"


def test_skip_never_overlaps_and_records_the_skips(apps: Callable[..., Flask]) -> None:
    app = apps()
    start(app)
    client = app.test_client()
    target = create_script(client, "slow", "import time\ntime.sleep(2.5)\n")
    sid = schedule(client, target["id"], overlap_policy="skip")["id"]

    def skipped_then_second_run() -> bool:
        history = fires(client, sid)
        skipped = [f for f in history if f["outcome"] == "skipped"]
        return len(skipped) >= 2 and sum(f["outcome"] == "started" for f in history) >= 2

    wait_for(skipped_then_second_run, 15, message="skips and a second run")
    client.post(f"/api/schedules/{sid}/toggle")
    history = fires(client, sid)
    first_run = next(f["execution_id"] for f in history if f["outcome"] == "started")
    skip = next(f for f in history if f["outcome"] == "skipped")
    assert f"execution #{first_run} is still" in skip["detail"]
    assert skip["execution_id"] is None
    intervals = [(r.queued_at, r.finished_at or utcnow()) for r in runs(app, sid) if r.status not in ("cancelled",)]
    for (_, end), (begin, _) in itertools.pairwise(intervals):
        assert begin >= end, "a skip schedule queued a run while the previous one was active"


def test_queue_keeps_at_most_one_waiting_and_starts_it_when_the_run_ends(apps: Callable[..., Flask]) -> None:
    app = apps()
    start(app)
    client = app.test_client()
    target = create_script(client, "queued", "import time\ntime.sleep(1.6)\n")
    sid = schedule(client, target["id"], overlap_policy="queue")["id"]
    most_waiting = 0

    def released() -> bool:
        nonlocal most_waiting
        history = fires(client, sid)
        most_waiting = max(most_waiting, sum(f["outcome"] == "queued" for f in history))
        return any(f["detail"] and "started when the previous run ended" in f["detail"] for f in history) and any(
            f["outcome"] == "skipped" for f in history
        )

    wait_for(released, 15, message="a waiting fire that started")
    client.post(f"/api/schedules/{sid}/toggle")
    assert most_waiting <= 1
    skip = next(f for f in fires(client, sid) if f["outcome"] == "skipped")
    assert "already waiting" in skip["detail"]
    finished = [r for r in runs(app, sid) if r.finished_at is not None]
    for before, after in itertools.pairwise(finished):
        assert after.started_at is not None and before.finished_at is not None
        assert after.started_at >= before.finished_at - timedelta(milliseconds=50)


def test_two_instances_on_one_data_dir_fire_each_tick_once_and_fail_over(apps: Callable[..., Flask]) -> None:
    first, second = apps(), apps()
    start(first)
    start(second)
    wait_for(lambda: scheduler(first).is_leader or scheduler(second).is_leader, 5, message="a leader")
    leader, standby = (first, second) if scheduler(first).is_leader else (second, first)
    time.sleep(0.3)  # a few lock retries by the standby
    assert not scheduler(standby).is_leader

    client = standby.test_client()  # changes made through the standby reach the leader by its sync
    target = create_script(client, "once", FAST)
    sid = schedule(client, target["id"], overlap_policy="parallel")["id"]
    wait_for(lambda: len(runs(leader, sid)) >= 4, 15, message="four fires")

    stop(leader)
    wait_for(lambda: scheduler(standby).is_leader, 5, message="the standby taking over")
    taken_over_at = utcnow()
    wait_for(lambda: any(r.queued_at > taken_over_at for r in runs(standby, sid)), 5, message="fires after failover")
    client.post(f"/api/schedules/{sid}/toggle")

    history = fires(client, sid)
    started = [f for f in history if f["outcome"] == "started"]
    executions = runs(standby, sid)
    assert len(executions) == len(started), "one execution per started fire"
    assert sorted(f["execution_id"] for f in started) == [r.id for r in executions]
    ticks = [f["scheduled_for"] for f in history]
    assert len(ticks) == len(set(ticks)), "no tick fired twice"
    with standby.app_context():
        per_tick = db.session.execute(
            select(ScheduleFire.scheduled_for, func.count())
            .where(ScheduleFire.schedule_id == sid)
            .group_by(ScheduleFire.scheduled_for)
            .having(func.count() > 1)
        ).all()
        assert per_tick == []


def test_after_downtime_a_schedule_catches_up_once_within_grace_or_records_a_miss(apps: Callable[..., Flask]) -> None:
    app = apps()
    client = app.test_client()
    target = create_script(client, "catchup", FAST)
    minutely = schedule(client, target["id"], cron="* * * * *", misfire_grace_seconds=600)["id"]
    yearly = schedule(client, target["id"], cron="0 0 1 1 *", misfire_grace_seconds=60)["id"]
    now = utcnow().replace(second=0, microsecond=0)
    with app.app_context():  # as if the server had been down for ten minutes / more than a year
        db.session.execute(
            update(Schedule).where(Schedule.id == minutely).values(next_run_at=now - timedelta(minutes=10))
        )
        last_year = now.replace(year=now.year - 1, month=1, day=1, hour=0, minute=0)
        db.session.execute(update(Schedule).where(Schedule.id == yearly).values(next_run_at=last_year))
        db.session.commit()
        db.session.remove()
    started_at = utcnow()
    start(app)

    wait_for(lambda: len(fires(client, minutely)) >= 2 and len(fires(client, yearly)) >= 2, 10, message="catch-up")
    caught_up = [f for f in fires(client, minutely) if datetime.fromisoformat(f["scheduled_for"]) <= started_at]
    assert [f["outcome"] for f in caught_up] == ["missed", "started"], "one catch-up run, never a burst"
    assert re.match(r"1[01] fire\(s\) from ", caught_up[0]["detail"]), caught_up[0]["detail"]
    assert "catches up at most once" in caught_up[0]["detail"]
    assert caught_up[1]["execution_id"] == runs(app, minutely)[0].id

    missed = fires(client, yearly)
    assert [f["outcome"] for f in missed] == ["missed", "missed"]
    assert "grace is 60 s" in missed[1]["detail"]
    assert runs(app, yearly) == []
    assert datetime.fromisoformat(client.get(f"/api/schedules/{yearly}").json["next_run_at"]) > utcnow()


def test_the_leader_registers_the_maintenance_job(apps: Callable[..., Flask]) -> None:
    app = apps(maintenance_interval_seconds=3600)
    start(app)
    wait_for(lambda: scheduler(app).is_leader, 5, message="leadership")
    jobs = {job.id: job for job in scheduler(app).scheduler.get_jobs()}
    assert "maintenance" in jobs
    assert jobs["maintenance"].next_run_time - utcnow() < timedelta(seconds=10)
