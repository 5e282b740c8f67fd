"""The built-in retention sweep: old finished runs (rows, logs, workspaces), orphan run folders, old fires.

It runs on the scheduler leader (once shortly after taking over, then every
``maintenance_interval_seconds``), so one process sweeps however many serve. Queued and running
executions are never touched: the delete re-checks the status under the write lock. Rows go
first and files after, so a crash in between leaves only orphan folders, which the next sweep removes.
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import Flask
from sqlalchemy import and_, delete, func, or_, select

from backend.config import Settings
from backend.database import begin_write
from backend.extensions import db
from backend.models import ACTIVE_STATUSES, Execution, FireOutcome, ScheduleFire
from backend.models.types import utcnow
from backend.services.cleanup import forget_executions, remove_execution_files
from backend.services.executor import workspace

log = logging.getLogger(__name__)

BATCH = 500
# A run's folder can exist a moment before its row is committed (uploads are moved in before the
# commit), so only folders left alone this long count as orphans; crash leftovers are far older.
ORPHAN_MIN_AGE_SECONDS = 600
RUN_ENTRY = re.compile(r"^execution_(\d{1,18})(\.log)?$")


@dataclass
class SweepReport:
    executions: int = 0
    orphans: int = 0
    fires: int = 0
    seconds: float = 0.0


def _chunks(ids: list[int], size: int = BATCH) -> Iterator[list[int]]:
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


def _expired_execution_ids(settings: Settings, now: datetime) -> list[int]:
    finished = Execution.status.notin_(ACTIVE_STATUSES)
    ids: set[int] = set()
    if settings.retention_days > 0:
        cutoff = now - timedelta(days=settings.retention_days)
        ended_before = or_(
            Execution.finished_at < cutoff,
            and_(Execution.finished_at.is_(None), Execution.queued_at < cutoff),
        )
        ids.update(db.session.scalars(select(Execution.id).where(finished, ended_before)))
    if settings.retention_per_script > 0:
        rank = func.row_number().over(partition_by=Execution.script_id, order_by=Execution.id.desc())
        ranked = select(Execution.id.label("id"), rank.label("rank")).where(finished).subquery()
        ids.update(db.session.scalars(select(ranked.c.id).where(ranked.c.rank > settings.retention_per_script)))
    return sorted(ids)


def prune_executions(settings: Settings, now: datetime | None = None) -> int:
    """Delete finished runs past ``retention_days`` or beyond the newest ``retention_per_script``."""
    ids = _expired_execution_ids(settings, now or utcnow())
    db.session.rollback()
    removed = 0
    for chunk in _chunks(ids):
        begin_write()
        doomed = list(
            db.session.scalars(
                select(Execution).where(Execution.id.in_(chunk), Execution.status.notin_(ACTIVE_STATUSES))
            )
        )
        for execution in doomed:
            db.session.expunge(execution)  # keeps ``id`` readable after the rows are gone
        gone = [e.id for e in doomed]
        forget_executions(gone)
        db.session.execute(delete(Execution).where(Execution.id.in_(gone), Execution.status.notin_(ACTIVE_STATUSES)))
        db.session.commit()
        remove_execution_files([e.id for e in doomed], settings)
        removed += len(doomed)
    return removed


def _run_entries(settings: Settings, settled_before: float) -> dict[int, bool]:
    """Run ids found on disk, each with whether all its entries are older than ``settled_before``."""
    found: dict[int, bool] = {}
    for folder in (settings.workspaces_dir, settings.logs_dir, settings.data_dir / "runs"):
        if not folder.is_dir():
            continue
        with os.scandir(folder) as entries:
            for entry in entries:
                match = RUN_ENTRY.match(entry.name)
                if not match:
                    continue
                try:
                    settled = entry.stat(follow_symlinks=False).st_mtime < settled_before
                except OSError:
                    continue
                execution_id = int(match.group(1))
                found[execution_id] = found.get(execution_id, True) and settled
    return found


def remove_orphans(settings: Settings) -> int:
    """Remove run folders and logs whose execution row no longer exists (e.g. after a crash).

    The folders are listed before the database is asked, and anything touched in the last
    ``ORPHAN_MIN_AGE_SECONDS`` is left for a later sweep, so a run being created right now is
    never taken for an orphan.
    """
    found = _run_entries(settings, time.time() - ORPHAN_MIN_AGE_SECONDS)
    existing: set[int] = set()
    for chunk in _chunks(sorted(found)):
        existing.update(db.session.scalars(select(Execution.id).where(Execution.id.in_(chunk))))
    db.session.rollback()
    orphans = [i for i, settled in found.items() if settled and i not in existing]
    for execution_id in orphans:
        workspace.remove(workspace.run_paths(settings, execution_id))
    return len(orphans)


def prune_fires(settings: Settings, now: datetime | None = None) -> int:
    """Fire history ages out with the runs, and is capped per schedule (a per-second cron adds 86,400 a day)."""
    not_waiting = ScheduleFire.outcome != FireOutcome.QUEUED.value
    ids: set[int] = set()
    if settings.retention_days > 0:
        cutoff = (now or utcnow()) - timedelta(days=settings.retention_days)
        ids.update(db.session.scalars(select(ScheduleFire.id).where(not_waiting, ScheduleFire.scheduled_for < cutoff)))
    if settings.retention_fires_per_schedule > 0:
        rank = func.row_number().over(
            partition_by=ScheduleFire.schedule_id, order_by=(ScheduleFire.scheduled_for.desc(), ScheduleFire.id.desc())
        )
        ranked = select(ScheduleFire.id.label("id"), rank.label("rank")).where(not_waiting).subquery()
        ids.update(db.session.scalars(select(ranked.c.id).where(ranked.c.rank > settings.retention_fires_per_schedule)))
    db.session.rollback()
    for chunk in _chunks(sorted(ids)):
        db.session.execute(delete(ScheduleFire).where(ScheduleFire.id.in_(chunk)))
        db.session.commit()
    return len(ids)


def sweep(settings: Settings, now: datetime | None = None) -> SweepReport:
    """One full retention pass (needs an app context)."""
    started = time.monotonic()
    report = SweepReport(
        executions=prune_executions(settings, now),
        orphans=remove_orphans(settings),
        fires=prune_fires(settings, now),
    )
    report.seconds = round(time.monotonic() - started, 3)
    if report.executions or report.orphans or report.fires:
        log.info(
            "retention sweep: %d execution(s), %d orphan folder(s), %d fire row(s) removed in %.2f s",
            report.executions,
            report.orphans,
            report.fires,
            report.seconds,
        )
    return report


def run_job(app: Flask) -> None:
    """APScheduler job target for the built-in retention job."""
    with app.app_context():
        try:
            sweep(app.extensions["scriptman.settings"])
        except Exception:
            db.session.rollback()
            log.exception("retention sweep failed")
        finally:
            db.session.remove()
