"""Open paths strictly beneath a directory file descriptor, one component at a time.

Why: a running script owns its workspace and can swap any folder in it for a symlink (to ``/etc``,
to Scriptman's ``data/``) at any moment. Checking a path (``lstat``, ``realpath``) and then opening
it again by name lets the swap land in between, so the server would read files from outside the
workspace. Here every component is opened relative to the file descriptor of its parent with
``O_NOFOLLOW``: the kernel refuses a symlink at the moment of opening, and once a folder is open its
descriptor keeps pointing at that folder however the names around it are renamed afterwards. There
is no second lookup by name, so there is nothing to race.

``openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS)`` would do the same walk in one system call, but it
has no ``os`` wrapper and can be refused by seccomp filters; the walk is a handful of ``openat``
calls and works on every Linux. Errors are plain ``OSError`` (``ELOOP`` when a symlink was in the
way), and malformed paths raise :class:`MalformedPath`, so callers choose their own responses.
Standard library only.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Collection, Iterator
from pathlib import Path

DIR_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_DIRECTORY | os.O_CLOEXEC
# O_NONBLOCK: opening a FIFO or a device must never wait for a writer; callers check S_ISREG.
FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
# Folders deeper than this are listed but not entered: the walk holds one descriptor per level.
MAX_DEPTH = 64


class MalformedPath(ValueError):
    """The relative path itself is unacceptable (absolute, ``..``, NUL), whatever is on disk."""


def split(relative: str) -> list[str]:
    """The components of a user-supplied relative path; ``\\`` counts as ``/``, ``.`` is dropped."""
    if "\x00" in relative or relative.startswith(("/", "\\")):
        raise MalformedPath("Path must be relative to the workspace.")
    parts = [p for p in relative.replace("\\", "/").split("/") if p not in ("", ".")]
    if ".." in parts:
        raise MalformedPath("Path must not contain '..'.")
    return parts


def open_root(path: Path | str) -> int:
    """A descriptor of the folder ``path`` itself, refusing it if it is (now) a symlink.

    Only the last component is protected: the folders above it belong to the server, but a run
    without sandbox could replace its own workspace folder with a link.
    """
    return os.open(path, DIR_FLAGS)


def open_dir(fd: int, parts: list[str]) -> int:
    """A new descriptor of the folder ``parts`` below ``fd`` (``fd`` itself is left open)."""
    current = os.dup(fd)
    prefix: list[str] = []
    try:
        for part in parts:
            prefix.append(part)
            parent, current = current, _open_component(current, part, DIR_FLAGS, prefix)
            os.close(parent)
    except BaseException:
        os.close(current)
        raise
    return current


def open_file(fd: int, parts: list[str]) -> int:
    """A descriptor of whatever non-symlink ``parts`` names below ``fd``; check its type with fstat."""
    if not parts:
        return os.open(".", FILE_FLAGS, dir_fd=fd)
    folder = open_dir(fd, parts[:-1])
    try:
        return _open_component(folder, parts[-1], FILE_FLAGS, parts)
    finally:
        os.close(folder)


def _open_component(fd: int, name: str, flags: int, prefix: list[str]) -> int:
    try:
        return os.open(name, flags, dir_fd=fd)
    except OSError as error:
        shown = "/".join(prefix)
        if error.errno in (errno.ELOOP, errno.ENOTDIR) and _is_symlink(fd, name):
            raise OSError(errno.ELOOP, "Is a symbolic link", shown) from None
        raise OSError(error.errno, error.strerror, shown) from None


def _is_symlink(fd: int, name: str) -> bool:
    """Only picks the error message: the open already failed, so nothing is read through it."""
    try:
        return stat.S_ISLNK(os.stat(name, dir_fd=fd, follow_symlinks=False).st_mode)
    except OSError:
        return False


def listdir(fd: int) -> Iterator[tuple[str, os.stat_result]]:
    """(name, lstat) of each entry of the folder ``fd``, sorted; entries that vanish are skipped."""
    try:
        names = sorted(os.listdir(fd))
    except OSError:
        return
    for name in names:
        try:
            info = os.stat(name, dir_fd=fd, follow_symlinks=False)
        except OSError:
            continue
        yield name, info


def walk(fd: int, hidden: Collection[str] = ()) -> Iterator[tuple[str, os.stat_result]]:
    """(relative path, lstat) of every entry below ``fd``, depth first, parents before children.

    Folders are entered only through descriptors opened with ``O_NOFOLLOW`` from their parent's
    descriptor, and only if the opened folder is the one that was listed (same device and inode),
    so a folder swapped for a link or another folder meanwhile is listed but not entered. Names in
    ``hidden`` are skipped at the top level. Close the generator to release its descriptors early.
    """
    frames: list[tuple[int, str, Iterator[tuple[str, os.stat_result]]]] = [(fd, "", listdir(fd))]
    try:
        while frames:
            folder, prefix, children = frames[-1]
            child = next(children, None)
            if child is None:
                frames.pop()
                if folder != fd:
                    os.close(folder)
                continue
            name, info = child
            if not prefix and name in hidden:
                continue
            relative = prefix + name
            yield relative, info
            if stat.S_ISDIR(info.st_mode) and len(frames) <= MAX_DEPTH:
                entered = _enter(folder, name, info)
                if entered is not None:
                    frames.append((entered, relative + "/", listdir(entered)))
    finally:
        for folder, _, _ in frames:
            if folder != fd:
                os.close(folder)


def _enter(fd: int, name: str, listed: os.stat_result) -> int | None:
    try:
        entered = os.open(name, DIR_FLAGS, dir_fd=fd)
    except OSError:
        return None
    opened = os.fstat(entered)
    if (opened.st_dev, opened.st_ino) != (listed.st_dev, listed.st_ino):
        os.close(entered)
        return None
    return entered
