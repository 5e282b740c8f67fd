"""Browser sessions (server-side rows) and the CSRF token bound to each."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import timedelta

from sqlalchemy import delete, select

from backend.extensions import db
from backend.models import User, UserSession
from backend.models.types import utcnow
from backend.services.auth import cache as auth_cache
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
    return resolve_and_touch(raw)[0]


def resolve_and_touch(raw: str, *, cached: bool = False) -> tuple[User | None, bool]:
    """``resolve``, and whether the session's last-seen time was moved on by this call.

    Every request with a cookie comes here: one query reads the session with its user, and the
    session row is written at most once per ``TOUCH_INTERVAL`` (the caller renews the cookie's
    expiry then, not on every request). ``cached``: a reading request may get the user from
    ``auth.cache`` (a transient copy) until the session is due for its touch or anything about
    users, sessions or tokens changes.
    """
    digest = secret_digest(raw)
    remembered = auth_cache.current()
    if cached:
        user = remembered.lookup(digest, TOUCH_INTERVAL)
        if user is not None:
            return user, False
    generation = remembered.generation()  # before the read: a change committed meanwhile voids the entry
    found = db.session.execute(
        select(UserSession, User).outerjoin(User, User.id == UserSession.user_id).where(UserSession.id == digest)
    ).first()
    if found is None:
        return None, False
    row, user = found
    now = utcnow()
    if now - row.last_seen_at > timedelta(days=SESSION_IDLE_DAYS):
        db.session.delete(row)
        db.session.commit()
        return None, False
    if user is None or not user.active:
        return None, False
    touched = now - row.last_seen_at > TOUCH_INTERVAL
    if touched:  # not a write per request
        row.last_seen_at = now
        db.session.commit()
    else:
        remembered.store(digest, user, row.last_seen_at, generation)
    return user, touched


def end_session(raw: str) -> None:
    db.session.execute(delete(UserSession).where(UserSession.id == secret_digest(raw)))
    db.session.commit()  # the commit voids every process's remembered sessions (auth.cache)


def csrf_token(secret_key: str, raw: str) -> str:
    return hmac.new(secret_key.encode(), f"csrf:{raw}".encode(), hashlib.sha256).hexdigest()


def csrf_matches(secret_key: str, raw: str, presented: str | None) -> bool:
    return bool(presented) and hmac.compare_digest(csrf_token(secret_key, raw), presented or "")
