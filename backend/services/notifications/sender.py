"""The background sender: delivers pending ``notification_deliveries`` rows, retrying with backoff.

Runs never wait on it: the run-end listener only inserts rows and wakes this thread. Each
delivery is tried up to ``1 + len(SCRIPTMAN_NOTIFICATION_RETRY_DELAYS)`` times, waiting the
listed seconds between attempts (10 s, 30 s, 2 min, 10 min by default); every attempt updates
the row (attempts, last_error, response_status, and status/sent_at at the end), so the run page
and the channel's history show where a message is.

Pending rows live in the database, so a restart picks them up. A row is claimed with a
conditional UPDATE that pushes its ``next_attempt_at`` a lease ahead: two server processes on
one database never send the same attempt twice, and a process that dies mid-send leaves the row
to be tried again once the lease is over.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import func, select, update

from backend.extensions import db
from backend.models import ChannelType, DeliveryStatus, NotificationChannel, NotificationDelivery
from backend.models.types import utcnow
from backend.services.notifications import senders
from backend.services.notifications.channels import full_config

if TYPE_CHECKING:
    from flask import Flask

    from backend.config import Settings

log = logging.getLogger(__name__)

IDLE_SECONDS = 30.0  # with nothing due, look again this often anyway (rows another process added)
BATCH = 50
LEASE_SECONDS = 300.0  # a claimed attempt is not taken by anyone else for this long
TEST_TIMEOUT_SECONDS = 5.0
EXTENSION = "scriptman.notification_sender"


def attempt(delivery: NotificationDelivery, timeout: float) -> senders.Outcome:
    """One attempt at ``delivery`` (no bookkeeping): the channel as it is now, the stored message."""
    channel = db.session.get(NotificationChannel, delivery.channel_id)
    if channel is None:
        return senders.Outcome(ok=False, error="the channel was deleted")
    if not channel.enabled and delivery.event != "test":
        return senders.Outcome(ok=False, error="the channel is disabled")
    config = full_config(channel)
    return senders.send(
        ChannelType(channel.type), config, delivery.message or {}, delivery_id=delivery.id, timeout=timeout
    )


def record(delivery: NotificationDelivery, outcome: senders.Outcome, delays: list[float], *, retry: bool) -> None:
    """Write one attempt's outcome on the row: sent, pending with its next time, or failed for good."""
    now = utcnow()
    delivery.attempts = (delivery.attempts or 0) + 1
    delivery.response_status = outcome.response_status
    if outcome.error or not outcome.ok:  # a success keeps the error that made it take more than one try
        delivery.last_error = outcome.error
    if outcome.ok:
        delivery.status = DeliveryStatus.SENT.value
        delivery.sent_at = now
        delivery.next_attempt_at = None
    elif retry and delivery.attempts <= len(delays) and outcome.error != "the channel was deleted":
        delivery.status = DeliveryStatus.PENDING.value
        delivery.next_attempt_at = now + timedelta(seconds=delays[delivery.attempts - 1])
    else:
        delivery.status = DeliveryStatus.FAILED.value
        delivery.next_attempt_at = None


def send_test(channel: NotificationChannel, message: dict[str, object], timeout: float) -> NotificationDelivery:
    """Send a test message now (no retries) and keep the attempt in the channel's history."""
    delivery = NotificationDelivery(
        channel_id=channel.id, execution_id=None, event="test", message=message, next_attempt_at=None
    )
    db.session.add(delivery)
    db.session.commit()  # the id goes into the webhook's headers and body
    outcome = attempt(delivery, timeout)
    record(delivery, outcome, [], retry=False)
    db.session.commit()
    return delivery


class NotificationSender:
    """One daemon thread per server process; ``notify()`` wakes it when rows were added."""

    def __init__(self, app: Flask, settings: Settings) -> None:
        self.app = app
        self.settings = settings
        self.wake = threading.Condition()
        self.pending_wake = False
        self.stopping = threading.Event()
        self.thread: threading.Thread | None = None

    def start(self) -> None:
        if self.thread is not None:
            return
        self.stopping.clear()
        self.thread = threading.Thread(target=self._loop, name="scriptman-notify", daemon=True)
        self.thread.start()

    def notify(self) -> None:
        with self.wake:
            self.pending_wake = True
            self.wake.notify()

    def stop(self) -> None:
        self.stopping.set()
        self.notify()
        if self.thread is not None and self.thread is not threading.current_thread():
            self.thread.join(timeout=self.settings.notification_timeout_seconds + 1)
        self.thread = None

    def _loop(self) -> None:
        while not self.stopping.is_set():
            wait = IDLE_SECONDS
            try:
                wait = self.deliver_due()
            except Exception:
                log.exception("notification sender pass failed")
            with self.wake:
                if not self.pending_wake and not self.stopping.is_set():
                    self.wake.wait(timeout=max(0.01, min(wait, IDLE_SECONDS)))
                self.pending_wake = False

    def deliver_due(self) -> float:
        """Send every delivery that is due; returns seconds until the next one is (at most IDLE)."""
        with self.app.app_context():
            try:
                while not self.stopping.is_set():
                    due = db.session.scalars(
                        select(NotificationDelivery.id)
                        .where(
                            NotificationDelivery.status == DeliveryStatus.PENDING.value,
                            NotificationDelivery.next_attempt_at <= utcnow(),
                        )
                        .order_by(NotificationDelivery.next_attempt_at, NotificationDelivery.id)
                        .limit(BATCH)
                    ).all()
                    if not due:
                        break
                    for delivery_id in due:
                        if self.stopping.is_set():
                            break
                        self._deliver(delivery_id)
                return self._seconds_to_next()
            finally:
                db.session.remove()

    def _seconds_to_next(self) -> float:
        upcoming: datetime | None = db.session.scalar(
            select(func.min(NotificationDelivery.next_attempt_at)).where(
                NotificationDelivery.status == DeliveryStatus.PENDING.value
            )
        )
        if upcoming is None:
            return IDLE_SECONDS
        if upcoming.tzinfo is None:
            upcoming = upcoming.replace(tzinfo=utcnow().tzinfo)
        return max(0.0, (upcoming - utcnow()).total_seconds())

    def _claim(self, delivery_id: int) -> NotificationDelivery | None:
        delivery = db.session.get(NotificationDelivery, delivery_id)
        if delivery is None or delivery.status != DeliveryStatus.PENDING.value:
            return None
        due_at = delivery.next_attempt_at
        taken = db.session.execute(
            update(NotificationDelivery)
            .where(
                NotificationDelivery.id == delivery_id,
                NotificationDelivery.status == DeliveryStatus.PENDING.value,
                NotificationDelivery.next_attempt_at == due_at,
            )
            .values(next_attempt_at=utcnow() + timedelta(seconds=LEASE_SECONDS))
        ).rowcount
        db.session.commit()
        if not taken:
            return None
        db.session.refresh(delivery)
        return delivery

    def _deliver(self, delivery_id: int) -> None:
        try:
            delivery = self._claim(delivery_id)
            if delivery is None:
                return
            outcome = attempt(delivery, self.settings.notification_timeout_seconds)
            record(delivery, outcome, self.settings.notification_retry_delays, retry=True)
            db.session.commit()
            if not outcome.ok:
                log.info(
                    "notification %s to channel %s: attempt %s failed: %s",
                    delivery.id,
                    delivery.channel_id,
                    delivery.attempts,
                    outcome.error,
                )
        except Exception:
            log.exception("could not deliver notification %s", delivery_id)
            db.session.rollback()
