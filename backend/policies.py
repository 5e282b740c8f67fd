"""Who may call what: every route's access policy, declared in one table.

A route whose blueprint or endpoint is not listed here is refused (and a test walks the URL
map so a new route without a policy fails the suite instead of shipping open or closed by luck).
"""

from __future__ import annotations

import enum

from backend.models import Role


class Policy(enum.StrEnum):
    PUBLIC = "public"  # no login (health, login, the OpenAPI document, the SPA shell)
    AUTHENTICATED = "authenticated"  # any logged-in user (own profile, own tokens)
    VIEWER = "viewer"
    EDITOR = "editor"
    ADMIN = "admin"
    READ_WRITE = "read-write"  # viewer for GET/HEAD, editor for changes


BLUEPRINT_POLICIES: dict[str, Policy] = {
    "system": Policy.PUBLIC,
    "openapi": Policy.PUBLIC,
    "spa": Policy.PUBLIC,
    "scripts": Policy.READ_WRITE,
    "runs": Policy.EDITOR,
    "executions": Policy.READ_WRITE,
    "logs": Policy.VIEWER,
    "files": Policy.VIEWER,
    "schedules": Policy.READ_WRITE,
    "users": Policy.ADMIN,
    "audit": Policy.ADMIN,
    "stats": Policy.VIEWER,
    "auth": Policy.AUTHENTICATED,
    "notifications": Policy.ADMIN,  # channels hold credentials and decide where run details go
    "hooks": Policy.EDITOR,  # managing a script's trigger URLs (listing too: viewers see none)
    "hook_trigger": Policy.PUBLIC,  # POST /hooks/<token>: the token is the credential
    "variables": Policy.ADMIN,  # shared variables: admins change them; listing is below
}
ENDPOINT_POLICIES: dict[str, Policy] = {
    "static": Policy.PUBLIC,
    "auth.login": Policy.PUBLIC,
    "auth.current_session": Policy.PUBLIC,
    "notifications.execution_notifications": Policy.VIEWER,  # a run's deliveries, shown on its page
    "notifications.list_channel_names": Policy.VIEWER,  # names only, to pick channels for a script
    "variables.list_variables": Policy.VIEWER,  # any logged-in user; secret values show as ***
}
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def policy_for(endpoint: str) -> Policy | None:
    if endpoint in ENDPOINT_POLICIES:
        return ENDPOINT_POLICIES[endpoint]
    return BLUEPRINT_POLICIES.get(endpoint.split(".", 1)[0]) if "." in endpoint else None


def required_role(policy: Policy, method: str) -> Role | None:
    """The lowest role that passes ``policy`` for ``method`` (None: any logged-in user)."""
    if policy == Policy.READ_WRITE:
        return Role.VIEWER if method in SAFE_METHODS else Role.EDITOR
    return {Policy.VIEWER: Role.VIEWER, Policy.EDITOR: Role.EDITOR, Policy.ADMIN: Role.ADMIN}.get(policy)
