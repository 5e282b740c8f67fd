"""Secrets at rest: Fernet encryption of every stored secret value, and where its keys live.

A stolen database file alone must reveal no secret, so the keys are never in the database. They
come from ``SCRIPTMAN_SECRETS_KEY`` (one or more Fernet keys, comma-separated) or else from
``data/secrets.key`` (one key a line), created on the first encryption with mode 0600. Several
keys make rotation possible: the first encrypts, every one decrypts (``MultiFernet``).

Each app owns one ``SecretBox`` (``app.extensions["scriptman.secretbox"]``, set by ``init_app``
in ``create_app``). The column types in ``backend/models/encrypted.py`` reach it through
``flask.current_app``: every database access in Scriptman already happens inside an app context
(requests, executor and scheduler threads, the CLI, migrations), and one process may hold several
apps with different homes and so different keys (the tests do), which rules out one global key.

The key file is re-read when it changes on disk (checked with one ``stat`` per use), so a running
server follows ``scriptman rotate-secrets-key`` without a restart.

Stored shapes (``backend/models/encrypted.py`` writes them, migration 0005 and rotation too):
a whole JSON value (a run's secret values, a schedule's params) is one token stored as a JSON
string; a secret parameter's default inside a definition list becomes ``{"encrypted": token}``.
Neither can be mistaken for a plain value: those columns hold objects, a secret default a string.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from backend.errors import ProblemError

if TYPE_CHECKING:
    from flask import Flask

    from backend.config import Settings

KEYS_FILE = "secrets.key"
EXTENSION = "scriptman.secretbox"
ENV_NAME = "SCRIPTMAN_SECRETS_KEY"
SEALED = "encrypted"  # a sealed secret default: {"encrypted": "<fernet token>"}
KEYS_FILE_HEADER = (
    "# Scriptman secrets keys (Fernet), one a line: the first encrypts, every one decrypts.\n"
    "# Back this file up apart from the database: without it no stored secret can be read.\n"
)


class SecretsKeyError(ProblemError):
    """The configured key(s) cannot open what is stored: say so plainly, never hand back garbage."""

    status = 500
    title = "Secrets key problem"


def generate_key() -> str:
    return Fernet.generate_key().decode("ascii")


def parse_keys(text: str, source: str) -> list[str]:
    """Keys from the environment (comma-separated) or the key file (one a line, ``#`` comments)."""
    keys: list[str] = []
    for line in text.splitlines():
        if line.strip().startswith("#"):
            continue
        keys.extend(part.strip() for part in line.split(",") if part.strip())
    for number, key in enumerate(keys, start=1):
        try:
            Fernet(key)
        except (ValueError, TypeError):
            raise SecretsKeyError(
                f"{source}: key {number} is not a Fernet key (32 url-safe base64-encoded bytes, "
                "e.g. from `python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'`)"
            ) from None
    return keys


OPENED_LIMIT = 10_000  # tokens remembered opened per process


class SecretBox:
    """Encrypts and decrypts stored secrets with the install's keys, wherever they are kept."""

    def __init__(self, *, keys: Sequence[str] = (), path: Path | None = None) -> None:
        if bool(keys) == (path is not None):
            raise ValueError("give either fixed keys or a key file path")
        self.path = path
        self._lock = threading.Lock()
        self._keys: list[str] = list(keys)
        self._fernet: MultiFernet | None = _multi(self._keys) if keys else None
        self._primary: Fernet | None = Fernet(self._keys[0]) if keys else None
        self._signature: tuple[int, int, int] | None = None
        # token -> plaintext, for the keys it was opened with: a list of 50 schedules opened 50 tokens
        # per request (~2.3 ms of Fernet). The key is in this process's memory anyway, so what it opens
        # may be too; a new key set (rotation, a replaced file) starts afresh.
        self._opened: dict[str, bytes] = {}
        self._opened_with: MultiFernet | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> SecretBox:
        if settings.secrets_key and settings.secrets_key.strip():
            return cls(keys=parse_keys(settings.secrets_key, ENV_NAME))
        return cls(path=settings.data_dir / KEYS_FILE)

    @property
    def from_environment(self) -> bool:
        return self.path is None

    @property
    def source(self) -> str:
        return ENV_NAME if self.path is None else str(self.path)

    def keys(self) -> list[str]:
        """The current keys, newest (encrypting) first; empty when the key file does not exist yet."""
        if self.path is not None and not self.path.exists():
            return []
        self._current(create=False)
        return list(self._keys)

    def encrypt(self, plain: bytes) -> str:
        return self._current(create=True).encrypt(plain).decode("ascii")

    def decrypt(self, token: str) -> bytes:
        fernet = self._current(create=False)
        if fernet is not self._opened_with:
            self._opened, self._opened_with = {}, fernet
        opened = self._opened
        plain = opened.get(token)
        if plain is not None:
            return plain
        try:
            plain = fernet.decrypt(token.encode("ascii"))
        except (InvalidToken, UnicodeEncodeError):
            raise self._wrong_key() from None
        if len(opened) >= OPENED_LIMIT:
            opened.clear()
        opened[token] = plain
        return plain

    def encrypt_json(self, value: Any) -> str:
        return self.encrypt(json.dumps(value, separators=(",", ":")).encode("utf-8"))

    def decrypt_json(self, token: str) -> Any:
        return json.loads(self.decrypt(token))

    def rotate(self, token: str) -> str:
        """The same secret under the first key (Fernet keeps its timestamp)."""
        fernet = self._current(create=True)
        try:
            return fernet.rotate(token.encode("ascii")).decode("ascii")
        except (InvalidToken, UnicodeEncodeError):
            raise self._wrong_key() from None

    def primary_opens(self, token: str) -> bool:
        """Whether the first key alone decrypts ``token``: rotation skips what is already done."""
        if self.path is not None and not self.path.exists():
            return False
        self._current(create=False)
        assert self._primary is not None
        try:
            self._primary.decrypt(token.encode("ascii"))
        except (InvalidToken, UnicodeEncodeError):
            return False
        return True

    def write_keys(self, keys: Sequence[str]) -> None:
        """Replace the key file atomically (a reader sees the old or the new file, never half of one)."""
        if self.path is None:
            raise SecretsKeyError(f"the keys come from {ENV_NAME}; Scriptman cannot rewrite the environment")
        parse_keys(",".join(keys), "new keys")
        body = KEYS_FILE_HEADER + "".join(f"{key}\n" for key in keys)
        _atomic_write(self.path, body)
        with self._lock:
            self._signature = None  # re-read on the next use, even if the stat looks alike

    def _current(self, *, create: bool) -> MultiFernet:
        if self.path is None:
            assert self._fernet is not None
            return self._fernet
        with self._lock:
            try:
                stat = os.stat(self.path)
            except FileNotFoundError:
                if not create:
                    raise SecretsKeyError(
                        f"stored secrets cannot be decrypted: the key file {self.path} does not exist. "
                        f"Restore it from your backup (or set {ENV_NAME} to the key)."
                    ) from None
                _create_key_file(self.path)
                stat = os.stat(self.path)
            signature = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
            if signature != self._signature or self._fernet is None:
                keys = parse_keys(self.path.read_text(), str(self.path))
                if not keys:
                    raise SecretsKeyError(f"the key file {self.path} holds no key")
                self._keys, self._fernet, self._signature = keys, _multi(keys), signature
                self._primary = Fernet(keys[0])
            return self._fernet

    def _wrong_key(self) -> SecretsKeyError:
        return SecretsKeyError(
            f"a stored secret cannot be decrypted with the key(s) from {self.source}: the key is wrong, or "
            "the key that encrypted it is missing. Restore the key from your backup "
            f"(data/{KEYS_FILE} or {ENV_NAME}); a new key cannot open old secrets."
        )


def _multi(keys: Sequence[str]) -> MultiFernet:
    return MultiFernet([Fernet(key) for key in keys])


def _create_key_file(path: Path) -> None:
    """A new key, created once with O_EXCL and 0600 (like the session key); a racing creator wins."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    with os.fdopen(fd, "w") as handle:
        handle.write(KEYS_FILE_HEADER + generate_key() + "\n")
        handle.flush()
        os.fsync(handle.fileno())


def _atomic_write(path: Path, body: str) -> None:
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(body)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    directory = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def is_sealed_default(value: Any) -> bool:
    return isinstance(value, dict) and set(value) == {SEALED} and isinstance(value[SEALED], str)


def map_secret_defaults(
    definitions: list[dict[str, Any]] | None, change: Callable[[Any], Any]
) -> list[dict[str, Any]] | None:
    """A copy of ``definitions`` with ``change`` applied to every secret parameter's default."""
    if definitions is None:
        return None
    return [
        {**item, "default": change(item["default"])}
        if isinstance(item, dict) and item.get("type") == "secret" and item.get("default") is not None
        else item
        for item in definitions
    ]


def seal_default(box: SecretBox, value: Any) -> Any:
    return value if is_sealed_default(value) else {SEALED: box.encrypt_json(value)}


def open_default(box: SecretBox, value: Any) -> Any:
    return box.decrypt_json(value[SEALED]) if is_sealed_default(value) else value


def init_app(app: Flask, settings: Settings) -> SecretBox:
    """Give ``app`` its box; the key file itself is made on the first encryption."""
    box = SecretBox.from_settings(settings)
    app.extensions[EXTENSION] = box
    return box


def current_box() -> SecretBox:
    """The box of the active app; encrypted columns are only read or written inside an app context."""
    from flask import current_app

    try:
        return current_app.extensions[EXTENSION]  # type: ignore[no-any-return]
    except RuntimeError:
        raise RuntimeError("encrypted columns need an app context (flask.current_app) to find the key") from None
    except KeyError:
        raise RuntimeError("this app has no secrets box: create it with backend.app.create_app") from None
