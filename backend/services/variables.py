"""Shared variables: admin-managed named values a script receives as environment variables.

A script lists the names it uses (``scripts.variables``); the runner asks :func:`environment_for`
for their values and the secret values to mask, and records the names on ``executions.variables``.
Every value is sealed at rest (``Variable.value`` is an encrypted column); a secret one is also never
shown again by the API (:func:`shown_value`) and is masked in the run's log and result.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import select

from backend.errors import Conflict, NotFound, Unprocessable
from backend.extensions import db
from backend.models import Script, User, Variable
from backend.services import uniqueness
from backend.services.params import SECRET_MASK

MAX_VARIABLES = 1000
USERS_SHOWN = 5  # scripts named in a refused delete


def list_variables() -> list[Variable]:
    return list(db.session.scalars(select(Variable).order_by(Variable.name)))


def get_variable(name: str) -> Variable:
    variable = db.session.scalar(select(Variable).where(Variable.name == name))
    if variable is None:
        raise NotFound(f"No shared variable is named {name!r}.")
    return variable


def shown_value(variable: Variable) -> str:
    """What the API shows: the value, or ``***`` for a secret (its value never leaves again)."""
    return SECRET_MASK if variable.secret else str(variable.value)


def updater_names(variables: list[Variable]) -> dict[int, str]:
    """User id → username of who last changed each variable, in one query."""
    ids = {v.updated_by_id for v in variables if v.updated_by_id}
    if not ids:
        return {}
    return {row.id: row.username for row in db.session.execute(select(User.id, User.username).where(User.id.in_(ids)))}


def create(data: dict[str, Any], *, updated_by_id: int | None) -> Variable:
    """A new variable (the body is validated by ``schemas.variables.VariableCreate``); 409 on a taken name."""
    if db.session.scalar(select(Variable.id).where(Variable.name == data["name"])) is not None:
        raise Conflict(f"A shared variable named {data['name']!r} already exists.", field="name")
    if len(list_variables()) >= MAX_VARIABLES:
        raise Conflict(f"There are already {MAX_VARIABLES} shared variables; delete one first.")
    variable = Variable(
        name=data["name"],
        value=data["value"],
        secret=bool(data.get("secret", False)),
        description=data.get("description", ""),
        updated_by_id=updated_by_id,
    )
    db.session.add(variable)
    uniqueness.commit()
    return variable


def update(name: str, changes: dict[str, Any], *, updated_by_id: int | None) -> tuple[Variable, list[str]]:
    """Apply ``changes`` (null = unchanged); returns the variable and the names of the fields changed.

    A secret turned plain must come with a new value: otherwise the secret would be shown from now on.
    """
    variable = get_variable(name)
    changes = {k: v for k, v in changes.items() if v is not None}
    if variable.secret and changes.get("secret") is False and "value" not in changes:
        raise Unprocessable(
            "A secret variable becomes plain only with a new value: its current value is never shown.", field="value"
        )
    changed = [field for field in ("value", "secret", "description") if field in changes]
    for field in changed:
        setattr(variable, field, changes[field])
    if changed:
        variable.updated_by_id = updated_by_id
        uniqueness.commit()
    return variable, changed


def delete(name: str) -> None:
    """Delete a variable no script uses (409 naming the scripts that do)."""
    variable = get_variable(name)
    users = scripts_using(name)
    if users:
        shown = ", ".join(repr(n) for n in users[:USERS_SHOWN]) + (" …" if len(users) > USERS_SHOWN else "")
        raise Conflict(
            f"Shared variable {name!r} is used by {len(users)} script(s): {shown}; remove it from them first.",
            field="name",
        )
    db.session.delete(variable)
    db.session.commit()


def scripts_using(name: str) -> list[str]:
    """Names of the scripts that declare ``name`` in their ``variables``."""
    rows = db.session.execute(select(Script.name, Script.variables).order_by(Script.name))
    return [row.name for row in rows if name in (row.variables or [])]


def _by_name(names: Iterable[str]) -> dict[str, Variable]:
    wanted = sorted({n for n in names if isinstance(n, str)})
    if not wanted:
        return {}
    return {v.name: v for v in db.session.scalars(select(Variable).where(Variable.name.in_(wanted)))}


def missing(names: Iterable[str]) -> list[str]:
    """The names with no shared variable, in the order given (a script saving one gets a 422)."""
    names = list(names)
    found = _by_name(names)
    seen: set[str] = set()
    result = []
    for name in names:
        if name not in found and name not in seen:
            seen.add(name)
            result.append(name)
    return result


def environment_for(names: Iterable[str]) -> tuple[dict[str, str], set[str]]:
    """The environment a run gets for the variables ``names`` (those that exist), and the secret
    values its log and result must be masked for. A name without a variable is left out."""
    env: dict[str, str] = {}
    secrets: set[str] = set()
    for name, variable in _by_name(names).items():
        value = str(variable.value)
        env[name] = value
        if variable.secret and value:
            secrets.add(value)
    return env, secrets
