"""Helpers for Python scripts run by Scriptman: ``import scriptman``.

Standard library only, and optional: a script that never imports it runs the same.

    import scriptman
    n = scriptman.param("COUNT", 10)          # typed value from SCRIPT_PARAMETERS
    scriptman.progress(50, "half way")         # a progress event in the live log
    scriptman.log("warning", "disk is low")    # a levelled line on stderr
    scriptman.set_result({"rows": n})          # the run's JSON result
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

PROGRESS_MARKER = "::scriptman-progress::"
LEVELS = ("debug", "info", "warning", "error", "critical")


def _load_params() -> dict[str, Any]:
    try:
        value = json.loads(os.environ.get("SCRIPT_PARAMETERS", "{}"))
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


params: dict[str, Any] = _load_params()
execution_id: str | None = os.environ.get("EXECUTION_ID")
workspace: str = os.environ.get("WORKSPACE", os.getcwd())


def param(name: str, default: Any = None) -> Any:
    """The value of parameter ``name`` (already coerced to its type), or ``default``."""
    return params.get(name, default)


def set_result(value: Any) -> None:
    """Store ``value`` (anything JSON can hold) as the run's result."""
    path = os.environ.get("SCRIPTMAN_RESULT")
    if not path:
        raise RuntimeError("SCRIPTMAN_RESULT is not set: is this running under Scriptman?")
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(value, handle)


def progress(percent: float, message: str = "") -> None:
    """Report progress (0-100) with an optional message; shown live in the UI."""
    percent = max(0.0, min(100.0, float(percent)))
    payload = json.dumps({"percent": percent, "message": str(message)})
    sys.stdout.write(f"{PROGRESS_MARKER}{payload}\n")
    sys.stdout.flush()


def log(level: str, message: str) -> None:
    """Write a levelled log line to stderr (``[WARNING] message``)."""
    level = level.lower()
    if level not in LEVELS:
        raise ValueError(f"level must be one of {', '.join(LEVELS)}")
    sys.stderr.write(f"[{level.upper()}] {message}\n")
    sys.stderr.flush()


__all__ = ["execution_id", "log", "param", "params", "progress", "set_result", "workspace"]
