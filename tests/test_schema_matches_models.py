"""The schema the migrations build is the schema the models describe.

Migrations are the only way tables are made (``upgrade_database``), so a column added to a model
and forgotten in a migration would only fail at run time, on the first query that touches it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask import Flask

from backend.database import upgrade_database
from backend.extensions import db


def test_migrated_schema_has_no_difference_from_the_models(make_app: Callable[..., Flask]) -> None:
    app = make_app(start=False)
    upgrade_database(app)
    with app.app_context(), db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences: list[Any] = compare_metadata(context, db.metadata)
    assert differences == []
