"""Removing what a run left on disk (workspace, log, control folder), for deletes and retention."""

from __future__ import annotations

from collections.abc import Iterable

from flask import current_app

from backend.config import Settings
from backend.services.executor import workspace


def remove_execution_files(execution_ids: Iterable[int], settings: Settings | None = None) -> None:
    """Takes ids, not rows: rows deleted by a cascade cannot be read any more after the commit."""
    settings = settings or current_app.extensions["scriptman.settings"]
    for execution_id in execution_ids:
        workspace.remove(workspace.run_paths(settings, execution_id))
