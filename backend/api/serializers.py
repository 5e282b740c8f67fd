"""Model → JSON shapes. Secrets are masked here, the last step before anything leaves the server."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from backend.models import Execution, Script, ScriptVersion
from backend.services.params import mask_definitions


def last_run_json(execution: Execution | None) -> dict[str, Any] | None:
    if execution is None:
        return None
    return {
        "id": execution.id,
        "status": execution.status,
        "queued_at": _iso(execution.queued_at),
        "finished_at": _iso(execution.finished_at),
    }


def script_json(script: Script, last_run: Execution | None = None) -> dict[str, Any]:
    return {
        "id": script.id,
        "name": script.name,
        "description": script.description,
        "language": script.language,
        "code": script.code,
        "dependencies": list(script.dependencies),
        "parameters": mask_definitions(list(script.parameters)),
        "tags": script.tags,
        "folder": script.folder,
        "timeout_seconds": script.timeout_seconds,
        "max_concurrent": script.max_concurrent,
        "concurrency_policy": script.concurrency_policy,
        "max_retries": script.max_retries,
        "retry_delay_seconds": script.retry_delay_seconds,
        "enabled": script.enabled,
        "limits": dict(script.limits or {}),
        "sandbox_network": script.sandbox_network,
        "run_as_user": script.run_as_user,
        "version": script.current_version,
        "revision": script.revision,
        "created_at": script.created_at.isoformat(),
        "updated_at": script.updated_at.isoformat(),
        "last_run": last_run_json(last_run),
    }


def version_json(version: ScriptVersion) -> dict[str, Any]:
    return {
        "number": version.number,
        "script_id": version.script_id,
        "code": version.code,
        "dependencies": list(version.dependencies),
        "parameters": mask_definitions(list(version.parameters)),
        "message": version.message,
        "created_at": version.created_at.isoformat(),
    }


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def execution_json(
    execution: Execution, script_name: str | None = None, created_by: str | None = None
) -> dict[str, Any]:
    return {
        "id": execution.id,
        "script_id": execution.script_id,
        "script_name": script_name,
        "created_by": created_by,
        "version": execution.version_number,
        "trigger": execution.trigger,
        "params": dict(execution.params or {}),
        "status": execution.status,
        "exit_code": execution.exit_code,
        "result": execution.result,
        "error": execution.error,
        "queued_at": _iso(execution.queued_at),
        "started_at": _iso(execution.started_at),
        "finished_at": _iso(execution.finished_at),
        "duration_ms": execution.duration_ms,
        "peak_memory_kb": execution.peak_memory_kb,
        "cpu_time_ms": execution.cpu_time_ms,
        "attempt": execution.attempt,
        "retry_of_id": execution.retry_of_id,
        "rerun_of_id": execution.rerun_of_id,
        "schedule_id": execution.schedule_id,
        "progress": execution.progress,
        "progress_message": execution.progress_message,
        "sandboxed": execution.sandboxed,
    }
