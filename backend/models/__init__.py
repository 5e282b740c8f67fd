"""SQLAlchemy models; importing this package registers every table on the metadata."""

from backend.models.execution import ACTIVE_STATUSES, Execution, ExecutionStatus, Trigger
from backend.models.integration import (
    ChannelType,
    DeliveryStatus,
    NotificationChannel,
    NotificationDelivery,
    ScriptHook,
    Variable,
)
from backend.models.schedule import Schedule
from backend.models.schedule_fire import FireOutcome, ScheduleFire
from backend.models.script import Script, ScriptTag, ScriptVersion
from backend.models.user import ApiToken, AuditEvent, Role, User, UserSession

__all__ = [
    "ACTIVE_STATUSES",
    "ApiToken",
    "AuditEvent",
    "ChannelType",
    "DeliveryStatus",
    "Execution",
    "ExecutionStatus",
    "FireOutcome",
    "NotificationChannel",
    "NotificationDelivery",
    "Role",
    "Schedule",
    "ScheduleFire",
    "Script",
    "ScriptHook",
    "ScriptTag",
    "ScriptVersion",
    "Trigger",
    "User",
    "UserSession",
    "Variable",
]
