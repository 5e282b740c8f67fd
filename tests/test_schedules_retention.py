"""The built-in retention sweep: old runs go with their files, active runs and non-run folders stay."""

from __future__ import annotations

import os
import time
from datetime import timedelta
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, update

from backend.config import Settings
from backend.extensions import db
from backend.models import Execution, FireOutcome, Schedule, ScheduleFire, Script, Trigger
from backend.models.types import utcnow
from backend.services import executions
from backend.services.executor import workspace
from backend.services.scheduler import retention
from tests.conftest import AppFactory, make_settings
from tests.helpers import HOLD, create_script, execute, wait_final, wait_started, wait_status


@pytest.fixture
def retention_settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path, retention_days=30, retention_per_script=2, retention_fires_per_schedule=3)


@pytest.fixture
def retention_app(retention_settings: Settings, make_app: AppFactory) -> Flask:
    return make_app(retention_settings)


def age(app: Flask, execution_ids: list[int], days: int) -> None:
    moment = utcnow() - timedelta(days=days)
    with app.app_context():
        db.session.execute(
            update(Execution).where(Execution.id.in_(execution_ids)).values(queued_at=moment, finished_at=moment)
        )
        db.session.commit()


def files_of(settings: Settings, execution_id: int) -> list[Path]:
    paths = workspace.run_paths(settings, execution_id)
    return [p for p in (paths.workspace, paths.log, paths.control) if p.exists()]


def test_the_sweep_prunes_old_and_surplus_runs_with_their_files_but_never_active_ones(
    retention_app: Flask, retention_settings: Settings
) -> None:
    app, settings = retention_app, retention_settings
    client: FlaskClient = app.test_client()
    fast = create_script(client, "fast", "print('done')\n")
    runs = [execute(client, fast["id"])["id"] for _ in range(5)]
    other = execute(client, create_script(client, "other", "print(1)\n")["id"])["id"]
    for execution_id in [*runs, other]:
        wait_final(client, execution_id)
    sleeper = create_script(client, "sleeper", HOLD)
    running = execute(client, sleeper["id"])["id"]
    wait_started(client, running)
    with app.app_context():  # a queued run held back by a far-future not_before
        script = db.session.get(Script, fast["id"])
        assert script is not None
        waiting = executions.start(script, {}, Trigger.API, not_before=utcnow() + timedelta(days=365)).id
    age(app, [runs[0], runs[1], running, waiting], days=40)
    assert all(files_of(settings, i) for i in runs)

    orphan = workspace.run_paths(settings, 99_999)
    orphan.workspace.mkdir(parents=True)
    (orphan.workspace / "out.csv").write_text("x")
    orphan.log.write_text("old log")
    orphan.control.mkdir(parents=True)
    long_ago = time.time() - 3600
    for path in (orphan.workspace, orphan.log, orphan.control):
        os.utime(path, (long_ago, long_ago))
    fresh = workspace.run_paths(settings, 99_998).workspace  # e.g. uploads moved in just before a commit
    fresh.mkdir()
    unrelated = settings.workspaces_dir / "notes"
    unrelated.mkdir()
    os.utime(unrelated, (long_ago, long_ago))

    with app.app_context():
        report = retention.sweep(settings)
        remaining = set(db.session.scalars(select(Execution.id)))
    # two older than 30 days, then the oldest of the three left beyond "newest 2 per script"
    assert report.executions == 3 and report.orphans == 1
    assert remaining == {runs[3], runs[4], other, running, waiting}
    for gone in runs[:3]:
        assert files_of(settings, gone) == []
    for kept in (runs[3], runs[4], other, running):
        assert workspace.run_paths(settings, kept).log.exists()
    assert not orphan.workspace.exists() and not orphan.log.exists() and not orphan.control.exists()
    assert unrelated.exists() and fresh.exists()
    assert wait_status(client, running, "running")["status"] == "running"

    with app.app_context():
        again = retention.sweep(settings)
    assert (again.executions, again.orphans) == (0, 0)
    client.post(f"/api/executions/{running}/cancel")
    assert wait_final(client, running)["status"] == "cancelled"


def test_the_sweep_ages_out_fire_history_and_caps_it_per_schedule(
    retention_app: Flask, retention_settings: Settings
) -> None:
    app = retention_app
    client = app.test_client()
    target = create_script(client, "fired", "print(1)\n")
    sid = client.post(
        "/api/schedules", json={"name": "h", "script_id": target["id"], "cron": "@hourly", "timezone": "UTC"}
    ).json["id"]
    now = utcnow().replace(microsecond=0)
    with app.app_context():
        rows = [
            ScheduleFire(schedule_id=sid, scheduled_for=now - timedelta(hours=h), outcome=FireOutcome.STARTED.value)
            for h in (1, 2, 3, 4)
        ]
        rows.append(
            ScheduleFire(schedule_id=sid, scheduled_for=now - timedelta(days=40), outcome=FireOutcome.SKIPPED.value)
        )
        rows.append(
            ScheduleFire(schedule_id=sid, scheduled_for=now - timedelta(days=41), outcome=FireOutcome.QUEUED.value)
        )
        db.session.add_all(rows)
        db.session.commit()
        assert retention.sweep(retention_settings).fires == 2
        left = db.session.execute(
            select(ScheduleFire.scheduled_for, ScheduleFire.outcome).order_by(ScheduleFire.scheduled_for.desc())
        ).all()
        assert db.session.get(Schedule, sid) is not None
    assert [outcome for _, outcome in left] == ["started", "started", "started", "queued"]
    assert left[0][0] == now - timedelta(hours=1)
