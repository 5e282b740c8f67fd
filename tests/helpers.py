"""Small helpers shared by test modules: create scripts, start runs, wait on status."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event

from backend.extensions import db

FINAL = {"succeeded", "failed", "timed_out", "cancelled", "interrupted"}
# A run that stays active until it is cancelled (or for SECONDS, when the script declares it).
HOLD = "import os, time\nprint('started', flush=True)\ntime.sleep(float(os.environ.get('SECONDS', '30')))\n"


def create_script(client: FlaskClient, name: str, code: str, language: str = "python", **fields: Any) -> dict:
    response = client.post("/api/scripts", json={"name": name, "language": language, "code": code, **fields})
    assert response.status_code == 201, response.json
    return response.json


def execute(client: FlaskClient, script_id: int, params: dict[str, Any] | None = None) -> dict:
    response = client.post(f"/api/scripts/{script_id}/execute", json={"params": params or {}})
    assert response.status_code == 202, response.json
    return response.json


def wait_for(predicate: Any, timeout: float = 20.0, interval: float = 0.05, message: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {message}")


def wait_final(client: FlaskClient, execution_id: int, timeout: float = 60.0) -> dict:
    def check() -> dict | None:
        body = client.get(f"/api/executions/{execution_id}").json
        return body if body["status"] in FINAL else None

    return wait_for(check, timeout, message=f"execution {execution_id} to finish")


def wait_status(client: FlaskClient, execution_id: int, status: str, timeout: float = 20.0) -> dict:
    def check() -> dict | None:
        body = client.get(f"/api/executions/{execution_id}").json
        return body if body["status"] == status else None

    return wait_for(check, timeout, message=f"execution {execution_id} to be {status}")


def log_text(client: FlaskClient, execution_id: int, settings: Any) -> str:
    path = settings.logs_dir / f"execution_{execution_id}.log"
    return path.read_text(errors="replace") if path.exists() else ""


def wait_started(client: FlaskClient, execution_id: int) -> None:
    """Wait for a ``HOLD`` run's first line.

    A ``running`` status is not enough before a cancel: the row says running while the environment
    is prepared, and a cancel that lands before the supervisor is up is not delivered to it.
    """
    settings = client.application.extensions["scriptman.settings"]
    wait_for(lambda: " out started" in log_text(client, execution_id, settings), message="the script to start")


@contextmanager
def counting_queries(app: Flask) -> Iterator[list[str]]:
    """The SQL statements the request runs inside the block: only this thread's (the test client
    serves requests on it), not the executor's or the scheduler's, which run on their own."""
    statements: list[str] = []
    here = threading.get_ident()

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if threading.get_ident() == here:
            statements.append(statement)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", record)


def server_env(settings: Any, **extra: str) -> dict[str, str]:
    """The environment for a ``scriptman`` subprocess on ``settings``' home and database."""
    env = {**os.environ, "SCRIPTMAN_HOME": str(settings.home), **extra}
    if settings.database_url:
        env["SCRIPTMAN_DATABASE_URL"] = settings.database_url
    return env


def database_dump(settings: Any) -> bytes:
    """What someone who gets hold of the database sees, to grep for values that must not be there.

    SQLite: the raw bytes of the file and its WAL (free pages and old frames included). PostgreSQL
    keeps its files out of reach, so there: every row of every table as text.
    """
    if not settings.database_url:
        return b"".join(path.read_bytes() for path in sorted(settings.data_dir.glob("scriptman.db*")) if path.is_file())
    engine = sa.create_engine(settings.database_url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as connection:
            rows = [
                str(row[0])
                for table in sa.inspect(connection).get_table_names()
                for row in connection.execute(sa.text(f'SELECT t::text FROM "{table}" t'))
            ]
    finally:
        engine.dispose()
    return "\n".join(rows).encode()


def database_rows(settings: Any, statement: str, **params: Any) -> list[Any]:
    """Rows read with plain SQL on the settings' database, beside the app (no models, no key)."""
    engine = sa.create_engine(settings.sqlalchemy_url, poolclass=sa.pool.NullPool)
    try:
        with engine.begin() as connection:
            result = connection.execute(sa.text(statement), params)
            return list(result) if result.returns_rows else []
    finally:
        engine.dispose()


# 40 lines, a wait for the file named by the GATE parameter, 60 lines: a log read across a live point
GATED_LINES = """
import os, time
for i in range(40):
    print("before", i, flush=True)
while not os.path.exists(os.environ["GATE"]):
    time.sleep(0.01)
for i in range(60):
    print("after", i, flush=True)
"""
