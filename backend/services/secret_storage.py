"""Every place a secret is stored, walked row by row: key rotation and the start-up key check.

This works on the raw stored JSON (tokens), not through the models: rotation must see which key
sealed a value, and the models would only ever show the plain value. A new column that holds
secrets must be added to ``LOCATIONS`` (and encrypted by a migration of its own).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from backend.extensions import db
from backend.secretbox import (
    SEALED,
    SecretBox,
    SecretsKeyError,
    current_box,
    generate_key,
    is_sealed_default,
    map_secret_defaults,
)

if TYPE_CHECKING:
    from flask import Flask

BATCH = 500


@dataclass(frozen=True)
class Location:
    table: str
    column: str
    shape: Literal["whole", "definitions"]  # one token for the value / sealed secret defaults
    label: str


LOCATIONS = (
    Location("executions", "secret_params", "whole", "runs' secret values"),
    Location("schedules", "params", "whole", "schedules' parameter values"),
    Location("scripts", "parameters", "definitions", "scripts' secret defaults"),
    Location("script_versions", "parameters", "definitions", "versions' secret defaults"),
    Location("notification_channels", "secret_config", "whole", "notification channels' credentials"),
    Location("variables", "value", "whole", "shared variables' values"),
)


def _rows(connection: Connection, where: Location) -> Iterator[tuple[int, Any]]:
    """(id, stored JSON) in id order, a batch at a time: a big executions table is never all in memory."""
    table = sa.table(where.table, sa.column("id", sa.Integer), sa.column(where.column, sa.JSON))
    column = table.c[where.column]
    last = 0
    while True:
        query = sa.select(table.c.id, column).where(table.c.id > last).order_by(table.c.id).limit(BATCH)
        batch = connection.execute(query).all()
        if not batch:
            return
        for row_id, value in batch:
            yield int(row_id), value
        last = int(batch[-1][0])


def _update(connection: Connection, where: Location, row_id: int, value: Any) -> None:
    table = sa.table(where.table, sa.column("id", sa.Integer), sa.column(where.column, sa.JSON))
    connection.execute(sa.update(table).where(table.c.id == row_id).values({where.column: value}))


def _tokens(where: Location, value: Any) -> list[str]:
    if where.shape == "whole":
        return [value] if isinstance(value, str) else []
    if not isinstance(value, list):
        return []
    return [
        item["default"][SEALED]
        for item in value
        if isinstance(item, dict) and item.get("type") == "secret" and is_sealed_default(item.get("default"))
    ]


def reseal(connection: Connection, box: SecretBox) -> dict[str, int]:
    """Put every stored secret under the box's first key; a plain value left from before is sealed too.

    Values the first key already opens are left alone, so running it twice costs a read only.
    Returns how many values changed per location label.
    """
    counts: dict[str, int] = {}
    for where in LOCATIONS:
        changed = 0
        for row_id, value in _rows(connection, where):
            new, n = _resealed(box, where, value)
            if n:
                _update(connection, where, row_id, new)
                changed += n
        counts[where.label] = changed
    return counts


def _fresh_token(box: SecretBox, token: str) -> str | None:
    """``token`` re-encrypted under the first key, or None when the first key already opens it."""
    return None if box.primary_opens(token) else box.rotate(token)


def _resealed(box: SecretBox, where: Location, value: Any) -> tuple[Any, int]:
    """The stored value with every secret under the first key, and how many secrets changed."""
    if value is None:  # SQL NULL or JSON null: nothing secret
        return value, 0
    if where.shape == "whole":
        if not isinstance(value, str):
            return box.encrypt_json(value), 1
        token = _fresh_token(box, value)
        return (value, 0) if token is None else (token, 1)
    if not isinstance(value, list):
        return value, 0
    changes = 0

    def default(item: Any) -> Any:
        nonlocal changes
        if is_sealed_default(item):
            token = _fresh_token(box, item[SEALED])
            if token is None:
                return item
        else:
            token = box.encrypt_json(item)
        changes += 1
        return {SEALED: token}

    return map_secret_defaults(value, default), changes


def check_keys(connection: Connection, box: SecretBox, *, sample: int | None = 1) -> int:
    """Decrypt stored secrets (``sample`` per location, all with None); SecretsKeyError if one fails.

    ``scriptman serve`` calls it with a sample so a wrong or missing key stops the start with a
    clear message instead of failing later, request by request. Returns how many it opened.
    """
    opened = 0
    for where in LOCATIONS:
        seen = 0
        for _row_id, value in _rows(connection, where):
            for token in _tokens(where, value):
                box.decrypt(token)
                opened += 1
                seen += 1
            if sample is not None and seen >= sample:
                break
    return opened


def verify_key(app: Flask) -> int:
    """Refuse to serve with a key that cannot open what is stored (a wrong or lost key file).

    Decrypts one stored secret per location; without this a wrong key would show up later as
    errors on every page that loads a script, a run or a schedule.
    """
    with app.app_context():
        try:
            return check_keys(db.session.connection(), current_box())
        finally:
            db.session.remove()


@dataclass
class Rotation:
    """What ``rotate_key`` did, for the command to print."""

    source: str
    new_key_made: bool
    counts: dict[str, int] = field(default_factory=dict)
    old_keys: int = 0  # keys that no longer seal anything (removed from the key file, or removable)


def rotate_key(box: SecretBox) -> Rotation:
    """Re-encrypt every stored secret under a new key; call inside an app context.

    The key file gets the new key first while the old ones stay readable, every secret is
    re-encrypted in one transaction, and only then are the old keys dropped from the file; a second
    pass catches anything a running server sealed with an old key meanwhile (a running server
    re-reads the key file when it changes). Nothing changes when a stored secret does not open
    with the current keys. With ``SCRIPTMAN_SECRETS_KEY`` the environment cannot be rewritten: the
    operator puts a new key first, restarts, runs this, then removes the old key.
    """
    check_keys(db.session.connection(), box, sample=None)
    db.session.rollback()
    if box.from_environment:
        keys = box.keys()
        if len(keys) < 2:
            raise SecretsKeyError(
                f"the key comes from {box.source}, which this command cannot change. To rotate: set "
                f"{box.source}=<new key>,<current key> (a new key: {generate_key()}), restart Scriptman, run "
                "`scriptman rotate-secrets-key` again, then remove the old key from the variable."
            )
        return Rotation(box.source, new_key_made=False, counts=_reseal_committed(box), old_keys=len(keys) - 1)
    old = box.keys()
    new = generate_key()
    box.write_keys([new, *old])
    both = SecretBox(keys=[new, *old])  # the old keys stay readable in memory until the very end
    counts = _reseal_committed(both)
    box.write_keys([new])
    for label, late in _reseal_committed(both).items():
        counts[label] += late
    return Rotation(box.source, new_key_made=True, counts=counts, old_keys=len(old))


def _reseal_committed(box: SecretBox) -> dict[str, int]:
    """``reseal`` in one write transaction on a connection of its own, leaving no old copy behind.

    On SQLite the replaced tokens would linger in freed space and in the WAL's older frames, where
    a leaked old key could still open them: ``secure_delete`` zeroes the first, a truncating
    checkpoint empties the second.
    """
    with db.engine.connect() as connection:
        if connection.dialect.name != "sqlite":
            with connection.begin():
                return reseal(connection, box)
        connection.exec_driver_sql("PRAGMA secure_delete=ON")
        try:
            connection.exec_driver_sql("BEGIN IMMEDIATE")
            try:
                counts = reseal(connection, box)
            except BaseException:
                connection.rollback()
                raise
            connection.commit()
            connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            connection.exec_driver_sql("PRAGMA secure_delete=OFF")
            connection.commit()
        return counts
