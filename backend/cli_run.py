"""``scriptman run``: one run through the same executor, its log printed as it comes."""

from __future__ import annotations

import sys
import threading
from typing import Any

import click

from backend.config import Settings
from backend.errors import ProblemError
from backend.extensions import db
from backend.models import Execution, ExecutionStatus, Trigger
from backend.services import executions, logstream, scripts
from backend.services.executor import runner, workspace
from backend.services.executor.claim import claim

EXIT_BY_STATUS = {"timed_out": 124, "cancelled": 130, "interrupted": 75}


def parse_params(pairs: tuple[str, ...]) -> dict[str, str]:
    values: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise click.BadParameter(f"expected NAME=VALUE, got {pair!r}", param_hint="--param")
        values[name] = value
    return values


def run_script(app, name: str, pairs: tuple[str, ...], version: int | None = None) -> int:  # type: ignore[no-untyped-def]
    """Queue a run (trigger ``cli``; of ``version``, default the current one), run it here, follow its log.

    The values go through the same validation as the API's (``executions.start``): ``NAME=`` for a
    non-text parameter counts as not given, like ``null`` in JSON.
    """
    settings: Settings = app.extensions["scriptman.settings"]
    with app.app_context():
        try:
            script = scripts.find_by_name(name)
            execution = executions.start(script, parse_params(pairs), Trigger.CLI, version_number=version, commit=True)
        except ProblemError as error:
            raise click.ClickException(error.detail) from None
        execution_id = execution.id
        own = claim(execution_id)  # a running server may have taken it first: then just follow
        db.session.remove()
    worker = threading.Thread(target=runner.execute, args=(app, execution_id), daemon=True) if own else None
    if worker:
        worker.start()

    def lookup() -> dict[str, Any] | None:
        with app.app_context():
            try:
                row = db.session.get(Execution, execution_id)
                return {"status": row.status, "exit_code": row.exit_code} if row else None
            finally:
                db.session.remove()

    final: dict[str, Any] = {"status": ExecutionStatus.FAILED.value, "exit_code": None}
    log_path = str(workspace.run_paths(settings, execution_id).log)
    for event in logstream.events(
        log_path, 0, lookup, execution_id=execution_id, watch=settings.log_follow == "inotify"
    ):
        if event.kind == "record" and event.record is not None:
            record = event.record
            stream = sys.stderr if record.stream in ("err", "sys") else sys.stdout
            print(("# " if record.stream == "sys" else "") + record.text, file=stream, flush=True)
        elif event.kind == "end" and event.status is not None:
            final = event.status
    if worker:
        worker.join()  # the run-end listeners (a retry, a schedule's status) finish before we exit
    status, exit_code = final["status"], final.get("exit_code")
    if status == ExecutionStatus.SUCCEEDED.value:
        return 0
    if exit_code is not None and exit_code > 0:
        return int(exit_code)
    return EXIT_BY_STATUS.get(status, 1)
