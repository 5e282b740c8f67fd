"""Schedules: validation, CRUD, toggle, run-now, preview and fire history.

Everything is checked at save time (cron and timezone by computing the next fire, params against
the script's parameter definitions), so a saved schedule is one that can fire. After each commit
the scheduler is told, so the change takes effect without a restart.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import current_app
from sqlalchemy import func, select
from sqlalchemy.orm import aliased

from backend.database import begin_write
from backend.errors import NotFound, Unprocessable
from backend.extensions import db
from backend.models import Execution, FireOutcome, Schedule, ScheduleFire, Script, ScriptVersion
from backend.models.types import utcnow
from backend.services import params as params_service
from backend.services import scheduler
from backend.services.notifications import channels
from backend.services.pagination import Page, paginate
from backend.services.scheduler import cron
from backend.services.uniqueness import commit, ensure_unique_name

TRIGGER_FIELDS = ("cron", "timezone", "enabled")


@dataclass
class ScriptInfo:
    name: str
    parameters: list[dict[str, Any]]


def _notify_scheduler() -> None:
    service = current_app.extensions.get("scriptman.scheduler")
    if service is not None:
        service.notify()


def default_timezone() -> str:
    return str(current_app.extensions["scriptman.settings"].default_timezone)


def parse_cron(expression: str, timezone: str) -> cron.CronSpec:
    """``cron.parse`` with its errors as 422s naming the field at fault."""
    try:
        return cron.parse(expression, timezone)
    except cron.CronError as error:
        raise Unprocessable(str(error), field=error.field) from None  # the message names the cron field


def preview(expression: str, timezone: str | None, count: int) -> tuple[cron.CronSpec, list[datetime]]:
    spec = parse_cron(expression, timezone or default_timezone())
    return spec, cron.next_times(spec, utcnow(), count)


def get_schedule(schedule_id: int) -> Schedule:
    schedule = db.session.get(Schedule, schedule_id)
    if schedule is None:
        raise NotFound(f"Schedule {schedule_id} does not exist.")
    return schedule


def script_info(script_ids: set[int]) -> dict[int, ScriptInfo]:
    """Names and parameter definitions, without loading every script's code."""
    if not script_ids:
        return {}
    rows = db.session.execute(select(Script.id, Script.name, Script.parameters).where(Script.id.in_(script_ids))).all()
    return {int(row.id): ScriptInfo(row.name, list(row.parameters or [])) for row in rows}


_OTHER = aliased(Execution)  # built once: an alias per call cost more than the query
_NEWEST_OF_SCHEDULE = (
    select(func.max(_OTHER.id)).where(_OTHER.schedule_id == Schedule.id).correlate(Schedule).scalar_subquery()
)


def newest_statuses(schedule_ids: list[int]) -> dict[int, str]:
    """Schedule id → the live status of its newest run (retries included), in one query for the batch.

    The ``last_status`` column is only written when a run is queued or ends, so it says ``queued``
    while the run runs; this reads the run itself.
    """
    if not schedule_ids:
        return {}
    # one max(id) per schedule, a single step down the schedule_id index each (a GROUP BY read all
    # of the schedules' runs: most of the history, where schedules start most runs)
    newest = select(_NEWEST_OF_SCHEDULE).where(Schedule.id.in_(schedule_ids))
    rows = db.session.execute(select(Execution.schedule_id, Execution.status).where(Execution.id.in_(newest)))
    return {int(row.schedule_id): str(row.status) for row in rows}


def list_schedules(
    *, script_id: int | None, enabled: bool | None, q: str | None, page: int, per_page: int
) -> Page[Schedule]:
    query = select(Schedule)
    if script_id is not None:
        query = query.where(Schedule.script_id == script_id)
    if enabled is not None:
        query = query.where(Schedule.enabled.is_(enabled))
    if q:
        query = query.where(Schedule.name.ilike(f"%{q}%"))
    return paginate(query.order_by(Schedule.name, Schedule.id), page=page, per_page=per_page)


def _script_for(script_id: int) -> Script:
    script = db.session.get(Script, script_id)
    if script is None:
        raise Unprocessable(f"script_id: script {script_id} does not exist", field="script_id")
    return script


def pinned_definitions(rows: list[Schedule]) -> dict[int, list[dict[str, Any]]]:
    """Schedule id → the parameter definitions of its pinned version, for the pinned ones, in one query."""
    pairs = {(row.script_id, row.version) for row in rows if row.version is not None}
    if not pairs:
        return {}
    script_ids = {script_id for script_id, _ in pairs}
    found = {
        (row.script_id, row.number): list(row.parameters or [])
        for row in db.session.execute(
            select(ScriptVersion.script_id, ScriptVersion.number, ScriptVersion.parameters).where(
                ScriptVersion.script_id.in_(script_ids), ScriptVersion.number.in_({n for _, n in pairs})
            )
        )
    }
    return {row.id: found[(row.script_id, row.version)] for row in rows if (row.script_id, row.version) in found}


def _definitions(script: Script, version: int | None) -> list[dict[str, Any]]:
    """The parameter definitions a schedule's runs use: the pinned version's, else the current ones.

    A version the script does not have is a 422 (a body field), not the 404 of a path."""
    if version is None:
        return list(script.parameters or [])
    row = db.session.scalar(
        select(ScriptVersion).where(ScriptVersion.script_id == script.id, ScriptVersion.number == version)
    )
    if row is None:
        raise Unprocessable(
            f"version: script {script.name!r} has no version {version} (its current version is "
            f"{script.current_version}).",
            field="version",
        )
    return list(row.parameters or [])


def _clean_params(
    script: Script, values: dict[str, Any], previous: dict[str, Any], version: int | None = None
) -> dict[str, Any]:
    """Validate against the definitions of the version it runs; keep only the values given (defaults
    apply at fire time).

    A secret sent back as ``***`` (how the API shows it) means "unchanged". A ``null`` (or a blank
    number) is not a value: it is not stored, so the default of the day applies when it fires, as
    it would for a run started by hand.
    """
    definitions = _definitions(script, version)
    secrets = params_service.secret_names(definitions)
    values = params_service.given_values(definitions, dict(values))
    for name in secrets:
        if values.get(name) == params_service.SECRET_MASK and name in previous:
            values[name] = previous[name]
    coerced = params_service.coerce_values(definitions, values)
    return {name: coerced[name] for name in values if name in coerced}


def _apply(schedule: Schedule, *, trigger_changed: bool) -> None:
    """Validate the merged state and set ``next_run_at`` when what decides it changed."""
    spec = parse_cron(schedule.cron, schedule.timezone)
    schedule.cron = spec.expression
    schedule.timezone = spec.timezone
    if trigger_changed:
        schedule.next_run_at = cron.next_after(spec, utcnow()) if schedule.enabled else None


def create(data: dict[str, Any], created_by_id: int | None = None) -> Schedule:
    data = dict(data)
    data["timezone"] = data.get("timezone") or default_timezone()
    begin_write()
    script = _script_for(data["script_id"])
    ensure_unique_name(Schedule, data["name"])
    data["params"] = _clean_params(script, data.get("params") or {}, {}, data.get("version"))
    data["notifications"] = channels.validate_subscriptions(list(data.get("notifications") or []))
    schedule = Schedule(**data, created_by_id=created_by_id)
    _apply(schedule, trigger_changed=True)
    db.session.add(schedule)
    commit()
    _notify_scheduler()
    return schedule


def update(schedule_id: int, changes: dict[str, Any]) -> Schedule:
    """PUT (every field) or PATCH (the given ones); params are re-checked if the script or they change."""
    changes = dict(changes)
    if "timezone" in changes and not changes["timezone"]:
        changes["timezone"] = default_timezone()
    begin_write()
    schedule = get_schedule(schedule_id)
    script = _script_for(changes.get("script_id", schedule.script_id))
    if "name" in changes:
        ensure_unique_name(Schedule, changes["name"], exclude_id=schedule.id)
    if "params" in changes or "script_id" in changes or "version" in changes:
        changes["params"] = _clean_params(
            script,
            changes.get("params", schedule.params) or {},
            dict(schedule.params or {}),
            changes.get("version", schedule.version),
        )
    if "notifications" in changes:
        changes["notifications"] = channels.validate_subscriptions(list(changes["notifications"] or []))
    trigger_changed = any(field in changes and changes[field] != getattr(schedule, field) for field in TRIGGER_FIELDS)
    for field, value in changes.items():
        setattr(schedule, field, value)
    _apply(schedule, trigger_changed=trigger_changed)
    commit()
    _notify_scheduler()
    return schedule


def toggle(schedule_id: int) -> Schedule:
    begin_write()
    schedule = get_schedule(schedule_id)
    return update(schedule_id, {"enabled": not schedule.enabled})


def delete(schedule_id: int) -> None:
    """Delete a schedule and its fire history; its past runs stay (their ``schedule_id`` is cleared)."""
    begin_write()
    db.session.delete(get_schedule(schedule_id))
    commit()
    _notify_scheduler()


def run_now(schedule_id: int, created_by_id: int | None = None) -> Execution:
    """Queue a run now with the schedule's params (and pinned version), whatever its overlap policy and
    enabled state.

    Errors keep their meaning (409 disabled script, 422 params that no longer fit the script).
    """
    begin_write()
    schedule = get_schedule(schedule_id)
    return scheduler.fire_now(schedule, _script_for(schedule.script_id), created_by_id)


def list_fires(schedule_id: int, *, outcome: str | None, page: int, per_page: int) -> Page[ScheduleFire]:
    get_schedule(schedule_id)
    query = select(ScheduleFire).where(ScheduleFire.schedule_id == schedule_id)
    if outcome:
        query = query.where(ScheduleFire.outcome == FireOutcome(outcome).value)
    order = (ScheduleFire.scheduled_for.desc(), ScheduleFire.id.desc())
    return paginate(query.order_by(*order), page=page, per_page=per_page)
