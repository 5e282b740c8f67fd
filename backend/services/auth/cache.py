"""Who a session cookie or an API token belongs to, remembered between reading requests.

Every request with a cookie or a token looked its session (or token) and user up in the database:
a query, its ORM rows and a connection checkout, ~0.5 ms of a 2 ms request. A reading request
(GET, HEAD, OPTIONS) now finds them here, keyed by the secret's digest; a writing request always
reads the database (it pays a write transaction anyway, and its handler may change the user).

Nothing here may outlive a revocation, in this process or any other one on the same home (several
web processes, the CLI): every commit that updates or deletes a user, a session or a token moves
the ``auth`` change generation on (``services/changes.py``), and an entry holds only while the
generation is the one read *before* its rows were (one ``stat`` per request). An entry also ends
when the session is due for its last-seen touch or the token for its last-used one, so those
writes still happen on time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import current_app

from backend.models import User
from backend.models.types import utcnow
from backend.services import changes

EXTENSION = "scriptman.auth_cache"
MAX_ENTRIES = 10_000  # more live secrets than this: start over rather than grow
_USER_COLUMNS = tuple(attr.key for attr in User.__mapper__.column_attrs)


@dataclass(frozen=True)
class Entry:
    user: dict[str, Any]  # the user's column values: each hit gets a fresh copy (never shared)
    seen_at: datetime  # the session's last-seen or the token's last-used time, as stored
    generation: changes.Value


class AuthCache:
    def __init__(self, generation: changes.Generation) -> None:
        self.changes = generation
        self.entries: dict[str, Entry] = {}

    def generation(self) -> changes.Value:
        return self.changes.value()

    def lookup(self, key: str, fresh_for: timedelta) -> User | None:
        entry = self.entries.get(key)
        if entry is None or entry.generation != self.generation() or utcnow() - entry.seen_at > fresh_for:
            return None
        return User(**entry.user)  # transient: in no session, so no handler can flush it

    def store(self, key: str, user: User, seen_at: datetime, generation: changes.Value) -> None:
        if len(self.entries) >= MAX_ENTRIES:
            self.entries.clear()
        self.entries[key] = Entry({name: getattr(user, name) for name in _USER_COLUMNS}, seen_at, generation)


def current() -> AuthCache:
    """The active app's cache (one per app: the tests hold several apps with different homes)."""
    cache: AuthCache | None = current_app.extensions.get(EXTENSION)
    if cache is None:
        cache = current_app.extensions.setdefault(EXTENSION, AuthCache(changes.generation("auth")))
    return cache
