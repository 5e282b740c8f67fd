"""Schedules API: CRUD, toggle, run-now, preview and fire history. Thin: parse, call a service, serialise."""

from __future__ import annotations

from flask import Response
from flask_openapi3 import APIBlueprint, Tag

from backend.api.helpers import current_user_id, json_response
from backend.api.serializers import execution_out, schedule_out, schedules_out
from backend.schemas.common import Problem
from backend.schemas.executions import ExecutionOut
from backend.schemas.schedules import (
    FireList,
    FireListQuery,
    FireOut,
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
    "notifications",
)
KEPT_WHEN_LEFT_OUT = ("version", "notifications")  # new in issue 15: a PUT without them keeps them


@bp.get("", responses={200: ScheduleList, 422: Problem})
def list_schedules(query: ScheduleListQuery) -> Response:
    """List schedules with their script, last and next run."""
    page = service.list_schedules(
        script_id=query.script_id, enabled=query.enabled, q=query.q, page=query.page, per_page=query.per_page
    )
    return json_response(ScheduleList.of_page(page, schedules_out(page.items)))


@bp.post("", responses={201: ScheduleOut, **ERRORS})
def create_schedule(body: ScheduleCreate) -> Response:
    """Create a schedule; it fires from its next due time without a restart."""
    return json_response(schedule_out(service.create(body.model_dump(), created_by_id=current_user_id())), 201)


@bp.get("/preview", responses={200: PreviewOut, 422: Problem})
def preview(query: PreviewQuery) -> Response:
    """Next fire times of a cron expression in a timezone, or a 422 saying what is wrong."""
    spec, times = service.preview(query.cron, query.timezone, query.count)
    return json_response(PreviewOut.of(spec, cron=spec.expression, times=times))


@bp.get("/<int:schedule_id>", responses={200: ScheduleOut, 404: Problem})
def get_schedule(path: SchedulePath) -> Response:
    """Get one schedule."""
    return json_response(schedule_out(service.get_schedule(path.schedule_id)))


@bp.put("/<int:schedule_id>", responses={200: ScheduleOut, **ERRORS})
def replace_schedule(path: SchedulePath, body: ScheduleReplace) -> Response:
    """Replace a schedule; a new cron or timezone takes effect at once."""
    changes = body.model_dump()
    for field in KEPT_WHEN_LEFT_OUT:
        if field not in body.model_fields_set:
            changes.pop(field)  # not sent: unchanged (a client that predates them unpins nothing)
    return json_response(schedule_out(service.update(path.schedule_id, changes)))


@bp.patch("/<int:schedule_id>", responses={200: ScheduleOut, **ERRORS})
def patch_schedule(path: SchedulePath, body: SchedulePatch) -> Response:
    """Change some fields of a schedule."""
    changes = body.model_dump(exclude_unset=True)
    for field in NOT_NULL_PATCH_FIELDS:
        if field in changes and changes[field] is None:
            changes.pop(field)  # null means "leave as is"
    return json_response(schedule_out(service.update(path.schedule_id, changes)))


@bp.delete("/<int:schedule_id>", responses={204: None, 404: Problem})
def delete_schedule(path: SchedulePath) -> Response:
    """Delete a schedule and its fire history (its runs stay)."""
    service.delete(path.schedule_id)
    return Response(status=204)


@bp.post("/<int:schedule_id>/toggle", responses={200: ScheduleOut, 404: Problem, 409: Problem})
def toggle_schedule(path: SchedulePath) -> Response:
    """Enable a disabled schedule, or disable an enabled one."""
    return json_response(schedule_out(service.toggle(path.schedule_id)))


@bp.post("/<int:schedule_id>/run-now", responses={202: ExecutionOut, 404: Problem, 409: Problem, 422: Problem})
def run_now(path: SchedulePath) -> Response:
    """Queue a run now with the schedule's params and pinned version (trigger "schedule"). Answers 202."""
    return json_response(execution_out(service.run_now(path.schedule_id, created_by_id=current_user_id())), 202)


@bp.get("/<int:schedule_id>/fires", responses={200: FireList, 404: Problem, 422: Problem})
def list_fires(path: SchedulePath, query: FireListQuery) -> Response:
    """The schedule's fire history, newest first: started, queued, skipped, missed, failed."""
    page = service.list_fires(path.schedule_id, outcome=query.outcome, page=query.page, per_page=query.per_page)
    return json_response(FireList.of_page(page, [FireOut.model_validate(fire) for fire in page.items]))
