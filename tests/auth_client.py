"""Test clients that are logged in: a bearer token per role, made on first use for each app.

Installed as Flask's ``test_client_class`` by conftest, so ``app.test_client()`` acts as an admin,
``app.test_client(role="viewer")`` as a viewer and ``app.test_client(role=None)`` as nobody.

Responses are buffered unless a test asks for a stream (``buffered=False``): the body is read and
the response closed at once, as a WSGI server closes it, so a file a download opened is closed too.
"""

from __future__ import annotations

from typing import Any

from flask import Flask
from flask.testing import FlaskClient


def token_for(app: Flask, role: str) -> str:
    cache: dict[str, str] = app.extensions.setdefault("tests.tokens", {})
    if role not in cache:
        from backend.services.auth import tokens, users

        with app.app_context():
            user = users.find_user(f"test-{role}") or users.create_user(f"test-{role}", "test-password", role)
            _, raw = tokens.create_token(user, "tests")
        cache[role] = raw
    return cache[role]


class AuthClient(FlaskClient):
    def __init__(self, *args: Any, role: str | None = "admin", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.role = role

    def open(self, *args: Any, **kwargs: Any) -> Any:
        if self.role and "HTTP_AUTHORIZATION" not in self.environ_base:
            self.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {token_for(self.application, self.role)}"
        kwargs.setdefault("buffered", True)
        return super().open(*args, **kwargs)
