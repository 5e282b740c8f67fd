"""Rows → response models, for the fields a row does not hold itself.

Every response body is a ``backend.schemas`` model dumped with ``model_dump(mode="json")`` (see
``helpers.json_response``), so the OpenAPI document and the JSON cannot differ. Most models are
built with ``Model.model_validate(row)``; the ones here need names looked up in other tables (one
query per batch, not per row), a renamed attribute, or secrets masked with the script's parameter
definitions. A secret default in parameter definitions is masked by the schema itself
(``schemas.scripts.MaskedDefinitions``); an execution's stored params are masked when it starts.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Row

from backend.models import Execution, Schedule, Script
from backend.schemas.executions import DownstreamRunOut, ExecutionOut
from backend.schemas.schedules import ScheduleOut
from backend.schemas.scripts import LastRun, ScriptOut
from backend.services import executions as executions_service
from backend.services import schedules as schedules_service
from backend.services.params import mask_values

# ExecutionOut's fields read straight from the row (what ``ResponseModel.of`` would find with a
# ``hasattr`` per field and row; a page of 50 runs made ~3,000 of those calls)
_EXECUTION_COMPUTED = {"version", "script_name", "created_by", "downstream", "variables"}
_EXECUTION_FIELDS = tuple(name for name in ExecutionOut.model_fields if name not in _EXECUTION_COMPUTED)
assert all(hasattr(Execution, name) for name in _EXECUTION_FIELDS), "ExecutionOut names a field the row lacks"


def executions_out(rows: Sequence[Execution | Row[Any]]) -> list[ExecutionOut]:
    """Runs as objects or as rows of their columns (``executions.LISTED``: a list reads those)."""
    names, creators = executions_service.display_names(rows)
    downstream = executions_service.downstream_runs([row.id for row in rows])
    return [
        ExecutionOut.model_validate(
            {
                **_execution_fields(row),
                "version": row.version_number,
                "script_name": names.get(row.script_id),
                "created_by": creators.get(row.created_by_id or 0),
                "downstream": [DownstreamRunOut.model_validate(run) for run in downstream.get(row.id, [])],
                "variables": list(row.variables or []),
            }
        )
        for row in rows
    ]


def _execution_fields(row: Execution | Row[Any]) -> dict[str, Any]:
    if isinstance(row, Row):  # a list's rows: the mapping is read in C, getattr in Python (~0.5 ms a page)
        mapping = row._mapping
        return {name: mapping[name] for name in _EXECUTION_FIELDS}
    return {name: getattr(row, name) for name in _EXECUTION_FIELDS}


def execution_out(row: Execution) -> ExecutionOut:
    return executions_out([row])[0]


def scripts_out(rows: list[Script]) -> list[ScriptOut]:
    last_runs = executions_service.last_runs([row.id for row in rows])
    return [
        ScriptOut.of(
            row,
            version=row.current_version,
            limits=row.limits or {},
            last_run=LastRun.model_validate(last_runs[row.id]) if row.id in last_runs else None,
        )
        for row in rows
    ]


def script_out(row: Script) -> ScriptOut:
    return scripts_out([row])[0]


def schedules_out(rows: list[Schedule]) -> list[ScheduleOut]:
    """A schedule's secret params are masked by the definitions of the version it runs (pinned, else current).

    ``last_status`` is the live status of its newest run (the stored column when no run is left).
    """
    scripts = schedules_service.script_info({row.script_id for row in rows})
    statuses = schedules_service.newest_statuses([row.id for row in rows])
    pinned = schedules_service.pinned_definitions(rows)
    items = []
    for row in rows:
        info = scripts.get(row.script_id)
        params = dict(row.params or {})
        if info:  # a secret in either the pinned or the current definitions is shown as ***
            params = mask_values(info.parameters, mask_values(pinned.get(row.id, []), params))
        items.append(
            ScheduleOut.of(
                row,
                script_name=info.name if info else None,
                params=params,
                last_status=statuses.get(row.id, row.last_status),
                notifications=list(row.notifications or []),
            )
        )
    return items


def schedule_out(row: Schedule) -> ScheduleOut:
    return schedules_out([row])[0]
