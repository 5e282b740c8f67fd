"""Scriptman benchmarks: run overhead, throughput, log throughput and SSE fan-out against same-run baselines.

Not a test: run by hand (`make bench`) and copy the printed table into benchmarks/README.md.
Each figure is compared with a baseline measured in the same run (the bare interpreter on the same
script, output to a file; bare spawning at the same parallelism for throughput).

A run is "seen finished" when a client polling ``GET /api/executions/<id>`` every 5 ms reads a
final status (the log is complete by then: the final line is written before the status).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests import sse  # noqa: E402

RUNS = 20
THROUGHPUT_RUNS = 100
CONCURRENCY = 2
POLL_SECONDS = 0.005
FINAL = ("succeeded", "failed", "timed_out", "cancelled", "interrupted")
LANGUAGES = {  # API language: (file name, trivial script, interpreter)
    "python": ("bare.py", "print('hello')\n", sys.executable),
    "javascript": ("bare.js", "console.log('hello')\n", shutil.which("node") or "node"),
    "shell": ("bare.sh", "echo hello\n", shutil.which("bash") or "/bin/bash"),
}
LINES = 100_000  # ~6 MB: under the default 10 MiB log cap
SSE_CLIENTS = 50
BARE_CPU: list[float] = []  # CPU seconds of one bare trivial python run, as the throughput baseline measured it


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def bare(code: str, folder: Path, name: str = "bare.py", interpreter: str = sys.executable) -> float:
    script = folder / name
    script.write_text(code)
    started = time.perf_counter()
    with open(folder / f"{name}.log", "wb") as out:
        subprocess.run([interpreter, str(script)], stdout=out, stderr=out, check=True)
    return time.perf_counter() - started


def quantiles(values: list[float]) -> tuple[float, float]:
    """Median and p90 (nearest rank)."""
    ordered = sorted(values)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, int(0.9 * len(ordered) + 0.5) - 1)]


def instant(text: str | None) -> float | None:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() if text else None


def start_in_session(argv: list[str], env: dict[str, str], ready_url: str, timeout: float) -> subprocess.Popen[bytes]:
    """A server process in a session of its own (stopped with its whole group), once ``ready_url``
    answers; stopped again and an error if it does not within ``timeout`` seconds."""
    process = subprocess.Popen(
        argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if requests.get(ready_url, timeout=1).ok:
                return process
        except requests.RequestException:
            time.sleep(0.1)
    os.killpg(process.pid, signal.SIGTERM)
    process.wait(timeout=20)
    raise RuntimeError(f"{argv[-1]} did not answer {ready_url} within {timeout:g} s")


class Server:
    def __init__(self, home: Path, extra_env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        env = {
            **os.environ,
            "SCRIPTMAN_HOME": str(home),
            "SCRIPTMAN_PORT": str(self.port),
            "SCRIPTMAN_ADMIN_PASSWORD": "bench-password",
            "SCRIPTMAN_SCHEDULER_ENABLED": "false",
            **(extra_env or {}),
        }
        self.process = start_in_session(
            [str(Path(sys.executable).with_name("scriptman")), "serve"], env, f"{self.base}/api/health", 60
        )
        self.session = requests.Session()
        login = self.session.post(
            f"{self.base}/api/auth/login", json={"username": "admin", "password": "bench-password"}
        )
        self.session.headers["X-CSRF-Token"] = login.json()["csrf_token"]

    def script(self, name: str, code: str, language: str = "python") -> int:
        response = self.session.post(
            f"{self.base}/api/scripts", json={"name": name, "language": language, "code": code}
        )
        response.raise_for_status()
        return int(response.json()["id"])

    def submit(self, script_id: int) -> dict:
        response = self.session.post(f"{self.base}/api/scripts/{script_id}/execute", json={})
        response.raise_for_status()
        return dict(response.json())

    def wait(self, execution: dict, poll: float = POLL_SECONDS) -> dict:
        while execution["status"] not in FINAL:
            time.sleep(poll)
            execution = self.session.get(f"{self.base}/api/executions/{execution['id']}").json()
        return execution

    def run(self, script_id: int) -> dict:
        return self.wait(self.submit(script_id))

    def cpu_seconds(self) -> dict[int, float]:
        """CPU seconds (user + system) so far of each long-lived server process (gunicorn master and
        workers, the launcher), not counting the runs' supervisors and scripts."""
        import psutil

        master = psutil.Process(self.process.pid)
        seconds = {}
        for proc in [master, *master.children(recursive=True)]:
            with contextlib.suppress(psutil.Error):
                times = proc.cpu_times()
                seconds[proc.pid] = times.user + times.system
        return seconds

    def stop(self) -> None:
        os.killpg(self.process.pid, signal.SIGTERM)
        self.process.wait(timeout=20)


def submit_and_follow(server: Server, script_id: int) -> tuple[dict, float]:
    """Submit, then follow the run's live log until ``end`` (every line delivered, the final status
    known): what the web app does. Returns the run as the API gives it afterwards, and the
    ``perf_counter`` instant the ``end`` event arrived (the API read after it is not part of the run)."""
    execution = server.submit(script_id)
    with server.session.get(
        f"{server.base}/api/executions/{execution['id']}/logs/stream?batch=true", stream=True, timeout=60
    ) as response:
        for event in sse.parse(response.iter_content(chunk_size=None)):
            if event.event == "end":
                break
    ended = time.perf_counter()
    return dict(server.session.get(f"{server.base}/api/executions/{execution['id']}").json()), ended


def run_overhead(server: Server, folder: Path, language: str) -> dict[str, float]:
    """Submit → all output delivered and the run's end seen (SSE ``end``), against the bare
    interpreter; and where the time went, from the run's own timestamps (submitted → script started
    → script ended → end seen by the client)."""
    name, code, interpreter = LANGUAGES[language]
    script_id = server.script(f"overhead-{language}-{time.time_ns()}", code, language)
    submit_and_follow(server, script_id)  # warm up
    bare(code, folder, name, interpreter)
    baseline = [bare(code, folder, name, interpreter) for _ in range(RUNS)]
    totals, with_read, before_script, after_script = [], [], [], []
    for _ in range(RUNS):
        started = time.perf_counter()
        submitted = time.time()
        execution, ended = submit_and_follow(server, script_id)
        seen = submitted + (ended - started)
        totals.append(ended - started)
        with_read.append(time.perf_counter() - started)
        assert execution["status"] == "succeeded", execution
        script_started, script_ended = instant(execution["started_at"]), instant(execution["finished_at"])
        if script_started and script_ended:
            before_script.append(script_started - submitted)
            after_script.append(seen - script_ended)
    bare_median, bare_p90 = quantiles(baseline)
    median, p90 = quantiles(totals)
    return {
        "bare_median": bare_median,
        "bare_p90": bare_p90,
        "median": median,
        "p90": p90,
        "before_script": statistics.median(before_script),
        "after_script": statistics.median(after_script),
        "with_read": statistics.median(with_read),
    }


def throughput(server: Server, folder: Path) -> tuple[float, float, float]:
    """100 trivial runs submitted at once, pool of CONCURRENCY, against bare spawning at the same
    parallelism; runs per second from the first submit until the last script ended (its recorded
    ``finished_at``; a cheap count is polled to know when to stop: polling each run would load
    the 2 CPUs the runs need). Returns (bare runs/s, runs/s, CPU seconds of the server's own
    processes per run: what the runs' scripts share the CPUs with)."""
    name, code, interpreter = LANGUAGES["python"]
    script_id = server.script(f"throughput-runs-{time.time_ns()}", code)
    server.run(script_id)  # warm up
    started = time.perf_counter()
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    with ThreadPoolExecutor(CONCURRENCY) as pool:
        list(pool.map(lambda _: bare(code, folder, name, interpreter), range(THROUGHPUT_RUNS)))
    bare_rate = THROUGHPUT_RUNS / (time.perf_counter() - started)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    BARE_CPU.append((after.ru_utime + after.ru_stime - children.ru_utime - children.ru_stime) / THROUGHPUT_RUNS)
    cpu_before = server.cpu_seconds()
    first_submit = time.time()
    ids = [server.submit(script_id)["id"] for _ in range(THROUGHPUT_RUNS)]
    listing = f"{server.base}/api/executions?script_id={script_id}&status=succeeded&per_page=1"
    while server.session.get(listing).json()["total"] < THROUGHPUT_RUNS + 1:
        time.sleep(0.1)
    cpu = server.cpu_seconds()
    ends = [instant(server.session.get(f"{server.base}/api/executions/{i}").json()["finished_at"]) for i in ids]
    rate = THROUGHPUT_RUNS / (max(e for e in ends if e) - first_submit)
    per_run = sum(cpu[pid] - cpu_before[pid] for pid in cpu.keys() & cpu_before.keys()) / THROUGHPUT_RUNS
    return bare_rate, rate, per_run


def _floor_run(starter: Any, folder: Path, layout: Any, tag: str) -> float:
    """One trivial python run the way the executor starts it, minus the server: a workspace with the
    script, a run cgroup (where the machine has them), the spec, a supervisor forked by the launcher,
    its status file. Returns the seconds from writing the spec to the supervisor's reported end."""
    from backend.services.executor import process

    name, code, interpreter = LANGUAGES["python"]
    run = folder / f"floor-{tag}"
    run.mkdir()
    (run / name).write_text(code)
    cgroup = layout.run(f"scriptman-bench-floor-{os.getpid()}-{tag}") if layout else None
    if cgroup is not None:
        cgroup.create(max_processes=1000, memory_bytes=None)
    spec = {
        "argv": [interpreter, name],
        "cwd": str(run),
        "env": {"PATH": os.environ.get("PATH", "/usr/bin:/bin")},
        "log_path": str(run / "log"),
        "status_path": str(run / "status.json"),
        "result_path": str(run / "result.json"),
        "timeout_seconds": 60,
        "kill_grace_seconds": 1,
        "max_log_bytes": 10_000_000,
        "max_line_bytes": 65_536,
        "max_result_bytes": 1_000_000,
        "secrets": [],
        "cookie": f"bench-{tag}",
        "rlimits": {},
        "cgroup": cgroup.as_dict() if cgroup else None,
        "run_as": None,
        "sandboxed": False,
    }
    started = time.perf_counter()
    process.write_spec(run / "spec.json", spec)
    supervised = starter.launch(run / "spec.json", run / "supervisor.err")
    while not supervised.wait(10):
        pass
    elapsed = time.perf_counter() - started
    assert (run / "status.json").exists()
    return elapsed


def supervisor_floor(folder: Path, use_cgroup: bool = True) -> dict[str, float]:
    """The architecture's own floor, without the server or the database: the launcher forks a
    supervisor, which starts the trivial python script (in a run cgroup where the machine has
    them), logs its output and writes the status file; against the bare interpreter, same run."""
    from backend.services.executor import cgroups, launcher

    name, code, interpreter = LANGUAGES["python"]
    bare(code, folder, name, interpreter)
    baseline = [bare(code, folder, name, interpreter) for _ in range(RUNS)]
    layout = cgroups.detect().layout if use_cgroup else None
    starter = launcher.Launcher(folder / f"launcher-{use_cgroup}.err")
    starter.start()
    try:
        times = [_floor_run(starter, folder, layout, f"{use_cgroup}-{index}") for index in range(RUNS + 1)]
    finally:
        starter.stop()
    return {"bare_median": statistics.median(baseline), "median": statistics.median(times[1:])}  # [0] warms up


def supervisor_floor_throughput(folder: Path) -> tuple[float, float]:
    """The throughput floor of the design: THROUGHPUT_RUNS trivial runs through launcher →
    supervisor (workspace, cgroup, spec, status file; no server, no database), CONCURRENCY at a
    time, against bare spawning at the same parallelism, same run. (bare runs/s, floor runs/s)"""
    from backend.services.executor import cgroups, launcher

    name, code, interpreter = LANGUAGES["python"]
    started = time.perf_counter()
    with ThreadPoolExecutor(CONCURRENCY) as pool:
        list(pool.map(lambda _: bare(code, folder, name, interpreter), range(THROUGHPUT_RUNS)))
    bare_rate = THROUGHPUT_RUNS / (time.perf_counter() - started)
    layout = cgroups.detect().layout
    starter = launcher.Launcher(folder / "launcher-rate.err")
    starter.start()
    try:
        _floor_run(starter, folder, layout, "rate-warm")
        started = time.perf_counter()
        with ThreadPoolExecutor(CONCURRENCY) as pool:
            list(pool.map(lambda i: _floor_run(starter, folder, layout, f"rate-{i}"), range(THROUGHPUT_RUNS)))
        floor_rate = THROUGHPUT_RUNS / (time.perf_counter() - started)
    finally:
        starter.stop()
    return bare_rate, floor_rate


def log_throughput(server: Server, folder: Path) -> tuple[float, float]:
    code = f"import sys\nfor i in range({LINES}):\n    print('line', i, 'x' * 40)\n"
    baseline = bare(code, folder)
    script_id = server.script("throughput", code)
    started = time.perf_counter()
    execution = server.run(script_id)
    assert execution["status"] == "succeeded", execution
    return baseline, time.perf_counter() - started


def sse_fanout(server: Server) -> dict[str, float]:
    code = "import time\nfor i in range(40):\n    print(time.time(), flush=True)\n    time.sleep(0.05)\n"
    script_id = server.script("fanout", code)
    execution = server.session.post(f"{server.base}/api/scripts/{script_id}/execute", json={}).json()
    latencies: list[float] = []
    failures = 0
    lock = threading.Lock()

    def client() -> None:
        nonlocal failures
        try:
            with server.session.get(
                f"{server.base}/api/executions/{execution['id']}/logs/stream", stream=True, timeout=60
            ) as response:
                for event in sse.parse(response.iter_content(chunk_size=None)):
                    if event.event == "log" and event.data["stream"] == "out":
                        with lock:
                            latencies.append(time.time() - float(event.data["text"]))
                    if event.event == "end":
                        return
        except Exception:
            with lock:
                failures += 1

    threads = [threading.Thread(target=client) for _ in range(SSE_CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    latencies.sort()
    return {
        "events": len(latencies),
        "failures": failures,
        "p50_ms": 1000 * latencies[len(latencies) // 2],
        "p99_ms": 1000 * latencies[int(len(latencies) * 0.99) - 1],
    }


PARTS = ("spawn", "floor", "overhead", "throughput", "output", "fanout")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--only",
        default=",".join(PARTS),
        help=f"comma-separated parts to run (default all): {', '.join(PARTS)}",
    )
    parser.add_argument(
        "--languages", default=",".join(LANGUAGES), help="run overhead for these languages (default all)"
    )
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    parts = set(args.only.split(","))
    languages = [language for language in args.languages.split(",") if language]
    results: dict[str, object] = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        if "spawn" in parts:
            # the same measures with each supervisor started as a fresh interpreter (the code before the
            # launcher), in the same run: the launcher's share of the difference
            spawn = Server(
                folder / "spawn-home",
                {"SCRIPTMAN_MAX_CONCURRENCY": str(CONCURRENCY), "SCRIPTMAN_SUPERVISOR_START": "spawn"},
            )
            try:
                results["spawn_overhead"] = run_overhead(spawn, folder, "python")
                results["spawn_rate"] = throughput(spawn, folder)
            finally:
                spawn.stop()
        if "floor" in parts:
            results["floor"] = supervisor_floor(folder)
            results["floor_without"] = supervisor_floor(folder, use_cgroup=False)
            results["floor_rate"] = supervisor_floor_throughput(folder)
        if parts & {"overhead", "throughput", "output", "fanout"}:
            server = Server(folder / "home", {"SCRIPTMAN_MAX_CONCURRENCY": str(CONCURRENCY)})
            try:
                if "overhead" in parts:
                    results["overhead"] = {language: run_overhead(server, folder, language) for language in languages}
                if "throughput" in parts:
                    results["rate"] = throughput(server, folder)
                if "output" in parts:
                    results["output"] = log_throughput(server, folder)
                if "fanout" in parts:
                    results["fanout"] = sse_fanout(server)
            finally:
                server.stop()
    report(results)


def report(results: dict[str, Any]) -> None:
    print(f"machine: {platform.platform()}, {os.cpu_count()} CPUs, Python {platform.python_version()}")
    print("| measure | baseline | Scriptman | ratio |")
    print("|---|---|---|---|")
    rows = list(results.get("overhead", {}).items())
    if "spawn_overhead" in results:
        rows.append(("python, supervisor spawned (no launcher)", results["spawn_overhead"]))
    for language, o in rows:
        bare_name = Path(LANGUAGES[language.split(",")[0]][2]).name
        bare_ms = f"{o['bare_median'] * 1000:.0f} / {o['bare_p90'] * 1000:.0f} ms"
        managed_ms = f"{o['median'] * 1000:.0f} / {o['p90'] * 1000:.0f} ms"
        split = (
            f"submit → script started {o['before_script'] * 1000:.0f} ms, "
            f"script ended → end seen {o['after_script'] * 1000:.0f} ms; with the API read of the run after `end`, "
            f"as measured before 2026-12-01: +{(o['with_read'] - o['bare_median']) * 1000:.0f} ms"
        )
        print(
            f"| trivial {language} run, submit → SSE `end`, median / p90 of {RUNS} | "
            f"{bare_ms} bare `{bare_name}` | {managed_ms}: +{(o['median'] - o['bare_median']) * 1000:.0f} ms "
            f"({split}) | {o['median'] / o['bare_median']:.1f}x |"
        )
    if "floor" in results:
        floor, floor_without = results["floor"], results["floor_without"]
        print(
            f"| floor: launcher → supervisor → trivial python script → status file, no server or database, "
            f"median of {RUNS} | {floor['bare_median'] * 1000:.0f} ms bare | {floor['median'] * 1000:.0f} ms: "
            f"+{(floor['median'] - floor['bare_median']) * 1000:.0f} ms | "
            f"{floor['median'] / floor['bare_median']:.1f}x |"
        )
        print(
            f"| the same floor without a run cgroup | {floor_without['bare_median'] * 1000:.0f} ms bare | "
            f"{floor_without['median'] * 1000:.0f} ms: "
            f"+{(floor_without['median'] - floor_without['bare_median']) * 1000:.0f} ms"
            f" | {floor_without['median'] / floor_without['bare_median']:.1f}x |"
        )
        bare_rate, floor_rate = results["floor_rate"]
        print(
            f"| throughput floor: {THROUGHPUT_RUNS} trivial python runs through launcher → supervisor (with a run "
            f"cgroup, status file), no server or database, parallelism {CONCURRENCY} | {bare_rate:.1f} runs/s bare | "
            f"{floor_rate:.1f} runs/s | {100 * floor_rate / bare_rate:.0f} % |"
        )
    if "spawn_rate" in results:
        bare_rate, spawn_rate, _ = results["spawn_rate"]
        print(
            f"| throughput, supervisor spawned (no launcher) | {bare_rate:.1f} runs/s bare | {spawn_rate:.1f} runs/s | "
            f"{100 * spawn_rate / bare_rate:.0f} % |"
        )
    if "rate" in results:
        bare_rate, managed_rate, server_cpu = results["rate"]
        print(
            f"| throughput: {THROUGHPUT_RUNS} trivial python runs submitted at once, pool {CONCURRENCY} | "
            f"{bare_rate:.1f} runs/s bare spawning at parallelism {CONCURRENCY} | {managed_rate:.1f} runs/s "
            f"(server processes' CPU: {server_cpu * 1000:.1f} ms per run, submit included; the bare script's own: "
            f"{BARE_CPU[-1] * 1000:.1f} ms) | "
            f"{100 * managed_rate / bare_rate:.0f} % |"
        )
    if "output" in results:
        base_log, managed_log = results["output"]
        print(
            f"| {LINES:,} lines of output | {base_log:.2f} s to a file | {managed_log:.2f} s (timestamped, masked "
            f"log) | {managed_log / base_log:.1f}x |"
        )
    if "fanout" in results:
        fanout = results["fanout"]
        print(
            f"| SSE fan-out: {SSE_CLIENTS} clients x 40 lines | — | {fanout['events']} events, "
            f"{fanout['failures']} failures, p50 {fanout['p50_ms']:.0f} ms, p99 {fanout['p99_ms']:.0f} ms "
            "from print to client | — |"
        )


if __name__ == "__main__":
    main()
