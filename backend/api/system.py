"""Health and the OpenAPI document."""

from __future__ import annotations

import time
from typing import Any

from flask import Response, current_app, jsonify
from flask_openapi3 import APIBlueprint, Tag
from pydantic import BaseModel, Field
from sqlalchemy import text

from backend import __version__
from backend.api.helpers import json_response, settings
from backend.extensions import db
from backend.services.executor import containment, sandbox

bp = APIBlueprint("system", __name__, url_prefix="/api", abp_tags=[Tag(name="system")])


class HealthOut(BaseModel):
    status: str
    version: str
    database: str
    uptime_seconds: float
    sandbox: dict[str, str | bool]
    containment: dict[str, Any] = Field(
        description="cgroup per run (v1/v2/none), the account scripts run as, and what the active mode cannot catch"
    )
    executor: str


@bp.get("/health", responses={200: HealthOut, 503: HealthOut})
def health() -> Response:
    """Liveness and database reachability."""
    try:
        db.session.execute(text("SELECT 1"))
        database = "ok"
    except Exception as error:  # the point of a health check is to report, not to raise
        database = f"error: {type(error).__name__}"
    started = current_app.extensions["scriptman.started_at"]
    body = HealthOut(
        status="ok" if database == "ok" else "degraded",
        version=__version__,
        database=database,
        uptime_seconds=round(time.monotonic() - started, 3),
        sandbox=sandbox.status(settings()),
        containment=containment.status(settings()),
        executor="local",  # the only one built so far
    )
    return json_response(body, 200 if database == "ok" else 503)


@bp.get("/openapi.json", doc_ui=False)
def openapi_document() -> Response:
    """The OpenAPI 3 document, generated from the code."""
    return jsonify(current_app.api_doc)  # type: ignore[attr-defined]
