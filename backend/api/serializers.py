"""Model → JSON shapes. Secrets are masked here, the last step before anything leaves the server."""

from __future__ import annotations

from typing import Any

from backend.models import Script, ScriptVersion
from backend.services.params import mask_definitions


def script_json(script: Script) -> dict[str, Any]:
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
        "version": script.current_version,
        "revision": script.revision,
        "created_at": script.created_at.isoformat(),
        "updated_at": script.updated_at.isoformat(),
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
