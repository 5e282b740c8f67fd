"""``scriptman run``: one run through the same executor, its log printed as it comes."""

from __future__ import annotations

import sys
import threading
import time

import click

from backend.config import Settings
from backend.errors import ProblemError
from backend.extensions import db
from backend.models import Execution, ExecutionStatus, Trigger
from backend.services import executions, scripts
from backend.services.executor import runner, workspace
from backend.services.executor.claim import claim
from backend.services.executor.logfile import read_records

FOLLOW_POLL_SECONDS = 0.2
EXIT_BY_STATUS = {"timed_out": 124, "cancelled": 130, "interrupted": 75}


def parse_params(pairs: tuple[str, ...]) -> dict[str, str]:
    values: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise click.BadParameter(f"expected NAME=VALUE, got {pair!r}", param_hint="--param")
        values[name] = value
    return values


def run_script(app, name: str, pairs: tuple[str, ...]) -> int:  # type: ignore[no-untyped-def]
    settings: Settings = app.extensions["scriptman.settings"]
    with app.app_context():
        try:
            script = scripts.find_by_name(name)
            execution = executions.start(script, parse_params(pairs), Trigger.API, commit=True)
        except ProblemError as error:
            raise click.ClickException(error.detail) from None
        execution_id = execution.id
        own = claim(execution_id)  # a running server may have taken it first: then just follow
        db.session.remove()
    worker = threading.Thread(target=runner.execute, args=(app, execution_id), daemon=True) if own else None
    if worker:
        worker.start()
    log_path = str(workspace.run_paths(settings, execution_id).log)
    offset = 0
    while True:
        for record in read_records(log_path, offset):
            offset = record.next_offset
            stream = sys.stderr if record.stream in ("err", "sys") else sys.stdout
            prefix = "# " if record.stream == "sys" else ""
            print(prefix + record.text, file=stream, flush=True)
        with app.app_context():
            current = db.session.get(Execution, execution_id)
            status = current.status if current else ExecutionStatus.FAILED.value
            exit_code = current.exit_code if current else 1
            db.session.remove()
        if ExecutionStatus(status).is_final and (worker is None or not worker.is_alive()):
            for record in read_records(log_path, offset):
                print(("# " if record.stream == "sys" else "") + record.text, flush=True)
            break
        time.sleep(FOLLOW_POLL_SECONDS)
    if status == ExecutionStatus.SUCCEEDED.value:
        return 0
    if exit_code is not None and exit_code > 0:
        return exit_code
    return EXIT_BY_STATUS.get(status, 1)
