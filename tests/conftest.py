"""Fixtures: apps on temporary homes whose SQLite schema is made by the real migrations."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
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
# Set (by `make test`'s second pass, through ``python -m tests.servers postgres``) to a PostgreSQL
# server's URL: every settings object then gets a fresh database on it, copied from one migrated template.
TEST_DATABASE_URL = os.environ.get("SCRIPTMAN_TEST_DATABASE_URL")
POSTGRES_TEMPLATE = "scriptman_template"
POSTGRES_BY_HOME: dict[Path, str] = {}
KILL_GRACE_SECONDS = 0.5  # SIGTERM to SIGKILL; the tests' scripts do not trap SIGTERM
RETIRED_POOLS: list[sa.pool.Pool] = []  # see close_app
RETIRED_POOLS_KEPT = 60
TEMPLATE: dict[str, Path] = {}  # "database": set once per session by ``migrated_template``


def make_settings(home: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "home": home,
        "max_concurrency": 2,
        "scheduler_enabled": False,
        "kill_grace_seconds": KILL_GRACE_SECONDS,
    }
    values.update(overrides)
    if TEST_DATABASE_URL and "database_url" not in overrides and "database" in TEMPLATE:
        # one database per home, as a SQLite file is: an app rebuilt on the same home finds its data
        key = Path(home).resolve()
        if key not in POSTGRES_BY_HOME:
            POSTGRES_BY_HOME[key] = new_postgres_database(TEST_DATABASE_URL, template=POSTGRES_TEMPLATE)
        values["database_url"] = POSTGRES_BY_HOME[key]
    return Settings(**values)


def copy_home_database(source: Path, target: Path) -> None:
    """``target``'s home gets a copy of ``source``'s database, as copying the home's folder gives
    SQLite (its file is in the folder); on PostgreSQL a database made from ``source``'s as template."""
    key = Path(source).resolve()
    if TEST_DATABASE_URL and key in POSTGRES_BY_HOME:
        template = POSTGRES_BY_HOME[key].rsplit("/", 1)[1]
        POSTGRES_BY_HOME[Path(target).resolve()] = new_postgres_database(TEST_DATABASE_URL, template=template)


def new_postgres_database(server_url: str, template: str | None = None) -> str:
    """A new database on ``server_url``'s server (a copy of ``template`` when given); its URL."""
    name = f"scriptman_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(server_url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    try:
        with admin.connect() as connection:
            copy = f' TEMPLATE "{template}"' if template else ""
            connection.execute(sa.text(f'CREATE DATABASE "{name}"{copy}'))
    finally:
        admin.dispose()
    return server_url.rsplit("/", 1)[0] + f"/{name}"


def seed_database(home: Path) -> dict[str, str]:
    """A migrated database for a ``scriptman`` process started on ``home``: the environment it needs.

    SQLite: a copy of the template in the home (nothing to add). PostgreSQL: the home's own
    database, as ``make_settings`` gives it, in ``SCRIPTMAN_DATABASE_URL``.
    """
    settings = make_settings(home)
    if settings.database_url:
        return {"SCRIPTMAN_DATABASE_URL": settings.database_url}
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(TEMPLATE["database"], settings.data_dir / DATABASE_FILE)
    return {}


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
    if TEST_DATABASE_URL:
        # PostgreSQL copies a database only while nobody is connected to it: migrate, then let go
        admin = sa.create_engine(TEST_DATABASE_URL, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{POSTGRES_TEMPLATE}" WITH (FORCE)'))
            connection.execute(sa.text(f'CREATE DATABASE "{POSTGRES_TEMPLATE}"'))
        admin.dispose()
        template_url = TEST_DATABASE_URL.rsplit("/", 1)[0] + f"/{POSTGRES_TEMPLATE}"
        settings = make_settings(tmp_path_factory.mktemp("template"), database_url=template_url)
        close_app(build_app(settings))
        TEMPLATE["database"] = Path(POSTGRES_TEMPLATE)
        return TEMPLATE["database"]
    settings = make_settings(tmp_path_factory.mktemp("template"))
    close_app(build_app(settings))  # closing the last connection folds the WAL into the file
    TEMPLATE["database"] = settings.data_dir / DATABASE_FILE
    return TEMPLATE["database"]


def close_app(app: Flask) -> None:
    """Stop the services (a no-op if they never started) and let go of the database.

    A run's thread may still be recording its end when its app is closed (stopping the executor
    does not wait for runs, by design), and a connection it hands back after ``dispose()`` goes to
    the old pool, or one it opens goes to the engine's fresh pool; nobody closes those, and when
    they are garbage-collected psycopg warns (ResourceWarning, an error here). So both pools are
    kept and disposed again at the next close and at the end, which closes what came back since.
    """
    app.extensions["scriptman.stop_services"]()
    with app.app_context():
        db.session.remove()
        RETIRED_POOLS.append(db.engine.pool)
        db.engine.dispose()
        RETIRED_POOLS.append(db.engine.pool)  # the fresh one: where a straggler's new connection goes
    close_retired_pools()


def close_retired_pools() -> None:
    """Close what came back to the pools of the last apps closed (a thread outliving them by tens
    of tests would be a leak of its own; the list stays short)."""
    for pool in RETIRED_POOLS:
        pool.dispose()
    del RETIRED_POOLS[:-RETIRED_POOLS_KEPT]


@pytest.fixture(scope="session", autouse=True)
def _retired_pools_closed() -> Iterator[None]:
    yield
    close_retired_pools()


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


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """A real Redis on a loopback port for the session (tests/servers.py), emptied by nobody: use own keys."""
    from tests.servers import start_redis

    server = start_redis()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A real PostgreSQL for the session (tests/servers.py): the URL of its ``postgres`` database.

    ``SCRIPTMAN_TEST_POSTGRES_URL`` points at a server already running instead.
    """
    given = os.environ.get("SCRIPTMAN_TEST_POSTGRES_URL")
    if given:
        yield given
        return
    from tests.servers import start_postgres

    server = start_postgres()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture
def postgres_database(postgres_url: str) -> Iterator[str]:
    """A new, empty database on the session's PostgreSQL; its URL. Dropped after the test."""
    url = new_postgres_database(postgres_url)
    try:
        yield url
    finally:
        admin = sa.create_engine(postgres_url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)'))
        admin.dispose()
