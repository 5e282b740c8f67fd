"""What holds a run in, seen from the server: its cgroup, its user, and ending what is left of it.

Detected once per process and shown by ``/api/health``, so an operator can see which guarantees
hold (a cgroup per run, an unprivileged run-as user) and which do not (root without a pids cap).
The supervisor does the killing while it lives; this module does it when the supervisor is gone.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import logging
import os
import pwd
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from backend.config import Settings
from backend.errors import ProblemError, Unprocessable
from backend.services.executor import cgroups, environments, proctree
from backend.services.executor.workspace import RunPaths

log = logging.getLogger(__name__)
MB = 1024 * 1024
CGROUP_FILE = "cgroup.json"
CHILD_PID_FILE = "child.pid"


@functools.cache
def _detect_cgroups() -> cgroups.Detection:
    detection = cgroups.detect()
    log.info("run containment: %s", detection.detail if detection.layout else f"no cgroups ({detection.detail})")
    return detection


def cgroup_layout(settings: Settings) -> cgroups.Layout | None:
    if settings.cgroups == "off":
        return None
    return _detect_cgroups().layout


@dataclass(frozen=True)
class RunAs:
    name: str
    uid: int
    gid: int
    groups: list[int]
    home: str

    def as_spec(self) -> dict[str, Any]:
        return {"uid": self.uid, "gid": self.gid, "groups": self.groups}


def check_account(name: str) -> None:
    """422 unless ``name`` is an account on this machine (checked when an admin picks it)."""
    try:
        pwd.getpwnam(name)
    except KeyError:
        raise Unprocessable(f"There is no account {name!r} on the server's machine.", field="run_as_user") from None


def run_as_user(settings: Settings, script_user: str | None) -> RunAs | None:
    """The account a run's script runs as: the script's own (set by an admin), else the server's setting."""
    name = (script_user or settings.run_as_user or "").strip()
    if not name:
        return None
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        raise ProblemError(f"the run-as user {name!r} does not exist on this machine") from None
    if os.geteuid() != 0 and entry.pw_uid != os.geteuid():
        raise ProblemError(f"the server runs as uid {os.geteuid()} and cannot switch to {name!r} (needs root)")
    if not environments.reachable_by_all(settings.workspaces_dir):
        raise ProblemError(
            f"the run-as user {name!r} cannot reach {settings.workspaces_dir}: every folder above it must be "
            "searchable by others (chmod o+x)"
        )
    groups = sorted(set(os.getgrouplist(name, entry.pw_gid)))
    return RunAs(name, entry.pw_uid, entry.pw_gid, groups, entry.pw_dir)


def status(settings: Settings) -> dict[str, Any]:
    """For ``/api/health`` and the UI: the active containment and what it cannot catch."""
    layout = cgroup_layout(settings)
    detection = _detect_cgroups()
    is_root = os.geteuid() == 0
    warnings: list[str] = []
    if layout is None:
        detail = "off (SCRIPTMAN_CGROUPS=off)" if settings.cgroups == "off" else detection.detail
        warnings.append(
            "no cgroup per run: processes are found by process group, descent and cookie; a process that "
            "clears its environment and outlives its supervisor escapes, and memory is sampled, not capped per tree"
        )
        if is_root and not settings.run_as_user:
            warnings.append("scripts run as root without a cgroup: the process limit (RLIMIT_NPROC) does not apply")
    else:
        detail = detection.detail
    if is_root and not settings.run_as_user:
        warnings.append("scripts run as root: set SCRIPTMAN_RUN_AS_USER to an unprivileged account")
    return {
        "cgroup": f"v{layout.version}" if layout else "none",
        "cgroup_detail": detail,
        "run_as_user": settings.run_as_user or (pwd.getpwuid(os.geteuid()).pw_name + " (the server's user)"),
        "server_is_root": is_root,
        "warnings": warnings,
    }


def create_run_cgroup(
    settings: Settings, paths: RunPaths, execution_id: int, limits: dict[str, int | None]
) -> cgroups.RunCgroup | None:
    """The run's cgroup with its process and memory caps, remembered in the control folder."""
    layout = cgroup_layout(settings)
    if layout is None:
        return None
    group = layout.run(run_cgroup_name(settings, execution_id))
    memory = limits.get("memory_mb")
    group.create(max_processes=limits.get("processes"), memory_bytes=memory * MB if memory else None)
    (paths.control / CGROUP_FILE).write_text(json.dumps(group.as_dict()))
    return group


def end_leftovers(paths: RunPaths, cookie: str | None) -> bool:
    """Kill whatever is left of a run whose supervisor is gone; True when nothing is left.

    The cgroup catches everything; without one, the process group of the script and the
    processes carrying the run's cookie (never a process that merely reuses a pid: the cookie
    or the cgroup membership is checked, not the pid alone).
    """
    clean = True
    group = _saved_cgroup(paths)
    if group is not None:
        clean = group.kill()
        group.remove()
    pgid = _child_pid(paths)
    if cookie and (pgid is None or not proctree.has_cookie(pgid, cookie)):
        pgid = None  # the pid now belongs to someone else: never signal that group
    if cookie:
        clean = proctree.kill_all(pgid or -1, cookie) and clean
    return clean


def run_cgroup_name(settings: Settings, execution_id: int) -> str:
    """Unique per install: two Scriptman homes under one server cgroup never touch each other's runs."""
    return f"{_install_key(settings)}-execution_{execution_id}"


def _install_key(settings: Settings) -> str:
    return hashlib.sha256(str(settings.home.resolve()).encode()).hexdigest()[:12]


def sweep_stale_cgroups(settings: Settings, active_ids: set[int]) -> int:
    """Kill and remove run cgroups left by runs that are no longer running (e.g. after a crash)."""
    layout = cgroup_layout(settings)
    if layout is None:
        return 0
    prefix = f"{_install_key(settings)}-execution_"
    names: set[str] = set()
    for parent in layout.parents.values():
        with contextlib.suppress(OSError):
            names.update(n for n in os.listdir(parent) if n.startswith(prefix) and n[len(prefix) :].isdigit())
    stale = [n for n in names if int(n[len(prefix) :]) not in active_ids]
    for name in stale:
        group = layout.run(name)
        group.kill()
        group.remove()
    return len(stale)


def _saved_cgroup(paths: RunPaths) -> cgroups.RunCgroup | None:
    try:
        return cgroups.RunCgroup.from_dict(json.loads((paths.control / CGROUP_FILE).read_text()))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _child_pid(paths: RunPaths) -> int | None:
    try:
        return int((paths.control / CHILD_PID_FILE).read_text().strip())
    except (OSError, ValueError):
        return None


def harden_home(settings: Settings) -> None:
    """Folder modes that keep a run-as user out of the server's state.

    ``data/`` may be traversed (dependency environments live under it) but not listed; the
    database, secret key, control folders, uploads and caches are the server's alone; each
    workspace is reachable only by name.
    """
    modes = {
        settings.data_dir: 0o711,
        settings.envs_dir: 0o711,
        settings.logs_dir: 0o700,
        settings.workspaces_dir: 0o711,
    }
    for folder, mode in modes.items():
        _chmod(folder, mode)
    for name in ("runs", "uploads"):
        (settings.data_dir / name).mkdir(mode=0o700, exist_ok=True)
        _chmod(settings.data_dir / name, 0o700)
    for child in settings.data_dir.iterdir():
        if child.is_file() and not child.is_symlink():
            _chmod(child, 0o600)
        elif child.is_dir() and not child.is_symlink() and child.name.endswith("cache"):
            _chmod(child, 0o700)


def _chmod(path: Path, mode: int) -> None:
    try:
        os.chmod(path, mode, follow_symlinks=False)
    except (OSError, NotImplementedError) as error:
        log.warning("cannot set mode %o on %s: %s", mode, path, error)
