"""The dashboard's answer is remembered between requests and never outlives a change it shows, in
the process that made the change or any other one on the same home (two apps on one home stand
for two processes: a web worker and the executor, or a Celery worker)."""

from __future__ import annotations

from flask import Flask
from sqlalchemy import delete, insert, update

from backend.config import Settings
from backend.extensions import db
from backend.models import Execution, Script, ScriptVersion
from tests.conftest import AppFactory
from tests.helpers import counting_queries


def _write(app: Flask, statement: object) -> None:
    with app.app_context():
        db.session.execute(statement)  # type: ignore[call-overload]
        db.session.commit()


def test_the_dashboard_follows_every_change_made_in_any_process(make_app: AppFactory, settings: Settings) -> None:
    web, other = make_app(settings, start=False), make_app(settings, start=False)
    _write(other, insert(Script).values(id=1, name="nightly", language="python"))
    _write(other, insert(ScriptVersion).values(script_id=1, number=1, code=""))
    client = web.test_client()
    client.get("/api/stats")
    client.get("/api/stats")  # the token is remembered too: nothing left to read
    with counting_queries(web) as seen:
        first = client.get("/api/stats").json
    assert seen == [] and first["total"] == 0 and first["scripts"] == 1

    _write(other, insert(Execution).values(id=1, script_id=1, version_number=1, trigger="manual", status="queued"))
    assert client.get("/api/stats").json["queued"] == 1
    _write(other, update(Execution).where(Execution.id == 1).values(status="running"))
    now = client.get("/api/stats").json
    assert (now["queued"], [run["id"] for run in now["running"]]) == (0, [1])
    _write(other, update(Execution).where(Execution.id == 1).values(status="failed", error="exit code 1"))
    now = client.get("/api/stats").json
    assert (now["running"], now["failed"], [run["id"] for run in now["recent_failures"]]) == ([], 1, [1])
    _write(other, update(Script).where(Script.id == 1).values(name="renamed"))
    assert client.get("/api/stats").json["recent_failures"][0]["script_name"] == "renamed"
    _write(other, delete(Execution))
    assert client.get("/api/stats").json["failed"] == 0


def test_a_change_rolled_back_keeps_the_remembered_answer(make_app: AppFactory, settings: Settings) -> None:
    web = make_app(settings, start=False)
    client = web.test_client()
    client.get("/api/stats")
    client.get("/api/stats")
    with web.app_context():
        db.session.execute(insert(Script).values(id=1, name="never", language="python"))
        db.session.rollback()
    with counting_queries(web) as seen:
        assert client.get("/api/stats").json["scripts"] == 0
    assert seen == []


def test_a_list_of_runs_shows_the_names_as_they_are_now_in_any_process(
    make_app: AppFactory, settings: Settings
) -> None:
    web, other = make_app(settings, start=False), make_app(settings, start=False)
    _write(other, insert(Script).values(id=1, name="nightly", language="python"))
    _write(other, insert(ScriptVersion).values(script_id=1, number=1, code=""))
    for run in (1, 2):
        _write(
            other, insert(Execution).values(id=run, script_id=1, version_number=1, trigger="manual", status="failed")
        )
    client = web.test_client()

    def names() -> list[str]:
        return [run["script_name"] for run in client.get("/api/executions").json["items"]]

    assert names() == ["nightly", "nightly"]
    with counting_queries(web) as seen:
        assert names() == ["nightly", "nightly"]
    assert not [statement for statement in seen if "AS kind, scripts.id" in statement]  # the names: remembered

    _write(other, update(Script).where(Script.id == 1).values(name="renamed"))
    assert names() == ["renamed", "renamed"]
    _write(other, insert(Script).values(id=2, name="newcomer", language="python"))
    _write(other, insert(ScriptVersion).values(script_id=2, number=1, code=""))
    _write(other, insert(Execution).values(id=3, script_id=2, version_number=1, trigger="manual", status="queued"))
    assert names() == ["newcomer", "renamed", "renamed"]  # a script not met yet is read
    with web.app_context():
        db.session.execute(update(Script).where(Script.id == 2).values(name="never"))
        db.session.rollback()
    assert names() == ["newcomer", "renamed", "renamed"]
