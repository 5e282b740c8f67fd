"""Scripts and their immutable versions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from backend.extensions import db
from backend.models.encrypted import ParameterDefinitions
from backend.models.types import UTCDateTime, utcnow


class Script(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "scripts"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    language: Mapped[str] = mapped_column(String(20))
    code: Mapped[str] = mapped_column(Text, default="")
    dependencies: Mapped[list[str]] = mapped_column(JSON, default=list)
    # secret defaults are encrypted at rest (models/encrypted.py)
    parameters: Mapped[list[dict[str, Any]]] = mapped_column(ParameterDefinitions, default=list)
    folder: Mapped[str] = mapped_column(String(500), default="", index=True)
    timeout_seconds: Mapped[int | None] = mapped_column(default=None)
    max_concurrent: Mapped[int | None] = mapped_column(default=None)
    concurrency_policy: Mapped[str] = mapped_column(String(20), default="queue")
    max_retries: Mapped[int] = mapped_column(default=0)
    retry_delay_seconds: Mapped[int] = mapped_column(default=0)
    enabled: Mapped[bool] = mapped_column(default=True)
    # Per-script resource limits overriding the server's defaults (see services/executor/limits.py).
    limits: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    sandbox_network: Mapped[bool] = mapped_column(default=True)
    # The account this script's runs use instead of the server's SCRIPTMAN_RUN_AS_USER; admins only.
    run_as_user: Mapped[str | None] = mapped_column(String(64), default=None)
    # issue 15: who hears of its runs, what runs after it, which shared variables it receives
    notifications: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    on_success: Mapped[list[int]] = mapped_column(JSON, default=list)
    on_failure: Mapped[list[int]] = mapped_column(JSON, default=list)
    variables: Mapped[list[str]] = mapped_column(JSON, default=list)
    current_version: Mapped[int] = mapped_column(default=1)
    revision: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    tag_rows: Mapped[list[ScriptTag]] = relationship(
        back_populates="script", cascade="all, delete-orphan", order_by="ScriptTag.tag", lazy="selectin"
    )
    versions: Mapped[list[ScriptVersion]] = relationship(
        back_populates="script", cascade="all, delete-orphan", order_by="ScriptVersion.number"
    )

    @property
    def tags(self) -> list[str]:
        return [row.tag for row in self.tag_rows]


class ScriptTag(db.Model):  # type: ignore[name-defined,misc]
    """One row per tag: filtering by tag stays plain SQL on SQLite and PostgreSQL alike."""

    __tablename__ = "script_tags"

    script_id: Mapped[int] = mapped_column(ForeignKey("scripts.id", ondelete="CASCADE"), primary_key=True)
    tag: Mapped[str] = mapped_column(String(100), primary_key=True)

    script: Mapped[Script] = relationship(back_populates="tag_rows")

    __table_args__ = (Index("ix_script_tags_tag", "tag"),)


class ScriptVersion(db.Model):  # type: ignore[name-defined,misc]
    """Immutable snapshot of what runs: code, dependencies and parameter definitions."""

    __tablename__ = "script_versions"

    id: Mapped[int] = mapped_column(primary_key=True)
    script_id: Mapped[int] = mapped_column(ForeignKey("scripts.id", ondelete="CASCADE"))
    number: Mapped[int]
    code: Mapped[str] = mapped_column(Text)
    dependencies: Mapped[list[str]] = mapped_column(JSON, default=list)
    # secret defaults are encrypted at rest (models/encrypted.py)
    parameters: Mapped[list[dict[str, Any]]] = mapped_column(ParameterDefinitions, default=list)
    message: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # who saved it (a plain id, like executions.created_by_id: deleting the user keeps the history)
    created_by_id: Mapped[int | None] = mapped_column(default=None)

    script: Mapped[Script] = relationship(back_populates="versions")

    __table_args__ = (UniqueConstraint("script_id", "number", name="uq_script_versions_script_number"),)
