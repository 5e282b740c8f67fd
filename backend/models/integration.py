"""What opens Scriptman to the world (issue 15): trigger URLs, notification channels and their
deliveries, and the shared variables scripts may use.

Tokens are stored only as a SHA-256 hash (like API tokens); a channel's secret settings and a
secret variable's value are sealed at rest with the same Fernet key as run secrets.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from backend.extensions import db
from backend.models.encrypted import EncryptedJSON
from backend.models.types import UTCDateTime, utcnow


class ScriptHook(db.Model):  # type: ignore[name-defined,misc]
    """A per-script trigger token: ``POST /hooks/<token>`` starts the script."""

    __tablename__ = "script_hooks"

    id: Mapped[int] = mapped_column(primary_key=True)
    script_id: Mapped[int] = mapped_column(ForeignKey("scripts.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100), default="")
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(default=None)
    rotated_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    last_used_ip: Mapped[str | None] = mapped_column(String(64), default=None)


class ChannelType(enum.StrEnum):
    EMAIL = "email"
    WEBHOOK = "webhook"
    SLACK = "slack"


class NotificationChannel(db.Model):  # type: ignore[name-defined,misc]
    """Where notifications go; ``config`` holds host/URL/etc, ``secret_config`` the password or signing key."""

    __tablename__ = "notification_channels"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    type: Mapped[str] = mapped_column(String(20))
    config: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    secret_config: Mapped[dict[str, Any]] = mapped_column(EncryptedJSON, default=dict)
    enabled: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(default=None)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class DeliveryStatus(enum.StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"


class NotificationDelivery(db.Model):  # type: ignore[name-defined,misc]
    """One message to one channel, and every attempt at sending it (the sender retries with backoff)."""

    __tablename__ = "notification_deliveries"

    id: Mapped[int] = mapped_column(primary_key=True)
    channel_id: Mapped[int] = mapped_column(ForeignKey("notification_channels.id", ondelete="CASCADE"))
    execution_id: Mapped[int | None] = mapped_column(default=None, index=True)
    event: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20), default=DeliveryStatus.PENDING.value)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=utcnow)
    last_error: Mapped[str | None] = mapped_column(Text, default=None)
    response_status: Mapped[int | None] = mapped_column(default=None)
    message: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)

    __table_args__ = (
        Index("ix_notification_deliveries_channel", "channel_id", "id"),
        Index("ix_notification_deliveries_due", "status", "next_attempt_at"),
    )


class Variable(db.Model):  # type: ignore[name-defined,misc]
    """A named value shared by scripts (``variables: [...]`` on a script); a secret one is sealed and masked."""

    __tablename__ = "variables"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    description: Mapped[str] = mapped_column(String(500), default="")
    secret: Mapped[bool] = mapped_column(default=False)
    value: Mapped[Any] = mapped_column(EncryptedJSON, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    updated_by_id: Mapped[int | None] = mapped_column(default=None)
