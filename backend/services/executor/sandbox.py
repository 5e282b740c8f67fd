"""Optional bubblewrap sandbox around each run (``SCRIPTMAN_SANDBOX=bwrap``).

Inside: the whole system read-only, a private /tmp, /proc of its own pid namespace (so the
server's environment is invisible), the run's workspace read-write, the dependency environment
read-only, Scriptman's data, logs and other workspaces hidden behind empty tmpfs mounts, and no
network when the script's ``sandbox_network`` is off. If bwrap was asked for but cannot start,
runs fail loudly rather than run unsandboxed.
"""

from __future__ import annotations

import functools
import shutil
import subprocess
from pathlib import Path

from backend.config import Settings

PROBE_TIMEOUT_SECONDS = 10
# Namespaces and the read-only system view every sandboxed run gets; the probe starts the same.
BASE_ARGS = (
    "--die-with-parent", "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
    "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp",
)  # fmt: skip


@functools.cache
def probe() -> str:
    """'ok', or why bwrap cannot be used here (missing binary, namespaces refused…)."""
    binary = shutil.which("bwrap")
    if not binary:
        return "bwrap is not installed (Debian: apt-get install bubblewrap)"
    try:
        result = subprocess.run(
            [binary, *BASE_ARGS, "--unshare-net", "true"],
            capture_output=True,
            text=True,
            timeout=PROBE_TIMEOUT_SECONDS,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"bwrap could not start: {error}"
    if result.returncode != 0:
        return f"bwrap refused to create namespaces: {result.stderr.strip()[:300]}"
    return "ok"


def status(settings: Settings) -> dict[str, str | bool]:
    if settings.sandbox != "bwrap":
        return {"mode": "none", "available": probe() == "ok", "detail": "runs are not sandboxed"}
    detail = probe()
    return {"mode": "bwrap", "available": detail == "ok", "detail": detail}


def wrap(argv: list[str], settings: Settings, workspace: Path, env_path: Path | None, network: bool) -> list[str]:
    binary = shutil.which("bwrap") or "bwrap"
    args = [binary, *BASE_ARGS]
    for hidden in (settings.data_dir, settings.logs_dir, settings.workspaces_dir):
        args += ["--tmpfs", str(hidden)]
    args += ["--bind", str(workspace), str(workspace)]
    if env_path is not None:
        args += ["--ro-bind", str(env_path), str(env_path)]
    if not network:
        args.append("--unshare-net")
    args += ["--chdir", str(workspace), "--"]
    return args + argv
