"""Unique names: a clear 409 before the write, and the database's unique constraints at commit.

The check names the field for the form; the constraint catches the race the check cannot (two
writers choosing the same name at once), and the commit turns that into a 409 as well.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from backend.errors import Conflict
from backend.extensions import db


def ensure_unique_name(model: Any, name: str, *, exclude_id: int | None = None) -> None:
    """409 when another row of ``model`` (a Script, a Schedule: ``id`` and ``name``) has ``name``."""
    query = select(model.id).where(model.name == name)
    if exclude_id is not None:
        query = query.where(model.id != exclude_id)
    if db.session.scalar(query) is not None:
        raise Conflict(f"A {model.__name__.lower()} named {name!r} already exists.", field="name")


def commit() -> None:
    """Commit; a unique constraint broken by a concurrent write is a 409 asking to retry."""
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise Conflict("The change conflicts with another one made at the same time; retry.") from None
