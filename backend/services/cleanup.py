"""Removing what a run left on disk (workspace and log), for deletes and retention."""

from __future__ import annotations

import logging
import shutil
from collections.abc import Iterable
from pathlib import Path

from backend.models import Execution

log = logging.getLogger(__name__)


def remove_execution_files(executions: Iterable[Execution]) -> None:
    for execution in executions:
        if execution.workspace_path:
            shutil.rmtree(execution.workspace_path, ignore_errors=True)
        if execution.log_path:
            try:
                Path(execution.log_path).unlink(missing_ok=True)
            except OSError as error:  # a log we cannot delete must not fail the delete
                log.warning("could not remove log %s: %s", execution.log_path, error)
