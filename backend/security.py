"""Authentication, authorisation, CSRF, audit and security headers for every request."""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlsplit

from flask import Flask, Response, g, request, session

from backend.config import Settings
from backend.errors import Forbidden, Unauthorized
from backend.models import Role, User
from backend.policies import SAFE_METHODS, Policy, policy_for, required_role
from backend.services import audit
from backend.services.auth import sessions, tokens

log = logging.getLogger(__name__)

CSRF_HEADER = "X-CSRF-Token"
APP_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
    "font-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'none'; form-action 'self'"
)
AUDIT_TARGET_KEYS = ("script_id", "execution_id", "schedule_id", "user_id", "token_id", "hook_id")


def current_user() -> User | None:
    return g.get("user")


def client_ip() -> str:
    return (request.remote_addr or "")[:64]


def _identify(settings: Settings) -> None:
    g.user = None
    g.auth = None
    header = request.headers.get("Authorization", "")
    if header:
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise Unauthorized("Authorization must be 'Bearer <token>'.")
        user = tokens.resolve(value.strip(), cached=request.method in SAFE_METHODS)
        if user is None:
            raise Unauthorized("The API token is invalid or was revoked.")
        g.user, g.auth = user, "token"
        return
    sid = session.get("sid")
    if isinstance(sid, str):
        user, touched = sessions.resolve_and_touch(sid, cached=request.method in SAFE_METHODS)
        if user is not None:
            g.user, g.auth, g.sid = user, "session", sid
            if touched:  # the cookie's expiry moves on with the session's last-seen time
                session.modified = True


def _check_csrf(secret_key: str, allowed_origins: list[str]) -> None:
    """Cookie-authenticated writes need the session's CSRF token and, if sent, a same-site Origin."""
    origin = request.headers.get("Origin")
    if origin:
        parts = urlsplit(origin)
        here = urlsplit(request.host_url)
        if (parts.scheme, parts.netloc) != (here.scheme, here.netloc) and origin not in allowed_origins:
            raise Forbidden("Cross-origin request refused.")
    if not sessions.csrf_matches(secret_key, g.sid, request.headers.get(CSRF_HEADER)):
        raise Forbidden(f"Missing or wrong {CSRF_HEADER} header (get it from /api/auth/me).", field=CSRF_HEADER)


def init_security(app: Flask, settings: Settings) -> None:
    app.config.update(
        SESSION_COOKIE_NAME="scriptman_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.secure_cookies,
        PERMANENT_SESSION_LIFETIME=sessions.SESSION_IDLE_DAYS * 24 * 3600,
        # Re-signing and re-sending the cookie on every response cost ~10 % of a list request's time;
        # it is renewed when the server-side session's last-seen time is (at most every 5 minutes).
        SESSION_REFRESH_EACH_REQUEST=False,
    )

    @app.before_request
    def _authorise() -> None:
        endpoint = request.endpoint
        if endpoint is None:  # no such route: let Flask answer 404/405
            return
        policy = policy_for(endpoint)
        if policy is None:
            log.error("route %s has no access policy; refusing", endpoint)
            raise Forbidden("This route has no access policy.")
        if policy == Policy.PUBLIC and endpoint != "auth.login":
            try:
                _identify(settings)
            except Unauthorized:
                g.user = None
            return
        _identify(settings)
        if policy == Policy.PUBLIC:
            return
        user = current_user()
        if user is None:
            raise Unauthorized("Log in, or send an API token as 'Authorization: Bearer <token>'.")
        if g.auth == "session" and request.method not in SAFE_METHODS:
            _check_csrf(app.config["SECRET_KEY"], settings.cors_origins)
        needed = required_role(policy, request.method)
        if needed is not None and Role(user.role).rank < needed.rank:
            raise Forbidden(f"This needs the {needed.value} role; you are {user.role}.")
        if request.method == "DELETE":
            _remember_target_name()

    @app.after_request
    def _after(response: Response) -> Response:
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("Content-Security-Policy", APP_CSP)
        if request.path.startswith("/api/") and request.method not in SAFE_METHODS:
            _audit(response.status_code, response)
        return response


def _target_key() -> tuple[str, str]:
    """The object a request is about, from its URL: ("script", "12"), or ("", "")."""
    for key in AUDIT_TARGET_KEYS:
        value = (request.view_args or {}).get(key)
        if value is not None:
            return key.removesuffix("_id"), str(value)
    return "", ""


def _remember_target_name() -> None:
    """Before a delete, note the target's name: the audit trail shows it once the row is gone."""
    target_type, target_id = _target_key()
    try:
        name = audit.current_name(target_type, target_id) if target_id else None
    except Exception:  # the audit trail must never turn a request into an error
        log.exception("could not look up the name of %s %s", target_type, target_id)
        name = None
    if name is not None:
        g.audit_detail = {**(g.get("audit_detail") or {}), "name": name}


def audit_in_transaction(status: int) -> None:
    """Add this request's audit row to the handler's open transaction, committed with its change,
    instead of a second write transaction after the response (a run's submit pays one commit)."""
    _audit(status, in_transaction=True)
    g.audit_recorded = True


def _audit(status: int, response: Response | None = None, *, in_transaction: bool = False) -> None:
    """Every change through the API leaves a row: who, what, which object, from where.

    ``response``: the answer sent, when there is one (its body may name the object made).
    """
    endpoint = request.endpoint or "unknown"
    if (status >= 400 and endpoint != "auth.login") or g.get("audit_recorded"):
        return
    target_type, target_id = _target_key()
    detail: dict[str, Any] = {"method": request.method, "path": request.path[:300], "status": status}
    if not target_id and response is not None and response.is_json and status in (200, 201, 202):
        body = response.get_json(silent=True)
        if isinstance(body, dict) and isinstance(body.get("id"), int):
            blueprint = endpoint.split(".")[0]
            target_type, target_id = ("token" if blueprint == "auth" else blueprint.rstrip("s")), str(body["id"])
    if g.get("audit_target"):  # a handler that made a new object (duplicate) names it as the target
        target_type, target_id = g.audit_target
    detail.update(g.get("audit_detail") or {})
    user = current_user()
    try:
        audit.record(
            action=endpoint,
            user=user,
            username=g.get("attempted_username", "") if user is None else user.username,
            target_type=target_type,
            target_id=target_id,
            detail=detail,
            ip=client_ip(),
            status=status,
            in_transaction=in_transaction,
        )
    except Exception:  # the audit trail must never turn a done change into an error
        log.exception("could not write the audit row for %s", endpoint)
