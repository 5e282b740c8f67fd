"""Small request/response helpers shared by the blueprints."""

from __future__ import annotations

import re

from flask import Response, current_app, jsonify
from pydantic import BaseModel

from backend.config import Settings
from backend.errors import BadRequest

ETAG_PATTERN = re.compile(r'^\s*(?:W/)?"?(\d{1,18})"?\s*$')


def current_user_id() -> int | None:
    """Who is making this request (session or token), for records such as who started a run."""
    from backend.security import current_user

    user = current_user()
    return user.id if user is not None else None


def settings() -> Settings:
    return current_app.extensions["scriptman.settings"]  # type: ignore[no-any-return]


def json_response(body: BaseModel, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """The body as the JSON its model documents (the model is the response schema in the OpenAPI document)."""
    response = jsonify(body.model_dump(mode="json"))
    response.status_code = status
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


def parse_if_match(value: str | None) -> int | None:
    """``If-Match: "7"`` → 7 (the script's revision); ``*`` or no header → no check."""
    if value is None or value.strip() == "*":
        return None
    match = ETAG_PATTERN.match(value)
    if not match:
        raise BadRequest('If-Match must be an ETag such as "7" (the revision you edited).', field="If-Match")
    return int(match.group(1))
