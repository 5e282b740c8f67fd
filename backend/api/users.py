"""User administration (admin only)."""

from __future__ import annotations

from flask import Response
from flask_openapi3 import APIBlueprint, Tag

from backend.api.helpers import json_response
from backend.errors import Conflict
from backend.schemas.auth import UserCreate, UserList, UserOut, UserPatch, UserPath
from backend.schemas.common import Problem
from backend.security import current_user
from backend.services.auth import users

bp = APIBlueprint("users", __name__, url_prefix="/api/users", abp_tags=[Tag(name="users")])


@bp.get("", responses={200: UserList})
def list_users() -> Response:
    """All accounts."""
    return json_response(UserList.of_items([UserOut.model_validate(u) for u in users.list_users()]))


@bp.post("", responses={201: UserOut, 409: Problem, 422: Problem})
def create_user(body: UserCreate) -> Response:
    """Create an account."""
    user = users.create_user(body.username, body.password, body.role, body.full_name)
    return json_response(UserOut.model_validate(user), 201)


@bp.patch("/<int:user_id>", responses={200: UserOut, 404: Problem, 409: Problem, 422: Problem})
def update_user(path: UserPath, body: UserPatch) -> Response:
    """Change an account; a new password or deactivation ends its sessions."""
    return json_response(UserOut.model_validate(users.update_user(path.user_id, body.model_dump(exclude_unset=True))))


@bp.delete("/<int:user_id>", responses={204: None, 404: Problem, 409: Problem})
def delete_user(path: UserPath) -> Response:
    """Delete an account with its sessions and tokens."""
    me = current_user()
    if me is not None and me.id == path.user_id:
        raise Conflict("You cannot delete your own account.")
    users.delete_user(path.user_id)
    return Response(status=204)
