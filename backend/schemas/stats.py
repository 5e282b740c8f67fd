"""Shapes of the dashboard numbers."""

from __future__ import annotations

from pydantic import Field

from backend.schemas.common import QueryModel, ResponseModel
from backend.schemas.executions import ExecutionOut

MAX_DAYS = 366


class StatsQuery(QueryModel):
    days: int = Field(default=14, ge=1, le=MAX_DAYS, description="How many days back, today included")


SERIES_NOTE = "an attempt that was retried is not counted: a retry series counts once, by its last attempt"


class DayOut(ResponseModel):
    date: str = Field(description="UTC day, YYYY-MM-DD")
    succeeded: int
    failed: int = Field(description="Failed or timed out; " + SERIES_NOTE)
    other: int = Field(description="Queued, running, cancelled or interrupted")


class StatsOut(ResponseModel):
    days: list[DayOut] = Field(description="Runs per UTC day by the day they were queued, oldest first; " + SERIES_NOTE)
    total: int
    succeeded: int
    failed: int = Field(description="Failed or timed out over the days; " + SERIES_NOTE)
    success_rate: float | None = Field(
        description="succeeded / (succeeded + failed); null when none finished; " + SERIES_NOTE
    )
    running: list[ExecutionOut]
    queued: int
    recent_failures: list[ExecutionOut] = Field(
        description="The latest failed or timed-out runs, newest first; " + SERIES_NOTE
    )
    scripts: int
    schedules: int
    active_schedules: int
