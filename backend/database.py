"""Connection settings and transaction helpers that keep SQLite safe under threads.

Measured (STACK.md): without ``busy_timeout`` threads hit "database is locked"; a deferred
read-then-write transaction fails when another writer commits in between. So every SQLite
connection gets WAL + busy_timeout + foreign keys, and write paths start with
``begin_write()`` which takes the write lock up front (``BEGIN IMMEDIATE``).
"""

from __future__ import annotations

from typing import Any

from flask import Flask
from sqlalchemy import event
from sqlalchemy.engine import Engine

from backend.extensions import db

SQLITE_BUSY_TIMEOUT_MS = 5000


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    module = type(dbapi_connection).__module__
    if "sqlite" not in module:
        return
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def upgrade_database(app: Flask) -> None:
    """Apply every pending migration; the schema is created only this way (CLI, server, tests)."""
    from flask_migrate import upgrade

    with app.app_context():
        upgrade()


def is_sqlite() -> bool:
    return db.engine.dialect.name == "sqlite"


def begin_write() -> None:
    """Take SQLite's write lock now, so the reads that follow cannot go stale before the write.

    pysqlite opens no transaction for SELECTs, so this is safe to call after a request has
    already read; on other databases row locks / constraints do this job and it is a no-op.
    """
    if not is_sqlite():
        return
    connection = db.session.connection()
    raw = connection.connection.dbapi_connection
    if raw is not None and not raw.in_transaction:
        connection.exec_driver_sql("BEGIN IMMEDIATE")
