"""Notifications: admin-managed channels, and the messages finished runs send through them.

- ``channels``: create/change/delete channels, validate each type's config, keep credentials write-only.
- ``events``: which events (failure, timeout, success, recovery) a finished run raises, for whom.
- ``messages``: what a message says (script, status, duration, trigger, masked log tail, error, link).
- ``senders``: SMTP e-mail, a signed JSON webhook, a Slack/Mattermost incoming webhook.
- ``sender``: the background thread that delivers with retries and backoff.

``notify_run_end`` is the run-end listener (registered in ``app.py``): it runs on the run's
finishing path, so it only writes delivery rows and wakes the sender; nothing is sent from it.
"""

from __future__ import annotations

import logging

from flask import current_app
from sqlalchemy import select

from backend.config import Settings
from backend.extensions import db
from backend.models import Execution, NotificationChannel, NotificationDelivery, Script
from backend.models.types import utcnow
from backend.services.notifications.events import deliveries_for
from backend.services.notifications.messages import build_message
from backend.services.notifications.sender import EXTENSION, NotificationSender

log = logging.getLogger(__name__)

__all__ = ["EXTENSION", "NotificationSender", "notify_run_end", "wake_sender"]


def wake_sender() -> None:
    sender: NotificationSender | None = current_app.extensions.get(EXTENSION)
    if sender is not None:
        sender.notify()


def notify_run_end(execution: Execution, script: Script) -> list[NotificationDelivery]:
    """Queue one delivery per subscribed, enabled channel for the events this run raised."""
    db.session.refresh(execution)  # an earlier listener may have queued a retry (next_attempt_id)
    wanted = deliveries_for(execution, script)
    if not wanted:
        return []
    channels = db.session.scalars(
        select(NotificationChannel).where(NotificationChannel.id.in_(wanted), NotificationChannel.enabled.is_(True))
    ).all()
    if not channels:
        return []
    settings: Settings = current_app.extensions["scriptman.settings"]
    messages: dict[str, dict[str, object]] = {}
    rows: list[NotificationDelivery] = []
    for channel in sorted(channels, key=lambda c: c.id):
        event = wanted[channel.id]
        if event not in messages:
            messages[event] = build_message(settings, execution, script, event)
        rows.append(
            NotificationDelivery(
                channel_id=channel.id,
                execution_id=execution.id,
                event=event,
                message=messages[event],
                next_attempt_at=utcnow(),
            )
        )
    db.session.add_all(rows)
    db.session.commit()
    wake_sender()
    return rows
