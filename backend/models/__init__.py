"""SQLAlchemy models; importing this package registers every table on the metadata."""

from backend.models.execution import ACTIVE_STATUSES, Execution, ExecutionStatus, Trigger
from backend.models.schedule import Schedule
from backend.models.script import Script, ScriptTag, ScriptVersion

__all__ = [
    "ACTIVE_STATUSES",
    "Execution",
    "ExecutionStatus",
    "Schedule",
    "Script",
    "ScriptTag",
    "ScriptVersion",
    "Trigger",
]
