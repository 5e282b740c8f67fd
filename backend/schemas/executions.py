"""Request and response shapes of the executions API."""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import AwareDatetime, BaseModel, BeforeValidator, Field

from backend.models import ExecutionStatus, Trigger
from backend.schemas.common import ID_MAX, PageOut, PageQuery, QueryModel, ResponseModel, StrictBody, Timestamp

VERSION_HELP = (
    "Run this version of the script (its code and parameter definitions); default the current version. "
    "A version the script does not have is a 404 naming it."
)


class ExecuteBody(StrictBody):
    """``POST /api/scripts/<id>/execute`` as JSON; multipart sends the same as form fields
    (``params`` as a JSON text, ``version`` as a number) plus the files."""

    params: dict[str, Any] = Field(
        default_factory=dict,
        description="Parameter values by name. A value of null counts as not given: the default applies "
        "(a required parameter without one is a 422). An optional boolean without a default that is not "
        "given is false.",
    )
    version: int | None = Field(default=None, ge=1, le=ID_MAX, description=VERSION_HELP)


class RerunBody(StrictBody):
    """Optional body of ``POST /api/executions/<id>/rerun``."""

    params: dict[str, Any] | None = Field(
        default=None,
        description="Values that replace the original run's (the others are kept; null means not given, "
        "so the default applies; *** for a secret keeps the original's value). Validated against the "
        "version that runs: a bad value is a 422 whose field is params.<name>.",
    )


class ExecutionPath(BaseModel):
    execution_id: int = Field(ge=1, le=ID_MAX)


OFFSET_AFTER_SPACE = re.compile(r"(?<=\d) (\d{2}(?::?\d{2})?)$")


def _restore_plus(value: Any) -> Any:
    """``?since=2026-01-02T03:04:05+02:00`` typed into a URL arrives with a space for the ``+``;
    ``?since=`` (a cleared filter) is no filter."""
    if isinstance(value, str):
        return OFFSET_AFTER_SPACE.sub(r"+\1", value.strip()) or None
    return value


QueryInstant = Annotated[AwareDatetime | None, BeforeValidator(_restore_plus)]
INSTANT_HELP = (
    "ISO 8601 date and time with a UTC offset or Z, e.g. 2026-01-31T08:00:00+01:00; "
    "one without an offset is refused (422), as its zone would be a guess"
)


class ExecutionListQuery(PageQuery):
    script_id: int | None = Field(default=None, ge=1, le=ID_MAX)
    status: ExecutionStatus | None = None
    trigger: Trigger | None = Field(
        default=None,
        description="manual: the web app; api: a REST call with a bearer token; cli: scriptman run; "
        "schedule; retry; rerun; webhook: a trigger URL; chain: the end of another run",
    )
    created_by: str | None = Field(
        default=None, max_length=200, description="Username of who started the run (case-insensitive)"
    )
    since: QueryInstant = Field(default=None, description="Queued at or after this instant. " + INSTANT_HELP)
    until: QueryInstant = Field(default=None, description="Queued before this instant. " + INSTANT_HELP)
    q: str | None = Field(
        default=None,
        max_length=200,
        description="Text search, case-insensitive: a substring of the script's name or of the run's error, "
        "or a run id written 123 or #123",
    )
    attempts_of: int | None = Field(
        default=None,
        ge=1,
        le=ID_MAX,
        description="Only the attempts of the retry series this run belongs to (its first attempt and the "
        "retries), ordered by attempt, first attempt first",
    )


class RerunQuery(QueryModel):
    latest: bool = Field(
        default=False,
        description="Run the script's current version instead of the original's (the values are then "
        "validated against it: 422 naming a parameter it rejects)",
    )


class DownstreamRunOut(ResponseModel):
    """A run this run's end started (the script's on_success or on_failure)."""

    id: int
    script_id: int
    script_name: str | None
    status: ExecutionStatus


# built by backend/api/serializers.py: ``version``, ``script_name``, ``created_by`` and ``downstream`` are
# not columns
class ExecutionOut(ResponseModel):
    id: int
    script_id: int
    script_name: str | None
    created_by: str | None = Field(
        description="Who started it: the user (manual, API, re-run), the schedule's creator, "
        "the first attempt's for a retry; null for the command line"
    )
    version: int
    trigger: Trigger = Field(
        description="What started it: manual (the web app), api (a bearer token), cli (scriptman run), "
        "schedule, retry, rerun, webhook (a trigger URL), chain (the end of the run upstream_execution_id)"
    )
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
    attempt: int = Field(description="1 for a first run; 2, 3… for its retries")
    retry_of_id: int | None = Field(description="The first attempt of the retry series this one belongs to")
    next_attempt_id: int | None = Field(
        description="The retry queued after this attempt failed; set, this attempt is superseded and "
        "the dashboard does not count it as a failure"
    )
    rerun_of_id: int | None
    schedule_id: int | None
    progress: float | None
    progress_message: str | None
    sandboxed: bool
    worker: str | None = Field(
        default=None,
        description="The Celery worker that ran it (SCRIPTMAN_EXECUTOR=celery); null for the local executor",
    )
    upstream_execution_id: int | None = Field(
        description="A chained run: the run whose end started it (its result is the script's UPSTREAM_RESULT); "
        "a retry or re-run of a chained run keeps it"
    )
    downstream: list[DownstreamRunOut] = Field(
        description="The runs this run's end started through the script's on_success or on_failure, oldest first"
    )
    variables: list[str] = Field(
        description="Names of the shared variables the run received as environment variables (never their values)"
    )


class ExecutionList(PageOut[ExecutionOut]):
    pass
