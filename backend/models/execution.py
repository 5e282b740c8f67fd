"""One run of one script version."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from backend.extensions import db
from backend.models.encrypted import EncryptedJSON
from backend.models.types import UTCDateTime, utcnow


class ExecutionStatus(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    TIMED_OUT = "timed_out"
    CANCELLED = "cancelled"
    INTERRUPTED = "interrupted"

    @property
    def is_final(self) -> bool:
        return self not in (ExecutionStatus.QUEUED, ExecutionStatus.RUNNING)


ACTIVE_STATUSES = (ExecutionStatus.QUEUED.value, ExecutionStatus.RUNNING.value)


class Trigger(enum.StrEnum):
    """What started a run. Stored as its value; a new member needs no migration (old rows keep theirs)."""

    MANUAL = "manual"  # the web app (a session cookie)
    SCHEDULE = "schedule"
    WEBHOOK = "webhook"  # POST /hooks/<token>
    RETRY = "retry"
    RERUN = "rerun"
    API = "api"  # a REST call authenticated with a bearer token
    CLI = "cli"  # ``scriptman run``
    CHAIN = "chain"  # the end of another run (its script's on_success / on_failure)


class Execution(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "executions"

    id: Mapped[int] = mapped_column(primary_key=True)
    script_id: Mapped[int] = mapped_column(ForeignKey("scripts.id", ondelete="CASCADE"))
    version_number: Mapped[int]
    trigger: Mapped[str] = mapped_column(String(20), default=Trigger.MANUAL.value)
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # Secret values, kept apart from ``params`` (which holds ``***``) so reruns and queued runs
    # can still use them; never serialised by the API. Encrypted at rest (models/encrypted.py).
    secret_params: Mapped[dict[str, Any]] = mapped_column(EncryptedJSON, default=dict)
    status: Mapped[str] = mapped_column(String(20), default=ExecutionStatus.QUEUED.value)
    exit_code: Mapped[int | None] = mapped_column(default=None)
    result: Mapped[Any | None] = mapped_column(JSON, default=None)
    error: Mapped[str | None] = mapped_column(Text, default=None)
    queued_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    duration_ms: Mapped[int | None] = mapped_column(default=None)
    peak_memory_kb: Mapped[int | None] = mapped_column(default=None)
    cpu_time_ms: Mapped[int | None] = mapped_column(default=None)
    attempt: Mapped[int] = mapped_column(default=1)
    retry_of_id: Mapped[int | None] = mapped_column(ForeignKey("executions.id", ondelete="SET NULL"), default=None)
    rerun_of_id: Mapped[int | None] = mapped_column(ForeignKey("executions.id", ondelete="SET NULL"), default=None)
    schedule_id: Mapped[int | None] = mapped_column(
        ForeignKey("schedules.id", ondelete="SET NULL"), default=None, index=True
    )
    not_before: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    cancel_requested: Mapped[bool] = mapped_column(default=False)
    progress: Mapped[float | None] = mapped_column(default=None)
    progress_message: Mapped[str | None] = mapped_column(String(500), default=None)
    pid: Mapped[int | None] = mapped_column(default=None)
    pid_started_at: Mapped[float | None] = mapped_column(default=None)
    cookie: Mapped[str | None] = mapped_column(String(64), default=None)
    # who started it: the user (manual, API, re-run), the schedule's creator, the first attempt's for a
    # retry; a plain id without a foreign key, so deleting a user keeps the history
    created_by_id: Mapped[int | None] = mapped_column(default=None)
    # the retry queued after this attempt failed (set when it is queued); a superseded attempt is not
    # counted as a failure, and its page links to the next attempt
    next_attempt_id: Mapped[int | None] = mapped_column(default=None)
    # a chained run: the run whose end started it (its result is the script's UPSTREAM_RESULT)
    upstream_execution_id: Mapped[int | None] = mapped_column(default=None, index=True)
    # the names of the shared variables it received (never their values)
    variables: Mapped[list[str]] = mapped_column(JSON, default=list)
    sandboxed: Mapped[bool] = mapped_column(default=False)
    # the Celery worker that claimed it (SCRIPTMAN_EXECUTOR=celery); None under the local executor
    worker: Mapped[str | None] = mapped_column(String(200), default=None)

    def run_values(self) -> dict[str, Any]:
        """The real parameter values of the run: the visible params with the secrets put back."""
        return {**(self.params or {}), **(self.secret_params or {})}

    __table_args__ = (
        Index("ix_executions_script_id_id", "script_id", "id"),
        Index("ix_executions_status", "status"),
        Index("ix_executions_trigger", "trigger"),
        # the dashboard's runs per day: a range of queued_at read from the index alone
        Index("ix_executions_queued_at_status", "queued_at", "status", "next_attempt_id"),
        # text search: with "error IS NOT NULL" in the query, matching errors are read from this small
        # index and the script-name matches from (script_id, id), not by reading every row
        Index(
            "ix_executions_error",
            "error",
            sqlite_where=text("error IS NOT NULL"),
            postgresql_where=text("error IS NOT NULL"),
        ),
        # ids name a run's folders and log: never hand one out again after a delete
        {"sqlite_autoincrement": True},
    )
