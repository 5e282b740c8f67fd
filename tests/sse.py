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
