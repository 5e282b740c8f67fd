"""A run's workspace files: list, open safely, zip as a stream, and save uploads.

Every path a user names goes through ``workspace.safe_join``; files are opened with
``O_NOFOLLOW`` and checked to be regular files after opening, so a symlink, FIFO or device a
script planted can neither redirect a download nor block the request.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

import zipstream

from backend.config import Settings
from backend.errors import BadRequest, NotFound, PayloadTooLarge
from backend.services.executor import workspace

MAX_LISTED_ENTRIES = 10_000
READ_CHUNK_BYTES = 256 * 1024
RESERVED_NAMES = frozenset(workspace.SCRIPT_FILES.values()) | {workspace.CONTROL_DIR}


@dataclass(frozen=True)
class Entry:
    path: str
    size: int
    modified: datetime
    is_dir: bool
    is_symlink: bool

    def as_dict(self) -> dict[str, object]:
        return {
            "path": self.path,
            "size": self.size,
            "modified": self.modified.isoformat(),
            "is_dir": self.is_dir,
            "is_symlink": self.is_symlink,
        }


def list_tree(root: Path) -> list[Entry]:
    """Every entry below ``root`` (symlinks listed, never followed; the control folder hidden)."""
    entries: list[Entry] = []
    if not root.is_dir():
        return entries
    stack = [(root, "")]
    while stack and len(entries) < MAX_LISTED_ENTRIES:
        folder, prefix = stack.pop()
        try:
            children = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError:
            continue
        for child in children:
            if not prefix and child.name == workspace.CONTROL_DIR:
                continue
            info = child.stat(follow_symlinks=False)
            relative = f"{prefix}{child.name}"
            is_dir = stat.S_ISDIR(info.st_mode)
            entries.append(
                Entry(
                    path=relative,
                    size=0 if is_dir else info.st_size,
                    modified=datetime.fromtimestamp(info.st_mtime, UTC),
                    is_dir=is_dir,
                    is_symlink=stat.S_ISLNK(info.st_mode),
                )
            )
            if is_dir:
                stack.append((Path(child.path), relative + "/"))
    entries.sort(key=lambda e: e.path)
    return entries


def open_regular(root: Path, relative: str) -> tuple[BinaryIO, os.stat_result]:
    """Open a regular file inside ``root`` for reading, refusing links, FIFOs and devices."""
    target = workspace.safe_join(root, relative)
    try:
        fd = os.open(target, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as error:
        raise BadRequest(f"Cannot open {relative!r}: {error.strerror}.", field="path") from None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        if stat.S_ISDIR(info.st_mode):
            raise BadRequest(f"{relative!r} is a folder; download the archive instead.", field="path")
        raise BadRequest(f"{relative!r} is not a regular file.", field="path")
    os.set_blocking(fd, True)
    return os.fdopen(fd, "rb"), info


def _chunks(root: Path, relative: str) -> Iterator[bytes]:
    try:
        handle, _ = open_regular(root, relative)
    except (BadRequest, NotFound):
        return  # the file changed since it was listed: an empty entry, never a foreign one
    with handle:
        while chunk := handle.read(READ_CHUNK_BYTES):
            yield chunk


def zip_stream(root: Path, folder_name: str) -> zipstream.ZipStream:
    """A zip of the workspace produced while it is sent, never built in memory."""
    archive = zipstream.ZipStream(compress_type=zipstream.ZIP_DEFLATED, compress_level=6)
    for entry in list_tree(root):
        if entry.is_symlink:
            continue
        name = f"{folder_name}/{entry.path}"
        if entry.is_dir:
            archive.add(None, name + "/")
        else:
            archive.add(_chunks(root, entry.path), name)
    return archive


# -- uploads --------------------------------------------------------------------------------------


class Staging:
    """Uploads land in a private staging folder first, then move into the workspace in one rename."""

    def __init__(self, settings: Settings, max_bytes: int) -> None:
        self.dir = settings.data_dir / "uploads" / uuid.uuid4().hex
        self.max_bytes = max_bytes
        self.total = 0
        self.names: list[str] = []

    def save(self, filename: str, stream: BinaryIO) -> str:
        name = workspace.sanitize_filename(filename)
        if name in RESERVED_NAMES:
            raise BadRequest(f"{name!r} is reserved for the script itself; rename the file.", field="files")
        name = self._unique(name)
        self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(self.dir / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
        with os.fdopen(fd, "wb") as out:
            while chunk := stream.read(READ_CHUNK_BYTES):
                self.total += len(chunk)
                if self.total > self.max_bytes:
                    raise PayloadTooLarge(f"Uploads may total at most {self.max_bytes} bytes.", field="files")
                out.write(chunk)
        self.names.append(name)
        return name

    def _unique(self, name: str) -> str:
        stem, dot, suffix = name.rpartition(".")
        if not dot or not stem:
            stem, suffix, dot = name, "", ""
        candidate, counter = name, 1
        while candidate in self.names:
            candidate = f"{stem}_{counter}{dot}{suffix}"
            counter += 1
        return candidate

    def move_into(self, target: Path) -> None:
        if not self.names:
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.exists():  # a stale folder from a deleted database: never mix it with this run
            shutil.rmtree(target)
        os.rename(self.dir, target)

    def discard(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)
        with contextlib.suppress(OSError):
            self.dir.parent.rmdir()
