"""A run's processes without a cgroup: its process group, its descendants, and its cookie.

The fallback when no cgroup can be made. The supervisor makes itself a child subreaper, so a
double-forked or ``setsid`` process is re-parented to it instead of to init and stays findable
as a descendant while the supervisor lives; processes that left the group are also found by the
``SCRIPTMAN_RUN_COOKIE`` in their environment. What this cannot catch: a process that both
cleared its environment (``env -i``) and outlived the supervisor. Standard library only.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from typing import NamedTuple

PR_SET_CHILD_SUBREAPER = 36
PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
KILL_ROUNDS_SECONDS = 1.0
POLL_SECONDS = 0.01


def become_subreaper() -> bool:
    """Orphaned descendants are re-parented to the caller instead of init (Linux ≥ 3.4)."""
    import ctypes  # only on this fallback path: the supervisor's start-up cost is every run's

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


# NamedTuple, not a dataclass: the supervisor imports this module, and `dataclasses` (inspect, ast, …)
# added ~18 ms to every run's start.
class Proc(NamedTuple):
    pid: int
    ppid: int
    pgid: int
    state: str
    rss_kb: int
    cpu_ticks: int  # own and waited-for children's user + system time


def snapshot() -> dict[int, Proc]:
    """Every process visible in /proc, read from ``/proc/<pid>/stat``."""
    table: dict[int, Proc] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as handle:
                fields = handle.read().rsplit(b")", 1)[1].split()
            # after the command: state ppid pgrp session tty tpgid flags minflt cminflt majflt
            # cmajflt utime stime cutime cstime ... rss is field 24 (index 21 here)
            ticks = sum(int(v) for v in fields[11:15])
            table[int(entry)] = Proc(
                int(entry), int(fields[1]), int(fields[2]), fields[0].decode(), int(fields[21]) * PAGE_KB, ticks
            )
        except (OSError, IndexError, ValueError):
            continue
    return table


def has_cookie(pid: int, cookie: str) -> bool:
    marker = f"SCRIPTMAN_RUN_COOKIE={cookie}".encode()
    try:
        with open(f"/proc/{pid}/environ", "rb") as handle:
            return marker in handle.read().split(b"\0")
    except OSError:
        return False


def members(
    pgid: int, cookie: str | None, ancestor: int | None = None, table: dict[int, Proc] | None = None
) -> set[int]:
    """The run's live processes: its group, descendants of ``ancestor``, and cookie carriers."""
    table = snapshot() if table is None else table
    me = os.getpid()
    found = {p.pid for p in table.values() if p.pgid == pgid and p.state != "Z"}
    if ancestor is not None:
        children: dict[int, list[int]] = {}
        for proc in table.values():
            children.setdefault(proc.ppid, []).append(proc.pid)
        stack = list(children.get(ancestor, []))
        while stack:
            pid = stack.pop()
            if table[pid].state != "Z":
                found.add(pid)
            stack.extend(children.get(pid, []))
    if cookie:
        found |= {p.pid for p in table.values() if p.state != "Z" and p.pid not in found and has_cookie(p.pid, cookie)}
    found.discard(me)
    return found


def signal_all(pids: set[int], sig: int) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)


def kill_all(pgid: int, cookie: str | None, ancestor: int | None = None, keep: int | None = None) -> bool:
    """Stop, then SIGKILL every member, in rounds until none is left; True when none is."""
    deadline = time.monotonic() + KILL_ROUNDS_SECONDS
    while True:
        found = members(pgid, cookie, ancestor)
        if not found:
            return True
        signal_all(found, signal.SIGSTOP)  # nobody forks while the rest is being found
        found |= members(pgid, cookie, ancestor)
        signal_all(found, signal.SIGKILL)
        reap(found - {keep} if keep else found)
        if time.monotonic() >= deadline:
            return not members(pgid, cookie, ancestor)
        time.sleep(POLL_SECONDS)


def reap(pids: set[int]) -> None:
    """Collect the zombies of killed processes that were re-parented to us (never the main child)."""
    for pid in pids:
        with contextlib.suppress(ChildProcessError, OSError):
            os.waitpid(pid, os.WNOHANG)


def group_usage(pgid: int, ancestor: int | None) -> tuple[int, int]:
    """(RSS in KiB, CPU ms) summed over the run's live processes, for sampling without a cgroup."""
    table = snapshot()
    pids = members(pgid, None, ancestor, table)
    rss = sum(table[p].rss_kb for p in pids if p in table)
    cpu_ms = sum(table[p].cpu_ticks for p in pids if p in table) * 1000 // CLOCK_TICKS
    return rss, cpu_ms
