"""Personal API tokens: 256 random bits, stored as a SHA-256 digest, shown once."""

from __future__ import annotations

import secrets
from datetime import timedelta

from sqlalchemy import select

from backend.errors import NotFound
from backend.extensions import db
from backend.models import ApiToken, User
from backend.models.types import utcnow
from backend.services.auth import cache as auth_cache
from backend.services.auth.passwords import secret_digest

TOKEN_PREFIX = "smt_"
MAX_TOKENS_PER_USER = 50
LAST_USED_INTERVAL = timedelta(seconds=60)  # a token's last-used time is written at most this often


def create_token(user: User, name: str) -> tuple[ApiToken, str]:
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(user_id=user.id, name=name, token_hash=secret_digest(raw), prefix=raw[:10])
    db.session.add(token)
    db.session.commit()
    return token, raw


def list_tokens(user_id: int) -> list[ApiToken]:
    return list(db.session.scalars(select(ApiToken).where(ApiToken.user_id == user_id).order_by(ApiToken.id)))


def revoke(user_id: int, token_id: int) -> None:
    token = db.session.get(ApiToken, token_id)
    if token is None or token.user_id != user_id:
        raise NotFound(f"You have no token {token_id}.")
    db.session.delete(token)
    db.session.commit()


def resolve(raw: str, *, cached: bool = False) -> User | None:
    """A digest lookup is constant-time in the secret (the digest, not the token, is compared).

    ``cached``: a reading request may get the user from ``auth.cache`` (a transient copy) until the
    token is due for its last-used write or anything about users, sessions or tokens changes.
    """
    if not raw.startswith(TOKEN_PREFIX) or len(raw) > 200:
        return None
    digest = secret_digest(raw)
    remembered = auth_cache.current()
    if cached:
        user = remembered.lookup(digest, LAST_USED_INTERVAL)
        if user is not None:
            return user
    generation = remembered.generation()  # before the read: a change committed meanwhile voids the entry
    found = db.session.execute(
        select(ApiToken, User).outerjoin(User, User.id == ApiToken.user_id).where(ApiToken.token_hash == digest)
    ).first()  # the token with its user: one query per request
    if found is None:
        return None
    token, user = found
    if user is None or not user.active:
        return None
    now = utcnow()
    if token.last_used_at is None or now - token.last_used_at > LAST_USED_INTERVAL:
        token.last_used_at = now
        db.session.commit()
    else:
        remembered.store(digest, user, token.last_used_at, generation)
    return user
