"""Scriptman: a self-hosted script manager."""

from __future__ import annotations

__version__ = "0.1.0"
