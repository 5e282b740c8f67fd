"""Fixtures: apps on temporary homes whose SQLite schema is made by the real migrations."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher
from flask import Flask
from flask.testing import FlaskClient

from backend.app import create_app
from backend.config import Settings
from backend.database import upgrade_database
from backend.extensions import db
from backend.services.auth import passwords
from backend.services.executor import sandbox
from tests.auth_client import AuthClient

Flask.test_client_class = AuthClient  # every test client is an admin unless told otherwise
# Argon2id as in production, at its lowest cost: the default (64 MiB, 3 passes) is slow on purpose,
# and every app a test builds hashes a password for its test users.
passwords._hasher = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)

AppFactory = Callable[..., Flask]
DATABASE_FILE = "scriptman.db"
KILL_GRACE_SECONDS = 0.5  # SIGTERM to SIGKILL; the tests' scripts do not trap SIGTERM
TEMPLATE: dict[str, Path] = {}  # "database": set once per session by ``migrated_template``


def make_settings(home: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "home": home,
        "max_concurrency": 2,
        "scheduler_enabled": False,
        "kill_grace_seconds": KILL_GRACE_SECONDS,
    }
    values.update(overrides)
    return Settings(**values)


def build_app(settings: Settings) -> Flask:
    """An app on ``settings`` with its schema migrated; its services are not started.

    A new home gets a copy of a database the real migrations made once per session (they only
    create tables; running them for every test was a fifth of the suite), then ``upgrade`` runs
    as on any start and finds nothing to do.
    """
    database = settings.data_dir / DATABASE_FILE
    if "database" in TEMPLATE and settings.database_url is None and not database.exists():
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(TEMPLATE["database"], database)
    app = create_app(settings, {"TESTING": True})
    upgrade_database(app)
    return app


@pytest.fixture(scope="session", autouse=True)
def migrated_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The database every ``build_app`` starts from, made by the real migrations."""
    settings = make_settings(tmp_path_factory.mktemp("template"))
    close_app(build_app(settings))  # closing the last connection folds the WAL into the file
    TEMPLATE["database"] = settings.data_dir / DATABASE_FILE
    return TEMPLATE["database"]


def close_app(app: Flask) -> None:
    """Stop the services (a no-op if they never started) and let go of the database."""
    app.extensions["scriptman.stop_services"]()
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def make_app(tmp_path: Path) -> Iterator[AppFactory]:
    """Builds apps, started unless ``start=False``, on ``settings`` or on ``tmp_path`` with overrides.

    Every app built is closed at the end of the test, the last built first.
    """
    built: list[Flask] = []

    def factory(settings: Settings | None = None, *, start: bool = True, **overrides: Any) -> Flask:
        app = build_app(settings or make_settings(tmp_path, **overrides))
        built.append(app)
        if start:
            app.extensions["scriptman.start_services"]()
        return app

    yield factory
    for app in reversed(built):
        close_app(app)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path)


@pytest.fixture
def app(settings: Settings, make_app: AppFactory) -> Flask:
    return make_app(settings)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def sandboxed(make_app: AppFactory, tmp_path: Path) -> tuple[Flask, FlaskClient, Settings]:
    """An app whose runs go through bubblewrap; skipped where bwrap cannot make a sandbox."""
    detail = sandbox.probe()
    if detail != "ok":
        pytest.skip(f"bubblewrap cannot run here: {detail}")
    settings = make_settings(tmp_path, sandbox="bwrap")
    app = make_app(settings)
    return app, app.test_client(), settings
