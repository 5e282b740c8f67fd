"""One way to page a list: count the whole query, then fetch one page of it."""

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


def paginate(query: Select[Any], *, page: int, per_page: int) -> Page[Any]:
    """Page ``page`` (from 1) of ``query``'s rows in its order, and how many rows it has in all."""
    total = db.session.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0
    rows = db.session.scalars(query.offset((page - 1) * per_page).limit(per_page))
    return Page(items=list(rows), total=total, page=page, per_page=per_page)
