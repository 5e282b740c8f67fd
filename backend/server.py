"""The one serving command: gunicorn with gthread workers, one by default.

Many threads let Server-Sent Events streams stay open without starving ordinary requests
(STACK.md: waitress' 4 threads froze at the 4th stream, the sync worker was killed mid-stream).
One process keeps the executor pool and the scheduler in one place. ``SCRIPTMAN_WEB_PROCESSES``
> 1 runs that many workers on the same database for machines with more cores: all serve HTTP,
one of them dispatches runs and one fires schedules (each elected by a file lock, see
``services/executor/dispatch_wake.py``), and the once-per-start work (migrations, the key check,
the first admin) is done once in gunicorn's master before it forks them.
"""

from __future__ import annotations

import gc
import logging
import re
import sys
from typing import Any

from gunicorn.app.base import BaseApplication
from gunicorn.glogging import Logger

from backend.config import Settings
from backend.server_worker import BalancedThreadWorker, assign_slot, share_connections

log = logging.getLogger(__name__)
# A trigger URL's path is its secret (POST /hooks/<token>): no log line may carry it. A number after
# /hooks/ is a hook id (/api/scripts/1/hooks/2/rotate), never a token, and stays.
HOOK_TOKEN_IN_PATH = re.compile(r"(/hooks/)(?![0-9]+(?:[/?#\s\"']|$))[^/?#\s\"']+")
REDACTED = "[redacted]"
KEEPALIVE_CONNECTIONS = 1000  # gunicorn's default worker_connections, kept as headroom above the threads


def redact(text: str) -> str:
    return HOOK_TOKEN_IN_PATH.sub(rf"\g<1>{REDACTED}", text)


class RedactHookTokens(logging.Filter):
    """Rewrites a record whose message holds ``/hooks/<token>`` (the access log's request line, an
    error naming the path) with the token replaced; on handlers, so propagated records pass it too."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redact(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


REDACT_FILTER = RedactHookTokens()


class RedactingLogger(Logger):  # type: ignore[misc]
    """gunicorn's logger, whose access and error lines never show a trigger URL's token."""

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        for target in (self.error_log, self.access_log):
            target.addFilter(REDACT_FILTER)
            for handler in target.handlers:
                handler.addFilter(REDACT_FILTER)


def gunicorn_options(settings: Settings, known: Any) -> dict[str, Any]:
    """gunicorn's settings for ``scriptman serve`` (``known``: the names this gunicorn accepts).

    A function of its own so that ``benchmarks/api.py`` serves its trivial app, the machine's floor,
    with exactly the server configuration Scriptman runs with.
    """
    options: dict[str, Any] = {
        "bind": f"{settings.host}:{settings.port}",
        "workers": settings.web_processes,
        "worker_class": "gthread",
        "threads": settings.server_threads,
        # gthread keeps a connection alive only while it holds fewer than worker_connections - threads
        # (gunicorn's default 1000 - 1000 threads = none): room for idle kept-alive clients on top
        "worker_connections": settings.server_threads + KEEPALIVE_CONNECTIONS,
        "timeout": 120,
        "graceful_timeout": 10,
        "keepalive": 5,
        "accesslog": "-",
        "errorlog": "-",
        "loglevel": "info",
        "logger_class": RedactingLogger,
    }
    if settings.web_processes > 1:
        # several workers: each accepts only while it holds no more connections than the others
        options["worker_class"] = BalancedThreadWorker
        options["on_starting"] = share_connections
        options["pre_fork"] = assign_slot
    if "control_socket_disable" in known:
        # gunicorn >= 25.1 opens a control socket for `gunicornc`, by default in ~/.gunicorn (a
        # folder outside Scriptman's home, left behind); Scriptman does not use it.
        options["control_socket_disable"] = True
    return options


class _Server(BaseApplication):  # type: ignore[misc]
    def __init__(self, settings: Settings, *, prepared: bool = False) -> None:
        self.settings = settings
        self.prepared = prepared  # the master did the once-per-start work (``prepare``)
        super().__init__()

    def load_config(self) -> None:
        for key, value in gunicorn_options(self.settings, self.cfg.settings).items():
            self.cfg.set(key, value)

    def load(self):  # type: ignore[no-untyped-def]
        from backend.app import create_app

        app = create_app(self.settings)
        if not self.prepared:
            _prepare(app, self.settings)
        start = app.extensions.get("scriptman.start_services")
        if start is not None:
            start()
        settle_heap()
        return app


def settle_heap() -> None:
    """Put everything loaded so far (modules, the app, SQLAlchemy's and pydantic's schemas) out of the
    cyclic collector's reach: a full collection walked all of it while every request waited for the
    GIL, 80-130 ms four or five times in 15 s under the API benchmark, the whole of its p99 tail.
    Frozen objects are never freed, so this runs once, after the start-up work."""
    gc.collect()
    gc.freeze()


def _prepare(app, settings: Settings) -> None:  # type: ignore[no-untyped-def]
    from backend.database import upgrade_database
    from backend.services.secret_storage import verify_key

    upgrade_database(app)
    verify_key(app)  # a wrong or lost secrets key stops the start with a clear message
    announce_first_admin(app, settings)


def prepare_once(settings: Settings) -> None:
    """The once-per-start work, in gunicorn's master before it forks several workers (each doing it
    would race on the schema and on the first admin); no database connection crosses the fork."""
    from backend.app import create_app
    from backend.extensions import db

    app = create_app(settings)
    try:
        _prepare(app, settings)
    finally:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


def announce_first_admin(app, settings: Settings) -> None:  # type: ignore[no-untyped-def]
    """Create the first admin on an empty database; a generated password is shown once, not logged."""
    from backend.services.auth.users import ensure_admin

    with app.app_context():
        generated = ensure_admin(settings.admin_password)
    if generated:
        sys.stderr.write(
            "\n  Scriptman created the first account.\n"
            f"    username: admin\n    password: {generated}\n"
            "  It is shown only now: log in and change it (or set SCRIPTMAN_ADMIN_PASSWORD before first start).\n\n"
        )
        sys.stderr.flush()


def serve(settings: Settings) -> None:
    for handler in logging.getLogger().handlers:  # the app's own log lines (e.g. an error naming the path)
        handler.addFilter(REDACT_FILTER)
    several = settings.web_processes > 1
    if several:
        prepare_once(settings)
    log.info(
        "Scriptman listening on http://%s:%s (%s web process%s)",
        settings.host,
        settings.port,
        settings.web_processes,
        "es" if several else "",
    )
    _Server(settings, prepared=several).run()
