"""Column values read back exactly: the fast JSON reader and SQLite's datetimes through ``fromisoformat``."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import JSON, Column, Integer, MetaData, Table, create_engine, insert, select, text

from backend.database import read_json
from backend.extensions import db
from backend.models.types import UTCDateTime
from tests.conftest import AppFactory

metadata = MetaData()
things = Table(
    "things",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("at", UTCDateTime),
    Column("data", JSON),
)


@pytest.mark.parametrize(
    "value", [[], {}, None, {"a": [1, 2.5, "ü"], "b": {"c": None}}, "x", 12, 1.5, True, [[]], {"": {}}]
)
def test_a_json_value_reads_back_as_written(value: object) -> None:
    assert read_json(json.dumps(value)) == value
    assert read_json(json.dumps(value).encode()) == value  # psycopg hands bytes over


def test_an_empty_json_value_is_a_new_object_each_time() -> None:
    first = read_json("[]")
    first.append(1)
    assert read_json("[]") == []
    assert read_json(" [1] ") == [1]


def test_broken_json_raises_as_json_loads_does() -> None:
    for broken in ("[1] x", "{", "", "[1,]"):
        with pytest.raises(json.JSONDecodeError):
            read_json(broken)


def test_sqlite_datetimes_read_back_in_utc_whatever_their_text() -> None:
    engine = create_engine("sqlite://", json_deserializer=read_json)
    metadata.create_all(engine)
    stored = datetime(2026, 12, 1, 7, 45, 0, 123456, tzinfo=UTC)
    with engine.begin() as conn:
        conn.execute(insert(things).values(id=1, at=stored, data={"k": [1]}))
        conn.execute(insert(things).values(id=2, at=stored.astimezone(timezone(timedelta(hours=2))), data=[]))
        conn.execute(insert(things).values(id=3, at=None, data=None))
        for key, raw in ((4, "2026-12-01 07:45:00"), (5, "2026-12-01T07:45:00.5"), (6, "2026-12-01 09:45:00+02:00")):
            conn.execute(text("INSERT INTO things (id, at) VALUES (:id, :at)"), {"id": key, "at": raw})
        read = dict(conn.execute(select(things.c.id, things.c.at)).all())  # type: ignore[arg-type]
        data = dict(conn.execute(select(things.c.id, things.c.data)).all())  # type: ignore[arg-type]
    assert read[1] == stored and read[1].tzinfo == UTC
    assert read[2] == stored
    assert read[3] is None
    assert read[4] == datetime(2026, 12, 1, 7, 45, tzinfo=UTC)
    assert read[5] == datetime(2026, 12, 1, 7, 45, 0, 500000, tzinfo=UTC)
    assert read[6] == datetime(2026, 12, 1, 7, 45, tzinfo=UTC) and read[6].tzinfo == UTC
    assert data[1] == {"k": [1]} and data[2] == [] and data[3] is None


def test_the_app_reads_json_columns_with_the_fast_reader(make_app: AppFactory) -> None:
    app = make_app()
    with app.app_context():
        assert db.engine.dialect._json_deserializer is read_json  # type: ignore[attr-defined]
