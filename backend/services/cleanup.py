"""Removing what a run left on disk (workspace, log, control folder), for deletes and retention."""

from __future__ import annotations

from collections.abc import Iterable

from flask import current_app

from backend.config import Settings
from backend.models import Execution
from backend.services.executor import workspace


def remove_execution_files(executions: Iterable[Execution], settings: Settings | None = None) -> None:
    settings = settings or current_app.extensions["scriptman.settings"]
    for execution in executions:
        workspace.remove(workspace.run_paths(settings, execution.id))
