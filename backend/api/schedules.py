"""Schedules API: CRUD, toggle, run-now, preview and fire history. Thin: parse, call a service, serialise."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import Response
from flask_openapi3 import APIBlueprint, Tag

from backend.api.executions import render
from backend.api.helpers import current_user_id, json_response
from backend.models import Schedule, ScheduleFire
from backend.schemas.common import Problem
from backend.schemas.executions import ExecutionOut
from backend.schemas.schedules import (
    FireList,
    FireListQuery,
    PreviewOut,
    PreviewQuery,
    ScheduleCreate,
    ScheduleList,
    ScheduleListQuery,
    ScheduleOut,
    SchedulePatch,
    SchedulePath,
    ScheduleReplace,
)
from backend.services import params as params_service
from backend.services import schedules as service

bp = APIBlueprint("schedules", __name__, url_prefix="/api/schedules", abp_tags=[Tag(name="schedules")])
ERRORS = {400: Problem, 404: Problem, 409: Problem, 422: Problem}
NOT_NULL_PATCH_FIELDS = (
    "name",
    "script_id",
    "cron",
    "timezone",
    "params",
    "enabled",
    "overlap_policy",
    "misfire_grace_seconds",
)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _render_many(schedules: list[Schedule]) -> list[dict[str, Any]]:
    scripts = service.script_info({s.script_id for s in schedules})
    items = []
    for schedule in schedules:
        info = scripts.get(schedule.script_id)
        params = dict(schedule.params or {})
        items.append(
            {
                "id": schedule.id,
                "name": schedule.name,
                "script_id": schedule.script_id,
                "script_name": info.name if info else None,
                "cron": schedule.cron,
                "timezone": schedule.timezone,
                "params": params_service.mask_values(info.parameters, params) if info else params,
                "enabled": schedule.enabled,
                "overlap_policy": schedule.overlap_policy,
                "misfire_grace_seconds": schedule.misfire_grace_seconds,
                "last_run_at": _iso(schedule.last_run_at),
                "last_status": schedule.last_status,
                "next_run_at": _iso(schedule.next_run_at),
                "created_at": _iso(schedule.created_at),
                "updated_at": _iso(schedule.updated_at),
            }
        )
    return items


def _render(schedule: Schedule) -> dict[str, Any]:
    return _render_many([schedule])[0]


def _fire_json(fire: ScheduleFire) -> dict[str, Any]:
    return {
        "id": fire.id,
        "schedule_id": fire.schedule_id,
        "scheduled_for": _iso(fire.scheduled_for),
        "fired_at": _iso(fire.fired_at),
        "outcome": fire.outcome,
        "execution_id": fire.execution_id,
        "detail": fire.detail,
    }


@bp.get("", responses={200: ScheduleList, 422: Problem})
def list_schedules(query: ScheduleListQuery) -> Response:
    """List schedules with their script, last and next run."""
    page = service.list_schedules(
        script_id=query.script_id, enabled=query.enabled, q=query.q, page=query.page, per_page=query.per_page
    )
    return json_response(
        {"items": _render_many(page.items), "total": page.total, "page": page.page, "per_page": page.per_page}
    )


@bp.post("", responses={201: ScheduleOut, **ERRORS})
def create_schedule(body: ScheduleCreate) -> Response:
    """Create a schedule; it fires from its next due time without a restart."""
    return json_response(_render(service.create(body.model_dump(), created_by_id=current_user_id())), 201)


@bp.get("/preview", responses={200: PreviewOut, 422: Problem})
def preview(query: PreviewQuery) -> Response:
    """Next fire times of a cron expression in a timezone, or a 422 saying what is wrong."""
    spec, times = service.preview(query.cron, query.timezone, query.count)
    return json_response(
        {
            "cron": spec.expression,
            "fields": spec.fields,
            "has_seconds": spec.has_seconds,
            "timezone": spec.timezone,
            "times": [t.isoformat() for t in times],
        }
    )


@bp.get("/<int:schedule_id>", responses={200: ScheduleOut, 404: Problem})
def get_schedule(path: SchedulePath) -> Response:
    """Get one schedule."""
    return json_response(_render(service.get_schedule(path.schedule_id)))


@bp.put("/<int:schedule_id>", responses={200: ScheduleOut, **ERRORS})
def replace_schedule(path: SchedulePath, body: ScheduleReplace) -> Response:
    """Replace a schedule; a new cron or timezone takes effect at once."""
    return json_response(_render(service.update(path.schedule_id, body.model_dump())))


@bp.patch("/<int:schedule_id>", responses={200: ScheduleOut, **ERRORS})
def patch_schedule(path: SchedulePath, body: SchedulePatch) -> Response:
    """Change some fields of a schedule."""
    changes = body.model_dump(exclude_unset=True)
    for field in NOT_NULL_PATCH_FIELDS:
        if field in changes and changes[field] is None:
            changes.pop(field)  # null means "leave as is"
    return json_response(_render(service.update(path.schedule_id, changes)))


@bp.delete("/<int:schedule_id>", responses={204: None, 404: Problem})
def delete_schedule(path: SchedulePath) -> Response:
    """Delete a schedule and its fire history (its runs stay)."""
    service.delete(path.schedule_id)
    return Response(status=204)


@bp.post("/<int:schedule_id>/toggle", responses={200: ScheduleOut, 404: Problem, 409: Problem})
def toggle_schedule(path: SchedulePath) -> Response:
    """Enable a disabled schedule, or disable an enabled one."""
    return json_response(_render(service.toggle(path.schedule_id)))


@bp.post("/<int:schedule_id>/run-now", responses={202: ExecutionOut, 404: Problem, 409: Problem, 422: Problem})
def run_now(path: SchedulePath) -> Response:
    """Queue a run now with the schedule's params (trigger "schedule"). Answers 202."""
    return json_response(render(service.run_now(path.schedule_id, created_by_id=current_user_id())), 202)


@bp.get("/<int:schedule_id>/fires", responses={200: FireList, 404: Problem, 422: Problem})
def list_fires(path: SchedulePath, query: FireListQuery) -> Response:
    """The schedule's fire history, newest first: started, queued, skipped, missed, failed."""
    page = service.list_fires(path.schedule_id, outcome=query.outcome, page=query.page, per_page=query.per_page)
    return json_response(
        {
            "items": [_fire_json(f) for f in page.items],
            "total": page.total,
            "page": page.page,
            "per_page": page.per_page,
        }
    )
