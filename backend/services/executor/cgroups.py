"""A cgroup per run: a process cap that holds for root, the tree's memory, and a kill that misses nothing.

A process group and a cookie in the environment can be escaped (``setsid``, ``env -i``), and
``RLIMIT_NPROC`` does nothing for root. A cgroup cannot be left by an unprivileged process and
is inherited by every descendant, so it is the one place that knows all of a run's processes.

Two layouts are handled, detected once at start:

- **v2** (unified): a subtree of the server's own cgroup with the ``pids`` and ``memory``
  controllers delegated (``systemd`` ``Delegate=yes``). Runs go to ``<own>/scriptman/execution_<id>``;
  the limit is ``pids.max``/``memory.max``, the peak ``memory.peak``, CPU ``cpu.stat`` and the
  end ``cgroup.kill``. When the server sits in that cgroup itself (v2 forbids processes in a
  cgroup that hands controllers down) it moves itself into a ``<own>/server`` leaf first.
- **v1** (legacy or hybrid, as on this machine): one folder per hierarchy (``pids``, ``memory``,
  ``freezer``, optional ``cpuacct``) under the server's own cgroup in each; the end is
  freeze → SIGKILL every member → thaw, so nothing forks while being killed.

Standard library only: the supervisor imports it, and its start-up cost is part of every run.
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import time
from pathlib import Path
from typing import Any, NamedTuple

MOUNT_ROOT = "/sys/fs/cgroup"
PARENT_NAME = "scriptman"
SERVER_LEAF = "server"
V1_REQUIRED = ("pids", "memory", "freezer")
V1_OPTIONAL = ("cpuacct",)
V2_CONTROLLERS = ("pids", "memory")
EMPTY_WAIT_SECONDS = 1.0
POLL_SECONDS = 0.01


# NamedTuple, not a dataclass: the supervisor imports this module, and `dataclasses` (inspect, ast, …)
# added ~18 ms to every run's start.
class Layout(NamedTuple):
    """Where run cgroups go: ``parents`` maps a hierarchy (v1 controller, or ``unified``) to a folder."""

    version: int
    parents: dict[str, str]

    def as_dict(self) -> dict[str, Any]:
        return {"version": self.version, "parents": dict(self.parents)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Layout:
        return cls(version=int(data["version"]), parents={str(k): str(v) for k, v in data["parents"].items()})

    def run(self, name: str) -> RunCgroup:
        return RunCgroup(self.version, {key: str(Path(parent) / name) for key, parent in self.parents.items()})


class Detection(NamedTuple):
    layout: Layout | None
    detail: str


def own_paths(proc_cgroup: str = "/proc/self/cgroup") -> dict[str, str]:
    """This process's cgroup per hierarchy: ``{"memory": "/a/b", ..., "": "/x"}`` ("" is v2)."""
    paths: dict[str, str] = {}
    with open(proc_cgroup) as handle:
        for line in handle:
            parts = line.rstrip("\n").split(":", 2)
            if len(parts) != 3:
                continue
            for controller in parts[1].split(",") if parts[1] else [""]:
                paths[controller] = parts[2]
    return paths


def detect(mount_root: str = MOUNT_ROOT, proc_cgroup: str = "/proc/self/cgroup") -> Detection:
    """The usable layout, preferring v2 with delegated controllers, else v1, else none and why."""
    try:
        own = own_paths(proc_cgroup)
    except OSError as error:
        return Detection(None, f"cannot read {proc_cgroup}: {error.strerror}")
    reasons: list[str] = []
    for unified in (Path(mount_root), Path(mount_root) / "unified"):
        if (unified / "cgroup.controllers").exists() and "" in own:
            try:
                return Detection(_prepare_v2(unified, own[""]), "cgroup v2")
            except OSError as error:
                reasons.append(f"v2 at {unified}: {error}")
            break
    try:
        return Detection(_prepare_v1(Path(mount_root), own), "cgroup v1")
    except OSError as error:
        reasons.append(f"v1: {error}")
    return Detection(None, "; ".join(reasons) or "no cgroup hierarchy found")


def _prepare_v2(unified: Path, own: str) -> Layout:
    base = unified / own.lstrip("/")
    available = set(_read(base / "cgroup.controllers").split())
    missing = [c for c in V2_CONTROLLERS if c not in available]
    if missing:
        raise OSError(errno.ENOTSUP, f"controllers {', '.join(missing)} not delegated to {base}")
    enable = " ".join(f"+{c}" for c in V2_CONTROLLERS)
    try:
        _write(base / "cgroup.subtree_control", enable)
    except OSError as error:
        if error.errno != errno.EBUSY:
            raise
        _move_members_to_leaf(base)
        _write(base / "cgroup.subtree_control", enable)
    parent = base / PARENT_NAME
    parent.mkdir(exist_ok=True)
    _write(parent / "cgroup.subtree_control", enable)
    return Layout(2, {"unified": str(parent)})


def _move_members_to_leaf(base: Path) -> None:
    """v2 allows controllers below a cgroup only when it holds no process: move them to a leaf."""
    leaf = base / SERVER_LEAF
    leaf.mkdir(exist_ok=True)
    for pid in _read(base / "cgroup.procs").split():
        with contextlib.suppress(ProcessLookupError, OSError):
            _write(leaf / "cgroup.procs", pid)


def _prepare_v1(root: Path, own: dict[str, str]) -> Layout:
    parents: dict[str, str] = {}
    for controller in (*V1_REQUIRED, *V1_OPTIONAL):
        mount = root / controller
        if controller not in own or not (mount / "cgroup.procs").exists():
            if controller in V1_REQUIRED:
                raise OSError(errno.ENOENT, f"no v1 {controller} hierarchy at {mount}")
            continue
        parent = mount / own[controller].lstrip("/") / PARENT_NAME
        try:
            parent.mkdir(exist_ok=True)
            if not os.access(parent, os.W_OK):
                raise PermissionError(errno.EACCES, f"{parent} is not writable")
        except OSError:
            if controller in V1_REQUIRED:
                raise
            continue
        parents[controller] = str(parent)
    return Layout(1, parents)


class RunCgroup(NamedTuple):
    """One run's cgroup: one folder (v2) or one per hierarchy (v1)."""

    version: int
    dirs: dict[str, str]

    def as_dict(self) -> dict[str, Any]:
        return {"version": self.version, "dirs": dict(self.dirs)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunCgroup:
        return cls(version=int(data["version"]), dirs={str(k): str(v) for k, v in data["dirs"].items()})

    def _dir(self, key: str) -> Path | None:
        value = self.dirs.get("unified" if self.version == 2 else key)
        return Path(value) if value else None

    # -- set-up ------------------------------------------------------------------------------------
    def create(self, *, max_processes: int | None, memory_bytes: int | None) -> None:
        """Make the folders (a leftover of the same name is emptied first) and set the limits."""
        for folder in self.dirs.values():
            path = Path(folder)
            if path.exists():
                self.kill()
                self.remove()
            path.mkdir()
        pids = self._dir("pids")
        memory = self._dir("memory")
        if pids and max_processes:
            _write(pids / "pids.max", str(max_processes))
        if memory and memory_bytes:
            if self.version == 2:
                _write(memory / "memory.max", str(memory_bytes))
                with contextlib.suppress(OSError):
                    _write(memory / "memory.swap.max", "0")
            else:
                _write(memory / "memory.limit_in_bytes", str(memory_bytes))
                with contextlib.suppress(OSError):  # absent without swap accounting
                    _write(memory / "memory.memsw.limit_in_bytes", str(memory_bytes))

    def join(self, pid: int = 0) -> None:
        """Move ``pid`` in; 0: the caller, which must be single-threaded (the script's child calls
        this between fork and exec).

        On v1 the caller moves itself through ``tasks`` with "0" (the current thread): the kernel
        then skips the global threadgroup lock, whose write side waits for an RCU grace period when
        it was not taken in the last few ms: 8 to 20 ms on every run here, ~0.3 ms this way. A
        single-threaded process is its one thread, so the move is the same.
        """
        for folder in self.dirs.values():
            if pid == 0 and self.version == 1:
                try:
                    _write(Path(folder) / "tasks", "0")
                    continue
                except OSError:
                    pass  # a kernel that refuses it: the classic move below
            _write(Path(folder) / "cgroup.procs", str(pid or os.getpid()))

    # -- reading -----------------------------------------------------------------------------------
    def pids(self) -> list[int]:
        folder = self._dir("pids") or next(iter(Path(f) for f in self.dirs.values()), None)
        if folder is None:
            return []
        try:
            return [int(p) for p in _read(folder / "cgroup.procs").split()]
        except OSError:
            return []

    def memory_peak_bytes(self) -> int | None:
        memory = self._dir("memory")
        name = "memory.peak" if self.version == 2 else "memory.max_usage_in_bytes"
        return _read_int(memory / name) if memory else None

    def cpu_time_ns(self) -> int | None:
        if self.version == 2:
            stats = _read_keyed(Path(self.dirs["unified"]) / "cpu.stat")
            return stats["usage_usec"] * 1000 if "usage_usec" in stats else None
        cpuacct = self._dir("cpuacct")
        return _read_int(cpuacct / "cpuacct.usage") if cpuacct else None

    def oom_killed(self) -> bool:
        memory = self._dir("memory")
        if memory is None:
            return False
        name = "memory.events" if self.version == 2 else "memory.oom_control"
        return _read_keyed(memory / name).get("oom_kill", 0) > 0

    # -- ending ------------------------------------------------------------------------------------
    def signal(self, sig: int) -> None:
        for pid in self.pids():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, sig)

    def kill(self, wait_seconds: float = EMPTY_WAIT_SECONDS) -> bool:
        """SIGKILL every member with no chance to fork meanwhile; True once the cgroup is empty."""
        if not self.pids():
            return True  # the usual end: nothing left, and nothing can enter an empty run cgroup by fork
        if self.version == 2:
            kill_file = Path(self.dirs["unified"]) / "cgroup.kill"
            try:
                _write(kill_file, "1")
            except OSError:
                self._freeze_and_kill(Path(self.dirs["unified"]) / "cgroup.freeze", "1", "0")
        else:
            freezer = self._dir("freezer")
            if freezer is not None:
                self._freeze_and_kill(freezer / "freezer.state", "FROZEN", "THAWED")
            else:
                self.signal(signal.SIGKILL)
        deadline = time.monotonic() + wait_seconds
        while self.pids():
            if time.monotonic() >= deadline:
                return False
            self.signal(signal.SIGKILL)
            time.sleep(POLL_SECONDS)
        return True

    def _freeze_and_kill(self, state_file: Path, frozen: str, thawed: str) -> None:
        try:
            _write(state_file, frozen)
            deadline = time.monotonic() + EMPTY_WAIT_SECONDS
            while self.version == 1 and _read(state_file).strip() == "FREEZING" and time.monotonic() < deadline:
                time.sleep(POLL_SECONDS)
        except OSError:
            pass
        self.signal(signal.SIGKILL)  # delivered on thaw; a frozen process cannot fork
        with contextlib.suppress(OSError):
            _write(state_file, thawed)

    def remove(self) -> None:
        """Remove the (empty) folders; a cgroup with members left stays and says so by raising nothing."""
        for folder in self.dirs.values():
            with contextlib.suppress(OSError):
                os.rmdir(folder)


def _read(path: Path) -> str:
    with open(path) as handle:
        return handle.read()


def _write(path: Path, value: str) -> None:
    with open(path, "w") as handle:
        handle.write(value)


def _read_int(path: Path) -> int | None:
    try:
        return int(_read(path).split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _read_keyed(path: Path) -> dict[str, int]:
    """``key value`` lines (memory.events, cpu.stat, oom_control) as a dict; {} when unreadable."""
    values: dict[str, int] = {}
    try:
        text = _read(path)
    except OSError:
        return values
    for line in text.splitlines():
        key, _, value = line.partition(" ")
        with contextlib.suppress(ValueError):
            values[key] = int(value.strip())
    return values
