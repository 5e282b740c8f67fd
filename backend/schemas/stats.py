"""Shapes of the dashboard numbers."""

from __future__ import annotations

from pydantic import BaseModel, Field

from backend.schemas.common import ResponseModel
from backend.schemas.executions import ExecutionOut

MAX_DAYS = 366


class StatsQuery(BaseModel):
    days: int = Field(default=14, ge=1, le=MAX_DAYS, description="How many days back, today included")


class DayOut(ResponseModel):
    date: str
    succeeded: int
    failed: int
    other: int


class StatsOut(ResponseModel):
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
