"""Request and response shapes of the executions API."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from backend.models import ExecutionStatus, Trigger
from backend.schemas.common import PageOut, PageQuery, ResponseModel, StrictBody, Timestamp


class ExecuteBody(StrictBody):
    params: dict[str, Any] = Field(default_factory=dict, description="Parameter values by name")


class ExecutionPath(BaseModel):
    execution_id: int = Field(ge=1, le=2**62)


class ExecutionListQuery(PageQuery):
    script_id: int | None = Field(default=None, ge=1, le=2**62)
    status: ExecutionStatus | None = None
    trigger: Trigger | None = None


class RerunQuery(BaseModel):
    latest: bool = Field(default=False, description="Run the script's current version instead")


# built by backend/api/serializers.py: ``version``, ``script_name`` and ``created_by`` are not columns
class ExecutionOut(ResponseModel):
    id: int
    script_id: int
    script_name: str | None
    created_by: str | None = Field(
        description="Who started it: the user (manual, API, re-run), the schedule's creator, "
        "the first attempt's for a retry; null for the command line"
    )
    version: int
    trigger: Trigger
    params: dict[str, Any] = Field(description="Secret values are shown as ***")
    status: ExecutionStatus
    exit_code: int | None
    result: Any | None
    error: str | None
    queued_at: Timestamp
    started_at: Timestamp | None
    finished_at: Timestamp | None
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


class ExecutionList(PageOut[ExecutionOut]):
    pass
