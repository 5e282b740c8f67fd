"""Shared variables API. Access: any logged-in user may list them (a secret's value shows as ``***``);
only admins create, change or delete them. Every change leaves an audit row naming the variable and
the fields changed, never a value."""

from __future__ import annotations

from typing import Any

from flask import Response, g
from flask_openapi3 import APIBlueprint, Tag

from backend.api.helpers import current_user_id, json_response
from backend.models import Variable
from backend.schemas.common import Problem
from backend.schemas.variables import VariableCreate, VariableList, VariableOut, VariablePatch, VariablePath
from backend.services import variables as service

bp = APIBlueprint("variables", __name__, url_prefix="/api/variables", abp_tags=[Tag(name="variables")])


def _out(rows: list[Variable]) -> list[VariableOut]:
    names = service.updater_names(rows)
    return [
        VariableOut.of(row, value=service.shown_value(row), updated_by=names.get(row.updated_by_id or 0))
        for row in rows
    ]


def _note_audit(variable: Variable, **detail: Any) -> None:
    """The audit row (written by ``backend.security`` after the response) names the variable, not its value."""
    g.audit_target = ("variable", variable.name)
    g.audit_detail = {"name": variable.name, "secret": variable.secret, **detail}


@bp.get("", responses={200: VariableList})
def list_variables() -> Response:
    """Every shared variable, by name. Any logged-in user; secret values are shown as ``***``."""
    return json_response(VariableList.of_items(_out(service.list_variables())))


@bp.post("", responses={201: VariableOut, 409: Problem, 422: Problem})
def create_variable(body: VariableCreate) -> Response:
    """Create a shared variable (admins only). A secret's value is in no response, this one included."""
    variable = service.create(body.model_dump(), updated_by_id=current_user_id())
    _note_audit(variable)
    return json_response(_out([variable])[0], 201)


@bp.patch("/<string:name>", responses={200: VariableOut, 404: Problem, 409: Problem, 422: Problem})
def patch_variable(path: VariablePath, body: VariablePatch) -> Response:
    """Change a variable's value, secrecy or description (admins only); absent or null fields stay.

    Runs queued before the change get the value current when they start.
    """
    variable, changed = service.update(path.name, body.model_dump(exclude_unset=True), updated_by_id=current_user_id())
    _note_audit(variable, changed=changed)
    return json_response(_out([variable])[0])


@bp.delete("/<string:name>", responses={204: None, 404: Problem, 409: Problem})
def delete_variable(path: VariablePath) -> Response:
    """Delete a shared variable (admins only); 409 while a script still lists it in ``variables``."""
    _note_audit(service.get_variable(path.name))  # noted first: the row is gone after the delete
    service.delete(path.name)
    return Response(status=204)
