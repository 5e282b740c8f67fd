"""An APScheduler trigger that asks ``cron.py`` (croniter) for the next fire time.

APScheduler 3's own ``CronTrigger.from_crontab`` reads numeric day-of-week differently from cron
(``0`` = Monday), ANDs day-of-month with day-of-week and rejects ``7``/``L`` (STACK.md); using
the same code for the preview and for firing means what the user previewed is what fires.
"""

from __future__ import annotations

from datetime import datetime

from apscheduler.triggers.base import BaseTrigger

from backend.services.scheduler import cron


class CronExpressionTrigger(BaseTrigger):
    __slots__ = ("spec",)

    def __init__(self, spec: cron.CronSpec) -> None:
        self.spec = spec

    def get_next_fire_time(self, previous_fire_time: datetime | None, now: datetime) -> datetime | None:
        """The first fire time after the previous one (or after now, for a new job)."""
        return cron.next_after(self.spec, previous_fire_time or now)

    def __str__(self) -> str:
        return f"cron[{self.spec.expression!r} {self.spec.timezone}]"

    def __repr__(self) -> str:
        return f"<CronExpressionTrigger {self.spec.expression!r} tz={self.spec.timezone!r}>"
