"""Shapes of the auth, users, tokens and audit endpoints."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field, model_validator

from backend.models import Role
from backend.schemas.common import ID_MAX, ByValue, ItemList, PageOut, PageQuery, ResponseModel, StrictBody, Timestamp

USERNAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$"


class LoginBody(StrictBody):
    username: str = Field(min_length=1, max_length=200)
    password: str = Field(min_length=1, max_length=1000)


class UserOut(ResponseModel):
    id: int
    username: str
    full_name: str
    role: Role
    active: bool
    created_at: Timestamp
    last_login_at: Timestamp | None


class SessionOut(ResponseModel):
    user: UserOut
    csrf_token: str | None = Field(description="Send as X-CSRF-Token on cookie-authenticated writes")


class MaybeSessionOut(ResponseModel):
    user: UserOut | None = Field(description="null when nobody is logged in")
    csrf_token: str | None


class UserCreate(StrictBody):
    username: str = Field(pattern=USERNAME_PATTERN)
    password: str = Field(min_length=8, max_length=1000)
    role: ByValue[Role] = Role.VIEWER
    full_name: str = Field(default="", max_length=200)


class UserPatch(StrictBody):
    username: str | None = Field(default=None, pattern=USERNAME_PATTERN)
    password: str | None = Field(default=None, min_length=8, max_length=1000)
    role: ByValue[Role] | None = None
    full_name: str | None = Field(default=None, max_length=200)
    active: bool | None = None

    @model_validator(mode="before")
    @classmethod
    def _null_means_unchanged(cls, data: Any) -> Any:
        """null leaves a field as it is, as in the other PATCH bodies (it was a 500, or deactivated the user)."""
        if not isinstance(data, dict):
            return data
        return {key: value for key, value in data.items() if value is not None or key not in cls.model_fields}


class PasswordChange(StrictBody):
    current_password: str = Field(min_length=1, max_length=1000)
    new_password: str = Field(min_length=8, max_length=1000)


class UserPath(BaseModel):
    user_id: int = Field(ge=1, le=ID_MAX)


class UserList(ItemList[UserOut]):
    pass


class TokenCreate(StrictBody):
    name: str = Field(min_length=1, max_length=100)


class TokenOut(ResponseModel):
    id: int
    name: str
    prefix: str
    created_at: Timestamp
    last_used_at: Timestamp | None


class TokenCreated(TokenOut):
    token: str = Field(description="The token value; shown only in this response")


class TokenList(ItemList[TokenOut]):
    pass


class TokenPath(BaseModel):
    token_id: int = Field(ge=1, le=ID_MAX)


class AuditQuery(PageQuery):
    action: str | None = Field(default=None, max_length=100)
    username: str | None = Field(default=None, max_length=64)


class AuditOut(ResponseModel):
    id: int
    time: Timestamp
    username: str
    action: str
    target_type: str = Field(description="script, execution, schedule, user, token, ... (empty when none)")
    target_id: str
    target_name: str | None = Field(
        description="The target's name (a script's, schedule's, token's; a user's username; an execution's script), "
        "looked up when read; for a deleted target the name recorded at the time, else null"
    )
    detail: dict[str, Any]
    ip: str
    status: int


class AuditList(PageOut[AuditOut]):
    pass
