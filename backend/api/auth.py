"""Login, logout, the current user, and personal API tokens."""

from __future__ import annotations

from flask import Response, current_app, g, session
from flask_openapi3 import APIBlueprint, Tag

from backend.api.helpers import json_response
from backend.errors import Conflict, TooManyRequests, Unauthorized, Unprocessable
from backend.models import User
from backend.schemas.auth import (
    LoginBody,
    MaybeSessionOut,
    PasswordChange,
    SessionOut,
    TokenCreate,
    TokenCreated,
    TokenList,
    TokenOut,
    TokenPath,
    UserOut,
)
from backend.schemas.common import Problem
from backend.security import client_ip, current_user
from backend.services.auth import sessions, tokens, users
from backend.services.auth.throttle import LoginThrottle

bp = APIBlueprint("auth", __name__, url_prefix="/api/auth", abp_tags=[Tag(name="auth")])


def _session_body(user: User) -> SessionOut:
    sid = g.get("sid")
    csrf = sessions.csrf_token(current_app.config["SECRET_KEY"], sid) if sid else None
    return SessionOut(user=UserOut.model_validate(user), csrf_token=csrf)


@bp.post("/login", responses={200: SessionOut, 401: Problem, 422: Problem, 429: Problem})
def login(body: LoginBody) -> Response:
    """Log in with username and password; sets the session cookie."""
    throttle: LoginThrottle = current_app.extensions["scriptman.throttle"]
    name = users.normalise_username(body.username)
    g.attempted_username = name
    wait = throttle.retry_after(client_ip(), name)
    if wait:
        raise TooManyRequests(f"Too many failed logins; try again in {wait} s.", retry_after=wait)
    user = users.authenticate(name, body.password)
    if user is None:
        throttle.failed(client_ip(), name)
        raise Unauthorized("Wrong username or password.")
    throttle.succeeded(name)
    old = session.get("sid")
    if isinstance(old, str):
        sessions.end_session(old)
    session.clear()
    sid = sessions.start_session(user, client_ip())
    session["sid"] = sid
    session.permanent = True
    g.user, g.sid = user, sid
    return json_response(_session_body(user))


@bp.post("/logout", responses={204: None, 401: Problem})
def logout() -> Response:
    """End this browser session."""
    sid = session.get("sid")
    if isinstance(sid, str):
        sessions.end_session(sid)
    session.clear()
    return Response(status=204)


@bp.get("/me", responses={200: SessionOut, 401: Problem})
def me() -> Response:
    """The logged-in user and the CSRF token for this session."""
    user = current_user()
    assert user is not None
    return json_response(_session_body(user))


@bp.get("/session", responses={200: MaybeSessionOut})
def current_session() -> Response:
    """Who is logged in, if anyone: lets the web app check without provoking a 401."""
    user = current_user()
    return json_response(_session_body(user) if user else MaybeSessionOut(user=None, csrf_token=None))


@bp.post("/password", responses={200: SessionOut, 401: Problem, 422: Problem, 429: Problem})
def change_password(body: PasswordChange) -> Response:
    """Change your own password; every other session of yours ends, this browser stays logged in."""
    user = current_user()
    assert user is not None
    throttle: LoginThrottle = current_app.extensions["scriptman.throttle"]
    wait = throttle.retry_after(client_ip(), user.username)
    if wait:
        raise TooManyRequests(f"Too many wrong passwords; try again in {wait} s.", retry_after=wait)
    if not users.change_own_password(user, body.current_password, body.new_password):
        throttle.failed(client_ip(), user.username)
        raise Unprocessable("The current password is wrong.", field="current_password")
    if g.auth == "session":  # all sessions ended with the change: give this browser a fresh one
        sid = sessions.start_session(user, client_ip())
        session["sid"] = sid
        g.sid = sid
    return json_response(_session_body(user))


@bp.get("/tokens", responses={200: TokenList, 401: Problem})
def list_tokens() -> Response:
    """Your personal API tokens (values are never shown again)."""
    user = current_user()
    assert user is not None
    return json_response(TokenList.of_items([TokenOut.model_validate(t) for t in tokens.list_tokens(user.id)]))


@bp.post("/tokens", responses={201: TokenCreated, 401: Problem, 409: Problem, 422: Problem})
def create_token(body: TokenCreate) -> Response:
    """Create a personal API token; the value is in this response only."""
    user = current_user()
    assert user is not None
    if len(tokens.list_tokens(user.id)) >= tokens.MAX_TOKENS_PER_USER:
        raise Conflict(f"You already have {tokens.MAX_TOKENS_PER_USER} tokens; revoke one first.")
    token, raw = tokens.create_token(user, body.name)
    return json_response(TokenCreated.of(token, token=raw), 201)


@bp.delete("/tokens/<int:token_id>", responses={204: None, 404: Problem})
def delete_token(path: TokenPath) -> Response:
    """Revoke one of your tokens."""
    user = current_user()
    assert user is not None
    tokens.revoke(user.id, path.token_id)
    return Response(status=204)
