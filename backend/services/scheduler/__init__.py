"""Cron schedules: croniter-backed trigger, one leader process, fires into ``executions.start()``."""

from __future__ import annotations

from backend.services.scheduler.service import SchedulerService

__all__ = ["SchedulerService"]
