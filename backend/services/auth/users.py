"""User accounts: create, change, delete, authenticate, and the first admin."""

from __future__ import annotations

import logging
import secrets
from typing import Any

from sqlalchemy import delete, func, select

from backend.database import begin_write
from backend.errors import Conflict, NotFound, Unprocessable
from backend.extensions import db
from backend.models import ApiToken, Role, User, UserSession
from backend.models.types import utcnow
from backend.services.auth.passwords import MIN_PASSWORD_LENGTH, hash_password, verify_password

log = logging.getLogger(__name__)


def normalise_username(username: str) -> str:
    return username.strip().lower()


def find_user(username: str) -> User | None:
    return db.session.scalar(select(User).where(User.username == normalise_username(username)))


def get_user(user_id: int) -> User:
    user = db.session.get(User, user_id)
    if user is None:
        raise NotFound(f"User {user_id} does not exist.")
    return user


def list_users() -> list[User]:
    return list(db.session.scalars(select(User).order_by(User.username)))


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise Unprocessable(f"password: use at least {MIN_PASSWORD_LENGTH} characters", field="password")


def create_user(username: str, password: str, role: str = Role.VIEWER.value, full_name: str = "") -> User:
    name = normalise_username(username)
    _check_password(password)
    begin_write()
    if find_user(name) is not None:
        raise Conflict(f"A user named {name!r} already exists.", field="username")
    user = User(username=name, password_hash=hash_password(password), role=Role(role).value, full_name=full_name)
    db.session.add(user)
    db.session.commit()
    return user


def _admins_left(excluding: int) -> int:
    return (
        db.session.scalar(
            select(func.count())
            .select_from(User)
            .where(User.role == Role.ADMIN.value, User.active.is_(True), User.id != excluding)
        )
        or 0
    )


def update_user(user_id: int, changes: dict[str, Any]) -> User:
    """Change a user; a new password or a deactivation ends every session and token use at once."""
    begin_write()
    user = get_user(user_id)
    demoted = changes.get("role", user.role) != Role.ADMIN.value or changes.get("active") is False
    if user.role == Role.ADMIN.value and user.active and demoted and _admins_left(user.id) == 0:
        raise Conflict("This is the last active admin; make someone else admin first.")
    if "username" in changes:
        name = normalise_username(changes["username"])
        other = find_user(name)
        if other is not None and other.id != user.id:
            raise Conflict(f"A user named {name!r} already exists.", field="username")
        user.username = name
    if "password" in changes:
        _check_password(changes["password"])
        user.password_hash = hash_password(changes["password"])
        end_sessions(user.id)
    if "role" in changes:
        user.role = Role(changes["role"]).value
    if "full_name" in changes:
        user.full_name = changes["full_name"]
    if "active" in changes:
        user.active = bool(changes["active"])
        if not user.active:
            end_sessions(user.id)
    db.session.commit()
    return user


def delete_user(user_id: int) -> None:
    begin_write()
    user = get_user(user_id)
    if user.role == Role.ADMIN.value and user.active and _admins_left(user.id) == 0:
        raise Conflict("This is the last active admin; it cannot be deleted.")
    db.session.execute(delete(ApiToken).where(ApiToken.user_id == user.id))
    end_sessions(user.id)
    db.session.delete(user)
    db.session.commit()


def change_own_password(user: User, current: str, new: str) -> bool:
    """A user's own password change; False when ``current`` is wrong. Ends all of their sessions."""
    if not verify_password(user.password_hash, current):
        return False
    update_user(user.id, {"password": new})
    return True


def end_sessions(user_id: int) -> None:
    db.session.execute(delete(UserSession).where(UserSession.user_id == user_id))


def authenticate(username: str, password: str) -> User | None:
    """The user if the password matches and the account is active; same cost either way."""
    user = find_user(username)
    ok = verify_password(user.password_hash if user else None, password)
    if not ok or user is None or not user.active:
        return None
    user.last_login_at = utcnow()
    db.session.commit()
    return user


def ensure_admin(password: str | None) -> str | None:
    """On first start create ``admin``; returns the generated password (to print once) if one was made."""
    if db.session.scalar(select(func.count()).select_from(User)):
        return None
    generated = None if password else secrets.token_urlsafe(12)
    create_user("admin", password or generated or "", Role.ADMIN.value, "Administrator")
    log.info("created the first admin account 'admin'")
    return generated
