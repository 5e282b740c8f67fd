"""Request and response shapes of the schedules API."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field, field_validator

from backend.models import ExecutionStatus, FireOutcome
from backend.models.schedule import OverlapPolicy
from backend.schemas.common import ID_MAX, ByValue, PageOut, PageQuery, QueryModel, ResponseModel, StrictBody, Timestamp
from backend.schemas.notifications import NotificationSubscription
from backend.schemas.scripts import SubscriptionOut, clean_name
from backend.services.scheduler.cron import MAX_EXPRESSION_CHARS, MAX_TIMEZONE_CHARS

MAX_GRACE_SECONDS = 7 * 24 * 3600
MAX_PREVIEW_COUNT = 100

CRON_HELP = (
    "5 fields (minute hour day-of-month month day-of-week), 6 with seconds first, "
    "or @yearly/@annually/@monthly/@weekly/@daily/@midnight/@hourly"
)
TIMEZONE_HELP = "IANA name such as Europe/Berlin; default SCRIPTMAN_TIMEZONE, else the server's zone"
VERSION_HELP = (
    "Pin a version of the script: every fire (and run-now) runs that version's code and parameter "
    "definitions, and params are checked against them; null runs the current version. A version the "
    "script does not have is a 422"
)
NOTIFICATIONS_HELP = (
    "Channels that hear of this schedule's runs, and on which events (failure, timeout, success, recovery; "
    "recovery judged among this schedule's runs); besides the script's own subscriptions"
)


class ScheduleCreate(StrictBody):
    name: str = Field(min_length=1, max_length=200)
    script_id: int = Field(ge=1, le=ID_MAX)
    cron: str = Field(min_length=1, max_length=MAX_EXPRESSION_CHARS, description=CRON_HELP)
    timezone: str | None = Field(default=None, max_length=MAX_TIMEZONE_CHARS, description=TIMEZONE_HELP)
    params: dict[str, Any] = Field(default_factory=dict, description="Values over the script's defaults")
    enabled: bool = True
    overlap_policy: ByValue[OverlapPolicy] = OverlapPolicy.SKIP
    misfire_grace_seconds: int = Field(default=60, ge=1, le=MAX_GRACE_SECONDS)
    version: int | None = Field(default=None, ge=1, le=ID_MAX, description=VERSION_HELP)
    notifications: list[NotificationSubscription] = Field(
        default_factory=list, max_length=50, description=NOTIFICATIONS_HELP
    )

    _name = field_validator("name")(classmethod(lambda cls, v: clean_name(v)))


class ScheduleReplace(ScheduleCreate):
    """PUT: the whole schedule."""


class SchedulePatch(StrictBody):
    """PATCH: only the fields given change."""

    name: str | None = Field(default=None, min_length=1, max_length=200)
    script_id: int | None = Field(default=None, ge=1, le=ID_MAX)
    cron: str | None = Field(default=None, min_length=1, max_length=MAX_EXPRESSION_CHARS, description=CRON_HELP)
    timezone: str | None = Field(default=None, max_length=MAX_TIMEZONE_CHARS, description=TIMEZONE_HELP)
    params: dict[str, Any] | None = None
    enabled: bool | None = None
    overlap_policy: ByValue[OverlapPolicy] | None = None
    misfire_grace_seconds: int | None = Field(default=None, ge=1, le=MAX_GRACE_SECONDS)
    version: int | None = Field(default=None, ge=1, le=ID_MAX, description=VERSION_HELP + " (null here: unpin)")
    notifications: list[NotificationSubscription] | None = Field(
        default=None, max_length=50, description=NOTIFICATIONS_HELP
    )

    _name = field_validator("name")(classmethod(lambda cls, v: v if v is None else clean_name(v)))


class SchedulePath(BaseModel):
    schedule_id: int = Field(ge=1, le=ID_MAX)


class ScheduleListQuery(PageQuery):
    script_id: int | None = Field(default=None, ge=1, le=ID_MAX)
    enabled: bool | None = None
    q: str | None = Field(default=None, max_length=200)


class PreviewQuery(QueryModel):
    cron: str = Field(min_length=1, max_length=MAX_EXPRESSION_CHARS, description=CRON_HELP)
    timezone: str | None = Field(default=None, max_length=MAX_TIMEZONE_CHARS, description=TIMEZONE_HELP)
    count: int = Field(default=5, ge=1, le=MAX_PREVIEW_COUNT)


class FireListQuery(PageQuery):
    outcome: FireOutcome | None = None


# built by backend/api/serializers.py: ``script_name`` is looked up, ``params`` masked by the script's definitions,
# ``last_status`` read from the newest run
class ScheduleOut(ResponseModel):
    id: int
    name: str
    script_id: int
    script_name: str | None
    cron: str
    timezone: str
    params: dict[str, Any] = Field(description="Secret values are shown as ***")
    enabled: bool
    overlap_policy: OverlapPolicy
    misfire_grace_seconds: int
    version: int | None = Field(description="The pinned script version it runs; null: the current version")
    notifications: list[SubscriptionOut] = Field(description="Channels that hear of its runs, and on which events")
    last_run_at: Timestamp | None
    last_status: ExecutionStatus | None = Field(
        description="The status of the schedule's newest run (a retry included) as it is now: running while "
        "it runs; null before the first run"
    )
    next_run_at: Timestamp | None
    created_at: Timestamp
    updated_at: Timestamp


class ScheduleList(PageOut[ScheduleOut]):
    pass


class PreviewOut(ResponseModel):
    cron: str
    fields: str = Field(description="The expression croniter evaluates (macros expanded)")
    has_seconds: bool
    timezone: str
    times: list[Timestamp] = Field(description="Next fire times, ISO 8601 with the zone's offset")


class FireOut(ResponseModel):
    id: int
    schedule_id: int
    scheduled_for: Timestamp
    fired_at: Timestamp
    outcome: FireOutcome
    execution_id: int | None
    detail: str | None


class FireList(PageOut[FireOut]):
    pass
