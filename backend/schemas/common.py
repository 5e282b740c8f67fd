"""Shapes shared by several resources, and the base every response body is built on."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, Any, Generic, Protocol, Self, TypeVar

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, Strict, WithJsonSchema

MAX_PER_PAGE = 200
# Ids and version numbers are INTEGER columns: 32 bits on PostgreSQL (64 on SQLite), so a larger
# one in a request is refused as invalid (422) on both, instead of failing in the database (500).
ID_MAX = 2**31 - 1
T = TypeVar("T")

# ``datetime.isoformat()``: "2026-01-31T12:00:00.123456+00:00" (pydantic alone would write "Z"); a
# schedule preview keeps its zone's offset. The web app and API clients parse this form.
Timestamp = Annotated[
    datetime,
    PlainSerializer(datetime.isoformat, return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]
# Request bodies are strict, and in strict mode a StrEnum field takes only enum members; JSON has
# none, so such a field takes the member's value (and nothing else).
ByValue = Annotated[T, Strict(False)]


class StrictBody(BaseModel):
    """Request bodies: unknown fields and silent type coercion are both errors."""

    model_config = ConfigDict(extra="forbid", strict=True)


class QueryModel(BaseModel):
    """A query string's model. flask-openapi3 asks it for its JSON schema on every request it
    validates (to find list fields): building that schema was 1-2 ms, a fifth of a list request's
    CPU. The argument-less form, the one it asks for, is built once per class; the OpenAPI document
    passes arguments and gets a fresh one. Callers read the cached schema, never change it."""

    @classmethod
    def model_json_schema(cls, *args: Any, **kwargs: Any) -> dict[str, Any]:
        if args or kwargs:
            return super().model_json_schema(*args, **kwargs)
        cached = _QUERY_SCHEMAS.get(cls)
        if cached is None:
            cached = _QUERY_SCHEMAS[cls] = super().model_json_schema()
        return cached


_QUERY_SCHEMAS: dict[type[QueryModel], dict[str, Any]] = {}


class PageQuery(QueryModel):
    page: int = Field(default=1, ge=1, le=1_000_000)
    per_page: int = Field(default=50, ge=1, le=MAX_PER_PAGE)


_MISSING = object()


class ResponseModel(BaseModel):
    """A response body, read from a row's attributes; the handler sends ``model_dump(mode="json")``.

    ``Model.model_validate(row)`` when every field is an attribute of the row; ``Model.of(row, ...)``
    when some are not (looked up elsewhere, renamed, or masked).
    """

    model_config = ConfigDict(from_attributes=True)

    @classmethod
    def of(cls, row: object, **computed: Any) -> Self:
        """The fields ``computed`` gives, the others from ``row``'s attributes of the same name."""
        values = {}
        for name in cls.model_fields:
            if name not in computed:
                value = getattr(row, name, _MISSING)  # once, not hasattr and then getattr: ~2,500 a page
                if value is not _MISSING:
                    values[name] = value
        return cls.model_validate({**values, **computed})


class ItemList(BaseModel, Generic[T]):
    """A whole list, wrapped in an object (room to grow without breaking clients)."""

    items: list[T]
    total: int

    @classmethod
    def of_items(cls, items: Sequence[T]) -> Self:
        return cls(items=list(items), total=len(items))


class PageCounts(Protocol):
    """What a page of a list knows besides its items (``backend.services.pagination.Page``)."""

    total: int
    page: int
    per_page: int


class PageOut(ItemList[T], Generic[T]):
    """One page of a longer list: ``total`` counts every item, ``items`` holds those of ``page``."""

    page: int
    per_page: int

    @classmethod
    def of_page(cls, page: PageCounts, items: Sequence[T]) -> Self:
        return cls(items=list(items), total=page.total, page=page.page, per_page=page.per_page)


class Problem(BaseModel):
    """RFC 9457 problem details."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    field: str | None = None
    errors: list[dict[str, Any]] | None = None
