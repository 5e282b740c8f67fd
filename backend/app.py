"""The application factory."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

from flask import Response, request
from flask_openapi3 import Info, OpenAPI

from backend import __version__, secretbox
from backend.config import Settings
from backend.errors import (
    PayloadTooLarge,
    problem_response,
    register_error_handlers,
    validation_error_response,
)
from backend.extensions import db, migrate
from backend.openapi_doc import DocumentedOpenAPI
from backend.request_gate import RequestGate
from backend.schemas.common import Problem

log = logging.getLogger(__name__)
MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"
JSON_METHODS = frozenset({"POST", "PUT", "PATCH"})
JSON_BODY_SLACK_BYTES = 1_000_000
SQLITE_POOL_SIZE = 20  # database connections kept open per web process (see _engine_options)


def create_app(settings: Settings | None = None, test_config: dict[str, Any] | None = None) -> OpenAPI:
    settings = settings or Settings()
    settings.ensure_dirs()
    app = DocumentedOpenAPI(  # OpenAPI whose document lists every status (backend/openapi_doc.py)
        __name__,
        info=Info(title="Scriptman API", version=__version__),
        doc_prefix="/api/docs",
        security_schemes={
            "bearer": {"type": "http", "scheme": "bearer", "description": "Personal API token"},
            "session": {"type": "apiKey", "in": "cookie", "name": "scriptman_session"},
        },
        validation_error_status=422,
        validation_error_model=Problem,
        validation_error_callback=validation_error_response,
    )
    app.config.update(
        SECRET_KEY=settings.resolve_secret_key(),
        SQLALCHEMY_DATABASE_URI=settings.sqlalchemy_url,
        # a server database's connection can go stale (restart, idle timeout): checked before use;
        # a SQLite file's cannot, and the check was one more statement on every request
        SQLALCHEMY_ENGINE_OPTIONS=_engine_options(settings),
        MAX_CONTENT_LENGTH=settings.max_request_bytes,
        JSON_SORT_KEYS=False,
    )
    if test_config:
        app.config.update(test_config)
    app.url_map.merge_slashes = False  # "files//etc/passwd" is refused, not redirected
    if settings.request_concurrency:
        app.wsgi_app = RequestGate(app.wsgi_app, settings.request_concurrency)  # type: ignore[method-assign]
    app.extensions["scriptman.settings"] = settings
    secretbox.init_app(app, settings)  # the key for secrets at rest, found by the encrypted columns
    app.extensions["scriptman.started_at"] = time.monotonic()

    import backend.database  # noqa: F401  (registers the SQLite connection pragmas)

    db.init_app(app)
    migrate.init_app(app, db, directory=str(MIGRATIONS_DIR), render_as_batch=True)
    register_error_handlers(app)
    _register_security(app, settings)
    _register_json_guard(app, settings)
    _register_blueprints(app)
    _register_services(app, settings)
    return app


def _engine_options(settings: Settings) -> dict[str, Any]:
    from backend.database import read_json

    if not settings.sqlalchemy_url.startswith("sqlite"):
        return {"pool_pre_ping": True, "json_deserializer": read_json}
    # A SQLite file's connection cannot go stale (the pre-ping was one more statement per request).
    # 20 concurrent requests (the API benchmark) overflowed the default 5 kept connections: each
    # overflow one was opened (pragmas, a cold page cache) and closed again per request, ~10 % of the
    # server's time. A kept connection holds up to 2 MiB of page cache; the pool grows only as far
    # as the concurrency seen.
    return {
        "pool_pre_ping": False,
        "pool_size": SQLITE_POOL_SIZE,
        "max_overflow": 2 * SQLITE_POOL_SIZE,
        "json_deserializer": read_json,
    }


def _register_security(app: OpenAPI, settings: Settings) -> None:
    """Auth, roles, CSRF, audit, security headers; CORS only when origins are configured."""
    from backend.security import init_security
    from backend.services.auth.throttle import LoginThrottle

    app.extensions["scriptman.throttle"] = LoginThrottle()
    init_security(app, settings)
    if settings.cors_origins:
        from flask_cors import CORS

        CORS(app, resources={r"/api/*": {"origins": settings.cors_origins}}, supports_credentials=True)


def _register_blueprints(app: OpenAPI) -> None:
    from backend.api import audit, auth, executions, files, logs, runs, schedules, scripts, spa, stats, system, users

    for module in (system, auth, users, audit, scripts, runs, executions, logs, files, schedules, stats):
        app.register_api(module.bp)
    from backend.api import hooks, variables

    app.register_api(hooks.bp)
    app.register_api(hooks.trigger_bp)  # POST /hooks/<token>: public, the token is the credential
    app.register_api(variables.bp)
    from backend.api import notifications

    app.register_api(notifications.bp)
    app.register_blueprint(spa.bp)  # last: its catch-all must not shadow anything


def _register_services(app: OpenAPI, settings: Settings) -> None:
    """Long-lived services live on ``app.extensions``; the server or a test starts them."""
    from backend.services import runstatus
    from backend.services.chains import start_chained
    from backend.services.executions import schedule_retry
    from backend.services.executor.celery_executor import CeleryExecutor
    from backend.services.executor.containment import harden_home
    from backend.services.executor.dispatch_wake import ExecutorLeadership
    from backend.services.executor.local import LocalExecutor
    from backend.services.notifications import EXTENSION as NOTIFIER
    from backend.services.notifications import NotificationSender, notify_run_end
    from backend.services.scheduler import SchedulerService
    from backend.services.scheduler.fire import on_execution_finished

    executor: LocalExecutor | CeleryExecutor
    leadership: ExecutorLeadership | None = None
    if settings.executor == "celery":
        # runs go to `scriptman worker` processes; every process sends and reaps, the claim decides
        executor = CeleryExecutor(app, settings)
    else:
        executor = LocalExecutor(app, settings)
        # several web processes: one of them dispatches (elected), the others wake it; one process: it does
        leadership = ExecutorLeadership(executor, settings) if settings.web_processes > 1 else None
    scheduler = SchedulerService(app, settings)
    app.extensions["scriptman.executor"] = executor
    app.extensions["scriptman.scheduler"] = scheduler
    notifier = NotificationSender(app, settings)
    app.extensions[NOTIFIER] = notifier
    # what happens when a run ends, in order: a retry is queued, the schedule learns its status, the
    # next scripts of a chain start (after the retry: a superseded attempt starts none), notifications
    app.extensions["scriptman.run_end_listeners"] = [
        schedule_retry,
        # live log streams end now (after the retry, so their `end` names it), not at a status poll
        lambda execution, _script: runstatus.announce(execution.id),
        lambda execution, _script: on_execution_finished(execution),
        start_chained,
        notify_run_end,  # after the retry: a superseded attempt notifies nobody; only queues rows
    ]

    def start_services() -> None:
        harden_home(settings)  # before any run: folder modes that keep a run-as user out of data/
        if leadership is None:
            executor.start()
        else:
            runstatus.share(settings.data_dir)  # claims and ends reach followers in every process
            leadership.start()
        scheduler.start()  # after the executor: a catch-up fire may queue a run at once
        notifier.start()

    def stop_services() -> None:
        scheduler.stop()  # first, so no fire queues a run into a stopping executor
        if leadership is None:
            executor.stop()
        else:
            leadership.stop()
            runstatus.unshare()
        notifier.stop()  # last: a run that ended while stopping still queued its messages (sent next start)

    app.extensions["scriptman.start_services"] = start_services
    app.extensions["scriptman.stop_services"] = stop_services


def _register_json_guard(app: OpenAPI, settings: Settings) -> None:
    """Malformed, too deep or too large JSON is a clear 400/413 before any handler runs."""

    @app.before_request
    def _check_json_body() -> Response | None:
        if request.method not in JSON_METHODS or not request.path.startswith("/api/"):
            return None
        if not request.is_json:
            return None
        length = request.content_length or 0
        if length > settings.max_code_bytes + JSON_BODY_SLACK_BYTES:
            raise PayloadTooLarge(f"A JSON body may be at most {settings.max_code_bytes} bytes of code.")
        raw = request.get_data(cache=True)
        if not raw.strip():
            return None
        try:
            json.loads(raw)
        except (ValueError, RecursionError):
            return problem_response(400, "Malformed JSON", "The request body is not valid JSON.", field="body")
        return None
