"""One run, start to end: workspace → environment → supervisor → final status."""

from __future__ import annotations

import json
import logging
import os
import shutil
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from flask import Flask
from sqlalchemy import select, update
from sqlalchemy.orm import lazyload
from sqlalchemy.orm.attributes import set_committed_value

from backend.config import Settings
from backend.errors import ProblemError
from backend.extensions import db
from backend.models import Execution, ExecutionStatus, Script, ScriptVersion
from backend.models.types import utcnow
from backend.services import params as params_service
from backend.services import runstatus, versions
from backend.services import variables as variables_service
from backend.services.executor import containment, environments, launcher, limits, process, sandbox, workspace
from backend.services.executor.claim import new_cookie
from backend.services.executor.logfile import LogWriter, Masker, read_records

log = logging.getLogger(__name__)

SDK_DIR = Path(__file__).resolve().parents[2] / "sdk"
BASE_ENV_KEYS = ("PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "USER", "LOGNAME", "TMPDIR", "TERM")
DEFAULT_PATH = "/usr/local/bin:/usr/bin:/bin"
PROGRESS_POLL_SECONDS = 1.0
# an environment string may be at most 128 KiB on Linux; a larger upstream result is not passed
UPSTREAM_RESULT_MAX_BYTES = 100_000
NO_TAGS = [lazyload(Script.tag_rows)]  # the run path never reads a script's tags: not one more query per load


def build_env(
    settings: Settings,
    execution: Execution,
    script: Script,
    values: dict[str, Any],
    paths: workspace.RunPaths,
    env_info: environments.Environment,
    shared: dict[str, str] | None = None,
    upstream: dict[str, str] | None = None,
) -> dict[str, str]:
    """The child's environment: a short allow-list of the server's, never its secrets or config.

    ``shared``: the shared variables the script declares (its parameters win over them);
    ``upstream``: a chained run's UPSTREAM_RESULT and UPSTREAM_EXECUTION_ID (set last: Scriptman's).
    """
    env = {k: os.environ[k] for k in BASE_ENV_KEYS if k in os.environ}
    env.setdefault("PATH", DEFAULT_PATH)
    # What the admin named in SCRIPTMAN_SCRIPT_ENV_PASSTHROUGH (e.g. HTTPS_PROXY); settings refuse
    # SCRIPTMAN_* and run variables, checked again here; parameters and run variables below win.
    for name in settings.script_env_passthrough:
        if name in os.environ and not name.upper().startswith("SCRIPTMAN_"):
            env[name] = os.environ[name]
    env.update(shared or {})
    for name, value in values.items():
        env[name] = params_service.to_env_value(value)
    env.update(
        {
            "SCRIPT_PARAMETERS": json.dumps(values),
            "SCRIPT_NAME": script.name,
            "EXECUTION_ID": str(execution.id),
            "WORKSPACE": str(paths.workspace),
            "SCRIPTMAN_RESULT": str(paths.result),
            "PYTHONUNBUFFERED": "1",
            "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONPATH": str(SDK_DIR),
            "SCRIPTMAN_RUN_COOKIE": execution.cookie or "",
        }
    )
    env.update(env_info.extra_env)
    env["NODE_PATH"] = ":".join(p for p in (env_info.extra_env.get("NODE_PATH"), str(SDK_DIR)) if p)
    if env_info.bin_dir:
        env["PATH"] = f"{env_info.bin_dir}:{env['PATH']}"
    env.update(upstream or {})
    return env


def upstream_env(execution: Execution) -> tuple[dict[str, str], str | None]:
    """A chained run's UPSTREAM_EXECUTION_ID and UPSTREAM_RESULT (the upstream's result as stored, so
    masked; ``null`` when it has none or is gone), and a note for the log when the result is too large."""
    if execution.upstream_execution_id is None:
        return {}, None
    env = {"UPSTREAM_EXECUTION_ID": str(execution.upstream_execution_id)}
    upstream = db.session.get(Execution, execution.upstream_execution_id)
    text = json.dumps(upstream.result if upstream else None)
    if len(text.encode()) > UPSTREAM_RESULT_MAX_BYTES:
        return env, (
            f"the result of run {execution.upstream_execution_id} is {len(text.encode())} bytes, more than an "
            f"environment variable holds ({UPSTREAM_RESULT_MAX_BYTES}); UPSTREAM_RESULT is not set, "
            f"read it from GET /api/executions/{execution.upstream_execution_id}"
        )
    env["UPSTREAM_RESULT"] = text
    return env, None


def run_secrets(execution: Execution, values: dict[str, Any], shared_secrets: set[str] | None = None) -> list[str]:
    """Every value the run's output is masked for: its secret parameters and its secret shared variables.

    ``shared_secrets`` as the run received them; None reads the variables the run recorded, as they are now.
    """
    if shared_secrets is None:
        shared_secrets = variables_service.environment_for(execution.variables or [])[1]
    return masker_inputs(values, execution.secret_params or {}) + sorted(shared_secrets)


def build_argv(language: str, script_file: Path, env_info: environments.Environment) -> list[str]:
    if language == "python":
        python = str(env_info.bin_dir / "python") if env_info.bin_dir else environments.python_runtime()
        return [python, script_file.name]
    if language == "javascript":
        return [shutil.which("node") or "node", script_file.name]
    return [shutil.which("bash") or "/bin/bash", script_file.name]


def execute(app: Flask, execution_id: int, on_gone: Callable[[], None] | None = None) -> None:
    """Run a claimed execution to its end. Never raises: every failure becomes a final status.

    ``on_gone`` is called once every process of the run is gone, before its end is recorded (the
    executor gives the run's slot back then); not called when the run never started."""
    with app.app_context():
        try:
            supervisor = _prepare_and_launch(app, execution_id)
        except Exception as error:
            detail = error.detail if isinstance(error, ProblemError) else f"{type(error).__name__}: {error}"
            if not isinstance(error, ProblemError):
                log.exception("execution %s could not start", execution_id)
            finish(app, execution_id, {"reason": "error", "error": detail})
            return
        finally:
            db.session.remove()
        if supervisor is None:
            return
        _wait_recording_progress(app, execution_id, supervisor)
        conclude(app, execution_id, supervisor.returncode, on_gone)


def conclude(
    app: Flask, execution_id: int, supervisor_exit: int | None = None, on_gone: Callable[[], None] | None = None
) -> None:
    """Record the end of a run whose supervisor is gone: its status file, or, when it died without
    one, kill whatever is left of the run (cgroup, else group + cookie) and say why it failed.

    ``on_gone``: called when no process of the run is left (a supervisor that wrote its status
    killed them all first), before the end is recorded."""
    settings: Settings = app.extensions["scriptman.settings"]
    paths = workspace.run_paths(settings, execution_id)
    outcome = read_status(app, execution_id)
    if outcome.get("lost"):
        with app.app_context():
            row = db.session.get(Execution, execution_id)
            cookie = row.cookie if row else None
            db.session.remove()
        clean = containment.end_leftovers(paths, cookie)
        how = f" (killed by signal {-supervisor_exit})" if supervisor_exit and supervisor_exit < 0 else ""
        outcome["error"] = f"the run's supervisor died{how} before the script ended; " + (
            "every process of the run was stopped" if clean else "some of the run's processes could not be stopped"
        )
    if on_gone is not None:
        on_gone()
    finish(app, execution_id, outcome)


def _wait_recording_progress(app: Flask, execution_id: int, supervisor: process.Supervised) -> None:
    """Wait for the supervisor (woken by its exit, not a poll); meanwhile copy the latest
    ``progress`` record onto the row."""
    settings: Settings = app.extensions["scriptman.settings"]
    log_path = str(workspace.run_paths(settings, execution_id).log)
    offset = 0
    done = False
    while not done:
        done = supervisor.wait(PROGRESS_POLL_SECONDS)
        latest = None
        for record in read_records(log_path, offset, limit=10_000):
            offset = record.next_offset
            if record.stream == "prg":
                latest = record
        if latest is not None:
            _store_progress(app, execution_id, latest.text)


def _store_progress(app: Flask, execution_id: int, text: str) -> None:
    try:
        payload = json.loads(text)
        percent = float(payload.get("percent")) if payload.get("percent") is not None else None
        message = str(payload.get("message") or "")[:500] or None
    except (ValueError, TypeError, AttributeError):
        return
    with app.app_context():
        db.session.execute(
            update(Execution).where(Execution.id == execution_id).values(progress=percent, progress_message=message)
        )
        db.session.commit()
        db.session.remove()


def _prepare_and_launch(app: Flask, execution_id: int) -> process.Supervised | None:
    settings: Settings = app.extensions["scriptman.settings"]
    # the run, its script and its version in one statement (a missing version: the error below)
    found = db.session.execute(
        select(Execution, Script, ScriptVersion)
        .join(Script, Script.id == Execution.script_id)
        .outerjoin(
            ScriptVersion,
            (ScriptVersion.script_id == Execution.script_id) & (ScriptVersion.number == Execution.version_number),
        )
        .where(Execution.id == execution_id)
        .options(*NO_TAGS)
    ).one()
    execution, script, version = found
    if version is None:
        version = versions.get_version(script.id, execution.version_number)  # raises NotFound
    paths = workspace.run_paths(settings, execution_id)
    values = execution.run_values()
    declared = list(dict.fromkeys(script.variables or []))
    shared, shared_secrets = variables_service.environment_for(declared)
    secret_values = run_secrets(execution, values, shared_secrets)
    masker = Masker(secret_values)
    upstream, upstream_note = upstream_env(execution)
    # The claim set the cookie. The shared variables the run receives (names only, never values) are
    # written before anything can fail: an error's text is masked for their secret values. A run
    # without shared variables (most) writes nothing here.
    received = [name for name in declared if name in shared]
    if not execution.cookie or received != (execution.variables or []):
        execution.cookie = execution.cookie or new_cookie(execution_id)
        execution.variables = received
        db.session.commit()

    run_as = containment.run_as_user(settings, script.run_as_user)
    script_file = workspace.prepare(paths, script.language, version.code, (run_as.uid, run_as.gid) if run_as else None)
    writer = LogWriter(str(paths.log), masker, settings.max_log_bytes, settings.max_line_bytes)
    try:
        attempt = f", attempt {execution.attempt}" if execution.attempt > 1 else ""
        writer.write("sys", f"run {execution_id} of {script.name!r} version {version.number}{attempt}")
        if execution.upstream_execution_id is not None:
            writer.write("sys", f"chained after run {execution.upstream_execution_id}")
        for name in declared:
            if name not in shared:
                writer.write("sys", f"shared variable {name} no longer exists; the run goes on without it")
        if upstream_note:
            writer.write("sys", upstream_note)
        env_info = environments.ensure_environment(
            settings.envs_dir,
            script.language,
            list(version.dependencies),
            lambda line: writer.write("sys", line),
            lambda line: writer.write("err", line),  # the installer's stderr: its errors, not muted notes
        )
    finally:
        writer.close()
    if _cancel_requested(execution_id):
        finish(app, execution_id, {"reason": "cancelled", "error": "cancelled before the script started"})
        return None

    argv = build_argv(script.language, script_file, env_info)
    if settings.sandbox == "bwrap":
        problem = sandbox.probe()
        if problem != "ok":
            raise ProblemError(f"the bwrap sandbox is configured but unusable: {problem}")
        argv = sandbox.wrap(argv, settings, paths.workspace, env_info.path, script.sandbox_network)
        execution.sandboxed = True
    run_limits = limits.effective_limits(settings, script.limits)
    try:
        cgroup = containment.create_run_cgroup(settings, paths, execution_id, run_limits)
    except OSError as error:
        raise ProblemError(f"could not create the run's cgroup: {error}") from None
    rlimits = limits.to_rlimits(run_limits, script.language)
    if cgroup is not None:
        rlimits.pop("processes", None)  # pids.max counts this run's processes exactly, for root too
    env = build_env(settings, execution, script, values, paths, env_info, shared, upstream)
    if run_as:
        env.update({"USER": run_as.name, "LOGNAME": run_as.name, "HOME": run_as.home})
    spec = {
        "argv": argv,
        "cwd": str(paths.workspace),
        "env": env,
        "log_path": str(paths.log),
        "status_path": str(paths.status),
        "result_path": str(paths.result),
        "timeout_seconds": script.timeout_seconds or settings.default_timeout_seconds,
        "kill_grace_seconds": settings.kill_grace_seconds,
        "max_log_bytes": settings.max_log_bytes,
        "max_line_bytes": settings.max_line_bytes,
        "max_result_bytes": settings.max_result_bytes,
        "secrets": secret_values,
        "cookie": execution.cookie,
        "rlimits": rlimits,
        "cgroup": cgroup.as_dict() if cgroup else None,
        "run_as": run_as.as_spec() if run_as else None,
        "sandboxed": settings.sandbox == "bwrap",
        # a worker's runs end when the worker is gone for good (see supervise.Supervisor._holder_gone)
        "lifeline": app.extensions.get("scriptman.lifeline"),
    }
    paths.status.unlink(missing_ok=True)
    try:
        process.write_spec(paths.spec, spec)
        supervisor = launcher.start_supervisor(
            app.extensions.get("scriptman.launcher"), paths.spec, paths.control / "supervisor.err"
        )
    except BaseException:
        if cgroup is not None:
            cgroup.remove()
        raise
    db.session.flush()  # e.g. ``sandboxed`` set above
    # the pid, and in the same statement whether a cancel came while the supervisor started: that
    # one found no pid to signal, so it is delivered now (a later cancel reads this pid and signals)
    cancel = db.session.execute(
        update(Execution)
        .where(Execution.id == execution_id)
        .values(pid=supervisor.pid, pid_started_at=supervisor.started_at)
        .returning(Execution.cancel_requested),
        execution_options={"synchronize_session": False},
    ).scalar()
    db.session.commit()
    if cancel:
        process.signal_supervisor(supervisor.pid, supervisor.started_at)
    return supervisor


def _cancel_requested(execution_id: int) -> bool:
    """One column, not a refresh of the whole row (which also decrypts its parameters)."""
    return bool(db.session.scalar(select(Execution.cancel_requested).where(Execution.id == execution_id)))


def masker_inputs(values: dict[str, Any], secret_params: dict[str, Any]) -> list[str]:
    return [params_service.to_env_value(values[k]) for k in secret_params if k in values]


def read_status(app: Flask, execution_id: int) -> dict[str, Any]:
    settings: Settings = app.extensions["scriptman.settings"]
    path = workspace.run_paths(settings, execution_id).status
    try:
        return json.loads(path.read_text())  # type: ignore[no-any-return]
    except (OSError, ValueError):
        return {"reason": "error", "lost": True, "error": "the run supervisor ended without reporting a status"}


def _final_status(outcome: dict[str, Any]) -> tuple[ExecutionStatus, str | None]:
    reason = outcome.get("reason")
    code = outcome.get("exit_code")
    if reason == "timeout":
        return ExecutionStatus.TIMED_OUT, "timed out"
    if reason == "cancelled":
        return ExecutionStatus.CANCELLED, outcome.get("error") or "cancelled"
    if reason == "interrupted":
        return ExecutionStatus.INTERRUPTED, outcome.get("error")
    if reason == "error" or code is None:
        return ExecutionStatus.FAILED, outcome.get("error") or "the script could not run"
    if outcome.get("result_error"):
        return ExecutionStatus.FAILED, outcome["result_error"]
    if code == 0:
        return ExecutionStatus.SUCCEEDED, None
    if outcome.get("limit"):
        return ExecutionStatus.FAILED, f"{outcome['limit']} reached"
    if code < 0:
        return ExecutionStatus.FAILED, f"killed by signal {-code}"
    return ExecutionStatus.FAILED, f"exit code {code}"


def finish(app: Flask, execution_id: int, outcome: dict[str, Any]) -> None:
    """Record the final state (once: a row already final is left alone), then retry if due."""
    settings: Settings = app.extensions["scriptman.settings"]
    status, error = _final_status(outcome)
    with app.app_context():
        try:
            # the run and its script in one statement (the script for the retry note and the listeners)
            found = db.session.execute(
                select(Execution, Script)
                .outerjoin(Script, Script.id == Execution.script_id)
                .where(Execution.id == execution_id)
                .options(*NO_TAGS)
            ).one_or_none()
            current, script = found if found is not None else (None, None)
            if current is None or current.status != ExecutionStatus.RUNNING.value:
                return
            # masked again at the database boundary: errors raised here, not only the supervisor's
            masker = Masker(run_secrets(current, current.run_values()))
            values: dict[str, Any] = {
                "status": status.value,
                "exit_code": outcome.get("exit_code"),
                "result": masker.mask_json(outcome.get("result")),
                "error": masker.mask_text(error) if error else None,
                "finished_at": _instant(outcome.get("finished_at")) or utcnow(),
                "duration_ms": outcome.get("duration_ms"),
                "peak_memory_kb": outcome.get("peak_memory_kb"),
                "cpu_time_ms": outcome.get("cpu_time_ms"),
            }
            if outcome.get("started_at"):
                values["started_at"] = _instant(outcome["started_at"])
            # The last log line goes first: a log follower that sees a final status has it all.
            note = _retry_note(current, script, status)
            _append_final_line(settings, workspace.run_paths(settings, execution_id), status, values, note)
            changed = db.session.execute(
                update(Execution)
                .where(Execution.id == execution_id, Execution.status == ExecutionStatus.RUNNING.value)
                .values(**values)
            ).rowcount
            # the listeners get the rows as they are now without reading them again: kept (not
            # expired) over this one commit, the row's new values set on it below
            session = db.session()
            session.expire_on_commit = False
            db.session.commit()
            session.expire_on_commit = True
            if not changed:
                return
            for key, value in values.items():
                set_committed_value(current, key, value)
            if note is None:
                # no retry is coming (the first listener's job): live logs end now, not after the listeners
                runstatus.announce(execution_id)
            if script is not None:
                _tell_listeners(app, current, script)
        except Exception:
            log.exception("could not record the end of execution %s", execution_id)
            db.session.rollback()
        finally:
            db.session.remove()


RunEndListener = Callable[[Execution, Script], object]


def _tell_listeners(app: Flask, execution: Execution, script: Script) -> None:
    """The run-end listeners registered in ``app.py`` (retries, schedules, …), each on its own:
    one that fails is logged and does not keep the others from hearing of the run."""
    listeners: list[RunEndListener] = app.extensions.get("scriptman.run_end_listeners", [])
    for listener in listeners:
        try:
            listener(execution, script)
        except Exception:
            log.exception("run-end listener %s failed for execution %s", listener, execution.id)
            db.session.rollback()


def _retry_note(execution: Execution, script: Script | None, status: ExecutionStatus) -> str | None:
    """Said in the failed attempt's own log, so a reader knows another attempt is coming."""
    if script is None or status not in (ExecutionStatus.FAILED, ExecutionStatus.TIMED_OUT):
        return None
    if execution.cancel_requested or execution.attempt > script.max_retries:
        return None
    total = script.max_retries + 1
    return f"retrying: attempt {execution.attempt + 1} of {total} in {script.retry_delay_seconds} s"


def final_line_parts(status: ExecutionStatus, values: dict[str, Any]) -> list[str]:
    """The run's last log line, said once: "finished: failed, exit code 1, 0.07 s",
    "finished: timed out after 5.00 s", "finished: failed, dependency install failed: …".

    The error is left out where the words before it already say it (an "exit code N" error, the
    "timed out"/"cancelled" of the status), and a kill by signal is not also given as exit code -N.
    """
    label = status.value.replace("_", " ")
    code = values.get("exit_code")
    seconds = f"{values['duration_ms'] / 1000:.2f} s" if values.get("duration_ms") is not None else None
    error = str(values["error"]) if values.get("error") and status != ExecutionStatus.SUCCEEDED else None
    if status in (ExecutionStatus.TIMED_OUT, ExecutionStatus.CANCELLED):
        says_status = bool(error and error.startswith(label))  # "cancelled before the script started"
        head = f"finished: {error if says_status else label}" + (f" after {seconds}" if seconds else "")
        return [head] if says_status or not error else [head, error]
    parts = [f"finished: {label}"]
    said = None
    if code is not None:
        said = f"exit code {code}" if code >= 0 else f"killed by signal {-code}"
        parts.append(said)
    if seconds:
        parts.append(seconds)
    if error and error != said:
        parts.append(error)
    return parts


def _append_final_line(
    settings: Settings,
    paths: workspace.RunPaths,
    status: ExecutionStatus,
    values: dict[str, Any],
    note: str | None = None,
) -> None:
    parts = final_line_parts(status, values)
    if note:
        parts.append(note)
    try:
        writer = LogWriter(str(paths.log), Masker([]), settings.max_log_bytes + 4096, settings.max_line_bytes)
    except OSError as error:  # e.g. a symlink planted where the log goes: the row still ends
        log.warning("execution %s: cannot append the final log line: %s", paths.log.name, error)
        return
    writer.write("sys", ", ".join(parts))
    writer.close()


def _instant(epoch: float | None) -> datetime | None:
    return datetime.fromtimestamp(epoch, UTC) if epoch else None
