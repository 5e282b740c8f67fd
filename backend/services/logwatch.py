"""Wake a run's log followers the moment its log file grows (inotify), instead of a 100 ms poll.

One inotify instance and one reader thread serve the whole process: a watch per followed log file,
shared by every stream of that run, so 500 browsers on one run cost one watch (a per-stream inotify
instance would hit ``max_user_instances``, 128 by default). Where inotify is missing (not Linux, no
``inotify_simple``) or refuses (too many instances or watches), ``watch`` says so and the caller
keeps polling the file as before: slower, never wrong.

Its wake-ups stay in this process (``runstatus.poke``): every process's inotify sees the same file.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from backend.services import runstatus

try:  # Linux only; the poll is the fallback elsewhere
    from inotify_simple import INotify, flags
except (ImportError, OSError):  # pragma: no cover - depends on the platform
    INotify = None  # type: ignore[assignment,misc]
    flags = None  # type: ignore[assignment]

log = logging.getLogger(__name__)


class LogWatcher:
    """The process's inotify instance: watch descriptors → the runs whose log they watch."""

    def __init__(self) -> None:
        if INotify is None or flags is None:
            raise OSError("inotify is not available")
        self._inotify = INotify()
        self._grew = int(flags.MODIFY)
        # the file unlinked, moved or gone: the run was probably deleted, let the follower look
        self._mask = int(flags.MODIFY | flags.ATTRIB | flags.DELETE_SELF | flags.MOVE_SELF)
        self._created = int(flags.CREATE | flags.MOVED_TO)
        self._overflow = int(flags.Q_OVERFLOW)
        self._lock = threading.Lock()
        # (wd, "") for a watched file, (wd of its folder, name) for one awaited → {execution id: followers}
        self._runs: dict[tuple[int, str], dict[int, int]] = {}
        self.pid = os.getpid()
        threading.Thread(target=self._loop, name="scriptman-logwatch", daemon=True).start()

    def add(self, path: str, execution_id: int) -> tuple[int, str]:
        """Watch the file; or, while it does not exist yet (a queued run), its folder for its creation."""
        with self._lock:  # add and remove under one lock: a watch is never removed under a new follower
            try:
                key = (int(self._inotify.add_watch(path, self._mask)), "")
            except FileNotFoundError:
                folder, name = os.path.split(path)
                key = (int(self._inotify.add_watch(folder, self._created)), name)
            runs = self._runs.setdefault(key, {})
            runs[execution_id] = runs.get(execution_id, 0) + 1
            return key

    def remove(self, key: tuple[int, str], execution_id: int) -> None:
        with self._lock:
            runs = self._runs.get(key, {})
            runs[execution_id] = runs.get(execution_id, 1) - 1
            if runs[execution_id] <= 0:
                runs.pop(execution_id)
            if not runs:
                self._runs.pop(key, None)
                if not any(wd == key[0] for wd, _ in self._runs):  # a folder's watch serves many names
                    with contextlib.suppress(OSError):  # the kernel dropped it already (file deleted)
                        self._inotify.rm_watch(key[0])

    def _loop(self) -> None:
        while True:
            try:
                for event in self._inotify.read():
                    with self._lock:
                        if event.mask & self._overflow:  # events were lost: wake everyone to re-read
                            runs = list({run for followers in self._runs.values() for run in followers})
                        else:
                            runs = list(self._runs.get((event.wd, event.name), ()))
                    for execution_id in runs:
                        runstatus.poke(execution_id, status=not event.mask & self._grew)
            except Exception:  # never let the thread die silently: followers would fall back to timeouts
                log.exception("the log watcher failed; followers fall back to polling")
                return


_lock = threading.Lock()
_watcher: LogWatcher | None = None
_failed = False


def _shared() -> LogWatcher | None:
    """The process's watcher, made on first use (and again in a forked worker)."""
    global _watcher, _failed
    with _lock:
        if _watcher is not None and _watcher.pid == os.getpid():
            return _watcher
        if _failed:
            return None
        try:
            _watcher = LogWatcher()
        except OSError as error:
            _failed = True
            log.warning("inotify unavailable (%s): log streams poll the file instead", error)
            return None
        return _watcher


def reset() -> None:
    """Forget the watcher and any failure (tests; the old thread keeps serving its own watches)."""
    global _watcher, _failed
    with _lock:
        _watcher, _failed = None, False


def start(path: str, execution_id: int) -> tuple[Callable[[], None], bool] | None:
    """Announce ``execution_id`` (``runstatus``) on every write to ``path`` (or, while it does not
    exist, on its creation) until the returned function is called; None when it cannot be watched
    (no inotify, too many watches, no folder): the caller must then poll. The flag says whether the
    file itself is watched (False: only its creation is awaited)."""
    watcher = _shared()
    if watcher is None:
        return None
    try:
        key = watcher.add(path, execution_id)
    except OSError as error:
        log.debug("cannot watch %s (%s): polling it", path, error)
        return None
    return (lambda: watcher.remove(key, execution_id)), key[1] == ""


@contextmanager
def watch(path: str, execution_id: int) -> Iterator[bool]:
    """``start`` for a ``with`` block: yields whether the file (or its creation) is watched."""
    started = start(path, execution_id)
    try:
        yield started is not None
    finally:
        if started is not None:
            started[0]()
