"""Request and response shapes of notification channels, their deliveries and subscriptions.

A channel's ``config`` is one JSON object whose shape depends on ``type``; the three shapes are
``EmailConfig``, ``WebhookConfig`` and ``SlackConfig`` (the OpenAPI document shows them as
``anyOf``). Keys that are credentials (``SECRET_KEYS``) are write-only: responses show ``***``
for a set one, and ``***`` sent back means "keep the stored value".
"""

from __future__ import annotations

import enum
import re
from email.utils import parseaddr
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, WithJsonSchema, field_validator

from backend.models import ChannelType, DeliveryStatus
from backend.schemas.common import ID_MAX, ByValue, ItemList, PageOut, PageQuery, ResponseModel, StrictBody, Timestamp
from backend.schemas.names import clean_name

MASKED = "***"
CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f]")
MAX_RECIPIENTS = 50
MAX_URL_CHARS = 2000
MAX_SECRET_CHARS = 1000


class NotificationEvent(enum.StrEnum):
    """What a finished run can raise (a subscription lists the ones it wants)."""

    FAILURE = "failure"  # the run (the last attempt of a retry series) failed or was interrupted
    TIMEOUT = "timeout"  # it was killed at its timeout
    SUCCESS = "success"  # it succeeded
    RECOVERY = "recovery"  # it succeeded and the previous run (of the script, or of the schedule) did not


class DeliveryEvent(enum.StrEnum):
    """A delivery's event: a run's, or ``test`` for a message sent with "send test"."""

    FAILURE = "failure"
    TIMEOUT = "timeout"
    SUCCESS = "success"
    RECOVERY = "recovery"
    TEST = "test"


# Per channel type: the config keys that are credentials (stored encrypted, never shown again).
# The Slack/Mattermost incoming-webhook URL is one: whoever has it can post to the channel.
SECRET_KEYS: dict[ChannelType, tuple[str, ...]] = {
    ChannelType.EMAIL: ("password",),
    ChannelType.WEBHOOK: ("secret",),
    ChannelType.SLACK: ("url",),
}


def _no_control(value: str) -> str:
    if CONTROL_CHARS.search(value):
        raise ValueError("must not contain control characters (a line break would forge a header)")
    return value


def check_url(value: str) -> str:
    """An absolute http(s) URL; the error never repeats the value (it may be a credential)."""
    value = _no_control(value.strip())
    try:
        parts = urlsplit(value)
    except ValueError:
        raise ValueError("is not a URL") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an absolute http:// or https:// URL")
    return value


def check_address(value: str) -> str:
    """One e-mail address, bare or as ``Name <addr@host>``."""
    value = _no_control(value.strip())
    _, address = parseaddr(value)
    if not address or "@" not in address or address.startswith("@") or address.endswith("@") or " " in address:
        raise ValueError(f"{value!r} is not an e-mail address")
    return value


Address = Annotated[str, AfterValidator(check_address)]


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, populate_by_name=True)


class EmailConfig(_Config):
    """E-mail over SMTP. ``port`` defaults by ``security``: 25 (none), 587 (starttls), 465 (tls)."""

    host: str = Field(min_length=1, max_length=255, description="SMTP server host name")
    port: int | None = Field(default=None, ge=1, le=65535)
    security: Literal["none", "starttls", "tls"] = Field(
        default="starttls", description="none: plain SMTP; starttls: upgrade after connecting; tls: TLS from the start"
    )
    username: str | None = Field(default=None, max_length=255, description="Log in with this user (and password)")
    password: str | None = Field(default=None, max_length=MAX_SECRET_CHARS, description="Write-only (*** when set)")
    from_address: str = Field(alias="from", min_length=3, max_length=320, description="Sender address")
    to: list[Address] = Field(min_length=1, max_length=MAX_RECIPIENTS, description="Recipient addresses")

    @field_validator("host", "username")
    @classmethod
    def _plain(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = _no_control(value.strip())
        if not value:
            raise ValueError("must not be empty")
        return value

    @field_validator("from_address")
    @classmethod
    def _sender(cls, value: str) -> str:
        return check_address(value)

    @property
    def resolved_port(self) -> int:
        return self.port or {"none": 25, "starttls": 587, "tls": 465}[self.security]


class WebhookConfig(_Config):
    """A JSON POST of the message; with ``secret``, signed: ``X-Scriptman-Signature: sha256=<hex>``
    is the HMAC-SHA256 of the raw body under the secret."""

    url: str = Field(min_length=1, max_length=MAX_URL_CHARS, description="http(s) URL the message is POSTed to")
    secret: str | None = Field(
        default=None, max_length=MAX_SECRET_CHARS, description="HMAC signing key; write-only (*** when set)"
    )

    _url = field_validator("url")(classmethod(lambda cls, v: check_url(v)))


class SlackConfig(_Config):
    """A Slack or Mattermost incoming webhook: ``{"text": ...}`` is POSTed to ``url``."""

    url: str = Field(
        min_length=1,
        max_length=MAX_URL_CHARS,
        description="The incoming-webhook URL; a credential, so write-only (*** when set)",
    )

    _url = field_validator("url")(classmethod(lambda cls, v: check_url(v)))


CONFIG_MODELS: dict[ChannelType, type[_Config]] = {
    ChannelType.EMAIL: EmailConfig,
    ChannelType.WEBHOOK: WebhookConfig,
    ChannelType.SLACK: SlackConfig,
}
CONFIG_HELP = (
    "Settings for the channel's type (email, webhook or slack; see the three shapes). Credentials "
    "(email password, webhook secret, slack url) are write-only: responses show ***, and *** sent back "
    "(or the key left out on PATCH) keeps the stored value."
)
ChannelConfig = Annotated[
    dict[str, Any],
    WithJsonSchema(
        {
            "type": "object",
            "description": CONFIG_HELP,
            "anyOf": [model.model_json_schema(by_alias=True) for model in CONFIG_MODELS.values()],
        }
    ),
]


class ChannelCreate(StrictBody):
    name: str = Field(min_length=1, max_length=100)
    type: ByValue[ChannelType]
    config: ChannelConfig
    enabled: bool = True

    _name = field_validator("name")(classmethod(lambda cls, v: clean_name(v)))


class ChannelPatch(StrictBody):
    """PATCH: only the fields given change; ``config`` is the whole config (credentials as above)."""

    name: str | None = Field(default=None, min_length=1, max_length=100)
    type: ByValue[ChannelType] | None = Field(default=None, description="Must be the channel's type (it never changes)")
    config: ChannelConfig | None = None
    enabled: bool | None = None

    _name = field_validator("name")(classmethod(lambda cls, v: v if v is None else clean_name(v)))


class ChannelPath(BaseModel):
    channel_id: int = Field(ge=1, le=ID_MAX)


class ChannelOut(ResponseModel):
    id: int
    name: str
    type: ChannelType
    config: dict[str, Any] = Field(description="As sent, with each set credential shown as *** (null when unset)")
    secrets: dict[str, bool] = Field(description="Each credential key of the type, and whether it is set")
    enabled: bool
    created_at: Timestamp
    updated_at: Timestamp


class ChannelName(ResponseModel):
    """What anyone who picks a channel for a script or schedule may see of it."""

    id: int
    name: str
    type: ChannelType
    enabled: bool


class ChannelNameList(ItemList[ChannelName]):
    pass


class ChannelList(ItemList[ChannelOut]):
    pass


class DeliveryOut(ResponseModel):
    id: int
    channel_id: int
    channel_name: str | None
    channel_type: ChannelType | None
    execution_id: int | None
    event: DeliveryEvent
    status: DeliveryStatus = Field(description="pending (waiting for its next attempt), sent, or failed (gave up)")
    attempts: int
    next_attempt_at: Timestamp | None = Field(description="When a pending delivery is tried next")
    last_error: str | None
    response_status: int | None = Field(
        description="The HTTP status (webhook, slack) or SMTP reply code of the last attempt"
    )
    created_at: Timestamp
    sent_at: Timestamp | None


class DeliveryPage(PageOut[DeliveryOut]):
    pass


class DeliveryList(ItemList[DeliveryOut]):
    pass


class DeliveryQuery(PageQuery):
    status: DeliveryStatus | None = None


class NotificationSubscription(StrictBody):
    """One entry of a script's or schedule's ``notifications``: which channel hears of which events."""

    channel_id: int = Field(ge=1, le=ID_MAX)
    on: list[ByValue[NotificationEvent]] = Field(
        min_length=1,
        max_length=len(NotificationEvent),
        description="failure, timeout, success, recovery (the first success after a run that did not succeed)",
    )
