"""Trigger URLs: ``POST /hooks/<token>`` starts a script without a login.

The token is the only credential, so it is treated like a password: 256 random bits with a
recognisable ``smh_`` prefix (secret scanners and people can tell what leaked), stored only as a
SHA-256 digest, looked up by digest and compared in constant time, shown once (on create and on
rotate), never logged (``backend.server`` redacts ``/hooks/<token>`` from the access log) and never
written to the audit trail (rows name the hook by id).

A run it starts goes through the same ``executions.start()`` as a manual one (same validation, same
disabled/concurrency rules) with trigger ``webhook``; ``created_by`` is the hook's creator, as a
schedule's runs are its creator's.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
import threading
import time
from collections import deque
from typing import Any

from flask import current_app
from sqlalchemy import func, select

from backend.errors import Conflict, NotFound, TooManyRequests, Unprocessable
from backend.extensions import db
from backend.models import Execution, ExecutionStatus, ScriptHook, Trigger, User
from backend.models.types import utcnow
from backend.services import audit, runstatus
from backend.services import executions as executions_service
from backend.services import scripts as scripts_service

TOKEN_PREFIX = "smh_"
PREFIX_LENGTH = 10  # "smh_" and 6 characters of the token: enough to tell hooks apart in a list
MAX_TOKEN_LENGTH = 200
MAX_HOOKS_PER_SCRIPT = 50
MAX_BODY_BYTES = 1_000_000  # parameter values, not uploads
RATE_WINDOW_SECONDS = 60.0
POLL_FIRST_SECONDS = 0.05  # ?wait polls the run's status with backoff up to POLL_MAX_SECONDS
POLL_MAX_SECONDS = 0.5
UNKNOWN_TOKEN = "No trigger URL matches this address (it may have been revoked or rotated)."


def digest(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def _new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)  # 32 bytes: 256 random bits


# -- managing (editors and admins, checked by backend.policies) ----------------------------------------


def list_hooks(script_id: int) -> list[ScriptHook]:
    scripts_service.get_script(script_id)  # 404 for a missing script, not an empty list
    return list(db.session.scalars(select(ScriptHook).where(ScriptHook.script_id == script_id).order_by(ScriptHook.id)))


def get_hook(script_id: int, hook_id: int) -> ScriptHook:
    hook = db.session.get(ScriptHook, hook_id)
    if hook is None or hook.script_id != script_id:
        raise NotFound(f"Script {script_id} has no trigger URL {hook_id}.")
    return hook


def creator_names(hooks: list[ScriptHook]) -> dict[int, str]:
    """User id → username of who created each hook, in one query."""
    ids = {h.created_by_id for h in hooks if h.created_by_id}
    if not ids:
        return {}
    return {row.id: row.username for row in db.session.execute(select(User.id, User.username).where(User.id.in_(ids)))}


def create(script_id: int, name: str, *, created_by_id: int | None) -> tuple[ScriptHook, str]:
    """A new trigger URL for the script; the raw token is returned here only."""
    scripts_service.get_script(script_id)
    count = db.session.scalar(select(func.count()).select_from(ScriptHook).where(ScriptHook.script_id == script_id))
    if count and count >= MAX_HOOKS_PER_SCRIPT:
        raise Conflict(f"Script {script_id} already has {MAX_HOOKS_PER_SCRIPT} trigger URLs; revoke one first.")
    raw = _new_token()
    hook = ScriptHook(
        script_id=script_id,
        name=name.strip(),
        token_hash=digest(raw),
        prefix=raw[:PREFIX_LENGTH],
        created_by_id=created_by_id,
    )
    db.session.add(hook)
    db.session.commit()
    return hook, raw


def rotate(script_id: int, hook_id: int) -> tuple[ScriptHook, str]:
    """A new token for the same hook; the old one stops working with this commit."""
    hook = get_hook(script_id, hook_id)
    raw = _new_token()
    hook.token_hash = digest(raw)
    hook.prefix = raw[:PREFIX_LENGTH]
    hook.rotated_at = utcnow()
    db.session.commit()
    return hook, raw


def revoke(script_id: int, hook_id: int) -> None:
    db.session.delete(get_hook(script_id, hook_id))
    db.session.commit()


# -- triggering (public: the token is the credential) ---------------------------------------------------


def resolve(raw: str) -> ScriptHook | None:
    """The hook whose token is ``raw``, or None. Looked up by digest (the database never compares
    the secret itself), then compared in constant time."""
    if not raw.startswith(TOKEN_PREFIX) or len(raw) > MAX_TOKEN_LENGTH:
        return None
    wanted = digest(raw)
    hook = db.session.scalar(select(ScriptHook).where(ScriptHook.token_hash == wanted))
    if hook is None or not hmac.compare_digest(hook.token_hash, wanted):
        return None
    return hook


class RateLimiter:
    """Requests per key in a sliding window, in this process: exact for the one-process default
    server, per process when scaled out (then each process allows the limit)."""

    MAX_KEYS = 100_000

    def __init__(self) -> None:
        self.hits: dict[int, deque[float]] = {}
        self.lock = threading.Lock()

    def hit(self, key: int, limit: int, window: float = RATE_WINDOW_SECONDS) -> int:
        """Count a request; 0 when it may proceed, else the whole seconds to wait (nothing counted)."""
        now = time.monotonic()
        with self.lock:
            entries = self.hits.get(key)
            if entries is None:
                if len(self.hits) >= self.MAX_KEYS:
                    self.hits.clear()
                entries = self.hits[key] = deque()
            while entries and now - entries[0] >= window:
                entries.popleft()
            if len(entries) >= limit:
                return max(1, math.ceil(window - (now - entries[0])))
            entries.append(now)
            return 0


def _limiter() -> RateLimiter:
    limiter: RateLimiter = current_app.extensions.setdefault("scriptman.hook_limiter", RateLimiter())
    return limiter


def admit(raw: str) -> ScriptHook:
    """The hook of token ``raw`` if it may start a run now: 404 for an unknown (revoked, rotated)
    token, without saying which; 429 with ``retry_after`` over the hook's rate limit."""
    hook = resolve(raw)
    if hook is None:
        raise NotFound(UNKNOWN_TOKEN)
    limit = current_app.extensions["scriptman.settings"].hook_rate_limit_per_minute
    wait = _limiter().hit(hook.id, limit)
    if wait:
        raise TooManyRequests(
            f"This trigger URL accepts {limit} requests a minute; retry in {wait} s.", retry_after=wait
        )
    return hook


def trigger(hook: ScriptHook, values: Any, *, ip: str) -> Execution:
    """Start the hook's script with ``values`` (the JSON body) through ``start()``: a 422 names a
    wrong parameter, a disabled script is a 409. Leaves an audit row naming the hook by id."""
    if not isinstance(values, dict):
        raise Unprocessable("The body must be a JSON object of parameter values (or empty).", field="body")
    script = scripts_service.get_script(hook.script_id)
    execution = executions_service.start(
        script, values, Trigger.WEBHOOK, created_by_id=hook.created_by_id, commit=False
    )
    hook.last_used_at = utcnow()
    hook.last_used_ip = ip[:64] or None
    db.session.commit()
    executions_service.wake_executor()
    audit.record(
        action="hooks.trigger",
        user=None,
        username="",
        target_type="execution",
        target_id=str(execution.id),
        detail={"hook_id": hook.id, "hook_name": hook.name, "script_id": script.id, "status": 202},
        ip=ip,
        status=202,
    )
    return execution


def wait_seconds(raw: str | None, maximum: float) -> float:
    """``?wait`` → seconds to hold the request: a number (capped), 'true' = the cap, 'false' = 0."""
    if raw is None or raw == "false":
        return 0.0
    if raw == "true":
        return maximum
    return min(float(raw), maximum)


def wait_for_end(execution_id: int, seconds: float) -> Execution:
    """The run once it is final, or as it is after ``seconds``.

    Sleeps on the run's status channel (``runstatus``: the claim and the run-end listeners poke it),
    so the answer leaves as soon as the final status is stored; the status is also re-read with
    backoff (50 ms growing to 500 ms) in case a poke comes from another process. The session is
    closed between reads: a waiting request holds no database connection.
    """
    deadline = time.monotonic() + seconds
    delay = POLL_FIRST_SECONDS
    final = {s.value for s in ExecutionStatus if s.is_final}
    with runstatus.follow(execution_id) as channel:
        while True:
            seen = channel.status_changes  # before the read, so a poke in between is not lost
            status = db.session.scalar(select(Execution.status).where(Execution.id == execution_id))
            db.session.close()
            left = deadline - time.monotonic()
            if status in final or status is None or left <= 0:
                break
            channel.wait_status(seen, min(delay, left))
            delay = min(delay * 1.5, POLL_MAX_SECONDS)
    return executions_service.get_execution(execution_id)
