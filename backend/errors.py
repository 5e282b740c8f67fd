"""One error hierarchy, mapped to RFC 9457 ``application/problem+json`` in one place."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, json, request
from pydantic import ValidationError
from werkzeug.exceptions import HTTPException

from backend.extensions import db

log = logging.getLogger(__name__)

PROBLEM_MIME = "application/problem+json"


class ProblemError(Exception):
    """An error a client can act on; ``status`` picks the HTTP code."""

    status = 400
    title = "Bad request"

    def __init__(self, detail: str, *, field: str | None = None, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.field = field
        self.extra = extra


class BadRequest(ProblemError):
    status = 400
    title = "Bad request"


class Unauthorized(ProblemError):
    status = 401
    title = "Authentication required"


class Forbidden(ProblemError):
    status = 403
    title = "Forbidden"


class NotFound(ProblemError):
    status = 404
    title = "Not found"


class Conflict(ProblemError):
    status = 409
    title = "Conflict"


class PayloadTooLarge(ProblemError):
    status = 413
    title = "Payload too large"


class Unprocessable(ProblemError):
    status = 422
    title = "Invalid input"


class TooManyRequests(ProblemError):
    status = 429
    title = "Too many requests"


def problem_response(status: int, title: str, detail: str, **extra: Any) -> Response:
    body: dict[str, Any] = {"type": "about:blank", "title": title, "status": status, "detail": detail}
    body.update({k: v for k, v in extra.items() if v is not None})
    return Response(json.dumps(body), status=status, mimetype=PROBLEM_MIME)


def _location(loc: tuple[Any, ...]) -> str:
    return ".".join(str(part) for part in loc) or "body"


def describe_validation_error(error: ValidationError) -> tuple[str, str, list[dict[str, Any]]]:
    """Turn pydantic's list into one clear sentence about the first error, plus the full list."""
    errors = [
        {"field": _location(item["loc"]), "message": item["msg"], "type": item["type"]}
        for item in error.errors(include_url=False, include_input=False)
    ]
    first = errors[0] if errors else {"field": "body", "message": "invalid"}
    if first["field"] == "body" and first.get("type") in {"model_type", "dict_type"}:
        return "body", "The request body must be a JSON object.", errors
    return first["field"], f"{first['field']}: {first['message']}", errors


def validation_error_response(error: ValidationError) -> Response:
    """flask-openapi3's hook: request validation failures become a 422 problem."""
    field, detail, errors = describe_validation_error(error)
    return problem_response(422, "Invalid input", detail, field=field, errors=errors)


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(ProblemError)
    def _problem(error: ProblemError) -> Response:
        db.session.rollback()
        response = problem_response(error.status, error.title, error.detail, field=error.field, **error.extra)
        if "retry_after" in error.extra:
            response.headers["Retry-After"] = str(error.extra["retry_after"])
        return response

    @app.errorhandler(ValidationError)
    def _validation(error: ValidationError) -> Response:
        db.session.rollback()
        return validation_error_response(error)

    @app.errorhandler(HTTPException)
    def _http(error: HTTPException) -> Response:
        if error.response is not None:  # flask-openapi3 aborts with a ready response
            return error.response
        if not request.path.startswith("/api/") and error.code == 404:
            return error.get_response()
        response = problem_response(error.code or 500, error.name, error.description or error.name)
        response.headers.extend((k, v) for k, v in error.get_headers() if k.lower() != "content-type")  # Allow, …
        return response

    @app.errorhandler(Exception)
    def _unexpected(error: Exception) -> Response:
        db.session.rollback()
        log.exception("Unhandled error on %s %s", request.method, request.path)
        return problem_response(500, "Internal server error", "An unexpected error occurred; see the server log.")
