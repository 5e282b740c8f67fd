"""Request and response shapes of the scripts API."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from backend.models import ExecutionStatus
from backend.schemas.common import (
    ID_MAX,
    ItemList,
    PageOut,
    PageQuery,
    QueryModel,
    ResponseModel,
    StrictBody,
    Timestamp,
)
from backend.schemas.names import CONTROL_CHARS, clean_name
from backend.schemas.notifications import NotificationEvent, NotificationSubscription
from backend.services.params import ParameterDefinition, mask_definitions

Language = Literal["python", "javascript", "shell"]
ConcurrencyPolicy = Literal["queue", "refuse"]
FOLDER_SEGMENT = re.compile(r"^[^/\\\x00-\x1f\x7f]{1,100}$")
MAX_TIMEOUT_SECONDS = 7 * 24 * 3600


def clean_folder(value: str) -> str:
    segments = [s for s in value.strip().strip("/").split("/") if s != ""] if value.strip() else []
    for segment in segments:
        if segment in (".", "..") or not FOLDER_SEGMENT.match(segment):
            raise ValueError("must be a path like 'reports/daily' without '.', '..' or control characters")
    return "/".join(segments)


def clean_tags(tags: list[str]) -> list[str]:
    cleaned = []
    for tag in tags:
        tag = tag.strip()
        if not tag or len(tag) > 100 or CONTROL_CHARS.search(tag):
            raise ValueError("each tag must be 1-100 printable characters")
        if tag not in cleaned:
            cleaned.append(tag)
    return cleaned


RUN_AS_PATTERN = r"^[a-z_][a-z0-9_-]*\$?$"  # a POSIX account name
MAX_CHAIN_LINKS = 20
MAX_SCRIPT_VARIABLES = 100
ScriptId = Annotated[int, Field(ge=1, le=ID_MAX)]
VariableName = Annotated[str, Field(min_length=1, max_length=100)]
NOTIFICATIONS_HELP = (
    "Which notification channels hear of this script's runs, and on which events (failure, timeout, success, "
    "recovery). Each channel_id must be an existing channel (channels are managed by admins); a channel at "
    "most once. Left out of a PUT, it stays as it is"
)
ON_SUCCESS_HELP = (
    "Scripts started (trigger chain, with their parameters' defaults) when a run of this script succeeds; "
    "they get UPSTREAM_RESULT (this run's result as JSON) and UPSTREAM_EXECUTION_ID. A link to the script "
    "itself or one that closes a cycle is a 422 naming the cycle. Left out of a PUT, it stays as it is"
)
ON_FAILURE_HELP = (
    "Scripts started when a run of this script fails, times out or is interrupted (after its last retry; a "
    "cancelled run starts nothing); as on_success otherwise"
)
VARIABLES_HELP = (
    "Names of shared variables (GET /api/variables) the runs receive as environment variables; a name "
    "without a variable is a 422. Left out of a PUT, it stays as it is"
)


class ScriptLimits(StrictBody):
    """Per-script resource limits; a missing or null value uses the server's default."""

    memory_mb: int | None = Field(default=None, ge=16, le=1_048_576)
    cpu_seconds: int | None = Field(default=None, ge=1, le=MAX_TIMEOUT_SECONDS)
    file_size_mb: int | None = Field(default=None, ge=1, le=1_048_576)
    open_files: int | None = Field(default=None, ge=16, le=1_048_576)
    processes: int | None = Field(default=None, ge=1, le=1_000_000)


class ScriptFields(StrictBody):
    """Fields a client may set; shared by create, replace and patch."""

    description: str = Field(default="", max_length=10_000)
    code: str = ""
    dependencies: list[str] = Field(default_factory=list, max_length=200)
    parameters: list[ParameterDefinition] = Field(default_factory=list)
    tags: list[str] = Field(default_factory=list, max_length=50)
    folder: str = Field(default="", max_length=500)
    timeout_seconds: int | None = Field(default=None, ge=1, le=MAX_TIMEOUT_SECONDS)
    max_concurrent: int | None = Field(default=None, ge=1, le=1000)
    concurrency_policy: ConcurrencyPolicy = "queue"
    max_retries: int = Field(default=0, ge=0, le=20)
    retry_delay_seconds: int = Field(default=0, ge=0, le=86_400)
    enabled: bool = True
    limits: ScriptLimits = Field(default_factory=ScriptLimits)
    sandbox_network: bool = Field(default=True, description="Network access inside the bwrap sandbox")
    run_as_user: str | None = Field(
        default=None,
        max_length=32,
        pattern=RUN_AS_PATTERN,
        description="Account the runs use instead of the server's SCRIPTMAN_RUN_AS_USER; only admins may set it",
    )

    notifications: list[NotificationSubscription] = Field(
        default_factory=list, max_length=50, description=NOTIFICATIONS_HELP
    )
    on_success: list[ScriptId] = Field(default_factory=list, max_length=MAX_CHAIN_LINKS, description=ON_SUCCESS_HELP)
    on_failure: list[ScriptId] = Field(default_factory=list, max_length=MAX_CHAIN_LINKS, description=ON_FAILURE_HELP)
    variables: list[VariableName] = Field(
        default_factory=list, max_length=MAX_SCRIPT_VARIABLES, description=VARIABLES_HELP
    )

    _tags = field_validator("tags")(classmethod(lambda cls, v: clean_tags(v)))
    _folder = field_validator("folder")(classmethod(lambda cls, v: clean_folder(v)))


# new in issue 15: a PUT that leaves them out keeps them (a client that does not know them wipes nothing)
KEPT_WHEN_LEFT_OUT = ("notifications", "on_success", "on_failure", "variables")


class ScriptCreate(ScriptFields):
    name: str = Field(min_length=1, max_length=200)
    language: Language

    _name = field_validator("name")(classmethod(lambda cls, v: clean_name(v)))


class ScriptReplace(ScriptCreate):
    """PUT: the whole script. ``version`` (optional) guards against overwriting someone else's edit."""

    version: int | None = Field(default=None, ge=1, le=ID_MAX, description="The version this edit is based on")
    message: str = Field(default="", max_length=500, description="Note stored with a new version")


class ScriptPatch(StrictBody):
    """PATCH: only the fields given change."""

    name: str | None = Field(default=None, min_length=1, max_length=200)
    language: Language | None = None
    description: str | None = Field(default=None, max_length=10_000)
    code: str | None = None
    dependencies: list[str] | None = Field(default=None, max_length=200)
    parameters: list[ParameterDefinition] | None = None
    tags: list[str] | None = Field(default=None, max_length=50)
    folder: str | None = Field(default=None, max_length=500)
    timeout_seconds: int | None = Field(default=None, ge=1, le=MAX_TIMEOUT_SECONDS)
    max_concurrent: int | None = Field(default=None, ge=1, le=1000)
    concurrency_policy: ConcurrencyPolicy | None = None
    max_retries: int | None = Field(default=None, ge=0, le=20)
    retry_delay_seconds: int | None = Field(default=None, ge=0, le=86_400)
    enabled: bool | None = None
    limits: ScriptLimits | None = None
    sandbox_network: bool | None = None
    run_as_user: str | None = Field(default=None, max_length=32, pattern=RUN_AS_PATTERN)
    notifications: list[NotificationSubscription] | None = Field(
        default=None, max_length=50, description=NOTIFICATIONS_HELP
    )
    on_success: list[ScriptId] | None = Field(default=None, max_length=MAX_CHAIN_LINKS, description=ON_SUCCESS_HELP)
    on_failure: list[ScriptId] | None = Field(default=None, max_length=MAX_CHAIN_LINKS, description=ON_FAILURE_HELP)
    variables: list[VariableName] | None = Field(
        default=None, max_length=MAX_SCRIPT_VARIABLES, description=VARIABLES_HELP
    )
    version: int | None = Field(default=None, ge=1, le=ID_MAX)
    message: str | None = Field(default=None, max_length=500)

    _name = field_validator("name")(classmethod(lambda cls, v: v if v is None else clean_name(v)))
    _tags = field_validator("tags")(classmethod(lambda cls, v: v if v is None else clean_tags(v)))
    _folder = field_validator("folder")(classmethod(lambda cls, v: v if v is None else clean_folder(v)))


class ScriptListQuery(PageQuery):
    q: str | None = Field(
        default=None,
        max_length=200,
        description="Case-insensitive text found in the name, description, folder, a tag or the current code",
    )
    tag: str | None = Field(default=None, max_length=100, description="Only scripts with this exact tag")
    folder: str | None = Field(
        default=None,
        max_length=500,
        description="Only scripts in this folder or its subfolders ('demo' matches 'demo/params', not 'demonstration')",
    )


class ScriptDuplicate(StrictBody):
    """POST /scripts/{id}/duplicate: an optional name for the copy."""

    model_config = ConfigDict(
        openapi_extra={"required": False, "description": "Optional; no body means the default name"}  # type: ignore[typeddict-unknown-key]
    )

    name: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="Name of the new script; default '<name> (copy)', then '(copy 2)', ... when taken",
    )

    _name = field_validator("name")(classmethod(lambda cls, v: v if v is None else clean_name(v)))

    @model_validator(mode="before")
    @classmethod
    def _no_body_is_no_name(cls, data: Any) -> Any:
        """The body is optional: none (or null) means the default name."""
        return {} if data is None else data


class ScriptPath(BaseModel):
    script_id: int = Field(ge=1, le=ID_MAX)


class VersionPath(ScriptPath):
    number: int = Field(ge=1, le=ID_MAX)


class DiffQuery(QueryModel):
    from_: int = Field(alias="from", ge=1, le=ID_MAX)
    to: int = Field(ge=1, le=ID_MAX)


# Parameter definitions as they leave the server: whoever builds a response, a secret's default is ***.
MaskedDefinitions = Annotated[
    list[dict[str, Any]], AfterValidator(mask_definitions), Field(description="A secret's default is shown as ***")
]


class SubscriptionOut(ResponseModel):
    """One entry of a script's or schedule's ``notifications``."""

    channel_id: int
    on: list[NotificationEvent]


class LastRun(ResponseModel):
    id: int
    status: ExecutionStatus
    queued_at: Timestamp
    finished_at: Timestamp | None


# built by backend/api/serializers.py: ``version`` and ``last_run`` are not columns
class ScriptOut(ResponseModel):
    id: int
    name: str
    description: str
    language: Language
    code: str
    dependencies: list[str]
    parameters: MaskedDefinitions
    tags: list[str]
    folder: str
    timeout_seconds: int | None
    max_concurrent: int | None
    concurrency_policy: ConcurrencyPolicy
    max_retries: int
    retry_delay_seconds: int
    enabled: bool
    limits: dict[str, int | None]
    sandbox_network: bool
    run_as_user: str | None
    notifications: list[SubscriptionOut] = Field(description="Channels that hear of its runs, and on which events")
    on_success: list[int] = Field(description="Scripts started when a run succeeds")
    on_failure: list[int] = Field(description="Scripts started when a run fails, times out or is interrupted")
    variables: list[str] = Field(description="Shared variables its runs receive")
    version: int = Field(description="Current version number")
    revision: int = Field(description="Bumped on every change; use as If-Match")
    created_at: Timestamp
    updated_at: Timestamp
    last_run: LastRun | None = Field(default=None, description="The newest execution of this script")


class ScriptList(PageOut[ScriptOut]):
    pass


class VersionOut(ResponseModel):
    number: int
    script_id: int
    code: str
    dependencies: list[str]
    parameters: MaskedDefinitions
    message: str
    created_at: Timestamp
    author: str | None = Field(description="Username of who saved this version; null if unknown or deleted")


class VersionSummary(ResponseModel):
    number: int
    message: str
    created_at: Timestamp
    current: bool
    author: str | None = Field(description="Username of who saved this version; null if unknown or deleted")


class VersionList(ItemList[VersionSummary]):
    pass


class DiffOut(ResponseModel):
    script_id: int
    from_version: int
    to_version: int
    diff: str = Field(description="Unified diff of code, dependencies and parameters")
