"""Hashing credentials: Argon2id for passwords, SHA-256 for the random session ids and API tokens.

Argon2id (argon2-cffi) is slow on purpose, salted and self-describing: a password may be weak. A
session id or token is 256 random bits, so a plain digest is as safe and lets the row be found by it.
"""

from __future__ import annotations

import hashlib

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

_hasher = PasswordHasher()
# Verified when the user does not exist, so an unknown name costs as much time as a wrong password.
_DUMMY_HASH = _hasher.hash("scriptman-timing-equaliser")
MIN_PASSWORD_LENGTH = 8


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def secret_digest(raw: str) -> str:
    """How a session id or an API token is stored and looked up: never the value itself."""
    return hashlib.sha256(raw.encode()).hexdigest()
