"""An APScheduler trigger that asks ``cron.py`` (croniter) for the next fire time.

APScheduler 3's own ``CronTrigger.from_crontab`` reads numeric day-of-week differently from cron
(``0`` = Monday), ANDs day-of-month with day-of-week and rejects ``7``/``L`` (STACK.md); using
the same code for the preview and for firing means what the user previewed is what fires.

The next-time arithmetic is memoised (``next_after``): at a tick, APScheduler asks each due job
for its next time twice and the fire code asks again, and many schedules share one cron (every
minute, every hour), so 1,000 schedules due at one instant cost a handful of croniter walks
instead of thousands (~0.1 ms each, ~0.3 s a tick on this machine when done one by one).
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache

from apscheduler.triggers.base import BaseTrigger

from backend.services.scheduler import cron

NEXT_CACHE_SIZE = 4096
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@lru_cache(maxsize=NEXT_CACHE_SIZE)
def _next_after(spec: cron.CronSpec, micros: int) -> datetime | None:
    """Keyed by the instant in microseconds since the epoch: two wall-clock-equal times of a fall-back
    hour are different keys (aware datetimes in one zone compare and hash by wall time)."""
    return cron.next_after(spec, EPOCH + micros * cron.ONE_MICROSECOND)


def next_after(spec: cron.CronSpec, after: datetime) -> datetime | None:
    """``cron.next_after``, remembered: it is a pure function of the spec and the instant."""
    return _next_after(spec, (after - EPOCH) // cron.ONE_MICROSECOND)


def is_fire_time(spec: cron.CronSpec, moment: datetime) -> bool:
    """``cron.is_fire_time`` through the same memo."""
    return cron.same_instant(next_after(spec, moment - cron.ONE_MICROSECOND), moment)


class CronExpressionTrigger(BaseTrigger):
    __slots__ = ("spec",)

    def __init__(self, spec: cron.CronSpec) -> None:
        self.spec = spec

    def get_next_fire_time(self, previous_fire_time: datetime | None, now: datetime) -> datetime | None:
        """The first fire time after the previous one (or after now, for a new job)."""
        return next_after(self.spec, previous_fire_time or now)

    def __str__(self) -> str:
        return f"cron[{self.spec.expression!r} {self.spec.timezone}]"

    def __repr__(self) -> str:
        return f"<CronExpressionTrigger {self.spec.expression!r} tz={self.spec.timezone!r}>"
