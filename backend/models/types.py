"""Column types shared by the models."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """Stores naive UTC, returns aware UTC: SQLite keeps no offset, and mixing both kinds breaks compares."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

    def result_processor(self, dialect: Any, coltype: Any) -> Any:
        fallback = super().result_processor(dialect, coltype)
        if dialect.name != "sqlite" or fallback is None:
            return fallback

        def read(value: str | datetime | None) -> datetime | None:
            # SQLite keeps text ("2026-12-01 07:45:00.123456"): ``fromisoformat`` reads it in C where the
            # dialect's regular expression cost ~0.5 ms for a page of 50 runs (3 times per row)
            if isinstance(value, str):
                try:
                    return self.process_result_value(datetime.fromisoformat(value), dialect)
                except ValueError:
                    pass  # a form fromisoformat does not read: the dialect's way
            return fallback(value)

        return read


def utcnow() -> datetime:
    return datetime.now(UTC)
