"""Browser sessions (server-side rows) and the CSRF token bound to each."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import timedelta

from sqlalchemy import delete

from backend.extensions import db
from backend.models import User, UserSession
from backend.models.types import utcnow
from backend.services.auth.passwords import secret_digest

SESSION_IDLE_DAYS = 14
TOUCH_INTERVAL = timedelta(minutes=5)


def start_session(user: User, ip: str) -> str:
    raw = secrets.token_urlsafe(32)
    db.session.add(UserSession(id=secret_digest(raw), user_id=user.id, ip=ip[:64]))
    db.session.commit()
    return raw


def resolve(raw: str) -> User | None:
    """The active user behind a session id, or None when it ended, expired or the user is gone."""
    row = db.session.get(UserSession, secret_digest(raw))
    if row is None:
        return None
    now = utcnow()
    if now - row.last_seen_at > timedelta(days=SESSION_IDLE_DAYS):
        db.session.delete(row)
        db.session.commit()
        return None
    user = db.session.get(User, row.user_id)
    if user is None or not user.active:
        return None
    if now - row.last_seen_at > TOUCH_INTERVAL:  # not a write per request
        row.last_seen_at = now
        db.session.commit()
    return user


def end_session(raw: str) -> None:
    db.session.execute(delete(UserSession).where(UserSession.id == secret_digest(raw)))
    db.session.commit()


def csrf_token(secret_key: str, raw: str) -> str:
    return hmac.new(secret_key.encode(), f"csrf:{raw}".encode(), hashlib.sha256).hexdigest()


def csrf_matches(secret_key: str, raw: str, presented: str | None) -> bool:
    return bool(presented) and hmac.compare_digest(csrf_token(secret_key, raw), presented or "")
