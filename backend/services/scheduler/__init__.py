"""Cron schedules: croniter-backed trigger, one leader process, fires into ``executions.start()``.

What the rest of the app uses: ``SchedulerService`` (on ``app.extensions``), ``fire_now`` (run-now,
recorded as a fire), ``tick`` (fire what is due at a given instant) and ``on_execution_finished``.
The fire bookkeeping on the ``schedules`` rows (next/last run) belongs to this package.
"""

from __future__ import annotations

from backend.services.scheduler.fire import fire_now, on_execution_finished, tick
from backend.services.scheduler.service import SchedulerService

__all__ = ["SchedulerService", "fire_now", "on_execution_finished", "tick"]
