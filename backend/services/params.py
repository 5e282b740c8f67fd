"""Parameter definitions and values: the one validator used by the API, scheduler, webhooks and CLI."""

from __future__ import annotations

import json
import math
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from backend.errors import Unprocessable

ParamType = Literal["string", "integer", "number", "boolean", "choice", "json", "secret", "file"]
SECRET_MASK = "***"
NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]{0,63}$"
MAX_PARAMETERS = 100
# Names the runner sets itself, or that would change how the interpreter or loader behaves.
RESERVED_NAMES = frozenset(
    {
        "SCRIPT_PARAMETERS",
        "SCRIPT_NAME",
        "EXECUTION_ID",
        "WORKSPACE",
        "SCRIPTMAN_RESULT",
        "PATH",
        "HOME",
        "PWD",
        "SHELL",
        "IFS",
        "ENV",
        "BASH_ENV",
        "PYTHONPATH",
        "PYTHONHOME",
        "PYTHONSTARTUP",
        "PYTHONUNBUFFERED",
        "NODE_OPTIONS",
        "NODE_PATH",
        "VIRTUAL_ENV",
    }
)
RESERVED_PREFIXES = ("SCRIPTMAN_", "LD_", "DYLD_", "BASH_FUNC_")
TRUE_WORDS = frozenset({"true", "1", "yes", "on"})
FALSE_WORDS = frozenset({"false", "0", "no", "off"})


class ParameterDefinition(BaseModel):
    """How a script asks for one input value."""

    model_config = ConfigDict(extra="forbid", strict=True)

    name: str = Field(pattern=NAME_PATTERN, description="Environment-variable-safe identifier")
    type: ParamType = "string"
    description: str = Field(default="", max_length=2000)
    default: Any = None
    required: bool = False
    choices: list[str | int | float | bool] | None = None

    @field_validator("name")
    @classmethod
    def _not_reserved(cls, name: str) -> str:
        upper = name.upper()
        if upper in RESERVED_NAMES or upper.startswith(RESERVED_PREFIXES):
            raise ValueError(f"'{name}' is reserved; pick another parameter name")
        return name

    @model_validator(mode="after")
    def _consistent(self) -> ParameterDefinition:
        if self.type == "choice":
            if not self.choices:
                raise ValueError("a 'choice' parameter needs a non-empty 'choices' list")
        elif self.choices is not None:
            raise ValueError("'choices' is only allowed on 'choice' parameters")
        if self.type == "file" and self.default is not None:
            raise ValueError("a 'file' parameter cannot have a default")
        if self.default is not None:
            try:
                self.default = coerce_value(self, self.default)
            except ValueError as error:
                raise ValueError(f"default does not match its type: {error}") from None
        return self


def validate_definitions(raw: list[dict[str, Any]] | list[ParameterDefinition]) -> list[dict[str, Any]]:
    """Validate a list of definitions for saving; raises 422 naming the offending parameter."""
    if len(raw) > MAX_PARAMETERS:
        raise Unprocessable(f"at most {MAX_PARAMETERS} parameters are allowed", field="parameters")
    result: list[dict[str, Any]] = []
    seen: set[str] = set()
    for index, item in enumerate(raw):
        try:
            definition = item if isinstance(item, ParameterDefinition) else ParameterDefinition.model_validate(item)
        except ValidationError as error:
            first = error.errors(include_url=False)[0]
            where = ".".join(str(p) for p in first["loc"])
            field = f"parameters[{index}]" + (f".{where}" if where else "")
            raise Unprocessable(f"{field}: {first['msg']}", field=field) from None
        if definition.name in seen:
            raise Unprocessable(
                f"parameters[{index}].name: duplicate parameter '{definition.name}'",
                field=f"parameters[{index}].name",
            )
        seen.add(definition.name)
        result.append(definition.model_dump())
    return result


def coerce_value(definition: ParameterDefinition, value: Any) -> Any:
    """Convert one value to the parameter's type, or raise ValueError saying why."""
    kind = definition.type
    if kind in ("string", "secret", "file"):
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise ValueError("expected a string")
        text = str(value)
        if "\x00" in text:
            raise ValueError("NUL characters are not allowed")
        if kind == "file" and (not text or "/" in text or "\\" in text or text in (".", "..")):
            raise ValueError("expected the name of an uploaded file")
        return text
    if kind == "integer":
        return _to_int(value)
    if kind == "number":
        return _to_number(value)
    if kind == "boolean":
        return _to_bool(value)
    if kind == "choice":
        return _to_choice(definition.choices or [], value)
    # json: any JSON value; it must survive a round trip
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        raise ValueError("expected a JSON value") from None
    return value


def _to_int(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError("expected an integer")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"\s*[-+]?\d{1,30}\s*", value):
        return int(value)
    raise ValueError("expected an integer")


def _to_number(value: Any) -> int | float:
    if isinstance(value, bool):
        raise ValueError("expected a number")
    if isinstance(value, int | float):
        number: int | float = value
    elif isinstance(value, str) and len(value) < 64:
        try:
            number = float(value)
        except ValueError:
            raise ValueError("expected a number") from None
        if number.is_integer() and re.fullmatch(r"\s*[-+]?\d+\s*", value):
            number = int(number)
    else:
        raise ValueError("expected a number")
    if isinstance(number, float) and not math.isfinite(number):
        raise ValueError("expected a finite number")
    return number


def _to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        word = value.strip().lower()
        if word in TRUE_WORDS:
            return True
        if word in FALSE_WORDS:
            return False
    raise ValueError("expected true or false")


def _to_choice(choices: list[Any], value: Any) -> Any:
    for choice in choices:
        if value == choice and type(value) is type(choice):
            return choice
    for choice in choices:  # form inputs arrive as text
        if isinstance(value, str) and _choice_text(choice) == value:
            return choice
    raise ValueError("must be one of " + ", ".join(_choice_text(c) for c in choices))


def _choice_text(choice: Any) -> str:
    return json.dumps(choice) if isinstance(choice, bool) else str(choice)


def parse_definitions(stored: list[dict[str, Any]]) -> list[ParameterDefinition]:
    return [ParameterDefinition.model_validate(item) for item in stored]


def is_given(definition_type: str, raw: Any) -> bool:
    """Whether a value counts as given: ``null`` never does, nor ``""`` for a type a blank cannot be.

    (A form field left empty arrives as ``""``; for a string that is a value, for a number it is not.)
    """
    return raw is not None and not (raw == "" and definition_type not in ("string", "secret"))


def given_values(stored: list[dict[str, Any]], values: dict[str, Any]) -> dict[str, Any]:
    """``values`` without the ones that count as not given (see ``is_given``); unknown names are kept,
    so ``coerce_values`` still refuses them."""
    types = {item["name"]: str(item.get("type", "string")) for item in stored}
    return {k: v for k, v in values.items() if is_given(types.get(k, "string"), v)}


def coerce_values(stored: list[dict[str, Any]], values: dict[str, Any] | None) -> dict[str, Any]:
    """Validate run-time values against definitions: fill defaults, coerce, refuse unknown names.

    The one rule for every entry point (web form, API, CLI, schedules, reruns): a value that is not
    given (absent, ``null``, or ``""`` for a non-text type) takes the default; a required parameter
    with a default is satisfied by it; a required one without is a 422; an optional ``boolean``
    without a default is ``false`` (a checkbox has no "unset", so the script always gets one);
    any other optional parameter without a default is left out.
    """
    values = dict(values or {})
    definitions = parse_definitions(stored)
    known = {d.name for d in definitions}
    unknown = sorted(set(values) - known)
    if unknown:
        raise Unprocessable(f"params.{unknown[0]}: unknown parameter", field=f"params.{unknown[0]}")
    result: dict[str, Any] = {}
    for definition in definitions:
        raw = values.get(definition.name)
        if not is_given(definition.type, raw):
            if definition.default is not None:
                result[definition.name] = definition.default
            elif definition.required:
                raise Unprocessable(
                    f"params.{definition.name}: this parameter is required", field=f"params.{definition.name}"
                )
            elif definition.type == "boolean":
                result[definition.name] = False
            continue
        try:
            result[definition.name] = coerce_value(definition, raw)
        except ValueError as error:
            raise Unprocessable(f"params.{definition.name}: {error}", field=f"params.{definition.name}") from None
    return result


def secret_names(stored: list[dict[str, Any]]) -> set[str]:
    return {item["name"] for item in stored if item.get("type") == "secret"}


def mask_values(stored: list[dict[str, Any]], values: dict[str, Any]) -> dict[str, Any]:
    """The copy of params that may be stored or shown: secret values become ``***``."""
    secrets = secret_names(stored)
    return {k: (SECRET_MASK if k in secrets else v) for k, v in values.items()}


def mask_definitions(stored: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Definitions as the API shows them: a secret's default is never returned."""
    return [
        {**item, "default": SECRET_MASK} if item.get("type") == "secret" and item.get("default") else item
        for item in stored
    ]


def keep_secret_defaults(new: list[dict[str, Any]], old: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A client that round-trips ``***`` for a secret default means "unchanged", not the literal."""
    previous = {item["name"]: item for item in old if item.get("type") == "secret"}
    merged = []
    for item in new:
        if item.get("type") == "secret" and item.get("default") == SECRET_MASK and item["name"] in previous:
            item = {**item, "default": previous[item["name"]].get("default")}
        merged.append(item)
    return merged


def to_env_value(value: Any) -> str:
    """How a value reaches the script as an environment variable."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(value)
