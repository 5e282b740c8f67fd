"""The OpenAPI document lists every status an operation can return: the common ones are added here.

A blueprint declares what is particular to its operation (``responses={...}``): the success body,
404 for a missing object, 409 for a conflict, 429 on login. Statuses that come from the machinery
around every handler are added here, once, when flask-openapi3 first generates the document (so
after every blueprint is registered), from the same tables the machinery uses:

======  ==========================================================  ===================================
status  why                                                          operations
======  ==========================================================  ===================================
400     malformed JSON body (``backend.app`` JSON guard)             POST, PUT, PATCH
401     no, wrong or revoked credentials (``backend.security``)      every non-public operation
403     role too low; a cookie session's write without CSRF token    non-public with a role, or a write
404     an object that does not exist, or a path id that is not a    every operation with a path
        number (no route matches)                                    parameter
413     body over ``max_request_bytes`` / the code limit             POST, PUT, PATCH
414     request line too long: answered by the HTTP server           all (text/html, not the app's)
        (gunicorn) before the app sees the request
422     request validation (flask-openapi3)                          operations that take parameters or
                                                                     a body, or that declare it
431     request headers too large: answered by the HTTP server       all (text/html)
500     an unexpected error (``backend.errors``)                     all
======  ==========================================================  ===================================

It also makes the document say what is served: every error is ``application/problem+json`` (not
the ``application/json`` flask-openapi3 writes for a model), a 429 carries ``Retry-After``, and
the non-public operations name their security schemes (a bearer token or the session cookie).
"""

from __future__ import annotations

import re
from typing import Any

from flask_openapi3 import OpenAPI

from backend.errors import PROBLEM_MIME
from backend.policies import SAFE_METHODS, Policy, policy_for, required_role

BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})  # backend.app.JSON_METHODS: the JSON guard reads these
PROBLEM_REF = "#/components/schemas/Problem"
RULE_PARAMETER = re.compile(r"<(?:[^<>:]+:)?([^<>]+)>")
SERVER_ANSWERS = {
    "414": "URI Too Long: the request line is over the HTTP server's limit (gunicorn: 4094 bytes); "
    "answered by the server before the app, as text/html.",
    "431": "Request Header Fields Too Large: over the HTTP server's header limits; answered by the server "
    "before the app, as text/html.",
}
PROBLEM_DESCRIPTIONS = {
    "400": "Bad Request: malformed JSON, or a value the handler cannot use",
    "401": "Unauthorized: log in, or send a valid 'Authorization: Bearer <token>'",
    "403": "Forbidden: your role is too low, or a cookie session's change lacks the X-CSRF-Token header",
    "404": "Not Found: no such object (or the path id is not a number)",
    "413": "Content Too Large: the body is over the server's limit",
    "422": "Unprocessable Content: the request does not match this operation's parameters or body",
    "500": "Internal Server Error: an unexpected error (see the server log)",
}


class DocumentedOpenAPI(OpenAPI):
    """flask-openapi3's app, whose generated document is completed by :func:`complete_document`."""

    def generate_spec_json(self) -> None:
        super().generate_spec_json()
        complete_document(self, self.spec_json)


def openapi_path(rule: str) -> str:
    """``/api/scripts/<int:script_id>`` → ``/api/scripts/{script_id}`` (flask-openapi3's spelling)."""
    return RULE_PARAMETER.sub(r"{\1}", rule)


def _problem(description: str) -> dict[str, Any]:
    return {"description": description, "content": {PROBLEM_MIME: {"schema": {"$ref": PROBLEM_REF}}}}


def _is_problem(content: dict[str, Any]) -> bool:
    schema = content.get("application/json", {}).get("schema", {})
    return schema.get("$ref") == PROBLEM_REF or schema.get("items", {}).get("$ref") == PROBLEM_REF


def _common_statuses(endpoint: str, method: str, operation: dict[str, Any]) -> list[str]:
    policy = policy_for(endpoint)
    statuses = ["500"]
    if policy is not None and policy != Policy.PUBLIC:
        statuses.append("401")
        if required_role(policy, method) is not None or method not in SAFE_METHODS:
            statuses.append("403")
    if method in BODY_METHODS:
        statuses += ["400", "413"]
    if any(p.get("in") == "path" for p in operation.get("parameters", [])):
        statuses.append("404")
    return statuses


def complete_document(app: OpenAPI, spec: dict[str, Any]) -> None:
    """Add the common responses to every operation of ``spec`` (the generated document), in place."""
    paths = spec.get("paths", {})
    for rule in app.url_map.iter_rules():
        item = paths.get(openapi_path(rule.rule))
        if item is None:
            continue
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            operation = item.get(method.lower())
            if operation is None:
                continue
            responses = operation.setdefault("responses", {})
            _fix_validation_response(operation, responses)
            for status in _common_statuses(rule.endpoint, method, operation):
                responses.setdefault(status, _problem(PROBLEM_DESCRIPTIONS[status]))
            for status, description in SERVER_ANSWERS.items():
                responses.setdefault(
                    status, {"description": description, "content": {"text/html": {"schema": {"type": "string"}}}}
                )
            for response in responses.values():
                content = response.get("content", {})
                if _is_problem(content):
                    response["content"] = {PROBLEM_MIME: {"schema": {"$ref": PROBLEM_REF}}}
            if "429" in responses:
                responses["429"].setdefault("headers", {})["Retry-After"] = {
                    "description": "Seconds to wait before trying again",
                    "schema": {"type": "integer", "minimum": 1},
                }
            if policy_for(rule.endpoint) not in (None, Policy.PUBLIC):
                operation.setdefault("security", [{"bearer": []}, {"session": []}])
            operation["responses"] = dict(sorted(responses.items()))


def _fix_validation_response(operation: dict[str, Any], responses: dict[str, Any]) -> None:
    """flask-openapi3 adds a 422 (as a JSON *list* of problems) to every operation; the app answers
    one ``application/problem+json`` object, and only when there is something to validate."""
    generated = responses.get("422", {}).get("content", {}).get("application/json", {}).get("schema", {})
    if generated.get("type") != "array":
        return  # declared by the blueprint (or absent): kept
    if operation.get("parameters") or operation.get("requestBody"):
        responses["422"] = _problem(PROBLEM_DESCRIPTIONS["422"])
    else:
        del responses["422"]
