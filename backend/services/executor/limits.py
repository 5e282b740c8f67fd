"""Resource limits for a run: server defaults from config, overridden per script.

Applied by the supervisor with ``setrlimit`` in the child before exec. Node reserves a large
address space at start and crashes under a modest ``RLIMIT_AS`` (STACK.md), so JavaScript runs
get the memory limit as ``RLIMIT_DATA`` instead. ``RLIMIT_NPROC`` counts every process of the
user and is ignored for root: run the server as a dedicated user for it to bite.
"""

from __future__ import annotations

from typing import Any

from backend.config import Settings

MB = 1024 * 1024
LIMIT_KEYS = ("memory_mb", "cpu_seconds", "file_size_mb", "open_files", "processes")


def effective_limits(settings: Settings, script_limits: dict[str, Any] | None) -> dict[str, int | None]:
    defaults: dict[str, int | None] = {
        "memory_mb": settings.limit_memory_mb,
        "cpu_seconds": settings.limit_cpu_seconds,
        "file_size_mb": settings.limit_file_size_mb,
        "open_files": settings.limit_open_files,
        "processes": settings.limit_processes,
    }
    for key, value in (script_limits or {}).items():
        if key in defaults and value is not None:
            defaults[key] = int(value)
    return defaults


def to_rlimits(limits: dict[str, int | None], language: str) -> dict[str, int]:
    """Translate to the supervisor's ``setrlimit`` names (bytes, seconds, counts)."""
    rlimits: dict[str, int] = {}
    if limits.get("memory_mb"):
        key = "data_bytes" if language == "javascript" else "address_space_bytes"
        rlimits[key] = int(limits["memory_mb"] or 0) * MB
    if limits.get("cpu_seconds"):
        rlimits["cpu_seconds"] = int(limits["cpu_seconds"] or 0)
    if limits.get("file_size_mb"):
        rlimits["file_size_bytes"] = int(limits["file_size_mb"] or 0) * MB
    if limits.get("open_files"):
        rlimits["open_files"] = int(limits["open_files"] or 0)
    if limits.get("processes"):
        rlimits["processes"] = int(limits["processes"] or 0)
    return rlimits
