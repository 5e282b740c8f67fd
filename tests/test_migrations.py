"""Every migration goes up and comes back down on an empty database, on SQLite and on PostgreSQL.

The other tests start from a copy of a database migrated once per session; this one runs the
chain itself, from nothing (``make test`` runs it on both databases), so a migration that only
works on one dialect, or whose downgrade leaves something behind, fails here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade

from backend.app import create_app
from backend.extensions import db
from tests.conftest import TEST_DATABASE_URL, close_app, make_settings, new_postgres_database


def test_the_migrations_go_up_down_and_up_again_from_an_empty_database(tmp_path: Path) -> None:
    url = new_postgres_database(TEST_DATABASE_URL) if TEST_DATABASE_URL else None
    app = create_app(make_settings(tmp_path, database_url=url), {"TESTING": True})
    try:
        with app.app_context():
            upgrade()
            assert schema_differences() == []
            downgrade(revision="base")
            assert set(sa.inspect(db.engine).get_table_names()) <= {"alembic_version"}
            upgrade()
            assert schema_differences() == []
    finally:
        close_app(app)


def schema_differences() -> list[Any]:
    with db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, db.metadata))
