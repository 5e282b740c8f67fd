"""Trigger URLs ("hooks"): a secret URL per script that starts a run with ``POST /hooks/<token>``."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from backend.models import ExecutionStatus
from backend.schemas.common import ID_MAX, ItemList, QueryModel, ResponseModel, StrictBody, Timestamp

WAIT_PATTERN = r"^(true|false|[0-9]{1,6}(\.[0-9]{1,3})?)$"
WAIT_HELP = (
    "Hold the request until the run ends, at most this many seconds (capped by the server's "
    "SCRIPTMAN_HOOK_MAX_WAIT_SECONDS, 60 by default), and answer 200 with its status, exit code and "
    "result; a run still going then is answered 202. 'true' waits the longest allowed, 'false' or 0 not at all."
)


class HookCreate(StrictBody):
    name: str = Field(default="", max_length=100, description="What the URL is for (e.g. 'GitHub push')")


class HookPath(BaseModel):
    script_id: int = Field(ge=1, le=ID_MAX)
    hook_id: int = Field(ge=1, le=ID_MAX)


class HookOut(ResponseModel):
    """A trigger URL as listed: never its token, only the first characters to tell them apart."""

    id: int
    script_id: int
    name: str
    prefix: str = Field(description="The token's first characters")
    created_at: Timestamp
    created_by: str | None = Field(description="Username of who created it")
    rotated_at: Timestamp | None
    last_used_at: Timestamp | None = Field(description="When it last started a run")
    last_used_ip: str | None = Field(description="From which address it last started a run")


class HookCreated(HookOut):
    """Answered once, on create and on rotate: the only time the token and URL are shown."""

    token: str = Field(description="The secret token; shown only in this response")
    url: str = Field(description="POST here to start a run: the public base URL + /hooks/<token>")


class HookList(ItemList[HookOut]):
    pass


class HookTokenPath(BaseModel):
    token: str = Field(description="The secret token of a trigger URL")


class HookTriggerQuery(QueryModel):
    wait: str | None = Field(default=None, pattern=WAIT_PATTERN, description=WAIT_HELP)


class HookRunOut(BaseModel):
    """The run a trigger URL started; its page and API address."""

    execution_id: int
    status: ExecutionStatus
    url: str = Field(description="The run's page in the web app (needs a login)")
    status_url: str = Field(description="The run in the API (needs an API token)")


class HookRunResult(HookRunOut):
    """A run that ended within ``?wait``: how it ended, with its result (secrets masked)."""

    exit_code: int | None
    result: Any | None = Field(description="What the script saved as its result (JSON), secrets masked")
    error: str | None
    duration_ms: int | None
