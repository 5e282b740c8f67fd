"""Scriptman: a self-hosted script manager."""

from __future__ import annotations

__version__ = "0.1.0"


def create_app(*args, **kwargs):  # type: ignore[no-untyped-def]
    """Import lazily so ``backend.sdk`` and the run supervisor stay free of Flask."""
    from backend.app import create_app as factory

    return factory(*args, **kwargs)
