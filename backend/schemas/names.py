"""Rules for the names people give things (scripts, schedules, channels), shared by the request schemas."""

from __future__ import annotations

import re

CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f]")


def clean_name(value: str) -> str:
    """A name as stored: trimmed, not empty, without control characters (they break logs and lists)."""
    value = value.strip()
    if not value:
        raise ValueError("must not be empty")
    if CONTROL_CHARS.search(value):
        raise ValueError("must not contain control characters")
    return value
