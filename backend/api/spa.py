"""The browser app: built files from ``frontend/dist`` and ``index.html`` for client-side routes.

Paths under ``/api/`` and ``/hooks/`` never fall back to the app, so an unknown API URL stays a
problem+json 404 instead of an HTML page.
"""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Response, current_app, send_from_directory
from werkzeug.routing import PathConverter

from backend.api.helpers import settings

bp = Blueprint("spa", __name__)
ASSET_MAX_AGE_SECONDS = 365 * 24 * 3600  # Vite names assets by content hash
NOT_BUILT = """<!doctype html><meta charset="utf-8"><title>Scriptman</title>
<p>The web app is not built yet. Run <code>make run</code> (or <code>cd frontend &amp;&amp; npm ci &amp;&amp;
npm run build</code>). The API is up: <a href="/api/health">/api/health</a>.</p>"""


class AppPathConverter(PathConverter):
    """A path that is not the API's (nor a trigger URL's: ``GET /hooks/<token>`` is a 405, not the app)."""

    regex = r"(?!(?:api|hooks)(?:/|$))[^/].*?"


@bp.record_once
def _register_converter(state: object) -> None:
    current = getattr(state, "app")  # noqa: B009 (BlueprintSetupState has no typed attribute)
    current.url_map.converters["apppath"] = AppPathConverter


def _dist() -> Path:
    return settings().frontend_dist


def _index() -> Response:
    index = _dist() / "index.html"
    if not index.is_file():
        return Response(NOT_BUILT, status=503, mimetype="text/html")
    response = send_from_directory(_dist(), "index.html", max_age=0)
    response.headers["Cache-Control"] = "no-cache"
    return response


@bp.get("/")
def index() -> Response:
    """The web app."""
    return _index()


@bp.get("/<apppath:path>")
def app_path(path: str) -> Response:
    """A built file if there is one, else the app (client-side routes like /scripts/3)."""
    dist = _dist()
    candidate = dist / path
    if "." in path.rsplit("/", 1)[-1] and candidate.is_file() and candidate.resolve().is_relative_to(dist.resolve()):
        max_age = ASSET_MAX_AGE_SECONDS if path.startswith("assets/") else 3600
        return send_from_directory(dist, path, max_age=max_age)
    if path.startswith("assets/"):
        return current_app.response_class("Not found", status=404, mimetype="text/plain")
    return _index()
