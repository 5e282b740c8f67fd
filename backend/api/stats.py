"""Dashboard numbers. Thin: one service call, one serialisation."""

from __future__ import annotations

from dataclasses import asdict

from flask import Response
from flask_openapi3 import APIBlueprint, Tag
from pydantic import BaseModel, Field

from backend.api.executions import render_many
from backend.api.helpers import json_response
from backend.schemas.common import Problem
from backend.schemas.executions import ExecutionOut
from backend.services import stats as service

bp = APIBlueprint("stats", __name__, url_prefix="/api/stats", abp_tags=[Tag(name="system")])
MAX_DAYS = 366


class StatsQuery(BaseModel):
    days: int = Field(default=14, ge=1, le=MAX_DAYS, description="How many days back, today included")


class DayOut(BaseModel):
    date: str
    succeeded: int
    failed: int
    other: int


class StatsOut(BaseModel):
    days: list[DayOut]
    total: int
    succeeded: int
    failed: int
    success_rate: float | None = Field(description="succeeded / (succeeded + failed); null when none finished")
    running: list[ExecutionOut]
    queued: int
    recent_failures: list[ExecutionOut]
    scripts: int
    schedules: int
    active_schedules: int


@bp.get("", responses={200: StatsOut, 422: Problem})
def get_stats(query: StatsQuery) -> Response:
    """Runs per day (UTC), success rate, running now and recent failures."""
    data = service.overview(query.days)
    return json_response(
        {
            "days": [asdict(day) for day in data.days],
            **data.totals,
            "success_rate": data.success_rate,
            "running": render_many(data.running),
            "queued": data.queued,
            "recent_failures": render_many(data.recent_failures),
            "scripts": data.scripts,
            "schedules": data.schedules,
            "active_schedules": data.active_schedules,
        }
    )
