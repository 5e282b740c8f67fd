"""Chains: a script's ``on_success`` / ``on_failure`` lists name the scripts to start when its run ends.

Two halves:

- at save time, :func:`check_links` refuses a link to a missing script, to the script itself, or one
  that closes a cycle through any mix of success and failure links (422 naming the cycle), so a
  chain always ends;
- at run end, :func:`start_chained` (a run-end listener registered in ``app.py`` after the retry
  listener) starts the next scripts through ``executions.start()`` with trigger ``chain`` and
  ``upstream_execution_id`` set; the runner hands the upstream's stored (already masked) result to
  the next run as ``UPSTREAM_RESULT``.

A run that will be retried (``next_attempt_id`` set) starts nothing: the series' last attempt decides,
so a flaky first attempt does not fire the failure chain. A cancelled run starts nothing either: a
person stopped it on purpose. What could not be started is said in the upstream run's own log (and
the server log), so the person reading the run sees why the next one is missing.
"""

from __future__ import annotations

import logging

from flask import current_app
from sqlalchemy import select

from backend.config import Settings
from backend.errors import ProblemError, Unprocessable
from backend.extensions import db
from backend.models import Execution, ExecutionStatus, Script, Trigger
from backend.services import executions
from backend.services.executor import workspace
from backend.services.executor.logfile import LogWriter, Masker

log = logging.getLogger(__name__)

LINK_FIELDS = ("on_success", "on_failure")
MAX_LINKS = 20
SUCCESS_STATUSES = frozenset({ExecutionStatus.SUCCEEDED.value})
FAILURE_STATUSES = frozenset(
    {ExecutionStatus.FAILED.value, ExecutionStatus.TIMED_OUT.value, ExecutionStatus.INTERRUPTED.value}
)


# -- save time -------------------------------------------------------------------------------------


def check_links(script_id: int | None, links: dict[str, list[int]]) -> dict[str, list[int]]:
    """The script's ``on_success`` / ``on_failure`` as stored (duplicates dropped), or a 422.

    ``script_id`` is None for a script not saved yet (nothing can point to it, so it closes no
    cycle). ``links`` holds the lists given; the other one is read from the script.
    """
    result = {field: list(dict.fromkeys(int(i) for i in ids)) for field, ids in links.items()}
    wanted = {i for ids in result.values() for i in ids}
    existing = set(db.session.scalars(select(Script.id).where(Script.id.in_(wanted)))) if wanted else set()
    for field, ids in result.items():
        for index, target in enumerate(ids):
            if script_id is not None and target == script_id:
                name = _name(script_id)
                raise Unprocessable(
                    f"{field}.{index}: chain cycle: {name} → {name} (a script cannot start itself)",
                    field=f"{field}.{index}",
                )
            if target not in existing:
                raise Unprocessable(f"{field}.{index}: script {target} does not exist.", field=f"{field}.{index}")
    if script_id is not None:
        _refuse_cycle(script_id, result)
    return result


def _graph(script_id: int, links: dict[str, list[int]]) -> tuple[dict[int, list[int]], dict[int, str]]:
    """Every script's outgoing links (success and failure alike), with ``script_id``'s as they will be."""
    edges: dict[int, list[int]] = {}
    names: dict[int, str] = {}
    for row in db.session.execute(select(Script.id, Script.name, Script.on_success, Script.on_failure)):
        names[row.id] = row.name
        lists = {"on_success": row.on_success or [], "on_failure": row.on_failure or []}
        if row.id == script_id:
            lists.update(links)
        edges[row.id] = [int(i) for field in LINK_FIELDS for i in lists[field]]
    return edges, names


def _refuse_cycle(script_id: int, links: dict[str, list[int]]) -> None:
    """A path from ``script_id`` back to itself, if the new links make one: 422 naming it."""
    edges, names = _graph(script_id, links)
    path = [script_id]
    visited: set[int] = set()

    def walk(node: int) -> bool:  # depth first; True when the path reached script_id again
        for target in edges.get(node, []):
            if target == script_id:
                path.append(target)
                return True
            if target in visited or target not in edges:
                continue
            visited.add(target)
            path.append(target)
            if walk(target):
                return True
            path.pop()
        return False

    if walk(script_id):
        shown = " → ".join(names.get(i, f"#{i}") for i in path)
        field = "on_success" if path[1] in links.get("on_success", []) else "on_failure"
        raise Unprocessable(f"chain cycle: {shown}", field=field)


def forget_script(script_id: int) -> None:
    """In the deleting transaction: no script links to ``script_id`` any more."""
    for script in db.session.scalars(select(Script)):
        for field in LINK_FIELDS:
            ids = list(getattr(script, field) or [])
            if script_id in ids:
                setattr(script, field, [i for i in ids if i != script_id])


# -- run end ---------------------------------------------------------------------------------------


def next_scripts(execution: Execution, script: Script) -> list[int]:
    """The scripts this ended run starts: none for a superseded attempt or a cancelled run."""
    if execution.next_attempt_id is not None:
        return []
    if execution.status in SUCCESS_STATUSES:
        return list(script.on_success or [])
    if execution.status in FAILURE_STATUSES:
        return list(script.on_failure or [])
    return []


def chain_depth(execution: Execution, limit: int) -> int:
    """How many runs came before ``execution`` in its chain (0 for a run nobody chained), counted up
    to ``limit`` (a deleted ancestor ends the count)."""
    depth = 0
    upstream = execution.upstream_execution_id
    while upstream is not None and depth < limit:
        depth += 1
        upstream = db.session.scalar(select(Execution.upstream_execution_id).where(Execution.id == upstream))
    return depth


def start_chained(execution: Execution, script: Script) -> list[Execution]:
    """Run-end listener: start ``script``'s on_success or on_failure scripts after ``execution``."""
    db.session.refresh(execution)  # the retry listener may just have queued a next attempt
    targets = next_scripts(execution, script)
    if not targets:
        return []
    settings: Settings = current_app.extensions["scriptman.settings"]
    notes: list[str] = []
    started: list[Execution] = []
    depth = chain_depth(execution, settings.chain_max_depth) + 1  # the next run's ancestors
    if depth >= settings.chain_max_depth:
        notes.append(
            f"chain: not starting {len(targets)} next script(s): this chain already holds {depth} runs, "
            f"the most SCRIPTMAN_CHAIN_MAX_DEPTH allows is {settings.chain_max_depth}"
        )
        targets = []
    for target_id in targets:
        try:
            downstream = _start_one(execution, target_id)
        except ProblemError as error:
            db.session.rollback()
            notes.append(f"chain: {error.detail}")
            continue
        started.append(downstream)
        notes.append(f"chain: started run {downstream.id} of {_name(target_id)!r}")
    for note in notes:
        log.info("execution %s: %s", execution.id, note)
    _append_to_log(settings, execution.id, notes)
    return started


def _name(script_id: int) -> str:
    return db.session.scalar(select(Script.name).where(Script.id == script_id)) or f"#{script_id}"


def _start_one(upstream: Execution, target_id: int) -> Execution:
    """One next run, with the next script's defaults (a chain passes no parameters)."""
    target = db.session.get(Script, target_id)
    if target is None:
        raise Unprocessable(f"not starting script {target_id}: it no longer exists")
    if not target.enabled:
        raise Unprocessable(f"not starting {target.name!r}: it is disabled")
    try:
        return executions.start(
            target,
            {},
            Trigger.CHAIN,
            upstream_execution_id=upstream.id,
            created_by_id=upstream.created_by_id,
        )
    except ProblemError as error:  # e.g. a required parameter without a default, a concurrency limit
        raise Unprocessable(f"not starting {target.name!r}: {error.detail}") from None


def _append_to_log(settings: Settings, execution_id: int, notes: list[str]) -> None:
    """The notes go after the run's final line: its log says what its end started, or why not."""
    if not notes:
        return
    path = workspace.run_paths(settings, execution_id).log
    try:
        writer = LogWriter(str(path), Masker([]), settings.max_log_bytes + 8192, settings.max_line_bytes)
    except OSError as error:
        log.warning("execution %s: cannot note the chain in its log: %s", execution_id, error)
        return
    try:
        for note in notes:
            writer.write("sys", note)
    finally:
        writer.close()
