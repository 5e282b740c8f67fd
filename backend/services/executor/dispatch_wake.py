"""One dispatcher among several web processes (``SCRIPTMAN_WEB_PROCESSES`` > 1), woken from any of them.

Every gunicorn worker serves HTTP and may queue a run, but only one may claim and supervise runs:
the pool size (``SCRIPTMAN_MAX_CONCURRENCY``) is a machine-wide promise, and one process re-attaching
to runs after a crash is simpler than several racing to. The claim's conditional UPDATE already
keeps a run single; the lock keeps the *capacity* single.

- **Election**: an exclusive ``flock`` on ``data/executor.lock`` (``FileLeaderLock``, as the
  scheduler's). The kernel drops it when the holder dies, even on ``kill -9``; standbys retry every
  ``TAKEOVER_POLL_SECONDS``, and the one that wins runs ``recover()`` first, so the dead leader's
  runs (their supervisors live in their own session) are re-attached, and then dispatches whatever
  was queued meanwhile.
- **Wake**: the leader binds ``data/processes/executor.sock``; ``LocalExecutor.notify()`` in any
  other process sends it one datagram (``crossproc.send``), so a run submitted anywhere is claimed at
  once. In the leader itself ``notify()`` stays an in-process condition. The API calls ``notify()``
  as before and never knows which process leads. A wake sent while nobody leads is lost on purpose:
  the next leader's first pass finds the queued rows.

The executor leader and the scheduler leader are elected separately and may or may not be the same
process: the scheduler can be disabled and stands by on a slower retry, it queues runs through the
same ``notify()`` (so it needs no co-location), and two locks let the two jobs land on different
workers when they can.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

from backend.services import crossproc
from backend.services.scheduler.locking import FileLeaderLock, LeaderLock

if TYPE_CHECKING:
    from backend.config import Settings
    from backend.services.executor.local import LocalExecutor

log = logging.getLogger(__name__)

LOCK_FILE = "executor.lock"
SOCKET_FILE = "executor.sock"
TAKEOVER_POLL_SECONDS = 0.25
WAKE = b"w"


class ExecutorLeadership:
    """Starts ``executor`` in this process once it holds the lock; until then forwards its wakes."""

    def __init__(self, executor: LocalExecutor, settings: Settings, lock: LeaderLock | None = None) -> None:
        self.executor = executor
        self.settings = settings
        self.lock: LeaderLock = lock or FileLeaderLock(settings.data_dir / LOCK_FILE)
        self.path = settings.data_dir / crossproc.FOLDER / SOCKET_FILE
        self.inbox: crossproc.Inbox | None = None
        self.leading = False
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._standby, name="scriptman-dispatch-standby", daemon=True)

    def start(self) -> None:
        crossproc.folder(self.settings.data_dir)
        self.executor.forward = self._wake_leader
        if not self._try_lead():
            self.thread.start()

    def stop(self) -> None:
        self.stopping.set()
        if self.thread.is_alive():
            self.thread.join(timeout=TAKEOVER_POLL_SECONDS * 4 + 5)
        self.executor.forward = None
        self.executor.stop()  # a no-op beyond its flags when this process never led
        if self.inbox is not None:
            self.inbox.close()  # before the lock goes: the next leader binds the path afresh
            self.inbox = None
        self.leading = False
        self.lock.release()

    # -- internals ---------------------------------------------------------------------------------------
    def _wake_leader(self) -> None:
        crossproc.send(self.path, WAKE)

    def _standby(self) -> None:
        while not self.stopping.wait(TAKEOVER_POLL_SECONDS):
            try:
                if self._try_lead():
                    return
            except Exception:
                log.exception("taking the dispatcher over failed; retrying")

    def _try_lead(self) -> bool:
        if self.stopping.is_set() or not self.lock.try_acquire():
            return False
        log.info("this process now dispatches runs")
        self.executor.forward = None  # from here on notify() wakes the local dispatcher
        inbox = crossproc.Inbox(self.path, lambda _message: self.executor.notify(), "scriptman-dispatch-wake")
        try:
            inbox.open()  # before the first pass: a run queued from now on also sends a wake
            self.inbox = inbox
        except OSError as error:
            log.warning("cannot open %s (%s): runs queued by other processes wait for the next pass", self.path, error)
        self.executor.start()  # recover() first: re-attach to the runs of a leader that died
        self.executor.notify()  # and a first pass now, for the runs queued while nobody led
        self.leading = True
        return True
