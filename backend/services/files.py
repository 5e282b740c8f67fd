"""A run's workspace files: list, open safely, zip as a stream, and save uploads.

The running script owns its workspace and may rename, swap or link anything in it while a request
is served, so nothing here checks a path and then opens it again by name: every read goes through
``beneath``, which opens one component at a time from the workspace folder's descriptor with
``O_NOFOLLOW`` (the folder itself too). Whatever a script does meanwhile, a request gets a file from
inside the workspace or a 4xx problem, never a byte from elsewhere and never a 500.

Policies:

- 400 for a malformed path (absolute, ``..``, NUL). 404 for anything that is not a regular file
  reachable without following a symlink: missing, a symlink anywhere on the way, a folder, a FIFO
  or device (opened with ``O_NONBLOCK`` and checked with ``fstat``, so they never block), or a
  name that vanished or changed type during a race.
- Hard links: a regular file with more than one link is refused (403) and left out of the zip,
  because a hard link can make a file from outside the workspace (``data/secret_key``, a file of
  another run) appear inside it, and nothing on the file says which of its names is the real one.
  The check is made on the opened descriptor. The listing still shows such files (names and sizes
  only), so users can see why a download is refused.
- The zip leaves out symlinks, FIFOs, devices and hard-linked files; a file that changed into one
  of those between listing and reading becomes an empty entry, never a foreign one.
"""

from __future__ import annotations

import contextlib
import errno
import itertools
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
from backend.errors import BadRequest, Forbidden, NotFound, PayloadTooLarge
from backend.services.executor import beneath, workspace

MAX_LISTED_ENTRIES = 10_000
READ_CHUNK_BYTES = 256 * 1024
RESERVED_NAMES = frozenset(workspace.SCRIPT_FILES.values()) | {workspace.CONTROL_DIR}
HIDDEN = frozenset({workspace.CONTROL_DIR})
# What a script can cause by racing or planting things: a 404, never a 500. Anything else (EMFILE,
# EIO…) is a fault of the server and stays a 500.
NOT_THERE_ERRNOS = frozenset(
    {errno.ENOENT, errno.ENOTDIR, errno.ELOOP, errno.EACCES, errno.EPERM, errno.ENXIO, errno.ENODEV,
     errno.ENAMETOOLONG, errno.EISDIR}
)  # fmt: skip


@dataclass(frozen=True)
class Entry:
    path: str
    size: int
    modified: datetime
    is_dir: bool
    is_symlink: bool

    @classmethod
    def from_stat(cls, relative: str, info: os.stat_result) -> Entry:
        is_dir = stat.S_ISDIR(info.st_mode)
        return cls(
            path=relative,
            size=0 if is_dir else info.st_size,
            modified=datetime.fromtimestamp(info.st_mtime, UTC),
            is_dir=is_dir,
            is_symlink=stat.S_ISLNK(info.st_mode),
        )


@contextlib.contextmanager
def _workspace_fd(root: Path) -> Iterator[int | None]:
    """The workspace folder's descriptor, or None when it is missing or was replaced by a link."""
    try:
        fd = beneath.open_root(root)
    except OSError:
        yield None
        return
    try:
        yield fd
    finally:
        os.close(fd)


def list_tree(root: Path) -> list[Entry]:
    """Every entry below ``root`` (symlinks listed, never followed; the control folder hidden).

    Never raises for what a script does meanwhile: an entry that vanishes is left out.
    """
    with _workspace_fd(root) as fd:
        if fd is None:
            return []
        with contextlib.closing(beneath.walk(fd, HIDDEN)) as found:
            entries = [Entry.from_stat(path, info) for path, info in itertools.islice(found, MAX_LISTED_ENTRIES)]
    entries.sort(key=lambda e: e.path)
    return entries


def open_regular(root: Path, relative: str) -> tuple[BinaryIO, os.stat_result]:
    """Open a regular file inside ``root`` for reading, refusing links, FIFOs, devices and hard links."""
    try:
        parts = beneath.split(relative)
    except beneath.MalformedPath as error:
        raise BadRequest(str(error), field="path") from None
    with _workspace_fd(root) as root_fd:
        if root_fd is None:
            raise NotFound(f"No file {relative!r} in this workspace.")
        try:
            fd = beneath.open_file(root_fd, parts)
        except OSError as error:
            raise _not_there(relative, error) from None
    try:
        info = _servable(fd, relative)
    except BaseException:
        os.close(fd)
        raise
    os.set_blocking(fd, True)
    return os.fdopen(fd, "rb"), info


def _not_there(relative: str, error: OSError) -> Exception:
    if error.errno == errno.ELOOP:
        return NotFound(f"{error.filename!r} is a symbolic link; Scriptman does not follow links.")
    if error.errno in (errno.ENOENT, errno.ENOTDIR):
        return NotFound(f"No file {relative!r} in this workspace.")
    if error.errno in NOT_THERE_ERRNOS:
        return NotFound(f"Cannot open {relative!r}: {error.strerror}.")
    return error


def _servable(fd: int, relative: str) -> os.stat_result:
    """The opened file's stat if Scriptman serves it; judged on the descriptor, not the name."""
    info = os.fstat(fd)
    if stat.S_ISDIR(info.st_mode):
        raise NotFound(f"{relative!r} is a folder; download the archive instead.")
    if not stat.S_ISREG(info.st_mode):
        raise NotFound(f"{relative!r} is not a regular file.")
    if info.st_nlink > 1:
        raise Forbidden(f"{relative!r} has other hard links; Scriptman serves only files that exist once.")
    return info


def _chunks(root_fd: int, relative: str) -> Iterator[bytes]:
    """A zip entry's content, opened only when the zip reaches it; empty if it is no longer servable."""
    try:
        fd = beneath.open_file(root_fd, relative.split("/"))  # listed names: no "/" or ".." inside
    except OSError:
        return
    with os.fdopen(fd, "rb") as handle:
        try:
            _servable(fd, relative)
        except (NotFound, Forbidden):
            return  # changed since it was listed: an empty entry, never a foreign one
        os.set_blocking(fd, True)
        while chunk := handle.read(READ_CHUNK_BYTES):
            yield chunk


def zip_stream(root: Path, folder_name: str) -> Iterator[bytes]:
    """A zip of the workspace produced while it is sent, never built in memory.

    A generator: the workspace is opened on the first chunk and its descriptor closed when the
    zip ends or the client goes away, so an unsent response holds nothing open.
    """
    with _workspace_fd(root) as fd:
        archive = zipstream.ZipStream(compress_type=zipstream.ZIP_DEFLATED, compress_level=6)
        if fd is not None:
            with contextlib.closing(beneath.walk(fd, HIDDEN)) as found:
                for relative, info in itertools.islice(found, MAX_LISTED_ENTRIES):
                    _add(archive, fd, _zip_name(f"{folder_name}/{relative}"), relative, info)
        yield from archive


def _zip_name(name: str) -> str:
    """Zip names are UTF-8: bytes that are not (kept by Python as surrogates) become '?'."""
    return name.encode("utf-8", "replace").decode("utf-8")


def _add(archive: zipstream.ZipStream, root_fd: int, name: str, relative: str, info: os.stat_result) -> None:
    if stat.S_ISDIR(info.st_mode):
        archive.add(None, name + "/")
    elif stat.S_ISREG(info.st_mode) and info.st_nlink == 1:
        archive.add(_chunks(root_fd, relative), name)


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
