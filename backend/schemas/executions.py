"""Request and response shapes of the executions API."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from backend.schemas.common import PageQuery, StrictBody

Status = Literal["queued", "running", "succeeded", "failed", "timed_out", "cancelled", "interrupted"]
TriggerName = Literal["manual", "schedule", "webhook", "retry", "rerun", "api"]


class ExecuteBody(StrictBody):
    params: dict[str, Any] = Field(default_factory=dict, description="Parameter values by name")


class ExecutionPath(BaseModel):
    execution_id: int = Field(ge=1, le=2**62)


class ExecutionListQuery(PageQuery):
    script_id: int | None = Field(default=None, ge=1, le=2**62)
    status: Status | None = None
    trigger: TriggerName | None = None


class RerunQuery(BaseModel):
    latest: bool = Field(default=False, description="Run the script's current version instead")


class ExecutionOut(BaseModel):
    id: int
    script_id: int
    script_name: str | None
    version: int
    trigger: TriggerName
    params: dict[str, Any]
    status: Status
    exit_code: int | None
    result: Any | None
    error: str | None
    queued_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    duration_ms: int | None
    peak_memory_kb: int | None
    cpu_time_ms: int | None
    attempt: int
    retry_of_id: int | None
    rerun_of_id: int | None
    schedule_id: int | None
    progress: float | None
    progress_message: str | None
    sandboxed: bool
    created_by: str | None = Field(
        description="Who started it: the user (manual, API, re-run), the schedule's creator, "
        "the first attempt's for a retry; null for the command line"
    )


class ExecutionList(BaseModel):
    items: list[ExecutionOut]
    total: int
    page: int
    per_page: int
