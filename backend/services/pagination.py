"""One way to page a list: fetch one page of the query, and count the whole query when the page
cannot tell.

The count is the dearest part of a list over a big table (a filtered or searched ``COUNT`` reads
every matching row, and each query is another round trip), and it is often known without asking:
a page that holds fewer rows than ``per_page`` and is not empty is the last one, so the total is
the rows before it plus its own. Only a full page (or an empty page past the first) needs the
``COUNT``; a caller that names its count (``count_key``) has it remembered until the rows
it counts may have changed (the ``data`` change generation, ``services/changes.py``): a full
page of the runs that succeeded counted ~80,000 index entries, ~5 ms, on every request.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from flask import current_app
from sqlalchemy import Select, func, select

from backend.extensions import db
from backend.services import changes

T = TypeVar("T")
COUNTS = "scriptman.counts"  # app.extensions: count key → (data generation, total)
MAX_COUNTS = 1_024


@dataclass
class Page(Generic[T]):
    items: list[T]
    total: int
    page: int
    per_page: int


def count(query: Select[Any], key: Hashable | None = None) -> int:
    """How many rows ``query`` has; ``key``: what it counts, to remember the total under that name
    (only for a query over the tables the ``data`` generation watches)."""
    if key is None:
        return _count(query)
    generation = changes.generation("data").value()  # before the count: a change meanwhile voids it
    remembered: dict[Hashable, tuple[changes.Value, int]] = current_app.extensions.setdefault(COUNTS, {})
    hit = remembered.get(key)
    if hit is not None and hit[0] == generation:
        return hit[1]
    total = _count(query)
    if len(remembered) >= MAX_COUNTS:
        remembered.clear()
    remembered[key] = (generation, total)
    return total


def _count(query: Select[Any]) -> int:
    return db.session.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0


def paginate(
    query: Select[Any],
    *,
    page: int,
    per_page: int,
    total: int | None = None,
    count_key: Hashable | None = None,
    rows: bool = False,
) -> Page[Any]:
    """Page ``page`` (from 1) of ``query``'s rows in its order, and how many rows it has in all
    (``total``: already counted by the caller; ``count_key``: see ``count``). The items are the
    query's first entity, or with ``rows`` its whole rows (a query of columns)."""
    offset = (page - 1) * per_page
    result = db.session.execute(query.offset(offset).limit(per_page))
    items = list(result) if rows else list(result.scalars())
    if total is None:
        told = 0 < len(items) < per_page or (page == 1 and not items)  # the page itself tells the total
        total = offset + len(items) if told else count(query, count_key)
    return Page(items=items, total=total, page=page, per_page=per_page)
