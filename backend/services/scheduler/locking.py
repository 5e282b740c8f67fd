"""Leadership: only the process holding the lock runs the scheduler; the others stand by.

APScheduler cannot share a job store between processes, and with ``gunicorn -w 3`` each worker's
scheduler fired every job (STACK.md). So one lock decides who fires. ``leader_lock`` picks its
backend from the settings:

- **One machine** (SQLite, or no Redis): ``fcntl.flock`` on a file in the data folder
  (``FileLeaderLock``). The kernel drops it when the holder's process dies (even on ``kill -9``), so
  a standby's periodic non-blocking retry takes over without any lease timing. Two opens of the
  file conflict even inside one process, which lets a test run two apps side by side.
- **PostgreSQL database** (``PostgresLeaderLock``): ``pg_try_advisory_lock(<key of the name>)`` on
  a dedicated connection kept outside the pool (a pooled connection returned to the pool kept the
  lock; STACK.md). The lock lives exactly as long as that session: a holder killed on its machine
  loses it at once (its socket closes), a crashed or partitioned host when the server's TCP
  keepalives (set to ~11 s on the session) give up. ``try_acquire`` re-checks the session with
  ``SELECT 1`` on every call while held, and a keeper thread does every ``CHECK_SECONDS``; a failed
  check steps down. Advisory locks are per database, so every process on one database contends.
- **Redis with the Celery executor** (``RedisLeaderLock``): ``SET <prefix>:leader:<name> <token>
  NX PX <lease>`` renewed every lease/3 by a compare-and-set Lua script (``if GET == token then
  PEXPIRE``); a holder that cannot renew before the lease ends considers itself stepped down first
  (it stops one renew interval before the lease ends). A dead holder's lease runs out: takeover within
  ``lease_seconds`` + the standby's retry interval. Leases can overlap briefly across a pause (GC,
  VM freeze), so the unique ``(schedule_id, scheduled_for)`` index stays the backstop that keeps
  a tick single.

Every backend writes the holder's pid into ``data/<name>.lock`` when it takes the lock (the file
backend *is* that file). **Who leads** (``holder()``, for ``/api/health``) is read from the lock
itself, never from a note that could outlive its writer, at the cost of one cheap look-up:

- file: ``/proc/locks`` names the pid holding the ``flock`` on that inode (one machine: this host);
- PostgreSQL: the holder's lock session is named ``scriptman-<name>-lock <pid>@<host>``
  (``application_name``), so ``pg_locks`` joined with ``pg_stat_activity`` names it, with the
  session's start as the time it took the lock (a session that fails to take the lock is closed);
- Redis: the lease's value (its token) is ``<host> <pid> <taken at> <random>``.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
import secrets
import socket
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypedDict

if TYPE_CHECKING:
    from backend.config import Settings

log = logging.getLogger(__name__)

CHECK_SECONDS = 2.0  # how often a held PostgreSQL lock's session is re-checked between calls
LEASE_SECONDS = 10.0  # a Redis lease; renewed every third of it
CONNECT_TIMEOUT_SECONDS = 5

# compare-and-set: only the token that took the lease may extend or drop it
RENEW_SCRIPT = (
    "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end return 0"
)
RELEASE_SCRIPT = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0"


HOST = socket.gethostname()
APPLICATION_NAME_BYTES = 63  # PostgreSQL truncates a longer application_name (NAMEDATALEN - 1)


class Holder(TypedDict):
    """Who holds a leader lock: the process (host and pid) and since when (None where unknown)."""

    host: str
    pid: int
    since: datetime | None


def _here(since: float | None) -> Holder:
    return {"host": HOST, "pid": os.getpid(), "since": _at(since)}


def _at(epoch: float | None) -> datetime | None:
    return datetime.fromtimestamp(epoch, UTC) if epoch is not None else None


class LeaderLock(Protocol):
    def try_acquire(self) -> bool:
        """Take the lock if free; while held, re-check it (False: it was lost, this process must step down)."""
        ...

    def release(self) -> None: ...

    def holder(self, session: Any = None) -> Holder | None:
        """Who holds the lock now, in any process (None: nobody). ``session``: a SQLAlchemy session or
        connection to ask PostgreSQL with (the other backends do not need one)."""
        ...


class FileLeaderLock:
    """A non-blocking exclusive ``flock`` on ``path``; held until ``release`` or process exit."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.fd: int | None = None
        self.since: float | None = None

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
        self.since = time.time()
        log.info("took the leader lock %s", self.path)
        return True

    def holder(self, session: Any = None) -> Holder | None:
        """This host's process holding the ``flock`` (from ``/proc/locks``); taken when the file was last written."""
        if self.fd is not None:
            return _here(self.since)
        try:
            stat = self.path.stat()
            locks = Path("/proc/locks").read_text()
        except OSError:
            return None
        inode = f"{os.major(stat.st_dev):02x}:{os.minor(stat.st_dev):02x}:{stat.st_ino}"
        for line in locks.splitlines():
            fields = line.split()
            # "1: FLOCK  ADVISORY  WRITE 1234 08:01:5678 0 EOF" (a blocked waiter's line has "->" first)
            if len(fields) >= 6 and fields[1] == "FLOCK" and fields[3] == "WRITE" and fields[5] == inode:
                return {"host": HOST, "pid": int(fields[4]), "since": _at(stat.st_mtime)}
        return None

    def release(self) -> None:
        if self.fd is None:
            return
        fd, self.fd = self.fd, None
        try:
            fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)
        log.info("released the leader lock %s", self.path)


def _note_holder(path: Path | None) -> None:
    """Write this pid into the informational holder file (best effort: the lock is elsewhere)."""
    if path is None:
        return
    try:
        tmp = path.with_name(f".{path.name}.{os.getpid()}")
        tmp.write_text(f"{os.getpid()}\n")
        os.replace(tmp, path)
    except OSError as error:
        log.debug("cannot note the leader in %s: %s", path, error)


class _KeptLock:
    """A lock held through a remote service, kept alive (checked or renewed) by a daemon thread.

    ``_take`` tries to take it, ``_keep`` checks or renews it (False: lost), ``_drop`` lets it go.
    A lost lock makes ``try_acquire`` answer False once (step down); the next call contends again.
    """

    keep_every: float = CHECK_SECONDS

    def __init__(self, name: str, holder_file: Path | None) -> None:
        self.name = name
        self.holder_file = holder_file
        self.guard = threading.RLock()  # one caller at a time on the connection, and the state
        self.held = False
        self.lost = False
        self.keeper: threading.Thread | None = None
        self.stop_keeping = threading.Event()

    def try_acquire(self) -> bool:
        with self.guard:
            if self.held:
                if not self.lost and self._safe_keep():
                    return True
                self._step_down()
                return False
            if self.lost:  # the keeper found it lost since the last call: report the step-down once
                self.lost = False
                return False
            try:
                taken = self._take()
            except Exception as error:
                log.warning("cannot contend for the %s leader lock: %s", self.name, error)
                self._drop_quietly()
                return False
            if not taken:
                return False
            self.held, self.lost = True, False
            _note_holder(self.holder_file)
            log.info("took the %s leader lock (%s)", self.name, type(self).__name__)
            self.stop_keeping = threading.Event()
            self.keeper = threading.Thread(
                target=self._keep_loop, args=(self.stop_keeping,), name=f"scriptman-{self.name}-lock", daemon=True
            )
            self.keeper.start()
            return True

    def release(self) -> None:
        self.stop_keeping.set()
        with self.guard:
            if self.held:
                log.info("released the %s leader lock", self.name)
            self.held = self.lost = False
            self._drop_quietly()
        keeper, self.keeper = self.keeper, None
        if keeper is not None and keeper is not threading.current_thread():
            keeper.join(timeout=5)

    def _keep_loop(self, stop: threading.Event) -> None:
        while not stop.wait(self.keep_every):
            with self.guard:
                if stop.is_set() or not self.held:
                    return
                if not self._safe_keep():
                    log.warning("lost the %s leader lock: stepping down", self.name)
                    self._step_down()
                    self.lost = True  # tell the next try_acquire, which the owner calls to re-check
                    return

    def _step_down(self) -> None:
        self.held = False
        self.stop_keeping.set()
        self._drop_quietly()

    def _safe_keep(self) -> bool:
        try:
            return self._keep()
        except Exception as error:
            log.warning("checking the %s leader lock failed: %s", self.name, error)
            return False

    def _drop_quietly(self) -> None:
        try:
            self._drop()
        except Exception as error:
            log.debug("letting go of the %s leader lock: %s", self.name, error)

    # -- backends --------------------------------------------------------------------------------
    def _take(self) -> bool:
        raise NotImplementedError

    def _keep(self) -> bool:
        raise NotImplementedError

    def _drop(self) -> None:
        raise NotImplementedError


def advisory_key(name: str) -> int:
    """A stable signed 64-bit advisory-lock key for ``name`` (the same in every process)."""
    digest = hashlib.sha256(f"scriptman:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def libpq_url(database_url: str) -> str:
    """A SQLAlchemy URL (``postgresql+psycopg://…``) as libpq takes it."""
    from sqlalchemy.engine import make_url

    url = make_url(database_url)
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


class PostgresLeaderLock(_KeptLock):
    """``pg_try_advisory_lock`` on a dedicated connection (autocommit, never pooled)."""

    def __init__(self, database_url: str, name: str, holder_file: Path | None = None) -> None:
        super().__init__(name, holder_file)
        self.url = libpq_url(database_url)
        self.key = advisory_key(name)
        self.connection: Any = None
        self.since: float | None = None

    def application_name(self) -> str:
        """Names the holder for every other process to read (``holder``), cut to what PostgreSQL keeps;
        made when the lock is taken, not built: a forked server process has a pid of its own."""
        named = f"scriptman-{self.name}-lock {os.getpid()}@{HOST}".encode()
        return named[:APPLICATION_NAME_BYTES].decode(errors="ignore")

    def _take(self) -> bool:
        import psycopg

        connection = psycopg.connect(
            self.url,
            autocommit=True,
            connect_timeout=CONNECT_TIMEOUT_SECONDS,
            application_name=self.application_name(),
            # our side notices a vanished server; the SETs below make the server notice a vanished holder
            keepalives=1,
            keepalives_idle=5,
            keepalives_interval=2,
            keepalives_count=3,
        )
        try:
            for setting, value in (("tcp_keepalives_idle", 5), ("tcp_keepalives_interval", 2)):
                connection.execute(f"SET {setting} = {value}")
            connection.execute("SET tcp_keepalives_count = 3")
            row = connection.execute("SELECT pg_try_advisory_lock(%s)", (self.key,)).fetchone()
        except BaseException:
            connection.close()
            raise
        if not row or not row[0]:
            connection.close()
            return False
        self.connection = connection
        self.since = time.time()
        return True

    def holder(self, session: Any = None) -> Holder | None:
        """The session holding the advisory lock, from ``pg_locks`` and its ``application_name``."""
        if self.held:
            return _here(self.since)
        if session is None:
            return None
        from sqlalchemy import text

        # a bigint key shows in pg_locks as two oids: its high and low 32 bits (objsubid 1); and
        # pg_stat_activity is read once per transaction unless its snapshot is cleared
        unsigned = self.key & 0xFFFFFFFFFFFFFFFF
        session.execute(text("SELECT pg_stat_clear_snapshot()"))
        row = session.execute(
            text(
                "SELECT a.application_name, a.backend_start FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
                " WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1"
                " AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())"
                " AND l.classid::text::bigint = :high AND l.objid::text::bigint = :low"
            ),
            {"high": unsigned >> 32, "low": unsigned & 0xFFFFFFFF},
        ).first()
        if row is None:
            return None
        pid, _, host = str(row[0]).rpartition(" ")[2].partition("@")
        started = row[1].astimezone(UTC) if row[1] is not None else None
        return {"host": host, "pid": int(pid) if pid.isdigit() else 0, "since": started}

    def _keep(self) -> bool:
        if self.connection is None or self.connection.closed:
            return False
        self.connection.execute("SELECT 1").fetchone()
        return True

    def _drop(self) -> None:
        connection, self.connection = self.connection, None
        if connection is not None:
            # closing the session is what releases the lock; an explicit unlock first is only politeness
            with contextlib.suppress(Exception):
                connection.execute("SELECT pg_advisory_unlock(%s)", (self.key,))
            connection.close()


class RedisLeaderLock(_KeptLock):
    """A lease: ``SET key token NX PX``, renewed by compare-and-set, dropped by compare-and-delete."""

    def __init__(
        self,
        redis_url: str,
        name: str,
        holder_file: Path | None = None,
        lease_seconds: float = LEASE_SECONDS,
        client: Any = None,
        prefix: str = "scriptman",
    ) -> None:
        super().__init__(name, holder_file)
        if client is None:
            import redis

            client = redis.Redis.from_url(
                redis_url, socket_timeout=lease_seconds / 3, socket_connect_timeout=lease_seconds / 3
            )
        self.client = client
        self.key = f"{prefix}:leader:{name}"
        self.lease_ms = max(int(lease_seconds * 1000), 30)
        self.keep_every = lease_seconds / 3
        self.token = ""
        self.valid_until = 0.0  # monotonic; past it (minus one renew interval) the lease is not trusted

    def _take(self) -> bool:
        token = f"{HOST} {os.getpid()} {time.time():.3f} {secrets.token_hex(8)}"
        started = time.monotonic()
        if not self.client.set(self.key, token, nx=True, px=self.lease_ms):
            return False
        self.token = token
        self.valid_until = started + self.lease_ms / 1000
        return True

    def _keep(self) -> bool:
        if time.monotonic() > self.valid_until - self.keep_every:
            return False  # too late to be sure nobody else took it: stop before the lease can end
        started = time.monotonic()
        if not self.client.eval(RENEW_SCRIPT, 1, self.key, self.token, self.lease_ms):
            return False  # expired and taken (or deleted) meanwhile
        self.valid_until = started + self.lease_ms / 1000
        return True

    def _drop(self) -> None:
        token, self.token = self.token, ""
        if token:
            self.client.eval(RELEASE_SCRIPT, 1, self.key, token)

    def holder(self, session: Any = None) -> Holder | None:
        """The lease's token names its holder: ``<host> <pid> <taken at> <random>``."""
        value = self.client.get(self.key)
        if value is None:
            return None
        parts = value.decode(errors="replace").split(" ")
        if len(parts) != 4 or not parts[1].isdigit():
            return {"host": "", "pid": 0, "since": None}  # held, by a process of another version
        try:
            since = float(parts[2])
        except ValueError:
            return {"host": parts[0], "pid": int(parts[1]), "since": None}
        return {"host": parts[0], "pid": int(parts[1]), "since": _at(since)}


def leader_lock(settings: Settings, name: str) -> LeaderLock:
    """The lock ``name`` (``scheduler``) for these settings: PostgreSQL database → advisory lock;
    else the Celery executor with Redis → a Redis lease; else a file lock in the data folder."""
    holder_file = settings.data_dir / f"{name}.lock"
    database_url = settings.database_url or ""
    if database_url.startswith("postgresql"):
        return PostgresLeaderLock(database_url, name, holder_file)
    redis_url = getattr(settings, "redis_url", None)
    if getattr(settings, "executor", "local") == "celery" and redis_url:
        return RedisLeaderLock(redis_url, name, holder_file, prefix=getattr(settings, "redis_prefix", "scriptman"))
    return FileLeaderLock(holder_file)
