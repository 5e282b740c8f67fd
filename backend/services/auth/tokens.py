"""Personal API tokens: 256 random bits, stored as a SHA-256 digest, shown once."""

from __future__ import annotations

import secrets

from sqlalchemy import select

from backend.errors import NotFound
from backend.extensions import db
from backend.models import ApiToken, User
from backend.models.types import utcnow
from backend.services.auth.passwords import secret_digest

TOKEN_PREFIX = "smt_"
MAX_TOKENS_PER_USER = 50


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


def resolve(raw: str) -> User | None:
    """A digest lookup is constant-time in the secret (the digest, not the token, is compared)."""
    if not raw.startswith(TOKEN_PREFIX) or len(raw) > 200:
        return None
    found = db.session.execute(
        select(ApiToken, User)
        .outerjoin(User, User.id == ApiToken.user_id)
        .where(ApiToken.token_hash == secret_digest(raw))
    ).first()  # the token with its user: one query per request
    if found is None:
        return None
    token, user = found
    if user is None or not user.active:
        return None
    now = utcnow()
    if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
        token.last_used_at = now
        db.session.commit()
    return user
