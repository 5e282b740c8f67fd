"""Dashboard numbers. Thin: one service call, one serialisation."""

from __future__ import annotations

from flask import Response
from flask_openapi3 import APIBlueprint, Tag

from backend.api.helpers import json_response
from backend.api.serializers import executions_out
from backend.schemas.common import Problem
from backend.schemas.stats import DayOut, StatsOut, StatsQuery
from backend.services import stats as service

bp = APIBlueprint("stats", __name__, url_prefix="/api/stats", abp_tags=[Tag(name="system")])


@bp.get("", responses={200: StatsOut, 422: Problem})
def get_stats(query: StatsQuery) -> Response:
    """Runs per day (UTC), success rate, running now and recent failures."""
    return json_response(service.remembered(query.days, _body))


def _body(data: service.Overview) -> StatsOut:
    return StatsOut.of(
        data,
        **data.totals,
        days=[DayOut.model_validate(day) for day in data.days],
        running=executions_out(data.running),
        recent_failures=executions_out(data.recent_failures),
    )
