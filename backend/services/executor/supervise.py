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
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from backend.services.executor.logfile import LogWriter, Masker

SAMPLE_INTERVAL_SECONDS = 0.25
READ_CHUNK_BYTES = 65536
LINGER_SECONDS = 0.5
PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024
MEMORY_MARKERS = (b"MemoryError", b"out of memory", b"Cannot allocate memory", b"bad_alloc")
FILE_SIZE_MARKERS = (b"File too large", b"EFBIG")  # Python ignores SIGXFSZ and raises instead
SIGNAL_LIMITS = {signal.SIGXCPU: "CPU time limit", signal.SIGXFSZ: "file size limit"}
RLIMITS = {
    "address_space_bytes": resource.RLIMIT_AS,
    "data_bytes": resource.RLIMIT_DATA,
    "cpu_seconds": resource.RLIMIT_CPU,
    "file_size_bytes": resource.RLIMIT_FSIZE,
    "open_files": resource.RLIMIT_NOFILE,
    "processes": resource.RLIMIT_NPROC,
}


class Supervisor:
    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        self.masker = Masker(spec.get("secrets", []))
        self.log = LogWriter(spec["log_path"], self.masker, spec["max_log_bytes"], spec["max_line_bytes"])
        self.stop_reason: str | None = None
        self.peak_rss_kb = 0
        self.stdout_head = bytearray()
        self.stdout_overflow = False
        self.max_result_bytes = int(spec["max_result_bytes"])
        self.memory_error_seen = False
        self.file_size_error_seen = False

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
                preexec_fn=self._apply_limits,
            )
        except OSError as error:
            self.log.write("sys", f"could not start the script: {error}")
            return self._status(started, exit_code=None, reason="error", error=str(error))
        self._write_pid(child.pid)
        self._pump(child)
        exit_code = child.wait()
        self._kill_tree(child.pid)
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        self.peak_rss_kb = max(self.peak_rss_kb, int(usage.ru_maxrss))
        reason = self.stop_reason or "exited"
        status = self._status(started, exit_code=exit_code, reason=reason, usage=usage)
        return status

    def _request_stop(self, reason: str) -> None:
        if self.stop_reason is None:
            self.stop_reason = reason

    def _apply_limits(self) -> None:
        for key, value in (self.spec.get("rlimits") or {}).items():
            if value and key in RLIMITS:
                # CPU: a hard limit above the soft one, so the run gets SIGXCPU (a clear reason), not SIGKILL
                hard = int(value) + 1 if key == "cpu_seconds" else int(value)
                with contextlib.suppress(ValueError, OSError):
                    resource.setrlimit(RLIMITS[key], (int(value), hard))

    def _write_pid(self, pid: int) -> None:
        path = Path(self.spec["status_path"]).with_name("child.pid")
        path.write_text(str(pid))

    # -- output --------------------------------------------------------------------------------------
    def _pump(self, child: subprocess.Popen[bytes]) -> None:
        deadline = time.monotonic() + float(self.spec["timeout_seconds"])
        selector = selectors.DefaultSelector()
        assert child.stdout is not None and child.stderr is not None
        selector.register(child.stdout, selectors.EVENT_READ, "out")
        selector.register(child.stderr, selectors.EVENT_READ, "err")
        open_streams = 2
        next_sample = 0.0
        exited_at: float | None = None
        killing = False
        while open_streams:
            now = time.monotonic()
            if now >= next_sample:
                self._sample(child.pid)
                next_sample = now + SAMPLE_INTERVAL_SECONDS
            if self.stop_reason is None and now >= deadline:
                self.stop_reason = "timeout"
            if self.stop_reason and not killing:
                killing = True
                label = "timed out" if self.stop_reason == "timeout" else "cancel requested"
                self.log.write("sys", f"{label}: stopping the process group")
                self._terminate_group(child)
            if exited_at is None and child.poll() is not None:
                exited_at = now
            if exited_at is not None and now - exited_at > LINGER_SECONDS:
                self._kill_group(child.pid)  # background children keep the pipes open: end them
            for key, _ in selector.select(timeout=SAMPLE_INTERVAL_SECONDS):
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
        self.log.flush_partial()

    def _keep_stdout(self, chunk: bytes) -> None:
        if self.stdout_overflow:
            return
        if len(self.stdout_head) + len(chunk) > self.max_result_bytes:
            self.stdout_overflow = True
            self.stdout_head.clear()
        else:
            self.stdout_head.extend(chunk)

    # -- killing ---------------------------------------------------------------------------------------
    def _terminate_group(self, child: subprocess.Popen[bytes]) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(child.pid, signal.SIGTERM)
        grace_end = time.monotonic() + float(self.spec["kill_grace_seconds"])
        while time.monotonic() < grace_end and child.poll() is None:
            time.sleep(0.05)
        self._kill_group(child.pid)

    def _kill_group(self, pgid: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGKILL)
        self._sweep_cookie()

    def _kill_tree(self, pgid: int) -> None:
        self._kill_group(pgid)

    def _sweep_cookie(self) -> None:
        """Kill processes that left the group (``setsid``) but still carry this run's cookie."""
        cookie = f"SCRIPTMAN_RUN_COOKIE={self.spec['cookie']}".encode()
        me = os.getpid()
        for entry in os.listdir("/proc"):
            if not entry.isdigit() or int(entry) == me:
                continue
            try:
                with open(f"/proc/{entry}/environ", "rb") as handle:
                    environ = handle.read()
            except OSError:
                continue
            if cookie in environ.split(b"\0"):
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(int(entry), signal.SIGKILL)

    # -- metrics and result --------------------------------------------------------------------------
    def _sample(self, pgid: int) -> None:
        """Sum the RSS of every process in the run's group; keep the peak."""
        total = 0
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/stat", "rb") as handle:
                    fields = handle.read().rsplit(b")", 1)[1].split()
            except (OSError, IndexError):
                continue
            # after the command: state ppid pgrp session ... rss is field 24 (index 21 here)
            if len(fields) > 21 and int(fields[2]) == pgid:
                total += int(fields[21]) * PAGE_KB
        self.peak_rss_kb = max(self.peak_rss_kb, total)

    def _result(self) -> tuple[Any, str | None]:
        path = Path(self.spec["result_path"])
        if path.is_file() and not path.is_symlink():
            size = path.stat().st_size
            if size > self.max_result_bytes:
                return None, f"result file is {size} bytes, over the limit of {self.max_result_bytes}"
            try:
                return json.loads(path.read_bytes()), None
            except (ValueError, UnicodeDecodeError) as error:
                return None, f"result file is not valid JSON: {error}"
        if self.stdout_overflow or not self.stdout_head.strip():
            return None, None
        try:
            return json.loads(bytes(self.stdout_head)), None
        except (ValueError, UnicodeDecodeError, RecursionError):
            return None, None

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
        limit = None
        if exit_code is not None and exit_code < 0 and -exit_code in SIGNAL_LIMITS:
            limit = SIGNAL_LIMITS[signal.Signals(-exit_code)]
        elif (
            exit_code
            and self.memory_error_seen
            and (self.spec.get("rlimits") or {}).keys()
            & {
                "address_space_bytes",
                "data_bytes",
            }
        ):
            limit = "memory limit"
        elif exit_code and self.file_size_error_seen and "file_size_bytes" in (self.spec.get("rlimits") or {}):
            limit = "file size limit"
        if limit:
            self.log.write("sys", f"{limit} reached")
        finished = time.time()
        return {
            "reason": reason,
            "exit_code": exit_code,
            "started_at": started,
            "finished_at": finished,
            "duration_ms": int((finished - started) * 1000),
            "peak_memory_kb": self.peak_rss_kb,
            "cpu_time_ms": int((usage.ru_utime + usage.ru_stime) * 1000) if usage else None,
            "result": result,
            "result_error": result_error,
            "error": error,
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
