"""Notification channels and deliveries. Thin: parse, call ``backend.services.notifications``, serialise.

Access (``backend/policies.py``): channels and their history are admin-only — a channel holds
credentials and decides where run details are sent. A run's own deliveries
(``GET /api/executions/<id>/notifications``) are viewer-level, like the run page that shows them:
they carry the channel's name and type, the event and the outcome, never the config or the message.
Every change (create, change, delete, test) is audited by ``backend/security.py``; the handlers
name the channel as the audit target.
"""

from __future__ import annotations

from flask import Response, g
from flask_openapi3 import APIBlueprint, Tag

from backend.api.helpers import current_user_id, json_response, settings
from backend.models import NotificationChannel, NotificationDelivery
from backend.schemas.common import Problem
from backend.schemas.executions import ExecutionPath
from backend.schemas.notifications import (
    ChannelCreate,
    ChannelList,
    ChannelName,
    ChannelNameList,
    ChannelOut,
    ChannelPatch,
    ChannelPath,
    DeliveryList,
    DeliveryOut,
    DeliveryPage,
    DeliveryQuery,
)
from backend.services.notifications import channels as service
from backend.services.notifications import deliveries, messages
from backend.services.notifications.sender import TEST_TIMEOUT_SECONDS, send_test

bp = APIBlueprint("notifications", __name__, url_prefix="/api", abp_tags=[Tag(name="notifications")])
ERRORS = {404: Problem, 409: Problem, 422: Problem}
AUDIT_TARGET = "notification_channel"


def channel_out(channel: NotificationChannel) -> ChannelOut:
    return ChannelOut.of(channel, config=service.shown_config(channel), secrets=service.secrets_set(channel))


def deliveries_out(rows: list[NotificationDelivery]) -> list[DeliveryOut]:
    labels = deliveries.channel_labels({row.channel_id for row in rows})
    out = []
    for row in rows:
        name, kind = labels.get(row.channel_id, (None, None))
        out.append(DeliveryOut.of(row, channel_name=name, channel_type=kind))
    return out


def _audit(channel: NotificationChannel, **detail: object) -> None:
    g.audit_target = (AUDIT_TARGET, str(channel.id))
    g.audit_detail = {"name": channel.name, "type": channel.type, **detail}


@bp.get("/notification-channels/names", responses={200: ChannelNameList})
def list_channel_names() -> Response:
    """Every channel's id, name, type and whether it is enabled — nothing of its config.

    Viewer-level (``backend/policies.py``): an editor picks channels for a script or schedule
    by name, while the channels themselves stay admin-managed.
    """
    return json_response(ChannelNameList.of_items([ChannelName.of(c) for c in service.list_channels()]))


@bp.get("/notification-channels", responses={200: ChannelList})
def list_channels() -> Response:
    """Every channel, by name; credentials shown as ***."""
    return json_response(ChannelList.of_items([channel_out(c) for c in service.list_channels()]))


@bp.post("/notification-channels", responses={201: ChannelOut, **ERRORS})
def create_channel(body: ChannelCreate) -> Response:
    """Create a channel; a 422 names the config key that is wrong."""
    channel = service.create_channel(
        name=body.name,
        channel_type=body.type,
        config=body.config,
        enabled=body.enabled,
        created_by_id=current_user_id(),
    )
    _audit(channel)
    return json_response(channel_out(channel), 201)


@bp.get("/notification-channels/<int:channel_id>", responses={200: ChannelOut, 404: Problem})
def get_channel(path: ChannelPath) -> Response:
    """One channel; credentials shown as ***."""
    return json_response(channel_out(service.get_channel(path.channel_id)))


@bp.patch("/notification-channels/<int:channel_id>", responses={200: ChannelOut, **ERRORS})
def update_channel(path: ChannelPath, body: ChannelPatch) -> Response:
    """Change a channel; ``config`` replaces the whole config, *** (or a left-out credential) keeps it."""
    channel = service.update_channel(path.channel_id, body.model_dump(exclude_unset=True))
    _audit(channel, fields=sorted(body.model_fields_set))
    return json_response(channel_out(channel))


@bp.delete("/notification-channels/<int:channel_id>", responses={204: None, 404: Problem})
def delete_channel(path: ChannelPath) -> Response:
    """Delete a channel with its delivery history; scripts and schedules stop naming it."""
    _audit(service.get_channel(path.channel_id))
    service.delete_channel(path.channel_id)
    return Response(status=204)


@bp.post("/notification-channels/<int:channel_id>/test", responses={200: DeliveryOut, 404: Problem})
def test_channel(path: ChannelPath) -> Response:
    """Send a test message now (one attempt, a short timeout); answers the delivery with its outcome.

    A failed send is still a 200: the request worked, and the delivery says what the channel answered.
    """
    channel = service.get_channel(path.channel_id)
    message = messages.test_message(settings(), channel.name)
    delivery = send_test(channel, message, min(TEST_TIMEOUT_SECONDS, settings().notification_timeout_seconds))
    _audit(channel, delivery_id=delivery.id, delivery_status=delivery.status)
    return json_response(deliveries_out([delivery])[0])


@bp.get("/notification-channels/<int:channel_id>/deliveries", responses={200: DeliveryPage, 404: Problem, 422: Problem})
def list_channel_deliveries(path: ChannelPath, query: DeliveryQuery) -> Response:
    """The channel's delivery history, newest first."""
    service.get_channel(path.channel_id)
    page = deliveries.for_channel(path.channel_id, status=query.status, page=query.page, per_page=query.per_page)
    return json_response(DeliveryPage.of_page(page, deliveries_out(page.items)))


@bp.get("/executions/<int:execution_id>/notifications", responses={200: DeliveryList, 404: Problem})
def execution_notifications(path: ExecutionPath) -> Response:
    """The notifications one run sent (or is still sending), oldest first."""
    return json_response(DeliveryList.of_items(deliveries_out(deliveries.for_execution(path.execution_id))))
