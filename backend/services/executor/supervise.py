"""The per-run supervisor: one short-lived process between the server and each script.

Started as ``python -I -S supervise.py <spec.json>`` in its own session. It applies limits,
starts the script in a new process group, timestamps and masks every output line into the
log file, enforces the timeout, kills the whole tree at the end, and writes the exit code,
metrics and result to ``status.json``. The server only watches, so a server restart does not
touch a running script. Standard library only: start-up cost is part of every run.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import selectors
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from backend.services.executor import beneath, cgroups, proctree
from backend.services.executor.logfile import LogWriter, Masker

SAMPLE_INTERVAL_SECONDS = 0.25
READ_CHUNK_BYTES = 65536
LINGER_SECONDS = 0.5  # after the main process exits, background children get this long
DRAIN_SECONDS = 0.5  # after everything is killed, pipes held by an escapee are read this long, no more
MEMORY_MARKERS = (
    b"MemoryError",
    b"out of memory",
    b"Cannot allocate memory",
    b"bad_alloc",
    b"Array buffer allocation failed",  # node
    b"heap out of memory",  # node: "JavaScript heap out of memory"
)
FILE_SIZE_MARKERS = (b"File too large", b"EFBIG")  # Python ignores SIGXFSZ and raises instead
SIGNAL_LIMITS = {signal.SIGXCPU: "CPU time limit", signal.SIGXFSZ: "file size limit"}
STOP_LABELS = {"timeout": "timed out", "interrupted": "the worker holding the run stopped answering"}
RLIMITS = {
    "address_space_bytes": resource.RLIMIT_AS,
    "data_bytes": resource.RLIMIT_DATA,
    "cpu_seconds": resource.RLIMIT_CPU,
    "file_size_bytes": resource.RLIMIT_FSIZE,
    "open_files": resource.RLIMIT_NOFILE,
    "processes": resource.RLIMIT_NPROC,
}


class Containment:
    """The run's processes: its cgroup when there is one, else group + descendants + cookie."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.cgroup = cgroups.RunCgroup.from_dict(spec["cgroup"]) if spec.get("cgroup") else None
        self.cookie: str | None = spec.get("cookie")
        self.pgid = 0
        self.peak_rss_kb = 0
        self.cpu_ms = 0
        if self.cgroup is None:
            proctree.become_subreaper()

    def started(self, pid: int) -> None:
        self.pgid = pid

    def join_in_child(self) -> None:
        if self.cgroup is not None:
            self.cgroup.join()

    def sample(self) -> None:
        """Without a cgroup the tree is summed from /proc; a cgroup keeps the exact peak itself."""
        if self.cgroup is None and self.pgid:
            rss, cpu = proctree.group_usage(self.pgid, os.getpid())
            self.peak_rss_kb = max(self.peak_rss_kb, rss)
            self.cpu_ms = max(self.cpu_ms, cpu)

    def terminate(self) -> None:
        if self.cgroup is not None:
            self.cgroup.signal(signal.SIGTERM)
        else:
            proctree.signal_all(proctree.members(self.pgid, self.cookie, os.getpid()), signal.SIGTERM)

    def kill(self) -> None:
        if self.cgroup is not None and self.cgroup.kill():
            return  # the cgroup held every process of the run, and it is empty now
        if self.pgid:
            proctree.kill_all(self.pgid, self.cookie, os.getpid(), keep=self.pgid)

    def metrics(self, usage: resource.struct_rusage) -> tuple[int, int]:
        """(peak memory KiB, CPU ms) of the whole tree."""
        rusage_cpu = int((usage.ru_utime + usage.ru_stime) * 1000)
        if self.cgroup is not None:
            peak = self.cgroup.memory_peak_bytes()
            cpu_ns = self.cgroup.cpu_time_ns()
            return (
                peak // 1024 if peak is not None else int(usage.ru_maxrss),
                cpu_ns // 1_000_000 if cpu_ns is not None else rusage_cpu,
            )
        return max(self.peak_rss_kb, int(usage.ru_maxrss)), max(self.cpu_ms, rusage_cpu)

    def oom_killed(self) -> bool:
        return self.cgroup is not None and self.cgroup.oom_killed()

    def close(self) -> None:
        if self.cgroup is not None:
            self.cgroup.remove()


class Supervisor:
    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        self.masker = Masker(spec.get("secrets", []))
        self.log = LogWriter(spec["log_path"], self.masker, spec["max_log_bytes"], spec["max_line_bytes"])
        self.containment = Containment(spec)
        self.stop_reason: str | None = None
        self.stdout_head = bytearray()
        self.stdout_overflow = False
        self.max_result_bytes = int(spec["max_result_bytes"])
        self.memory_error_seen = False
        self.file_size_error_seen = False
        self.lifeline: dict[str, Any] | None = spec.get("lifeline")
        self.next_lifeline_check = 0.0

    # -- lifecycle ---------------------------------------------------------------------------------
    def run(self) -> dict[str, Any]:
        started = time.time()
        signal.signal(signal.SIGUSR1, lambda *_: self._request_stop("cancelled"))
        signal.signal(signal.SIGTERM, lambda *_: self._request_stop("cancelled"))
        try:
            child = subprocess.Popen(
                self.spec["argv"],
                cwd=self.spec["cwd"],
                env=self.spec["env"],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                start_new_session=True,
                preexec_fn=self._in_child,
            )
        except (OSError, subprocess.SubprocessError) as error:
            self.log.write("sys", f"could not start the script: {error}")
            self.containment.kill()
            self.containment.close()
            return self._status(started, exit_code=None, reason="error", error=f"could not start the script: {error}")
        self.containment.started(child.pid)
        self._write_pid(child.pid)
        try:
            self._pump(child)
            exit_code = child.wait()
        finally:
            self.containment.kill()
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        error = STOP_LABELS["interrupted"] if self.stop_reason == "interrupted" else None
        status = self._status(
            started, exit_code=exit_code, reason=self.stop_reason or "exited", usage=usage, error=error
        )
        self.containment.close()
        return status

    def _request_stop(self, reason: str) -> None:
        if self.stop_reason is None:
            self.stop_reason = reason

    def _holder_gone(self, now: float) -> bool:
        """Whether the worker that holds this run stopped beating (its lifeline file went stale).

        A run on a Celery worker must not outlive a worker that never comes back: the reaper marks
        the run ``interrupted`` after the same bound, so this stops what that status says stopped.
        A worker back in time touches the file again and re-attaches the run. The local executor
        gives no lifeline: its runs survive the server, whenever it restarts.
        """
        if self.lifeline is None or now < self.next_lifeline_check:
            return False
        self.next_lifeline_check = now + 1.0
        try:
            age = time.time() - os.stat(self.lifeline["path"]).st_mtime
        except OSError:
            return True
        return age > float(self.lifeline["stale_seconds"])

    def _in_child(self) -> None:
        """Runs in the forked child before exec: cgroup (as root), limits, then the run-as user."""
        self.containment.join_in_child()
        for key, value in (self.spec.get("rlimits") or {}).items():
            if value and key in RLIMITS:
                # CPU: a hard limit above the soft one, so the run gets SIGXCPU (a clear reason), not SIGKILL
                hard = int(value) + 1 if key == "cpu_seconds" else int(value)
                with contextlib.suppress(ValueError, OSError):
                    resource.setrlimit(RLIMITS[key], (int(value), hard))
        run_as = self.spec.get("run_as")
        if run_as:
            os.setgroups([int(g) for g in run_as["groups"]])
            os.setgid(int(run_as["gid"]))
            os.setuid(int(run_as["uid"]))

    def _write_pid(self, pid: int) -> None:
        path = Path(self.spec["status_path"]).with_name("child.pid")
        path.write_text(str(pid))

    # -- output --------------------------------------------------------------------------------------
    def _pump(self, child: subprocess.Popen[bytes]) -> None:
        """Log output until the run is over; never wait on pipes an escaped process holds open.

        Over means: the main process exited and its pipes closed, or (a stop was requested, the
        timeout passed, or background children kept the pipes after the main process exited)
        everything was killed and the pipes were drained for at most ``DRAIN_SECONDS``.
        """
        deadline = time.monotonic() + float(self.spec["timeout_seconds"])
        grace = float(self.spec["kill_grace_seconds"])
        selector = selectors.DefaultSelector()
        assert child.stdout is not None and child.stderr is not None
        selector.register(child.stdout, selectors.EVENT_READ, "out")
        selector.register(child.stderr, selectors.EVENT_READ, "err")
        open_streams = 2
        next_sample = 0.0
        kill_at: float | None = None
        killed_at: float | None = None
        terminated = False
        while True:
            now = time.monotonic()
            exited = child.poll() is not None
            if exited and not open_streams:
                break
            if killed_at is not None and now - killed_at >= DRAIN_SECONDS:
                break
            if now >= next_sample:
                self.containment.sample()
                next_sample = now + SAMPLE_INTERVAL_SECONDS
            if self.stop_reason is None and now >= deadline:
                self.stop_reason = "timeout"
            if self.stop_reason is None and self._holder_gone(now):
                self.stop_reason = "interrupted"
            if self.stop_reason and not terminated:
                terminated = True
                label = STOP_LABELS.get(self.stop_reason, "cancel requested")
                self.log.write("sys", f"{label}: stopping every process of the run")
                self.containment.terminate()
                kill_at = min(kill_at or now + grace, now + grace)
            if exited and kill_at is None:
                kill_at = now + LINGER_SECONDS  # background children keep the pipes open: end them
            if kill_at is not None and killed_at is None and now >= kill_at:
                self.containment.kill()
                killed_at = time.monotonic()
            if not open_streams:
                # the pipes close a moment before the process can be reaped: wait for its exit,
                # not a fixed sleep (which every run paid after its script ended)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    child.wait(timeout=SAMPLE_INTERVAL_SECONDS / 5)
                continue
            for key, _ in selector.select(timeout=SAMPLE_INTERVAL_SECONDS / 5):
                try:
                    chunk = os.read(key.fd, READ_CHUNK_BYTES)
                except OSError:
                    chunk = b""
                if not chunk:
                    selector.unregister(key.fileobj)
                    open_streams -= 1
                    continue
                if key.data == "out":
                    self._keep_stdout(chunk)
                else:
                    self.memory_error_seen = self.memory_error_seen or any(m in chunk for m in MEMORY_MARKERS)
                    self.file_size_error_seen = self.file_size_error_seen or any(m in chunk for m in FILE_SIZE_MARKERS)
                self.log.feed(key.data, chunk)
        selector.close()
        self.log.flush_partial()

    def _keep_stdout(self, chunk: bytes) -> None:
        if self.stdout_overflow:
            return
        if len(self.stdout_head) + len(chunk) > self.max_result_bytes:
            self.stdout_overflow = True
            self.stdout_head.clear()
        else:
            self.stdout_head.extend(chunk)

    # -- metrics and result --------------------------------------------------------------------------
    def _read_result_file(self) -> bytes | None:
        """The result file's bytes (at most the limit + 1), opened without following any symlink:
        the script may have swapped ``.scriptman`` or the file for a link to a server file."""
        workspace = Path(self.spec["cwd"])
        relative = Path(self.spec["result_path"]).relative_to(workspace)
        try:
            root = beneath.open_root(workspace)
            try:
                fd = beneath.open_file(root, list(relative.parts))
            finally:
                os.close(root)
        except OSError:
            return None
        with os.fdopen(fd, "rb") as handle:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                return None
            return handle.read(self.max_result_bytes + 1)

    def _result(self) -> tuple[Any, str | None]:
        data = self._read_result_file()
        if data is not None:
            if len(data) > self.max_result_bytes:
                return None, f"result file is over the limit of {self.max_result_bytes} bytes"
            try:
                return json.loads(data), None
            except (ValueError, UnicodeDecodeError, RecursionError) as error:
                return None, f"result file is not valid JSON: {error}"
        if self.stdout_overflow or not self.stdout_head.strip():
            return None, None
        try:
            return json.loads(bytes(self.stdout_head)), None
        except (ValueError, UnicodeDecodeError, RecursionError):
            return None, None

    def _limit_reached(self, exit_code: int | None) -> str | None:
        """Which limit ended the run, read from the signal, the cgroup or the script's last words.

        bwrap reports a child killed by signal N as exit code 128 + N; node dies of a memory
        limit with exit code 1 (or 134) and says so on stderr.
        """
        rlimits = self.spec.get("rlimits") or {}
        signum = -exit_code if exit_code is not None and exit_code < 0 else None
        if signum is None and self.spec.get("sandboxed") and exit_code is not None and exit_code > 128:
            signum = exit_code - 128
        if signum in SIGNAL_LIMITS:
            return SIGNAL_LIMITS[signal.Signals(signum)]
        if exit_code and self.containment.oom_killed():
            return "memory limit"
        if exit_code and self.memory_error_seen and rlimits.keys() & {"address_space_bytes", "data_bytes"}:
            return "memory limit"
        if exit_code and self.file_size_error_seen and "file_size_bytes" in rlimits:
            return "file size limit"
        return None

    def _status(
        self,
        started: float,
        *,
        exit_code: int | None,
        reason: str,
        usage: resource.struct_rusage | None = None,
        error: str | None = None,
    ) -> dict[str, Any]:
        result, result_error = (None, None) if reason == "error" else self._result()
        limit = self._limit_reached(exit_code)
        if limit:
            self.log.write("sys", f"{limit} reached")
        peak_kb, cpu_ms = self.containment.metrics(usage) if usage else (None, None)
        finished = time.time()
        mask = self.masker.mask_text
        return {
            "reason": reason,
            "exit_code": exit_code,
            "started_at": started,
            "finished_at": finished,
            "duration_ms": int((finished - started) * 1000),
            "peak_memory_kb": peak_kb,
            "cpu_time_ms": cpu_ms,
            "result": self.masker.mask_json(result),  # status.json is on disk: never a secret in it
            "result_error": mask(result_error) if result_error else None,
            "error": mask(error) if error else None,
            "log_capped": self.log.capped,
            "limit": limit,
        }


def write_status(path: str, status: dict[str, Any]) -> None:
    tmp = f"{path}.tmp"
    with open(tmp, "w") as handle:
        json.dump(status, handle)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def main(spec_path: str) -> int:
    with open(spec_path) as handle:
        spec = json.load(handle)
    os.unlink(spec_path)  # it holds secret values; nobody needs it once read
    supervisor = Supervisor(spec)
    try:
        status = supervisor.run()
    except Exception as error:  # the status file must appear whatever happens
        supervisor.log.write("sys", f"supervisor error: {type(error).__name__}: {error}")
        status = {"reason": "error", "exit_code": None, "error": f"supervisor error: {error}"}
    finally:
        supervisor.log.close()
    write_status(spec["status_path"], status)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
