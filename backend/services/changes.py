"""Change generations: how a process knows that what it remembered from the database is stale,
whichever process (web worker, executor, Celery worker, CLI) made the change.

A generation is a small file in ``data/`` that every commit changing one of its watched tables
appends a byte to; a reader compares its size and inode (one ``stat``) with the value it read
*before* the rows it remembered. Every write goes through ``db.session``, so the session events
below see them all: ORM flushes (new, changed, deleted rows) and bulk ``insert``/``update``/
``delete`` statements; a transaction rolled back changes nothing.

- ``auth``: users, sessions, tokens changed or deleted (``services/auth/cache.py``). A new
  session or token revokes nothing and does not count.
- ``data``: runs, scripts (and their tags), schedules or users added, changed or deleted: the
  dashboard's answer (``services/stats.py``) and the totals of lists (``services/pagination.py``).
- ``names``: scripts or users changed or deleted (a rename, a delete): the names a list of runs
  shows (``services/executions.display_names``). A new one is simply not remembered yet.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path
from typing import Any

from flask import current_app, has_app_context
from sqlalchemy import event
from sqlalchemy.orm import ORMExecuteState, Session, UOWTransaction

log = logging.getLogger(__name__)
GENERATION_LIMIT = 65_536  # bytes: then the file is replaced (a new inode: still a new generation)
CHANGED = "scriptman.changed_tables"  # Session.info: tables with changed or deleted rows
ADDED = "scriptman.added_tables"  # Session.info: tables with new rows
# generation → (tables whose changed or deleted rows count, tables whose new rows count too)
WATCHED: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "auth": (frozenset({"users", "user_sessions", "api_tokens"}), frozenset()),
    "data": (
        frozenset({"executions", "scripts", "script_tags", "schedules", "users"}),
        frozenset({"executions", "scripts", "script_tags", "schedules", "users"}),
    ),
    "names": (frozenset({"scripts", "users"}), frozenset()),
}
EXTENSION = "scriptman.generations"

Value = tuple[int, int]


class Generation:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    def value(self) -> Value:
        try:
            stat = os.stat(self.path)
        except FileNotFoundError:
            return (0, 0)
        return (stat.st_ino, stat.st_size)

    def bump(self) -> None:
        """What was read before now is stale, in every process on this home.

        Called after a commit: it never raises (the change is done), it logs. A file it may not
        append to (made by another account, e.g. the CLI run as root) is replaced: a new inode.
        """
        with self._lock:
            try:
                try:
                    if os.stat(self.path).st_size < GENERATION_LIMIT:
                        self._append()
                        return
                except (FileNotFoundError, PermissionError):
                    if not self.path.exists():
                        self._append()
                        return
                self._replace()
            except OSError:
                log.exception(
                    "could not move the change generation %s on: other processes may answer stale reads", self.path
                )

    def _append(self) -> None:
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, b".")
        finally:
            os.close(fd)

    def _replace(self) -> None:
        fresh = self.path.with_name(f".{self.path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        fresh.write_bytes(b".")
        os.replace(fresh, self.path)


def generation(name: str) -> Generation:
    """The active app's generation ``name`` (one set per app: the tests hold apps with different homes)."""
    found: dict[str, Generation] | None = current_app.extensions.get(EXTENSION)
    if found is None:
        data_dir = current_app.extensions["scriptman.settings"].data_dir
        found = current_app.extensions.setdefault(
            EXTENSION, {key: Generation(data_dir / f"{key}.generation") for key in WATCHED}
        )
    return found[name]


def _note(session: Session, key: str, table: Any) -> None:
    name = getattr(table, "name", None)
    if name is not None:
        session.info.setdefault(key, set()).add(name)


@event.listens_for(Session, "after_flush")
def _flushed(session: Session, _context: UOWTransaction) -> None:
    # after_flush still shows the flushed objects as new / dirty / deleted
    for obj in session.new:
        _note(session, ADDED, getattr(obj, "__table__", None))
    for obj in (*session.dirty, *session.deleted):
        _note(session, CHANGED, getattr(obj, "__table__", None))


@event.listens_for(Session, "do_orm_execute")
def _bulk(state: ORMExecuteState) -> None:
    if state.is_update or state.is_delete:
        _note(state.session, CHANGED, getattr(state.statement, "table", None))
    elif state.is_insert:
        _note(state.session, ADDED, getattr(state.statement, "table", None))


@event.listens_for(Session, "after_commit")
def _committed(session: Session) -> None:
    changed: set[str] = session.info.pop(CHANGED, set())
    added: set[str] = session.info.pop(ADDED, set())
    if not (changed or added) or not has_app_context():
        return
    for name, (on_change, on_add) in WATCHED.items():
        if changed & on_change or added & on_add:
            generation(name).bump()


@event.listens_for(Session, "after_rollback")
def _rolled_back(session: Session) -> None:
    session.info.pop(CHANGED, None)
    session.info.pop(ADDED, None)
