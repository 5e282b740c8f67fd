"""Leadership: only the process holding the lock runs the scheduler; the others stand by.

APScheduler cannot share a job store between processes, and with ``gunicorn -w 3`` each worker's
scheduler fired every job (STACK.md). So one lock decides who fires. Here it is ``fcntl.flock``
on a file in the data folder: the kernel drops it when the holder's process dies (even on
``kill -9``), so a standby's periodic non-blocking retry takes over without any lease timing.
Two opens of the file conflict even inside one process, which lets a test run two apps side by side.

For several machines (the scale-out issue) the same ``LeaderLock`` shape is backed by either:

- PostgreSQL: ``pg_try_advisory_lock(<constant key>)`` on a dedicated connection kept outside
  the pool (a pooled connection returned to the pool kept the lock; STACK.md). The lock lives
  exactly as long as that session, so a crashed or partitioned holder loses it when the server
  notices the dead connection (TCP keepalives / ``idle_session_timeout``); ``held()`` re-checks
  the connection with ``SELECT 1`` on every sync and steps down if it fails.
- Redis: ``SET scriptman:scheduler <token> NX PX <lease>`` renewed every lease/3 by a compare-
  and-set Lua script (``if GET == token then PEXPIRE``); a holder that cannot renew before the
  lease ends stops firing first. Leases can overlap briefly across a pause (GC, VM freeze), so
  the unique ``(schedule_id, scheduled_for)`` index stays the backstop that keeps a tick single.
"""

from __future__ import annotations

import fcntl
import logging
import os
from pathlib import Path
from typing import Protocol

log = logging.getLogger(__name__)


class LeaderLock(Protocol):
    def try_acquire(self) -> bool: ...

    def release(self) -> None: ...


class FileLeaderLock:
    """A non-blocking exclusive ``flock`` on ``path``; held until ``release`` or process exit."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.fd: int | None = None

    def try_acquire(self) -> bool:
        if self.fd is not None:
            return True
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        except OSError:
            os.close(fd)
            raise
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self.fd = fd
        log.info("took the leader lock %s", self.path)
        return True

    def release(self) -> None:
        if self.fd is None:
            return
        fd, self.fd = self.fd, None
        try:
            fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)
        log.info("released the leader lock %s", self.path)
