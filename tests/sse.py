"""A tiny Server-Sent Events parser for tests."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any


@dataclass
class Event:
    event: str
    data: Any
    id: str | None


def parse(chunks: Iterable[bytes | str]) -> Iterator[Event]:
    buffer = ""
    for chunk in chunks:
        buffer += chunk.decode() if isinstance(chunk, bytes) else chunk
        while "\n\n" in buffer:
            block, buffer = buffer.split("\n\n", 1)
            fields: dict[str, str] = {}
            for line in block.split("\n"):
                if not line or line.startswith(":"):
                    continue
                key, _, value = line.partition(":")
                fields[key] = fields.get(key, "") + value.lstrip(" ") if key == "data" else value.lstrip(" ")
            if "event" in fields or "data" in fields:
                yield Event(fields.get("event", "message"), json.loads(fields.get("data", "null")), fields.get("id"))


def records_of(events: list[Event]) -> list[tuple[str, int]]:
    """(text, offset) of every log record the events carried, checking each event's id on the way:
    the offset after its last record (what a ``Last-Event-ID`` resume starts from)."""
    out: list[tuple[str, int]] = []
    for event in events:
        if event.event in ("log", "logs"):
            records = event.data if event.event == "logs" else [event.data]
            out.extend((r["text"], r["offset"]) for r in records)
            assert event.id is not None and int(event.id) > records[-1]["offset"]
    return out
