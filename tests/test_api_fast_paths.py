"""The read paths made cheaper for issue 16 answer exactly what a direct computation answers.

Lists skip their COUNT when the page itself tells the total, the text search reads errors from a
partial index, the dashboard's per-day counts read an index, newest runs are found per script and
per schedule, a request's session or token is read with its user in one query, and the session
cookie is renewed when the server-side session is (not on every response). Rows are written
directly (a history of a few hundred runs over several days), then every answer is compared with
the same question put to the rows in Python.
"""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import delete, insert, select, update

from backend.extensions import db
from backend.models import Execution, Schedule, Script, ScriptVersion
from backend.services import executions as executions_service
from backend.services.auth import sessions
from tests.auth_client import token_for
from tests.conftest import AppFactory
from tests.helpers import counting_queries

STATUSES = ["succeeded", "succeeded", "succeeded", "failed", "timed_out", "cancelled", "interrupted", "queued"]
NAMES = ["nightly-backup", "report_sales", "sync 100%", "cleanup", "Invoice-Export"]
ERRORS = [None, None, "exit code 1", "KeyError: 'customer_id'", "disk 100% full", "timed out"]


@pytest.fixture
def app(make_app: AppFactory) -> Flask:
    return make_app(start=False)  # no executor: the rows below are the whole history


@pytest.fixture
def history(app: Flask) -> list[dict[str, Any]]:
    """~300 runs of 5 scripts over 10 days, some fired by 2 schedules, some retried (superseded)."""
    rng = random.Random(16)
    now = datetime.now(UTC).replace(tzinfo=None)
    rows: list[dict[str, Any]] = []
    with app.app_context():
        db.session.execute(
            insert(Script), [{"id": i, "name": name, "language": "python"} for i, name in enumerate(NAMES, 1)]
        )
        db.session.execute(insert(ScriptVersion), [{"script_id": i, "number": 1, "code": ""} for i in range(1, 6)])
        db.session.execute(
            insert(Schedule),
            [{"id": i, "name": f"s{i}", "script_id": i, "cron": "* * * * *", "params": {}} for i in (1, 2, 3)],
        )
        for number in range(1, 301):
            status = rng.choice(STATUSES)
            script_id = rng.randint(1, 5)
            rows.append(
                {
                    "id": number,
                    "script_id": script_id,
                    "schedule_id": script_id if script_id <= 2 and number % 2 else None,
                    "version_number": 1,
                    "trigger": "schedule" if number % 2 else "manual",
                    "params": {},
                    "secret_params": {},
                    "status": status,
                    "error": rng.choice(ERRORS) if status in ("failed", "timed_out") else None,
                    # ids grow with time, as the server hands them out; a few at midnight exactly
                    "queued_at": now - timedelta(days=10) + timedelta(seconds=number * 2880),
                    "variables": [],
                }
            )
        for row in rows[::37]:
            row["queued_at"] = row["queued_at"].replace(hour=0, minute=0, second=0, microsecond=0)
        db.session.execute(insert(Execution), rows)
        # a failed attempt retried later: superseded, counted by its retry only
        for first, retry in ((10, 11), (40, 41), (299, 300)):
            db.session.execute(update(Execution).where(Execution.id == first).values(next_attempt_id=retry))
        db.session.commit()
    return rows


def _direct(app: Flask) -> list[Execution]:
    with app.app_context():
        found = list(db.session.scalars(select(Execution).order_by(Execution.id.desc())))
        db.session.expunge_all()
        return found


def _ids(client: FlaskClient, query: str) -> tuple[list[int], int]:
    body = client.get(f"/api/executions?{query}").json
    return [item["id"] for item in body["items"]], body["total"]


@pytest.mark.usefixtures("history")
@pytest.mark.parametrize("few_matches", [0, 1_000], ids=["search-walks-newest-first", "search-reads-indexes"])
def test_every_page_and_total_of_a_filtered_list_equal_the_direct_answer(
    app: Flask, client: FlaskClient, monkeypatch: pytest.MonkeyPatch, few_matches: int
) -> None:
    monkeypatch.setattr(executions_service, "FEW_MATCHES", few_matches)  # both ways a search is paged
    runs = _direct(app)
    names = dict(enumerate(NAMES, 1))
    cases: dict[str, Any] = {
        "": lambda r: True,
        "status=failed": lambda r: r.status == "failed",
        "script_id=3": lambda r: r.script_id == 3,
        "q=backup": lambda r: "backup" in names[r.script_id],
        "q=100%25": lambda r: "100%" in names[r.script_id] or "100%" in (r.error or ""),
        "q=customer": lambda r: "customer" in (r.error or ""),
        "q=export": lambda r: "export" in names[r.script_id].lower(),
        "q=%23123": lambda r: r.id == 123,
        "q=nothing-matches": lambda r: False,
        "status=timed_out&q=timed": lambda r: r.status == "timed_out" and "timed" in (r.error or ""),
    }
    for query, keep in cases.items():
        expected = [r.id for r in runs if keep(r)]
        for per_page in (7, 50, 100):
            pages = -(-len(expected) // per_page) + 1  # and one page past the end
            for page in range(1, pages + 1):
                ids, total = _ids(client, f"{query}&per_page={per_page}&page={page}")
                assert total == len(expected), (query, per_page, page)
                assert ids == expected[(page - 1) * per_page : page * per_page], (query, per_page, page)


@pytest.mark.usefixtures("history")
def test_a_page_that_tells_its_total_runs_no_count(app: Flask, client: FlaskClient) -> None:
    client.get("/api/executions?script_id=1")  # the token's first-use write is not what is measured
    client.get("/api/executions?script_id=1")  # this read remembers the token (services/auth/cache.py)
    with counting_queries(app) as partial:
        assert len(client.get("/api/executions?script_id=1&per_page=100").json["items"]) < 100
    with counting_queries(app) as full:
        total = client.get("/api/executions?script_id=2&per_page=5").json["total"]
    assert total > 5
    counts = [s for s in partial if "count(" in s.lower()]
    assert counts == []
    # the count, and nothing else, is added (besides the names of a script this process had not met)
    full = [s for s in full if "AS kind, scripts.id" not in s]
    assert len(full) == len(partial) + 1
    with counting_queries(app) as again:  # the total is remembered while no run changes
        assert client.get("/api/executions?script_id=2&per_page=5&page=2").json["total"] == total
    assert len(again) == len(partial)
    moved = [run.id for run in _direct(app) if run.script_id == 2][:3]
    with app.app_context():  # another script's now: the remembered total must not be answered
        db.session.execute(update(Execution).where(Execution.id.in_(moved)).values(script_id=1))
        db.session.commit()
    fewer = client.get("/api/executions?script_id=2&per_page=5").json["total"]
    assert fewer == len([run for run in _direct(app) if run.script_id == 2])
    assert fewer == total - 3
    # the page (1) and runs started by these (1); the token and the names (met before) are remembered
    assert len(partial) == 2


@pytest.mark.usefixtures("history")
def test_a_run_is_shown_without_reading_its_secret_values(app: Flask, client: FlaskClient) -> None:
    client.get("/api/executions/5")
    with counting_queries(app) as seen:
        body = client.get("/api/executions/5").json
    assert body["id"] == 5 and body["script_name"] == NAMES[body["script_id"] - 1]
    assert not any("secret_params" in statement for statement in seen)
    with counting_queries(app) as listed:
        assert client.get("/api/executions").status_code == 200
    rows_read = [statement for statement in listed if "count(*)" not in statement]  # a count decrypts nothing
    assert not any("secret_params" in statement for statement in rows_read)


def _expected_days(runs: list[Execution], days: int) -> list[dict[str, Any]]:
    today = datetime.now(UTC).date()
    labels = [(today - timedelta(days=days - 1 - i)).isoformat() for i in range(days)]
    counted: dict[str, Counter[str]] = {label: Counter() for label in labels}
    for run in runs:
        day = run.queued_at.date().isoformat()
        if run.next_attempt_id is not None or day not in counted:
            continue
        bucket = {"succeeded": "succeeded", "failed": "failed", "timed_out": "failed"}.get(run.status, "other")
        counted[day][bucket] += 1
    return [{"date": label, **{k: counted[label][k] for k in ("succeeded", "failed", "other")}} for label in labels]


@pytest.mark.usefixtures("history")
def test_the_dashboard_numbers_equal_the_direct_computation_after_changes(app: Flask, client: FlaskClient) -> None:
    def check(active_schedules: int) -> None:
        runs = _direct(app)
        for days in (1, 3, 11, 30):
            body = client.get(f"/api/stats?days={days}").json
            expected = _expected_days(runs, days)
            assert body["days"] == expected, days
            assert body["succeeded"] == sum(d["succeeded"] for d in expected)
            assert body["failed"] == sum(d["failed"] for d in expected)
            assert body["total"] == sum(d["succeeded"] + d["failed"] + d["other"] for d in expected)
        failed = [r.id for r in runs if r.status in ("failed", "timed_out") and r.next_attempt_id is None]
        assert [f["id"] for f in body["recent_failures"]] == failed[:10]
        assert body["queued"] == sum(r.status == "queued" for r in runs)
        assert (body["scripts"], body["schedules"], body["active_schedules"]) == (5, 3, active_schedules)

    check(3)
    with app.app_context():  # a status changes, a retry supersedes, runs are deleted (as retention does)
        db.session.execute(update(Execution).where(Execution.id == 299).values(status="succeeded"))
        db.session.execute(update(Execution).where(Execution.id == 200).values(next_attempt_id=201))
        db.session.execute(delete(Execution).where(Execution.id < 60))
        db.session.execute(update(Schedule).where(Schedule.id == 2).values(enabled=False))
        db.session.commit()
    check(2)


@pytest.mark.usefixtures("history")
def test_scripts_and_schedules_show_their_newest_run(app: Flask, client: FlaskClient) -> None:
    runs = _direct(app)
    newest_of_script = {}
    newest_of_schedule = {}
    for run in reversed(runs):  # oldest first: the last one written wins
        newest_of_script[run.script_id] = run
        if run.schedule_id:
            newest_of_schedule[run.schedule_id] = run
    scripts = client.get("/api/scripts").json["items"]
    assert {s["id"]: s["last_run"]["id"] for s in scripts} == {k: v.id for k, v in newest_of_script.items()}
    assert all(s["last_run"]["status"] == newest_of_script[s["id"]].status for s in scripts)
    schedules = client.get("/api/schedules").json["items"]
    assert {s["id"]: s["last_status"] for s in schedules} == {
        1: newest_of_schedule[1].status,
        2: newest_of_schedule[2].status,
        3: None,  # never fired: the stored column, empty
    }


def test_a_session_is_read_in_one_query_and_its_cookie_renewed_when_it_is_touched(app: Flask) -> None:
    token_for(app, "viewer")  # creates test-viewer
    browser = app.test_client(role=None)
    start = datetime(2031, 3, 1, 12, 0, tzinfo=UTC)
    with time_machine.travel(start, tick=False) as clock:
        assert (
            browser.post("/api/auth/login", json={"username": "test-viewer", "password": "test-password"}).status_code
            == 200
        )
        with counting_queries(app) as seen:
            quiet = browser.get("/api/auth/me")
        assert quiet.status_code == 200 and "Set-Cookie" not in quiet.headers
        assert len(seen) == 1  # the session with its user
        clock.shift(sessions.TOUCH_INTERVAL + timedelta(seconds=1))
        renewed = browser.get("/api/auth/me")
        assert renewed.status_code == 200
        cookie = renewed.headers["Set-Cookie"]
        expires = datetime.strptime(cookie.split("Expires=")[1].split(";")[0], "%a, %d %b %Y %H:%M:%S GMT")
        later = start + sessions.TOUCH_INTERVAL + timedelta(days=sessions.SESSION_IDLE_DAYS)
        assert abs(expires.replace(tzinfo=UTC) - later) <= timedelta(seconds=2)
        assert "Set-Cookie" not in browser.get("/api/auth/me").headers  # touched just now
        clock.shift(timedelta(days=sessions.SESSION_IDLE_DAYS + 1))  # idle too long: the session is over
        assert browser.get("/api/auth/me").status_code == 401


def test_a_token_is_read_with_its_user_in_one_query(app: Flask, client: FlaskClient) -> None:
    client.get("/api/auth/me")  # its first use writes last_used_at
    with counting_queries(app) as seen:
        assert client.get("/api/auth/me").status_code == 200
    assert len(seen) == 1
    user_gone = app.test_client(role="viewer")
    user_gone.get("/api/auth/me")
    with app.app_context():
        from backend.models import User

        db.session.execute(update(User).where(User.username == "test-viewer").values(active=False))
        db.session.commit()
    assert user_gone.get("/api/auth/me").status_code == 401
