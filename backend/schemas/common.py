"""Shapes shared by several resources."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

MAX_PER_PAGE = 200


class StrictBody(BaseModel):
    """Request bodies: unknown fields and silent type coercion are both errors."""

    model_config = ConfigDict(extra="forbid", strict=True)


class PageQuery(BaseModel):
    page: int = Field(default=1, ge=1, le=1_000_000)
    per_page: int = Field(default=50, ge=1, le=MAX_PER_PAGE)


class Problem(BaseModel):
    """RFC 9457 problem details."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    field: str | None = None
    errors: list[dict[str, Any]] | None = None


class Message(BaseModel):
    message: str
