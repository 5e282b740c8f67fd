"""Firing schedules: what each tick does, at exact instants, plus the real APScheduler wiring.

Most tests freeze the clock at chosen instants (``time_machine``) and call the scheduler's
``tick(now)``, which fires what is due with the same code the APScheduler jobs run (croniter
arithmetic, misfire grace, overlap policy, fire rows); the runs it queues go through the real
executor. A few tests start the real scheduler service: one per-second cron firing end to end,
leadership and fail-over, and the catch-up a leader does when it starts.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import time_machine
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, update

from backend.extensions import db
from backend.models import Execution, Schedule, ScheduleFire
from backend.models.types import utcnow
from backend.services.scheduler import SchedulerService, fire
from backend.services.scheduler.fire import fire_schedule
from tests.conftest import AppFactory
from tests.helpers import create_script, wait_final, wait_for, wait_status

EVERY_SECOND = "* * * * * *"
YEARLY = "0 0 1 1 *"
FAST = "print('tick')\n"
GATED = "import os, time\nwhile not os.path.exists(os.environ['GATE']):\n    time.sleep(0.02)\n"
T0 = datetime(2030, 3, 4, 12, 0, 0, tzinfo=UTC)
REAL_SCHEDULER = {"scheduler_enabled": True, "scheduler_lock_retry_seconds": 0.1, "scheduler_sync_seconds": 0.3}


def seconds(n: float) -> datetime:
    return T0 + timedelta(seconds=n)


def scheduler(app: Flask) -> SchedulerService:
    return app.extensions["scriptman.scheduler"]  # type: ignore[no-any-return]


def tick(app: Flask, moment: datetime) -> list[int]:
    """Fire what is due with the clock stopped at ``moment``."""
    with time_machine.travel(moment, tick=False):
        return scheduler(app).tick()


def schedule(client: FlaskClient, script_id: int, cron: str = EVERY_SECOND, **fields: Any) -> dict:
    body = {"name": f"s-{cron}-{sorted(fields)}", "script_id": script_id, "cron": cron, "timezone": "UTC", **fields}
    response = client.post("/api/schedules", json=body)
    assert response.status_code == 201, response.json
    return response.json


def schedule_at(client: FlaskClient, moment: datetime, script_id: int, cron: str = EVERY_SECOND, **fields: Any) -> int:
    with time_machine.travel(moment, tick=False):
        return int(schedule(client, script_id, cron, **fields)["id"])


def has_job(app: Flask, schedule_id: int) -> bool:
    service = scheduler(app)
    return service.scheduler is not None and service.scheduler.get_job(f"schedule-{schedule_id}") is not None


def fires(client: FlaskClient, schedule_id: int) -> list[dict]:
    """The fire history, oldest first."""
    return client.get(f"/api/schedules/{schedule_id}/fires?per_page=200").json["items"][::-1]


def at_least(count: int, history: list[dict]) -> list[dict] | None:
    return history if len(history) >= count else None


def at(body: dict, key: str) -> datetime:
    return datetime.fromisoformat(body[key])


def run_ids(app: Flask, schedule_id: int) -> list[int]:
    with app.app_context():
        ids = list(db.session.scalars(select(Execution.id).where(Execution.schedule_id == schedule_id)))
        db.session.remove()
    return sorted(ids)


def fire_over_a_held_run(client: FlaskClient, tmp_path: Path, policy: str) -> tuple[int, int, Path]:
    """Fire at 1 s a run that holds until its gate file appears, then at 2 s and 3 s while it runs.

    Returns the schedule, the held run and the gate.
    """
    app = client.application
    gate = tmp_path / "gate"
    script = create_script(client, "gated", GATED, parameters=[{"name": "GATE", "type": "string"}])
    sid = schedule_at(client, seconds(0), script["id"], params={"GATE": str(gate)}, overlap_policy=policy)
    tick(app, seconds(1))
    [held] = run_ids(app, sid)
    wait_status(client, held, "running")
    tick(app, seconds(2))
    tick(app, seconds(3))
    return sid, held, gate


# -- the real scheduler ----------------------------------------------------------------------------


def break_fires_of(monkeypatch: pytest.MonkeyPatch, schedule_id: int) -> None:
    """A bug in one schedule's fire: building its queued row raises."""
    queued_row = fire.executions.queued_row

    def queued_row_or_break(*args: Any, **kwargs: Any) -> dict[str, Any]:
        if kwargs.get("schedule_id") == schedule_id:
            raise RuntimeError("a bug in one fire")
        return queued_row(*args, **kwargs)

    monkeypatch.setattr(fire.executions, "queued_row", queued_row_or_break)


def test_a_per_second_schedule_fires_through_apscheduler_and_the_executor(make_app: AppFactory) -> None:
    app = make_app(**REAL_SCHEDULER)
    client = app.test_client()
    target = create_script(client, "ticker", FAST)
    sid = schedule(client, target["id"], cron=YEARLY)["id"]
    wait_for(lambda: has_job(app, sid), 5, message="the yearly job")
    jobs = {job.id for job in scheduler(app).scheduler.get_jobs()}
    assert jobs == {f"schedule-{sid}", "retention"}

    edited_at = utcnow()
    patched = client.patch(f"/api/schedules/{sid}", json={"cron": EVERY_SECOND}).json
    assert at(patched, "next_run_at") - edited_at <= timedelta(seconds=1)
    first = wait_for(lambda: fires(client, sid), 5, message="a fire after the edit")[0]
    assert first["outcome"] == "started" and at(first, "scheduled_for").microsecond == 0
    assert at(first, "scheduled_for") - edited_at <= timedelta(seconds=2)
    done = wait_final(client, first["execution_id"], timeout=10)
    assert done["status"] == "succeeded" and done["trigger"] == "schedule" and done["schedule_id"] == sid

    off = client.post(f"/api/schedules/{sid}/toggle").json
    assert off["enabled"] is False and off["next_run_at"] is None
    wait_for(lambda: not has_job(app, sid), 5, message="the job to go")


def test_one_instance_leads_and_the_standby_takes_the_jobs_over_when_it_stops(make_app: AppFactory) -> None:
    first, second = make_app(**REAL_SCHEDULER), make_app(**REAL_SCHEDULER)
    wait_for(lambda: scheduler(first).is_leader or scheduler(second).is_leader, 5, message="a leader")
    leader, standby = (first, second) if scheduler(first).is_leader else (second, first)
    assert not scheduler(standby).is_leader
    assert not scheduler(standby).lock.try_acquire(), "the leader's lock is exclusive"

    client = standby.test_client()  # a change made through the standby reaches the leader by its sync
    target = create_script(client, "yearly", FAST)
    created = schedule(client, target["id"], cron=YEARLY)
    wait_for(lambda: has_job(leader, created["id"]), 5, message="the leader's job")

    leader.extensions["scriptman.stop_services"]()
    wait_for(lambda: has_job(standby, created["id"]), 5, message="the standby to take over")
    assert scheduler(standby).is_leader and not scheduler(leader).is_leader
    job = scheduler(standby).scheduler.get_job(f"schedule-{created['id']}")
    assert job.next_run_time == at(created, "next_run_at")
    assert scheduler(standby).scheduler.get_job("retention") is not None


def test_a_leader_starting_after_downtime_records_what_it_missed(make_app: AppFactory) -> None:
    app = make_app(start=False, **REAL_SCHEDULER)
    client = app.test_client()
    target = create_script(client, "yearly", FAST)
    sid = schedule(client, target["id"], cron=YEARLY, misfire_grace_seconds=60)["id"]
    last_year = utcnow().replace(year=utcnow().year - 1, month=1, day=1, hour=0, minute=0, second=0, microsecond=0)
    with app.app_context():  # as if the server had been down for more than a year
        db.session.execute(update(Schedule).where(Schedule.id == sid).values(next_run_at=last_year))
        db.session.commit()
        db.session.remove()
    app.extensions["scriptman.start_services"]()

    history = wait_for(lambda: at_least(2, fires(client, sid)), 5, message="the catch-up")
    assert [f["outcome"] for f in history] == ["missed", "missed"]
    assert at(history[0], "scheduled_for") == last_year
    assert at(history[1], "scheduled_for") == last_year.replace(year=last_year.year + 1)
    assert run_ids(app, sid) == []
    assert at(client.get(f"/api/schedules/{sid}").json, "next_run_at") > utcnow()


# -- ticks at exact instants -----------------------------------------------------------------------


def test_each_tick_of_a_per_second_cron_fires_once_and_nothing_fires_between(client: FlaskClient) -> None:
    app = client.application
    target = create_script(client, "ticker", FAST)
    sid = schedule_at(client, seconds(0.5), target["id"], overlap_policy="parallel")

    assert tick(app, seconds(0.9)) == []
    assert tick(app, seconds(1)) == [sid]
    assert tick(app, seconds(1)) == [], "a tick fires once"
    assert tick(app, seconds(1.7)) == []
    assert tick(app, seconds(2.2)) == [sid]
    history = fires(client, sid)
    assert [(at(f, "scheduled_for"), f["outcome"]) for f in history] == [
        (seconds(1), "started"),
        (seconds(2), "started"),
    ]
    assert at(history[1], "fired_at") == seconds(2.2) and history[1]["detail"] is None
    assert [f["execution_id"] for f in history] == run_ids(app, sid)
    for execution_id in run_ids(app, sid):
        done = wait_final(client, execution_id)
        assert done["status"] == "succeeded" and done["trigger"] == "schedule"
    body = client.get(f"/api/schedules/{sid}").json
    assert at(body, "last_run_at") == seconds(2.2) and at(body, "next_run_at") == seconds(3)

    with time_machine.travel(seconds(2.5), tick=False):
        off = client.post(f"/api/schedules/{sid}/toggle").json
    assert off["enabled"] is False and off["next_run_at"] is None
    assert tick(app, seconds(3)) == [] and tick(app, seconds(60)) == []
    assert len(fires(client, sid)) == 2


def test_editing_the_cron_moves_the_next_fire_at_once(client: FlaskClient) -> None:
    app = client.application
    target = create_script(client, "edited", FAST)
    sid = schedule_at(client, seconds(0), target["id"], cron=YEARLY)
    assert tick(app, seconds(5)) == []

    with time_machine.travel(seconds(5.2), tick=False):
        patched = client.patch(f"/api/schedules/{sid}", json={"cron": EVERY_SECOND}).json
    assert at(patched, "next_run_at") == seconds(6)
    assert tick(app, seconds(6)) == [sid]
    [fired] = fires(client, sid)
    assert at(fired, "scheduled_for") == seconds(6) and fired["outcome"] == "started"
    wait_final(client, fired["execution_id"])


def test_skip_records_a_skip_while_the_run_is_active_and_fires_again_after(client: FlaskClient, tmp_path: Path) -> None:
    app = client.application
    sid, first, gate = fire_over_a_held_run(client, tmp_path, "skip")
    gate.touch()
    assert wait_final(client, first)["status"] == "succeeded"
    tick(app, seconds(4))

    history = fires(client, sid)
    assert [f["outcome"] for f in history] == ["started", "skipped", "skipped", "started"]
    for skip in history[1:3]:
        assert skip["detail"] == f"overlap policy skip: execution #{first} is still running"
        assert skip["execution_id"] is None
    assert run_ids(app, sid) == [first, history[3]["execution_id"]]
    assert wait_final(client, history[3]["execution_id"])["status"] == "succeeded"


def test_queue_keeps_one_waiting_fire_and_starts_it_when_the_run_ends(client: FlaskClient, tmp_path: Path) -> None:
    app = client.application
    sid, first, gate = fire_over_a_held_run(client, tmp_path, "queue")
    history = fires(client, sid)
    assert [f["outcome"] for f in history] == ["started", "queued", "skipped"]
    assert history[1]["detail"] == f"overlap policy queue: waits for execution #{first} to end"
    assert history[1]["execution_id"] is None
    assert history[2]["detail"] == "overlap policy queue: a run of this schedule is already waiting"
    assert run_ids(app, sid) == [first]

    gate.touch()
    before = wait_final(client, first)

    def released() -> dict | None:
        waited = fires(client, sid)[1]
        return waited if waited["outcome"] == "started" else None

    waited = wait_for(released, message="the waiting fire to start")
    assert waited["detail"] == "overlap policy queue: started when the previous run ended"
    assert run_ids(app, sid) == [first, waited["execution_id"]]
    after = wait_final(client, waited["execution_id"])
    assert after["status"] == "succeeded" and at(after, "started_at") >= at(before, "finished_at")


def test_a_tick_fired_again_by_a_second_leader_queues_no_second_run(make_app: AppFactory, settings: Any) -> None:
    """Two leaders for a moment (a lease overlap) both fire a tick: the unique fire row keeps it single."""
    first = make_app(settings)
    second = make_app(settings, start=False)  # a second process on the same home
    client = first.test_client()
    target = create_script(client, "once", FAST)
    sid = schedule_at(client, seconds(0), target["id"], overlap_policy="parallel")

    assert tick(first, seconds(1)) == [sid]
    with time_machine.travel(seconds(1.1), tick=False), second.app_context():
        assert fire_schedule(sid, seconds(1)) is False
        db.session.remove()
    assert tick(second, seconds(1.2)) == [], "the other process sees the tick as done"

    [fired] = fires(client, sid)
    assert run_ids(first, sid) == [fired["execution_id"]]
    wait_final(client, fired["execution_id"])


def test_after_downtime_a_schedule_catches_up_once_within_grace_or_records_a_miss(client: FlaskClient) -> None:
    app = client.application
    now = datetime(2030, 3, 10, 12, 34, 56, tzinfo=UTC)
    target = create_script(client, "catchup", FAST)
    minutely = schedule_at(client, now, target["id"], cron="* * * * *", misfire_grace_seconds=600)
    yearly = schedule_at(client, now, target["id"], cron=YEARLY, misfire_grace_seconds=60)
    down_since = datetime(2030, 3, 10, 12, 24, tzinfo=UTC)
    last_year = datetime(2029, 1, 1, tzinfo=UTC)
    with app.app_context():  # as if the server had been down for ten minutes / more than a year
        db.session.execute(update(Schedule).where(Schedule.id == minutely).values(next_run_at=down_since))
        db.session.execute(update(Schedule).where(Schedule.id == yearly).values(next_run_at=last_year))
        db.session.commit()
        db.session.remove()

    assert tick(app, now) == [yearly, minutely]
    missed, caught_up = fires(client, minutely)
    assert (missed["outcome"], at(missed, "scheduled_for")) == ("missed", down_since)
    assert missed["detail"] == (
        "10 fire(s) from 2030-03-10T12:24:00+00:00 up to 2030-03-10T12:34:00+00:00 did not run: the scheduler "
        "was not running or was stalled; a schedule catches up at most once"
    )
    assert (caught_up["outcome"], at(caught_up, "scheduled_for")) == ("started", now.replace(second=0))
    assert caught_up["detail"] == "catch-up: fired 56 s late, within the 600 s grace"
    assert run_ids(app, minutely) == [caught_up["execution_id"]]

    gap, late = fires(client, yearly)
    assert (gap["outcome"], at(gap, "scheduled_for")) == ("missed", last_year)
    assert gap["detail"].startswith("1 fire(s) from 2029-01-01T00:00:00+00:00 up to 2030-01-01T00:00:00+00:00 ")
    this_year = datetime(2030, 1, 1, tzinfo=UTC)
    assert (late["outcome"], at(late, "scheduled_for")) == ("missed", this_year)
    assert late["detail"] == (
        f"due at 2030-01-01T00:00:00+00:00 but the scheduler got to it {(now - this_year).total_seconds():.0f} s "
        "later; the misfire grace is 60 s"
    )
    assert run_ids(app, yearly) == []
    assert at(client.get(f"/api/schedules/{yearly}").json, "next_run_at") == datetime(2031, 1, 1, tzinfo=UTC)
    assert at(client.get(f"/api/schedules/{minutely}").json, "next_run_at") == now.replace(minute=35, second=0)
    wait_final(client, caught_up["execution_id"])


@pytest.mark.parametrize(
    ("created", "instants", "fired"),
    [
        # spring forward: 02:30 does not exist on 2030-03-31; it fires once, at 03:00 CEST (01:00 UTC)
        ("2030-03-30T23:00Z", ["2030-03-31T00:59:59Z", "2030-03-31T01:00Z", "2030-03-31T01:30Z"], "2030-03-31T01:00Z"),
        # fall back: 02:30 happens twice on 2030-10-27 (00:30 and 01:30 UTC); a fixed time fires at the first
        ("2030-10-26T23:00Z", ["2030-10-27T00:30Z", "2030-10-27T01:30Z"], "2030-10-27T00:30Z"),
    ],
    ids=["spring-forward", "fall-back"],
)
def test_a_fixed_time_fires_once_on_a_dst_change_day(
    client: FlaskClient, created: str, instants: list[str], fired: str
) -> None:
    app = client.application
    target = create_script(client, "nightly", FAST)
    sid = schedule_at(
        client, datetime.fromisoformat(created), target["id"], cron="30 2 * * *", timezone="Europe/Berlin"
    )
    for instant in instants:
        tick(app, datetime.fromisoformat(instant))
    [only] = fires(client, sid)
    assert at(only, "scheduled_for") == datetime.fromisoformat(fired) and only["outcome"] == "started"
    wait_final(client, only["execution_id"])


# -- many schedules due at one tick ----------------------------------------------------------------


def fires_by_schedule(app: Flask) -> dict[int, list[tuple[datetime, str, int | None]]]:
    """Every fire row, per schedule: (tick, outcome, run)."""
    with app.app_context():
        rows = db.session.execute(
            select(
                ScheduleFire.schedule_id, ScheduleFire.scheduled_for, ScheduleFire.outcome, ScheduleFire.execution_id
            )
        ).all()
        db.session.remove()
    history: dict[int, list[tuple[datetime, str, int | None]]] = {}
    for sid, scheduled_for, outcome, execution_id in rows:
        history.setdefault(int(sid), []).append((scheduled_for, outcome, execution_id))
    return history


def test_many_schedules_due_at_one_tick_fire_once_each_around_a_paused_and_a_deleted_one(
    client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = client.application
    monkeypatch.setattr(fire, "BATCH_SIZE", 4)  # 14 due fires: four write transactions
    target = create_script(client, "many", FAST)
    sids = [
        schedule_at(client, seconds(0), target["id"], name=f"many-{i}", overlap_policy="parallel") for i in range(14)
    ]
    paused = schedule_at(client, seconds(0), target["id"], name="paused", overlap_policy="parallel")
    deleted = schedule_at(client, seconds(0), target["id"], name="deleted", overlap_policy="parallel")
    with time_machine.travel(seconds(0.5), tick=False):
        assert client.post(f"/api/schedules/{paused}/toggle").json["enabled"] is False
        assert client.delete(f"/api/schedules/{deleted}").status_code == 204

    assert tick(app, seconds(1)) == sids
    assert tick(app, seconds(1)) == [], "a tick fires once"
    history = fires_by_schedule(app)
    assert set(history) == set(sids)
    for sid in sids:
        [(scheduled_for, outcome, execution_id)] = history[sid]
        assert (scheduled_for, outcome) == (seconds(1), "started")
        assert run_ids(app, sid) == [execution_id]
        body = client.get(f"/api/schedules/{sid}").json
        assert at(body, "last_run_at") == seconds(1) and at(body, "next_run_at") == seconds(2)
        assert body["last_status"] is not None
    for sid in sids:
        assert wait_final(client, history[sid][0][2])["status"] == "succeeded"


def test_a_fire_that_fails_or_is_already_recorded_does_not_stop_the_rest_of_its_batch(
    client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = client.application
    target = create_script(client, "batch", FAST)
    sids = [
        schedule_at(client, seconds(0), target["id"], name=f"batch-{i}", overlap_policy="parallel") for i in range(6)
    ]
    duplicate, broken, paused, gone = sids[1], sids[3], sids[4], 10_000
    with app.app_context():  # another leader already fired this one's tick (the unique row is the backstop)
        db.session.add(ScheduleFire(schedule_id=duplicate, scheduled_for=seconds(1), outcome="started"))
        db.session.execute(update(Schedule).where(Schedule.id == paused).values(enabled=False))
        db.session.commit()
        db.session.remove()
    break_fires_of(monkeypatch, broken)
    with time_machine.travel(seconds(1), tick=False), app.app_context():
        results = fire.fire_due([(sid, seconds(1)) for sid in [*sids, gone]])
        db.session.remove()

    assert results[:3] == [True, False, True] and results[4:] == [False, True, False]
    assert isinstance(results[3], RuntimeError)
    history = fires_by_schedule(app)
    healthy = [sids[0], sids[2], sids[5]]
    for sid in healthy:
        [(_tick, outcome, execution_id)] = history[sid]
        assert outcome == "started" and run_ids(app, sid) == [execution_id]
    assert [outcome for _tick, outcome, _run in history[duplicate]] == ["started"]  # the earlier row only
    assert run_ids(app, duplicate) == []
    assert broken not in history and paused not in history and run_ids(app, broken) == []
    broken_body = client.get(f"/api/schedules/{broken}").json
    assert at(broken_body, "next_run_at") == seconds(1), "not advanced: the next tick records the gap"
    for sid in healthy:
        assert wait_final(client, history[sid][0][2])["status"] == "succeeded"


def test_schedules_due_together_fire_once_per_tick_through_apscheduler(make_app: AppFactory, tmp_path: Path) -> None:
    app = make_app(**REAL_SCHEDULER)
    client = app.test_client()
    gate = tmp_path / "gate"
    target = create_script(client, "gated", GATED, parameters=[{"name": "GATE", "type": "string"}])
    sids = [
        schedule(client, target["id"], name=f"together-{i}", params={"GATE": str(gate)}, overlap_policy="skip")["id"]
        for i in range(8)
    ]
    for sid in sids:
        wait_for(lambda sid=sid: at_least(3, fires(client, sid)), 10, message=f"three ticks of schedule {sid}")
    for sid in sids:
        assert client.post(f"/api/schedules/{sid}/toggle").json["enabled"] is False
    wait_for(lambda: all(not has_job(app, sid) for sid in sids), 5, message="the jobs to go")

    gate.touch()
    for sid in sids:
        history = fires(client, sid)
        ticks = [f["scheduled_for"] for f in history]
        assert len(ticks) == len(set(ticks)), "no tick fires twice"
        assert [f["outcome"] for f in history if f["outcome"] == "started"] == ["started"]
        assert {f["outcome"] for f in history} <= {"started", "skipped", "missed"}
        [run] = run_ids(app, sid)
        assert wait_final(client, run)["status"] == "succeeded"


def test_a_fire_that_fails_while_its_batch_is_decided_is_left_out_and_the_rest_is_written_together(
    client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = client.application
    target = create_script(client, "decided", FAST)
    sids = [
        schedule_at(client, seconds(0), target["id"], name=f"decided-{i}", overlap_policy="parallel") for i in range(4)
    ]
    broken = sids[2]
    break_fires_of(monkeypatch, broken)
    monkeypatch.setattr(fire, "_fire_in_savepoint", None)  # no fallback needed: the batch itself commits
    with time_machine.travel(seconds(1), tick=False), app.app_context():
        results = fire.fire_due([(sid, seconds(1)) for sid in sids])
        db.session.remove()

    assert results[:2] == [True, True] and results[3] is True and isinstance(results[2], RuntimeError)
    history = fires_by_schedule(app)
    assert broken not in history and run_ids(app, broken) == []
    for sid in (sids[0], sids[1], sids[3]):
        [(_tick, outcome, execution_id)] = history[sid]
        assert outcome == "started" and run_ids(app, sid) == [execution_id]
        assert wait_final(client, execution_id)["status"] == "succeeded"
