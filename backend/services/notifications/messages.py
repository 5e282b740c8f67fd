"""What a notification says: one message per run and event, rendered per channel type.

The message is built once when the run ends and stored on each delivery (``message``), so a
retry hours later sends the same words and the log tail of that moment. Everything in it that
came from the run (log lines, error) is masked again with the run's secret values and the secret
shared variables it received: the log file is masked already, but a message leaves the server.
"""

from __future__ import annotations

import os
from typing import Any

from sqlalchemy import select

from backend.config import Settings
from backend.extensions import db
from backend.models import Execution, Schedule, Script, Variable
from backend.models.types import utcnow
from backend.services import params as params_service
from backend.services.executor import workspace
from backend.services.executor.logfile import Masker, parse_line
from backend.services.executor.runner import masker_inputs

LOG_TAIL_LINES = 20
LOG_TAIL_BYTES = 64 * 1024
MAX_LINE_CHARS = 500
MAX_ERROR_CHARS = 2000
NO_PUBLIC_URL = "(no link: set SCRIPTMAN_PUBLIC_URL to the address users open Scriptman at)"
HEADLINES = {
    "failure": "failed",
    "timeout": "timed out",
    "success": "succeeded",
    "recovery": "recovered (succeeded after a failure)",
    "test": "test message",
}


def run_url(settings: Settings, execution_id: int) -> str | None:
    if not settings.public_url:
        return None
    return f"{settings.public_url.rstrip('/')}/executions/{execution_id}"


def run_masker(execution: Execution) -> Masker:
    """The run's secret parameter values and the values of the secret variables it received."""
    secrets = masker_inputs(execution.run_values(), execution.secret_params or {})
    names = [name for name in (execution.variables or []) if isinstance(name, str)]
    if names:
        rows = db.session.scalars(select(Variable).where(Variable.name.in_(names), Variable.secret.is_(True)))
        secrets += [params_service.to_env_value(row.value) for row in rows]
    return Masker(secrets)


def log_tail(path: str, lines: int = LOG_TAIL_LINES) -> list[str]:
    """The last ``lines`` records of a run log (progress records left out), read from its end."""
    try:
        with open(path, "rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            start = max(0, size - LOG_TAIL_BYTES)
            handle.seek(start)
            data = handle.read(LOG_TAIL_BYTES)
    except OSError:
        return []
    raw_lines = data.split(b"\n")
    if start > 0:
        raw_lines = raw_lines[1:]  # the first piece may be the end of a record
    records = [parse_line(raw + b"\n", 0) for raw in raw_lines if raw]
    shown = [r for r in records if r.stream != "prg"][-lines:]
    return [(r.text if r.stream == "out" else f"[{r.stream}] {r.text}")[:MAX_LINE_CHARS] for r in shown]


def duration_text(duration_ms: int | None) -> str:
    if duration_ms is None:
        return "-"
    seconds = duration_ms / 1000
    if seconds < 60:
        return f"{seconds:.2f} s"
    minutes, rest = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min {rest} s" if hours else f"{minutes} min {rest} s"


def build_message(settings: Settings, execution: Execution, script: Script, event: str) -> dict[str, Any]:
    """The message about ``execution`` for ``event``: facts as JSON plus a ready ``subject``/``text``."""
    masker = run_masker(execution)
    schedule = db.session.get(Schedule, execution.schedule_id) if execution.schedule_id else None
    tail = [masker.mask_text(line) for line in log_tail(str(workspace.run_paths(settings, execution.id).log))]
    error = masker.mask_text(execution.error)[:MAX_ERROR_CHARS] if execution.error else None
    url = run_url(settings, execution.id)
    message: dict[str, Any] = {
        "event": event,
        "script": {"id": script.id, "name": script.name},
        "execution": {
            "id": execution.id,
            "status": execution.status,
            "trigger": execution.trigger,
            "attempt": execution.attempt,
            "exit_code": execution.exit_code,
            "duration_ms": execution.duration_ms,
            "started_at": execution.started_at.isoformat() if execution.started_at else None,
            "finished_at": execution.finished_at.isoformat() if execution.finished_at else None,
            "error": error,
            "url": url,
        },
        "schedule": {"id": schedule.id, "name": schedule.name} if schedule else None,
        "log_tail": tail,
    }
    message["subject"] = f"[Scriptman] {script.name} {HEADLINES.get(event, event)} (run #{execution.id})"
    message["text"] = render_text(message)
    return message


def test_message(settings: Settings, channel_name: str) -> dict[str, Any]:
    """The message "send test" delivers: the same shape as a run's, about no run."""
    url = settings.public_url.rstrip("/") if settings.public_url else None
    message: dict[str, Any] = {
        "event": "test",
        "script": None,
        "execution": None,
        "schedule": None,
        "log_tail": [],
        "channel": channel_name,
        "sent_at": utcnow().isoformat(),
        "url": url,
        "subject": f"[Scriptman] test message for channel {channel_name}",
    }
    link = url or NO_PUBLIC_URL
    message["text"] = f"Test message from Scriptman for the channel {channel_name!r}: this channel works.\n{link}"
    return message


def render_text(message: dict[str, Any], *, fenced: bool = False) -> str:
    """The plain-text body (e-mail, ``text`` in a webhook's JSON); ``fenced``: the log in a
    Markdown code block (Slack, Mattermost)."""
    run = message["execution"]
    lines = [f"{message['script']['name']} {HEADLINES.get(message['event'], message['event'])}."]
    lines.append("")
    lines.append(
        f"Status:   {run['status'].replace('_', ' ')}"
        + (f", exit code {run['exit_code']}" if run["exit_code"] is not None else "")
    )
    lines.append(f"Duration: {duration_text(run['duration_ms'])}")
    trigger = run["trigger"]
    if message.get("schedule"):
        trigger += f" ({message['schedule']['name']})"
    if run["attempt"] and run["attempt"] > 1:
        trigger += f", attempt {run['attempt']}"
    lines.append(f"Trigger:  {trigger}")
    lines.append(f"Run:      #{run['id']} {run['url'] or NO_PUBLIC_URL}")
    if run["error"]:
        lines.append(f"Error:    {run['error']}")
    if message["log_tail"]:
        lines.append("")
        lines.append(f"Last {len(message['log_tail'])} log lines:")
        if fenced:
            lines.extend(["```", *message["log_tail"], "```"])
        else:
            lines.extend(f"  {line}" for line in message["log_tail"])
    return "\n".join(lines)
