"""Column types that encrypt secrets on the way into the database and decrypt them on the way out.

Encryption sits at this storage boundary so that services, validation, the API and the runner keep
working with plain values and never need to know. The key comes from the active app's
``SecretBox`` (see ``backend/services/secretbox.py`` for why through ``flask.current_app``).
Both types stay JSON underneath, so the schema is unchanged and a row written before migration
0005 (a plain object, a plain default) still reads; the migration encrypts those rows.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

from backend.secretbox import current_box, map_secret_defaults, open_default, seal_default


class EncryptedJSON(TypeDecorator[Any]):
    """A whole JSON value stored as one Fernet token (a JSON string)."""

    impl = JSON
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        return current_box().encrypt_json(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:
        if not isinstance(value, str):  # NULL, or a plain object from before migration 0005
            return value
        return current_box().decrypt_json(value)


class ParameterDefinitions(TypeDecorator[Any]):
    """A list of parameter definitions whose secret defaults are stored as ``{"encrypted": token}``.

    Only the defaults of ``secret`` parameters are sealed: names, types and descriptions stay
    readable, which is all an operator needs when looking at the database.
    """

    impl = JSON
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if not isinstance(value, list):
            return value
        return map_secret_defaults(value, lambda default: seal_default(current_box(), default))

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:
        if not isinstance(value, list):
            return value
        return map_secret_defaults(value, lambda default: open_default(current_box(), default))
