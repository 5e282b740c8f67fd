"""Typed configuration, built once from ``SCRIPTMAN_*`` environment variables.

Code reads this object, never ``os.environ``: one place to document and validate settings.
"""

from __future__ import annotations

import os
import re
import secrets
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

SECRET_KEY_FILE = "secret_key"
# The built web app (``make install`` runs ``npm run build`` into it); beside the package, not under home.
DEFAULT_FRONTEND_DIST = Path(__file__).resolve().parent.parent / "frontend" / "dist"
# Variables runner.build_env sets for every run: a passthrough of the server's value could not apply.
RUN_ENV_NAMES = frozenset(
    {
        "SCRIPT_PARAMETERS",
        "SCRIPT_NAME",
        "EXECUTION_ID",
        "WORKSPACE",
        "PYTHONUNBUFFERED",
        "PYTHONDONTWRITEBYTECODE",
        "PYTHONPATH",
        "NODE_PATH",
        "VIRTUAL_ENV",
    }
)
ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
UTC_ALIASES = frozenset({"Etc/UTC", "Etc/UCT", "Etc/Universal", "Etc/Zulu", "Universal", "Zulu", "UCT", "Etc/GMT"})


class Settings(BaseSettings):
    """Every knob of a Scriptman install; defaults need no configuration at all."""

    model_config = SettingsConfigDict(env_prefix="SCRIPTMAN_", extra="ignore", populate_by_name=True)

    home: Path = Field(default_factory=Path.cwd)
    host: str = "127.0.0.1"
    port: int = Field(default=5000, ge=1, le=65535)
    database_url: str | None = None
    secret_key: str | None = None
    # Fernet key(s) for secrets at rest, comma-separated, the first encrypts; None = data/secrets.key
    secrets_key: str | None = None
    admin_password: str | None = None
    max_concurrency: int = Field(default_factory=lambda: os.cpu_count() or 2, ge=1)
    default_timeout_seconds: int = Field(default=300, ge=1)
    kill_grace_seconds: float = Field(default=5.0, ge=0)
    max_code_bytes: int = Field(default=1_000_000, ge=1)
    max_request_bytes: int = Field(default=100 * 1024 * 1024, ge=1)
    max_result_bytes: int = Field(default=1_000_000, ge=1)
    max_log_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)
    max_line_bytes: int = Field(default=64 * 1024, ge=256)
    # how a live log stream learns that the log grew: inotify (at once; falls back to the poll where
    # inotify is missing or refuses), or a 100 ms poll of the file (e.g. a log folder on a network
    # filesystem written from another machine, where inotify sees nothing)
    log_follow: Literal["inotify", "poll"] = "inotify"
    retention_days: int = Field(default=30, ge=0)
    retention_per_script: int = Field(default=100, ge=0)
    retention_fires_per_schedule: int = Field(default=1000, ge=0)
    scheduler_enabled: bool = True
    secure_cookies: bool = False  # set when served over HTTPS (behind a TLS-terminating proxy)
    cors_origins_csv: str = Field(default="", alias="SCRIPTMAN_CORS_ORIGINS")
    # comma-separated names of server variables scripts receive (e.g. HTTPS_PROXY); none by default
    script_env_passthrough_csv: str = Field(default="", alias="SCRIPTMAN_SCRIPT_ENV_PASSTHROUGH")
    sandbox: Literal["none", "bwrap"] = "none"
    # "auto": a cgroup per run where the server can make one (v2 delegated, else v1); "off": never
    cgroups: Literal["auto", "off"] = "auto"
    # an unprivileged account scripts run as (the server must be root to switch); None = the server's user
    run_as_user: str | None = None
    limit_memory_mb: int | None = Field(default=4096, ge=16)
    limit_cpu_seconds: int | None = Field(default=None, ge=1)
    limit_file_size_mb: int | None = Field(default=1024, ge=1)
    limit_open_files: int | None = Field(default=1024, ge=16)
    limit_processes: int | None = Field(default=None, ge=1)
    # IANA zone for schedules that name none; None = the server's own zone if it has a name, else UTC.
    timezone: str | None = None
    scheduler_lock_retry_seconds: float = Field(default=5.0, ge=0.05)
    scheduler_sync_seconds: float = Field(default=2.0, ge=0.05)
    maintenance_interval_seconds: int = Field(default=3600, ge=1)
    recover_on_start: bool = True
    # "fork": each run's supervisor is forked from one ready launcher process (no interpreter start-up
    # per run); "spawn": a fresh `python -I -S supervise.py` per run (~35 ms more, the fallback the
    # launcher itself falls back to when it cannot start)
    supervisor_start: Literal["fork", "spawn"] = "fork"
    server_threads: int = Field(default=1000, ge=4)
    # reading requests one web process runs at once (the others wait in line): see request_gate.py;
    # 0 = no gate
    request_concurrency: int = Field(default=1, ge=0, le=1000)
    # gunicorn workers, all serving HTTP; one of them dispatches runs and one fires schedules (each
    # elected by a file lock, taken over when its holder dies). 1 = one process, as before.
    web_processes: int = Field(default=1, ge=1)
    # POST /hooks/<token>?wait=<s>: the longest a caller may hold the request open for the result
    hook_max_wait_seconds: float = Field(default=60.0, ge=0, le=3600)
    # requests per minute one trigger URL accepts (in-process counter: per process when scaled out)
    hook_rate_limit_per_minute: int = Field(default=30, ge=1)
    # the most runs one chain holds, the first included: a chained run with that many ancestors is not started
    chain_max_depth: int = Field(default=10, ge=1, le=1000)
    frontend_dist: Path = DEFAULT_FRONTEND_DIST
    # the address users open Scriptman at (https://scriptman.example.com): links in notifications
    public_url: str | None = None
    # seconds between a notification's delivery attempts, comma-separated (4 waits = 5 attempts)
    notification_retry_delays_csv: str = Field(default="10,30,120,600", alias="SCRIPTMAN_NOTIFICATION_RETRY_DELAYS")
    notification_timeout_seconds: float = Field(default=10.0, gt=0, le=300)
    # "local": runs start in this server's own pool; "celery": they go to a Celery queue on Redis and
    # `scriptman worker` processes run them (every process shares SCRIPTMAN_HOME: see celery_executor)
    executor: Literal["local", "celery"] = "local"
    redis_url: str | None = None
    # names the Celery queue, the Redis keys and the pub/sub channels: two installs may share one Redis
    redis_prefix: str = Field(default="scriptman", pattern=r"^[A-Za-z0-9_.-]{1,50}$")
    # runs one `scriptman worker` holds at a time (its Celery pool); SCRIPTMAN_MAX_CONCURRENCY stays the
    # cap across all workers. None = the CPU count.
    worker_concurrency: int | None = Field(default=None, ge=1)
    # unique per worker and stable across its restarts (a restarted worker re-attaches the runs recorded
    # under its name); None = this machine's host name
    worker_name: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.@:-]{1,200}$")
    # a worker writes its heartbeat this often; one silent for WORKER_LOST_HEARTBEATS of them is lost
    worker_heartbeat_seconds: float = Field(default=5.0, gt=0, le=300)
    # where dependency environments are built and reused (with the installers' caches beside it);
    # None = <home>/data/envs. A worker whose SCRIPTMAN_HOME is shared storage points it at a local
    # disk: the cache is then per worker, and no environment is built over the network
    envs_dir_setting: Path | None = Field(default=None, alias="SCRIPTMAN_ENVS_DIR")

    @field_validator("public_url")
    @classmethod
    def _public_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        value = value.strip().rstrip("/")
        if not re.fullmatch(r"https?://[^\s/?#]+(/[^\s?#]*)?", value):
            raise ValueError("must be an http:// or https:// address such as https://scriptman.example.com")
        return value

    @field_validator("notification_retry_delays_csv")
    @classmethod
    def _retry_delays(cls, value: str) -> str:
        for part in (p.strip() for p in value.split(",") if p.strip()):
            try:
                seconds = float(part)
            except ValueError:
                raise ValueError(f"{part!r} is not a number of seconds") from None
            if not 0 <= seconds <= 7 * 24 * 3600:
                raise ValueError(f"{part}: a wait must be between 0 and 604800 seconds")
        return value

    @model_validator(mode="after")
    def _celery_needs_redis(self) -> Settings:
        """A clear startup error, not a server that queues runs nobody will ever pick up."""
        if self.executor == "celery" and not (self.redis_url or "").strip():
            raise ValueError(
                "SCRIPTMAN_EXECUTOR=celery needs SCRIPTMAN_REDIS_URL (e.g. redis://localhost:6379/0): "
                "the runs are queued on Redis for `scriptman worker` processes"
            )
        if self.redis_url is not None and self.redis_url.strip() and not re.match(r"rediss?://", self.redis_url):
            raise ValueError("SCRIPTMAN_REDIS_URL must start with redis:// or rediss://")
        return self

    @property
    def notification_retry_delays(self) -> list[float]:
        return [float(p.strip()) for p in self.notification_retry_delays_csv.split(",") if p.strip()]

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        try:
            ZoneInfo(value.strip())
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown IANA timezone {value!r}") from None
        return value.strip()

    @property
    def default_timezone(self) -> str:
        """The zone of schedules that name none: the configured one, else the server's, else UTC."""
        return self.timezone or server_timezone()

    @field_validator("script_env_passthrough_csv")
    @classmethod
    def _passable_names(cls, value: str) -> str:
        """Refused at startup rather than ignored at run time: an admin who lists ``WORKSPACE`` or a
        ``SCRIPTMAN_*`` setting would otherwise believe scripts see the server's value."""
        for name in (n.strip() for n in value.split(",") if n.strip()):
            if not ENV_NAME.fullmatch(name):
                raise ValueError(f"{name!r} is not an environment variable name")
            if name.upper().startswith("SCRIPTMAN_"):
                raise ValueError(f"{name}: Scriptman's own settings are never passed to scripts")
            if name in RUN_ENV_NAMES:
                raise ValueError(f"{name}: Scriptman sets this variable for every run itself")
        return value

    @property
    def script_env_passthrough(self) -> list[str]:
        return [n.strip() for n in self.script_env_passthrough_csv.split(",") if n.strip()]

    @property
    def cors_origins(self) -> list[str]:
        return [o.strip().rstrip("/") for o in self.cors_origins_csv.split(",") if o.strip()]

    @property
    def data_dir(self) -> Path:
        return self.home / "data"

    @property
    def envs_dir(self) -> Path:
        return self.envs_dir_setting or self.data_dir / "envs"

    @property
    def workspaces_dir(self) -> Path:
        return self.home / "execution_spaces"

    @property
    def logs_dir(self) -> Path:
        return self.home / "logs"

    @property
    def sqlalchemy_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'scriptman.db'}"

    def ensure_dirs(self) -> None:
        """Create the runtime folders; a fresh clone or an empty SCRIPTMAN_HOME has none."""
        for folder in (self.data_dir, self.envs_dir, self.workspaces_dir, self.logs_dir):
            folder.mkdir(parents=True, exist_ok=True)

    def resolve_secret_key(self) -> str:
        """Use the configured key, else one generated once per install into a 0600 file."""
        if self.secret_key:
            return self.secret_key
        path = self.data_dir / SECRET_KEY_FILE
        try:
            return path.read_text().strip()
        except FileNotFoundError:
            pass
        key = secrets.token_hex(32)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return path.read_text().strip()
        with os.fdopen(fd, "w") as handle:
            handle.write(key)
        return key


def server_timezone() -> str:
    """The IANA name of this machine's zone (from /etc/localtime), or UTC when it has none."""
    try:
        target = os.path.realpath("/etc/localtime")
    except OSError:
        return "UTC"
    marker = "zoneinfo/"
    if marker not in target:
        return "UTC"
    name = target.split(marker, 1)[1]
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return "UTC"
    return "UTC" if name in UTC_ALIASES else name
