"""Fixtures: an app on a temporary home whose SQLite schema is made by the real migrations."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from backend.app import create_app
from backend.cli import upgrade_database
from backend.config import Settings
from tests.auth_client import AuthClient

Flask.test_client_class = AuthClient  # every test client is an admin unless told otherwise


def make_settings(home: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "home": home,
        "max_concurrency": 2,
        "scheduler_enabled": False,
        "kill_grace_seconds": 1.0,
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path)


@pytest.fixture
def app(settings: Settings) -> Iterator[Flask]:
    app = create_app(settings, {"TESTING": True})
    upgrade_database(app)
    start = app.extensions.get("scriptman.start_services")
    if start is not None:
        start()
    yield app
    stop = app.extensions.get("scriptman.stop_services")
    if stop is not None:
        stop()
    with app.app_context():
        from backend.extensions import db

        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()
