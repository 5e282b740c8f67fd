"""The ``scriptman`` command line: serve, db upgrade, run, and friends."""

from __future__ import annotations

import logging
import sys

import click
from pydantic import ValidationError

from backend.config import Settings
from backend.database import upgrade_database


def _app(settings: Settings | None = None):  # type: ignore[no-untyped-def]
    """The app for one command; its database connections are closed when the command ends (an
    in-process caller, such as a test's CliRunner, would otherwise leave them open for the GC)."""
    from backend.app import create_app

    app = create_app(settings or _settings())
    context = click.get_current_context(silent=True)
    if context is not None:
        context.call_on_close(lambda: _release(app))
    return app


def _release(app) -> None:  # type: ignore[no-untyped-def]
    from backend.extensions import db

    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def _settings() -> Settings:
    """The settings, or a one-paragraph error naming what is wrong (not a traceback)."""
    try:
        return Settings()
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'settings'}: {e['msg']}" for e in error.errors())
        raise click.ClickException(f"invalid configuration: {problems}") from None


@click.group()
def main() -> None:
    """Scriptman: write, version, run and schedule scripts."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


@main.group()
def db() -> None:
    """Database commands."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Apply pending migrations."""
    upgrade_database(_app())
    click.echo("database is up to date")


@main.command()
@click.option("--host", default=None, help="Address to bind (default SCRIPTMAN_HOST or 127.0.0.1)")
@click.option("--port", type=int, default=None, help="Port (default SCRIPTMAN_PORT or 5000)")
def serve(host: str | None, port: int | None) -> None:
    """Serve the API and UI with gunicorn (SCRIPTMAN_WEB_PROCESSES workers, many threads each: SSE needs them)."""
    from backend.server import serve as run_server

    settings = _settings()
    if host:
        settings.host = host
    if port:
        settings.port = port
    run_server(settings)


@main.command()
@click.option(
    "--name",
    default=None,
    help="This worker's name, unique and stable (default SCRIPTMAN_WORKER_NAME or the host name)",
)
@click.option(
    "--concurrency",
    type=click.IntRange(min=1),
    default=None,
    help="Runs this worker holds at a time (default SCRIPTMAN_WORKER_CONCURRENCY or the CPU count)",
)
def worker(name: str | None, concurrency: int | None) -> None:
    """Run queued executions from the Celery queue (SCRIPTMAN_EXECUTOR=celery, SCRIPTMAN_REDIS_URL).

    Every worker and web process must share SCRIPTMAN_HOME and the database; run `scriptman db upgrade` first.
    """
    from backend.services.executor.worker import run_worker

    settings = _settings()
    if settings.executor != "celery":
        raise click.ClickException("scriptman worker needs SCRIPTMAN_EXECUTOR=celery (and SCRIPTMAN_REDIS_URL)")
    run_worker(_app(settings), settings, name, concurrency)


@main.command("create-user")
@click.argument("username")
@click.option("--role", type=click.Choice(["admin", "editor", "viewer"]), default="editor", show_default=True)
@click.option("--full-name", default="", help="Display name")
@click.password_option(help="Password (prompted when not given)")
def create_user(username: str, role: str, full_name: str, password: str) -> None:
    """Create a user account."""
    from backend.errors import ProblemError
    from backend.services.auth.users import create_user as make_user

    app = _app()
    upgrade_database(app)
    with app.app_context():
        try:
            user = make_user(username, password, role, full_name)
        except ProblemError as error:
            raise click.ClickException(error.detail) from None
        click.echo(f"created {user.role} {user.username!r}")


@main.command("run", context_settings={"ignore_unknown_options": False})
@click.argument("script_name")
@click.option("--param", "-p", "params", multiple=True, metavar="NAME=VALUE", help="A parameter value")
@click.option(
    "--version",
    "version",
    type=click.IntRange(min=1),
    default=None,
    metavar="N",
    help="Run version N of the script (default: the current version)",
)
def run(script_name: str, params: tuple[str, ...], version: int | None) -> None:
    """Run a script by name through the executor, print its log, exit with its exit code."""
    from backend.cli_run import run_script

    app = _app()
    upgrade_database(app)
    sys.exit(run_script(app, script_name, params, version))


@main.command("rotate-secrets-key")
def rotate_secrets_key() -> None:
    """Re-encrypt every stored secret under a new key (data/secrets.key); the old key is then dropped."""
    from backend.errors import ProblemError
    from backend.services.secret_storage import rotate_key

    app = _app()
    upgrade_database(app)
    with app.app_context():
        try:
            done = rotate_key(app.extensions["scriptman.secretbox"])
        except ProblemError as error:
            raise click.ClickException(error.detail) from None
    for label, count in done.counts.items():
        click.echo(f"{label}: {count} re-encrypted")
    if done.new_key_made:
        click.echo(f"new key written to {done.source}; {done.old_keys} old key(s) removed from it")
        click.echo(f"back up {done.source} now, apart from the database: without it no secret can be read")
    else:
        click.echo(f"every secret is now sealed with the first key of {done.source}; remove the other {done.old_keys}")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
