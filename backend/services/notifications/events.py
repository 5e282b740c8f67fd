"""Which notification events a finished run raises, and for which channels.

- ``failure``: the run failed, or was interrupted by a server stop (nobody chose to end it);
  ``timeout``: it was killed at its timeout; ``success``: it succeeded.
- ``recovery``: it succeeded and the previous judged run did not. "Previous" is per subscription:
  the script's runs for the script's ``notifications``, the schedule's runs for a schedule's.
- A retry series is judged by its last attempt: an attempt that was superseded by a retry
  (``next_attempt_id`` set) raises nothing and is not anyone's "previous run"; a cancelled run
  raises nothing and is skipped when looking back, as is a run still going.
- A subscription on both ``success`` and ``recovery`` gets one message, the recovery; a channel
  that both the script and the schedule name gets one message per run.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from backend.extensions import db
from backend.models import Execution, ExecutionStatus, Schedule, Script
from backend.schemas.notifications import NotificationEvent

DIRECT_EVENTS: dict[str, NotificationEvent] = {
    ExecutionStatus.FAILED.value: NotificationEvent.FAILURE,
    ExecutionStatus.INTERRUPTED.value: NotificationEvent.FAILURE,
    ExecutionStatus.TIMED_OUT.value: NotificationEvent.TIMEOUT,
    ExecutionStatus.SUCCEEDED.value: NotificationEvent.SUCCESS,
}
JUDGED_STATUSES = tuple(DIRECT_EVENTS)
NOT_SUCCEEDED = (ExecutionStatus.FAILED.value, ExecutionStatus.TIMED_OUT.value, ExecutionStatus.INTERRUPTED.value)
# when both apply, the more specific event is the one sent
PREFERENCE = (
    NotificationEvent.RECOVERY,
    NotificationEvent.FAILURE,
    NotificationEvent.TIMEOUT,
    NotificationEvent.SUCCESS,
)


def subscriptions(entries: Any) -> dict[int, set[str]]:
    """``notifications`` as stored → {channel id: events}; malformed entries are ignored."""
    found: dict[int, set[str]] = {}
    if not isinstance(entries, list):
        return found
    for entry in entries:
        if not isinstance(entry, dict):
            continue
        channel_id, on = entry.get("channel_id"), entry.get("on")
        if isinstance(channel_id, int) and not isinstance(channel_id, bool) and isinstance(on, list):
            found.setdefault(channel_id, set()).update(e for e in on if isinstance(e, str))
    return found


def previous_judged_status(execution: Execution, *, schedule_id: int | None = None) -> str | None:
    """The status of the run before ``execution`` that counts (its script's, or its schedule's).

    Ordered by when runs finished, not by id: with concurrent runs, the one that ended last before
    this one is what a reader of the notifications last heard of.
    """
    series_start = execution.retry_of_id or execution.id
    query = select(Execution.status).where(
        Execution.id != execution.id,
        Execution.id != series_start,
        Execution.status.in_(JUDGED_STATUSES),
        Execution.next_attempt_id.is_(None),
        Execution.finished_at.is_not(None),
    )
    if execution.finished_at is not None:
        query = query.where(Execution.finished_at <= execution.finished_at)
    if schedule_id is not None:
        query = query.where(Execution.schedule_id == schedule_id)
    else:
        query = query.where(Execution.script_id == execution.script_id)
    query = query.order_by(Execution.finished_at.desc(), Execution.id.desc()).limit(1)
    return db.session.scalar(query)


def run_events(execution: Execution, *, schedule_id: int | None = None) -> set[NotificationEvent]:
    """The events ``execution`` raises, judged against the script's runs (or the schedule's)."""
    if execution.next_attempt_id is not None:
        return set()
    direct = DIRECT_EVENTS.get(execution.status)
    if direct is None:
        return set()
    events = {direct}
    if (
        direct == NotificationEvent.SUCCESS
        and previous_judged_status(execution, schedule_id=schedule_id) in NOT_SUCCEEDED
    ):
        events.add(NotificationEvent.RECOVERY)
    return events


def pick(events: set[str]) -> str | None:
    for event in PREFERENCE:
        if event.value in events:
            return event.value
    return None


def deliveries_for(execution: Execution, script: Script) -> dict[int, str]:
    """{channel id: the one event to send it} for a finished run; empty when nobody listens."""
    by_script = subscriptions(script.notifications)
    schedule = db.session.get(Schedule, execution.schedule_id) if execution.schedule_id else None
    by_schedule = subscriptions(schedule.notifications) if schedule is not None else {}
    if not by_script and not by_schedule:
        return {}
    wanted: dict[int, set[str]] = {}
    if by_script:
        raised = {e.value for e in run_events(execution)}
        for channel_id, on in by_script.items():
            wanted.setdefault(channel_id, set()).update(raised & on)
    if by_schedule and schedule is not None:
        raised = {e.value for e in run_events(execution, schedule_id=schedule.id)}
        for channel_id, on in by_schedule.items():
            wanted.setdefault(channel_id, set()).update(raised & on)
    return {channel_id: event for channel_id, events in wanted.items() if (event := pick(events)) is not None}
