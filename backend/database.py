"""Connection settings and transaction helpers that keep SQLite safe under threads.

Measured (STACK.md): without ``busy_timeout`` threads hit "database is locked"; a deferred
read-then-write transaction fails when another writer commits in between. So every SQLite
connection gets WAL + busy_timeout + foreign keys, and write paths start with
``begin_write()`` which takes the write lock up front (``BEGIN IMMEDIATE``).
"""

from __future__ import annotations

import json
import logging
import os
from json.scanner import make_scanner
from typing import Any

from flask import Flask
from sqlalchemy import event
from sqlalchemy.engine import Engine

from backend.extensions import db

log = logging.getLogger(__name__)
SQLITE_BUSY_TIMEOUT_MS = 5000


_EMPTY_JSON: dict[str, Any] = {"[]": list, "{}": dict, "null": lambda: None}
_scan_json = make_scanner(json.JSONDecoder())  # the C scanner json.loads ends in, without its checks around


def read_json(text: str | bytes) -> Any:
    """A JSON column's text as Python: the engine's ``json_deserializer``.

    A page of 50 scripts reads ~350 JSON columns, most of them an empty list or object; ``json.loads``
    wraps its C scanner in Python (whitespace checks by regular expression), ~1 ms a page. The empty
    values are made directly and the rest scanned directly; anything unusual (leading blanks, text
    after the value) takes ``json.loads``, which also raises its usual errors.
    """
    if not isinstance(text, str):  # psycopg hands PostgreSQL's json over as bytes
        return json.loads(text)
    make = _EMPTY_JSON.get(text)
    if make is not None:
        return make()
    try:
        value, end = _scan_json(text, 0)
    except StopIteration:
        return json.loads(text)
    return value if end == len(text) else json.loads(text)


DATABASE_FILE_MODE = 0o600
SQLITE_COMPANIONS = ("", "-wal", "-shm", "-journal")


def restrict_database_files(path: str) -> None:
    """The database and its WAL/shared-memory files readable by the server's account only.

    They hold password hashes, session ids and encrypted secrets. SQLite creates the -wal and
    -shm files with the database file's mode, so making the main file 0600 before WAL mode is
    switched on covers them from the start; an older install's files are narrowed here too.
    """
    for suffix in SQLITE_COMPANIONS:
        target = path + suffix
        try:
            if os.stat(target).st_mode & 0o777 != DATABASE_FILE_MODE:
                os.chmod(target, DATABASE_FILE_MODE)
        except FileNotFoundError:
            continue
        except OSError as error:  # not ours to change (a database another account owns): say so, go on
            log.warning("could not make %s private (mode 0600): %s", target, error)


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    module = type(dbapi_connection).__module__
    if "sqlite" not in module:
        return
    cursor = dbapi_connection.cursor()
    for _seq, name, filename in cursor.execute("PRAGMA database_list").fetchall():
        if name == "main" and filename:  # "" for an in-memory database
            restrict_database_files(filename)
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def upgrade_database(app: Flask) -> None:
    """Apply every pending migration; the schema is created only this way (CLI, server, tests)."""
    from flask_migrate import upgrade

    # Alembic reports every step at INFO ("Context impl SQLiteImpl.", "Running upgrade ..."): noise
    # for someone running `scriptman db upgrade` or `scriptman run`; its warnings and errors still show.
    logging.getLogger("alembic").setLevel(logging.WARNING)
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
