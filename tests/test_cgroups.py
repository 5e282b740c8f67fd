"""The cgroup code against folders laid out like cgroupfs (v2 and v1), and against this machine's.

A temporary folder cannot be a real cgroup, so these tests check what Scriptman writes and
reads there — the files and values the kernel's interface defines — and that its kill reaches a
real process listed in ``cgroup.procs``. The real v1 (or v2) behaviour is exercised by every run
in tests/test_run_containment.py.
"""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

import pytest

from backend.services.executor import cgroups


def _lay_out_v2(root: Path, own: str = "/system.slice/scriptman.service") -> Path:
    """A cgroup2 mount with the server in ``own`` and pids + memory delegated to it."""
    base = root / own.lstrip("/")
    base.mkdir(parents=True)
    (root / "cgroup.controllers").write_text("cpuset cpu io memory pids\n")
    for folder in (root, base):
        (folder / "cgroup.controllers").write_text("cpu memory pids\n")
        (folder / "cgroup.subtree_control").write_text("")
        (folder / "cgroup.procs").write_text("")
    return base


def _proc_cgroup(tmp_path: Path, content: str) -> str:
    path = tmp_path / "self-cgroup"
    path.write_text(content)
    return str(path)


def test_v2_is_used_when_pids_and_memory_are_delegated(tmp_path: Path) -> None:
    root = tmp_path / "fs"
    base = _lay_out_v2(root)
    detection = cgroups.detect(str(root), _proc_cgroup(tmp_path, "0::/system.slice/scriptman.service\n"))
    assert detection.layout == cgroups.Layout(2, {"unified": str(base / "scriptman")})
    # controllers handed down to the runs' parent, and from it to each run
    assert (base / "cgroup.subtree_control").read_text() == "+pids +memory"
    assert (base / "scriptman" / "cgroup.subtree_control").read_text() == "+pids +memory"


def test_v2_without_delegated_controllers_falls_back_to_v1_or_none(tmp_path: Path) -> None:
    root = tmp_path / "fs"
    base = _lay_out_v2(root)
    (base / "cgroup.controllers").write_text("cpu\n")
    detection = cgroups.detect(str(root), _proc_cgroup(tmp_path, "0::/system.slice/scriptman.service\n"))
    assert detection.layout is None
    assert "pids, memory not delegated" in detection.detail


def test_a_v2_run_cgroup_gets_its_limits_members_and_kill(tmp_path: Path) -> None:
    root = tmp_path / "fs"
    _lay_out_v2(root)
    layout = cgroups.detect(str(root), _proc_cgroup(tmp_path, "0::/system.slice/scriptman.service\n")).layout
    assert layout is not None
    run = layout.run("execution_7")
    run.create(max_processes=64, memory_bytes=256 * 1024 * 1024)
    folder = Path(run.dirs["unified"])
    assert folder.name == "execution_7"
    assert (folder / "pids.max").read_text() == "64"
    assert (folder / "memory.max").read_text() == str(256 * 1024 * 1024)
    assert (folder / "memory.swap.max").read_text() == "0"

    sleeper = subprocess.Popen(["sleep", "60"])
    try:
        run.join(sleeper.pid)
        assert (folder / "cgroup.procs").read_text() == str(sleeper.pid)
        assert run.pids() == [sleeper.pid]
        # the kernel would empty cgroup.procs; a plain folder keeps listing the pid, so the kill
        # reports that something is left — after it has sent SIGKILL to what is listed
        assert run.kill(wait_seconds=0.2) is False
        assert (folder / "cgroup.kill").read_text() == "1"
        assert sleeper.wait(timeout=5) == -9
    finally:
        sleeper.kill()

    (folder / "memory.peak").write_text("73400320\n")
    (folder / "cpu.stat").write_text("usage_usec 1500000\nuser_usec 1000000\nsystem_usec 500000\n")
    (folder / "memory.events").write_text("low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n")
    assert run.memory_peak_bytes() == 73400320
    assert run.cpu_time_ns() == 1_500_000_000
    assert run.oom_killed() is True
    assert cgroups.RunCgroup.from_dict(run.as_dict()) == run


def test_v1_uses_one_folder_per_hierarchy_under_the_servers_own_cgroups(tmp_path: Path) -> None:
    root = tmp_path / "fs"
    own = {"pids": "/", "memory": "/box/7", "freezer": "/", "cpuacct": "/"}
    for controller, path in own.items():
        folder = root / controller / path.lstrip("/")
        folder.mkdir(parents=True)
        (root / controller / "cgroup.procs").write_text("")
    proc = "".join(f"{i}:{c}:{p}\n" for i, (c, p) in enumerate(own.items(), start=2)) + "0::/\n"
    detection = cgroups.detect(str(root), _proc_cgroup(tmp_path, proc))
    assert detection.layout is not None and detection.layout.version == 1
    assert detection.layout.parents["memory"] == str(root / "memory" / "box" / "7" / "scriptman")
    run = detection.layout.run("execution_3")
    run.create(max_processes=10, memory_bytes=1024 * 1024)
    assert Path(run.dirs["pids"], "pids.max").read_text() == "10"
    assert Path(run.dirs["memory"], "memory.limit_in_bytes").read_text() == str(1024 * 1024)
    Path(run.dirs["memory"], "memory.oom_control").write_text("oom_kill_disable 0\nunder_oom 0\noom_kill 0\n")
    Path(run.dirs["cpuacct"], "cpuacct.usage").write_text("2500000\n")
    assert run.oom_killed() is False and run.cpu_time_ns() == 2_500_000
    member = subprocess.Popen(["sleep", "30"])  # a process of ours listed as the run's member
    Path(run.dirs["pids"], "cgroup.procs").write_text(f"{member.pid}\n")
    run.kill(wait_seconds=0)
    assert member.wait(timeout=10) == -signal.SIGKILL
    assert Path(run.dirs["freezer"], "freezer.state").read_text() == "THAWED"  # frozen, killed, thawed


def test_no_hierarchy_means_no_cgroups_and_a_reason(tmp_path: Path) -> None:
    detection = cgroups.detect(str(tmp_path / "nothing"), _proc_cgroup(tmp_path, "0::/\n"))
    assert detection.layout is None and "no v1 pids hierarchy" in detection.detail


@pytest.mark.skipif(cgroups.detect().layout is None, reason="no writable cgroups on this machine")
def test_this_machines_cgroups_cap_processes_for_root(tmp_path: Path) -> None:
    layout = cgroups.detect().layout
    assert layout is not None
    run = layout.run(f"test_{tmp_path.name}")
    run.create(max_processes=5, memory_bytes=None)
    try:
        script = "for i in 1 2 3 4 5 6 7 8; do sleep 30 & done; wait"
        with subprocess.Popen(["bash", "-c", script], preexec_fn=run.join, stderr=subprocess.PIPE) as shell:
            # 5 processes in all: bash and 4 sleeps; the 6th fork is refused ("retry: Resource temporarily unavailable")
            line = shell.stderr.readline() if shell.stderr else b""
            assert b"fork" in line
            assert len(run.pids()) <= 5
            assert run.kill() is True
            assert run.pids() == []
            shell.wait(timeout=5)
    finally:
        run.kill()
        run.remove()
    assert not any(Path(d).exists() for d in run.dirs.values())
