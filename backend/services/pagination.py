"""One way to page a list: fetch one page of the query, and count the whole query when the page
cannot tell.

The count is the dearest part of a list over a big table (a filtered or searched ``COUNT`` reads
every matching row, and each query is another round trip), and it is often known without asking:
a page that holds fewer rows than ``per_page`` and is not empty is the last one, so the total is
the rows before it plus its own. Only a full page (or an empty page past the first) needs the
``COUNT``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import Select, func, select

from backend.extensions import db

T = TypeVar("T")


@dataclass
class Page(Generic[T]):
    items: list[T]
    total: int
    page: int
    per_page: int


def count(query: Select[Any]) -> int:
    """How many rows ``query`` has."""
    return db.session.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0


def paginate(query: Select[Any], *, page: int, per_page: int, total: int | None = None) -> Page[Any]:
    """Page ``page`` (from 1) of ``query``'s rows in its order, and how many rows it has in all
    (``total``: already counted by the caller)."""
    offset = (page - 1) * per_page
    rows = list(db.session.scalars(query.offset(offset).limit(per_page)))
    if total is None:
        total = offset + len(rows) if 0 < len(rows) < per_page or (page == 1 and not rows) else count(query)
    return Page(items=rows, total=total, page=page, per_page=per_page)
