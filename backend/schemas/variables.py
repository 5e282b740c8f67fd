"""Shared variables: named values an admin keeps once and scripts receive as environment variables."""

from __future__ import annotations

from pydantic import BaseModel, Field, field_validator

from backend.config import RUN_ENV_NAMES
from backend.schemas.common import ItemList, ResponseModel, StrictBody, Timestamp
from backend.services.params import RESERVED_NAMES, RESERVED_PREFIXES

NAME_PATTERN = r"^[A-Z_][A-Z0-9_]*$"
NAME_MAX = 100
VALUE_MAX = 65_536  # well under Linux' 128 KiB limit for one environment string
# Names Scriptman sets itself for some runs (chains: UPSTREAM_RESULT, UPSTREAM_EXECUTION_ID).
VARIABLE_RESERVED_PREFIXES = (*RESERVED_PREFIXES, "UPSTREAM_")
NAME_HELP = (
    "An environment variable name: upper-case letters, digits and '_', not starting with a digit; "
    "not one Scriptman sets or that changes how interpreters load (PATH, HOME, WORKSPACE, PYTHONPATH, "
    "SCRIPTMAN_*, UPSTREAM_*, LD_*, …)"
)


def reserved_reason(name: str) -> str | None:
    """Why ``name`` cannot be a shared variable, or None when it can."""
    if name in RESERVED_NAMES or name in RUN_ENV_NAMES:
        return f"{name} is set by Scriptman or the system for every run; pick another name"
    for prefix in VARIABLE_RESERVED_PREFIXES:
        if name.startswith(prefix):
            return f"names starting with {prefix} are reserved; pick another name"
    return None


def _plain_text(value: str) -> str:
    if "\x00" in value:
        raise ValueError("an environment variable cannot hold NUL characters")
    return value


class VariableCreate(StrictBody):
    name: str = Field(min_length=1, max_length=NAME_MAX, pattern=NAME_PATTERN, description=NAME_HELP)
    value: str = Field(max_length=VALUE_MAX, description="What scripts receive; a secret one is never shown again")
    secret: bool = Field(default=False, description="Sealed at rest, shown as *** and masked in run output")
    description: str = Field(default="", max_length=500)

    @field_validator("name")
    @classmethod
    def _not_reserved(cls, name: str) -> str:
        reason = reserved_reason(name)
        if reason:
            raise ValueError(reason)
        return name

    @field_validator("value")
    @classmethod
    def _value_text(cls, value: str) -> str:
        return _plain_text(value)


class VariablePatch(StrictBody):
    """Fields to change; absent or null means unchanged. The name is the key and is not renamed."""

    value: str | None = Field(default=None, max_length=VALUE_MAX)
    secret: bool | None = Field(
        default=None, description="A secret can become plain only together with a new value (the old one stays hidden)"
    )
    description: str | None = Field(default=None, max_length=500)

    @field_validator("value")
    @classmethod
    def _value_text(cls, value: str | None) -> str | None:
        return None if value is None else _plain_text(value)


class VariablePath(BaseModel):
    name: str = Field(min_length=1, max_length=NAME_MAX)


class VariableOut(ResponseModel):
    id: int
    name: str
    value: str = Field(description='The value, or "***" for a secret (never returned again)')
    secret: bool
    description: str
    created_at: Timestamp
    updated_at: Timestamp
    updated_by: str | None = Field(description="Username of who last changed it")


class VariableList(ItemList[VariableOut]):
    pass
