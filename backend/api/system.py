"""Health and the OpenAPI document."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any, Literal

from flask import Response, current_app, jsonify
from flask_openapi3 import APIBlueprint, Tag
from pydantic import BaseModel, Field
from sqlalchemy import text

from backend import __version__
from backend.api.helpers import json_response, settings
from backend.extensions import db
from backend.services.executor import containment, sandbox
from backend.services.workers import lock_kind, queue_depth, scheduler_leader

bp = APIBlueprint("system", __name__, url_prefix="/api", abp_tags=[Tag(name="system")])


class WorkerOut(BaseModel):
    name: str
    last_heartbeat_seconds_ago: float
    alive: bool = Field(description="heard from within the bound after which its runs end interrupted")


class QueueOut(BaseModel):
    queued: int = Field(description="queued runs that may start now")
    delayed: int = Field(description="queued runs waiting for their time (retries with a delay)")
    redis_messages: int | None = Field(
        default=None, description="messages waiting in the Celery queue on Redis (celery executor only)"
    )
    redis_error: str | None = None


class LeaderOut(BaseModel):
    host: str = Field(description="the host name of the process holding the scheduler lock")
    pid: int = Field(description="its process id on that host")
    since: datetime | None = Field(default=None, description="when it took the lock")


class SchedulerOut(BaseModel):
    enabled: bool
    leader_here: bool = Field(description="this web process fires the schedules")
    lock: str = Field(description="what backs the leader lock: file (one machine), postgresql or redis")
    leader: LeaderOut | None = Field(
        default=None, description="the process firing the schedules, wherever it runs (null: none holds the lock)"
    )


class HealthOut(BaseModel):
    status: str
    version: str
    database: str
    uptime_seconds: float
    sandbox: dict[str, str | bool]
    containment: dict[str, Any] = Field(
        description="cgroup per run (v1/v2/none), the account scripts run as, and what the active mode cannot catch"
    )
    executor: Literal["local", "celery"] = Field(description="the executor in use (SCRIPTMAN_EXECUTOR)")
    workers: list[WorkerOut] = Field(
        default_factory=list, description="Celery workers seen on Redis (none with the local executor)"
    )
    queue: QueueOut
    scheduler: SchedulerOut


def executor_health(executor: Any, current: Any) -> dict[str, Any]:
    """The executor actually in use, the workers it sees and the queue depth."""
    queue = queue_depth()
    if current.executor != "celery" or executor is None or not hasattr(executor, "describe"):
        return {"executor": "local", "workers": [], "queue": QueueOut(**queue)}
    seen = executor.describe()
    return {
        "executor": "celery",
        "workers": [WorkerOut(**w) for w in seen["workers"]],
        "queue": QueueOut(**queue, redis_messages=seen["redis_queue"], redis_error=seen["redis_error"]),
    }


def scheduler_health(scheduler: Any) -> SchedulerOut:
    """Whether schedules fire here, and which process fires them (wherever it runs)."""
    lock = getattr(scheduler, "lock", None)
    leader = scheduler_leader(lock)
    return SchedulerOut(
        enabled=settings().scheduler_enabled,
        leader_here=bool(getattr(scheduler, "is_leader", False)),
        lock=lock_kind(lock),
        leader=LeaderOut(**leader) if leader else None,
    )


@bp.get("/health", responses={200: HealthOut, 503: HealthOut})
def health() -> Response:
    """Liveness, database reachability, the executor and its workers, the queue and the scheduler's leader."""
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
        **executor_health(current_app.extensions.get("scriptman.executor"), settings()),
        scheduler=scheduler_health(current_app.extensions.get("scriptman.scheduler")),
    )
    return json_response(body, 200 if database == "ok" else 503)


@bp.get("/openapi.json", doc_ui=False)
def openapi_document() -> Response:
    """The OpenAPI 3 document, generated from the code."""
    return jsonify(current_app.api_doc)  # type: ignore[attr-defined]
