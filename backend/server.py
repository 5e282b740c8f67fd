"""The one serving command: gunicorn with a single gthread worker.

One process keeps the executor pool and the scheduler in one place; many threads let
Server-Sent Events streams stay open without starving ordinary requests (STACK.md: waitress'
4 threads froze at the 4th stream, the sync worker was killed mid-stream).
"""

from __future__ import annotations

import logging
import sys
from typing import Any

from gunicorn.app.base import BaseApplication

from backend.config import Settings

log = logging.getLogger(__name__)


class _Server(BaseApplication):  # type: ignore[misc]
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        super().__init__()

    def load_config(self) -> None:
        options: dict[str, Any] = {
            "bind": f"{self.settings.host}:{self.settings.port}",
            "workers": 1,
            "worker_class": "gthread",
            "threads": self.settings.server_threads,
            "timeout": 120,
            "graceful_timeout": 10,
            "keepalive": 5,
            "accesslog": "-",
            "errorlog": "-",
            "loglevel": "info",
        }
        for key, value in options.items():
            self.cfg.set(key, value)

    def load(self):  # type: ignore[no-untyped-def]
        from backend.app import create_app
        from backend.database import upgrade_database
        from backend.services.secret_storage import verify_key

        app = create_app(self.settings)
        upgrade_database(app)
        verify_key(app)  # a wrong or lost secrets key stops the start with a clear message
        announce_first_admin(app, self.settings)
        start = app.extensions.get("scriptman.start_services")
        if start is not None:
            start()
        return app


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
    log.info("Scriptman listening on http://%s:%s", settings.host, settings.port)
    _Server(settings).run()
