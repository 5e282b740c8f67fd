"""Notification channels: create, change, delete, and the per-type validation of their config.

A channel's credentials (``SECRET_KEYS``: the SMTP password, the webhook signing secret, the Slack
URL) live in ``secret_config`` (encrypted at rest) and never leave the server again: the API shows
``***``, and ``***`` sent back — or the key left out of a PATCH — keeps the stored value, so a form
that round-trips what it was shown changes nothing it did not touch.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from sqlalchemy import select

from backend.errors import Conflict, NotFound, Unprocessable
from backend.extensions import db
from backend.models import ChannelType, NotificationChannel, Schedule, Script
from backend.schemas.notifications import CONFIG_MODELS, MASKED, SECRET_KEYS, NotificationSubscription
from backend.services import uniqueness


def get_channel(channel_id: int) -> NotificationChannel:
    channel = db.session.get(NotificationChannel, channel_id)
    if channel is None:
        raise NotFound(f"Notification channel {channel_id} does not exist.")
    return channel


def _ensure_unique_name(name: str, *, exclude_id: int | None = None) -> None:
    query = select(NotificationChannel.id).where(NotificationChannel.name == name)
    if exclude_id is not None:
        query = query.where(NotificationChannel.id != exclude_id)
    if db.session.scalar(query) is not None:
        raise Conflict(f"A notification channel named {name!r} already exists.", field="name")


def list_channels() -> list[NotificationChannel]:
    return list(db.session.scalars(select(NotificationChannel).order_by(NotificationChannel.name)))


def full_config(channel: NotificationChannel) -> dict[str, Any]:
    """The channel's whole config, credentials included: for the senders only."""
    return {**(channel.config or {}), **(channel.secret_config or {})}


def shown_config(channel: NotificationChannel) -> dict[str, Any]:
    """The config as the API shows it: each credential as ``***`` when set, null when not."""
    secrets = channel.secret_config or {}
    shown = dict(channel.config or {})
    for key in SECRET_KEYS[ChannelType(channel.type)]:
        shown[key] = MASKED if secrets.get(key) else None
    return shown


def secrets_set(channel: NotificationChannel) -> dict[str, bool]:
    secrets = channel.secret_config or {}
    return {key: bool(secrets.get(key)) for key in SECRET_KEYS[ChannelType(channel.type)]}


def validate_config(
    channel_type: ChannelType, config: dict[str, Any], stored_secrets: dict[str, Any] | None = None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(plain config, secret config) for ``channel_type``, or a 422 naming ``config.<key>``.

    ``stored_secrets`` (on a change) fills in a credential given as ``***`` or left out; on create
    there is nothing to keep, so ``***`` is refused as a value.
    """
    given = dict(config)
    secret_keys = SECRET_KEYS[channel_type]
    for key in secret_keys:
        value = given.get(key)
        keep = value == MASKED or (stored_secrets is not None and key not in given)
        if keep:
            if stored_secrets is None or not stored_secrets.get(key):
                raise Unprocessable(
                    f"config.{key}: *** keeps a stored value, and none is stored; give the real value.",
                    field=f"config.{key}",
                )
            given[key] = stored_secrets[key]
        elif value == "":
            given[key] = None
    model = CONFIG_MODELS[channel_type]
    try:
        parsed = model.model_validate(given)
    except ValidationError as error:
        item = error.errors(include_url=False, include_input=False)[0]
        where = ".".join(str(part) for part in ("config", *item["loc"]))
        raise Unprocessable(f"{where}: {item['msg']}", field=where) from None
    values = parsed.model_dump(by_alias=True)
    if channel_type == ChannelType.EMAIL:
        values["port"] = parsed.resolved_port  # type: ignore[attr-defined]
        if values.get("password") and not values.get("username"):
            raise Unprocessable("config.username: a password needs a username to log in with.", field="config.username")
    secret = {key: values.pop(key) for key in secret_keys if values.get(key) is not None}
    for key in secret_keys:
        values.pop(key, None)
    return values, secret


def create_channel(
    *, name: str, channel_type: ChannelType, config: dict[str, Any], enabled: bool, created_by_id: int | None
) -> NotificationChannel:
    plain, secret = validate_config(channel_type, config)
    channel = NotificationChannel(
        name=name,
        type=channel_type.value,
        config=plain,
        secret_config=secret,
        enabled=enabled,
        created_by_id=created_by_id,
    )
    _ensure_unique_name(name)
    db.session.add(channel)
    uniqueness.commit()
    return channel


def update_channel(channel_id: int, changes: dict[str, Any]) -> NotificationChannel:
    channel = get_channel(channel_id)
    channel_type = ChannelType(channel.type)
    if changes.get("type") is not None and ChannelType(changes["type"]) != channel_type:
        raise Unprocessable(
            f"type: a channel's type cannot change (it is {channel_type.value}); create a new channel.", field="type"
        )
    if changes.get("config") is not None:
        plain, secret = validate_config(channel_type, changes["config"], dict(channel.secret_config or {}))
        channel.config = plain
        channel.secret_config = secret
    if changes.get("name") is not None:
        _ensure_unique_name(changes["name"], exclude_id=channel.id)
        channel.name = changes["name"]
    if changes.get("enabled") is not None:
        channel.enabled = changes["enabled"]
    uniqueness.commit()
    return channel


def delete_channel(channel_id: int) -> None:
    """Delete the channel with its delivery history, and drop it from every subscription."""
    channel = get_channel(channel_id)
    for owner in (*db.session.scalars(select(Script)), *db.session.scalars(select(Schedule))):
        entries = owner.notifications or []
        kept = [e for e in entries if not (isinstance(e, dict) and e.get("channel_id") == channel.id)]
        if len(kept) != len(entries):
            owner.notifications = kept
    db.session.delete(channel)
    db.session.commit()


def validate_subscriptions(entries: list[dict[str, Any]] | list[NotificationSubscription]) -> list[dict[str, Any]]:
    """A script's or schedule's ``notifications`` as stored: each channel must exist, once.

    For the script and schedule services (the field ``notifications``); a 422 names the entry.
    """
    result: list[dict[str, Any]] = []
    seen: set[int] = set()
    for index, entry in enumerate(entries):
        try:
            parsed = (
                entry if isinstance(entry, NotificationSubscription) else NotificationSubscription.model_validate(entry)
            )
        except ValidationError as error:
            item = error.errors(include_url=False, include_input=False)[0]
            where = ".".join(str(part) for part in ("notifications", index, *item["loc"]))
            raise Unprocessable(f"{where}: {item['msg']}", field=where) from None
        if db.session.get(NotificationChannel, parsed.channel_id) is None:
            raise Unprocessable(
                f"notifications.{index}.channel_id: notification channel {parsed.channel_id} does not exist.",
                field=f"notifications.{index}.channel_id",
            )
        if parsed.channel_id in seen:
            raise Conflict(
                f"notifications.{index}: channel {parsed.channel_id} is listed twice; give it one list of events.",
                field=f"notifications.{index}.channel_id",
            )
        seen.add(parsed.channel_id)
        result.append({"channel_id": parsed.channel_id, "on": sorted({e.value for e in parsed.on})})
    return result
