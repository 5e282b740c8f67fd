"""Reading the delivery history: per channel (paged) and per run."""

from __future__ import annotations

from sqlalchemy import select

from backend.errors import NotFound
from backend.extensions import db
from backend.models import ChannelType, DeliveryStatus, Execution, NotificationChannel, NotificationDelivery
from backend.services.pagination import Page, paginate


def for_channel(
    channel_id: int, *, status: DeliveryStatus | None, page: int, per_page: int
) -> Page[NotificationDelivery]:
    """The channel's deliveries, newest first."""
    query = select(NotificationDelivery).where(NotificationDelivery.channel_id == channel_id)
    if status is not None:
        query = query.where(NotificationDelivery.status == status.value)
    return paginate(query.order_by(NotificationDelivery.id.desc()), page=page, per_page=per_page)


def for_execution(execution_id: int) -> list[NotificationDelivery]:
    """The run's deliveries in the order they were queued; a 404 for an unknown run."""
    if db.session.get(Execution, execution_id) is None:
        raise NotFound(f"Execution {execution_id} does not exist.")
    query = select(NotificationDelivery).where(NotificationDelivery.execution_id == execution_id)
    return list(db.session.scalars(query.order_by(NotificationDelivery.id)))


def channel_labels(channel_ids: set[int]) -> dict[int, tuple[str, ChannelType]]:
    """{channel id: (name, type)} for the deliveries' channels (one query)."""
    if not channel_ids:
        return {}
    rows = db.session.execute(
        select(NotificationChannel.id, NotificationChannel.name, NotificationChannel.type).where(
            NotificationChannel.id.in_(channel_ids)
        )
    ).all()
    return {row_id: (name, ChannelType(kind)) for row_id, name, kind in rows}
