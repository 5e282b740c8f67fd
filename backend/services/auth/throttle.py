"""Login brute-force protection: failures per IP and per account in a sliding minute."""

from __future__ import annotations

import threading
import time
from collections import defaultdict, deque

WINDOW_SECONDS = 60.0
MAX_FAILURES = 10


class LoginThrottle:
    """In-process counters: enough for the one-process default (per process when scaled out)."""

    def __init__(self, max_failures: int = MAX_FAILURES, window_seconds: float = WINDOW_SECONDS) -> None:
        self.max_failures = max_failures
        self.window = window_seconds
        self.failures: dict[str, deque[float]] = defaultdict(deque)
        self.lock = threading.Lock()

    def _recent(self, key: str, now: float) -> deque[float]:
        entries = self.failures[key]
        while entries and now - entries[0] > self.window:
            entries.popleft()
        return entries

    def retry_after(self, ip: str, username: str) -> int:
        """Seconds to wait, or 0 when a login attempt may proceed."""
        now = time.monotonic()
        with self.lock:
            waits = [
                int(self.window - (now - entries[0])) + 1
                for key in (f"ip:{ip}", f"user:{username}")
                if len(entries := self._recent(key, now)) >= self.max_failures
            ]
        return max(waits, default=0)

    def failed(self, ip: str, username: str) -> None:
        now = time.monotonic()
        with self.lock:
            for key in (f"ip:{ip}", f"user:{username}"):
                self._recent(key, now).append(now)
            if len(self.failures) > 100_000:  # a spray of names must not grow memory without bound
                self.failures.clear()

    def succeeded(self, username: str) -> None:
        with self.lock:
            self.failures.pop(f"user:{username}", None)
