"""Scriptman benchmarks: run overhead, log throughput and SSE fan-out against same-run baselines.

Not a test: run by hand (`make bench`) and copy the printed table into benchmarks/README.md.
Each figure is compared with a baseline measured in the same run (bare `python3 script.py`,
output to a file), and reported as a ratio.
"""

from __future__ import annotations

import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests import sse  # noqa: E402

RUNS = 20
LINES = 100_000  # ~6 MB: under the default 10 MiB log cap
SSE_CLIENTS = 50


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def bare(code: str, folder: Path) -> float:
    script = folder / "bare.py"
    script.write_text(code)
    started = time.perf_counter()
    with open(folder / "bare.log", "wb") as out:
        subprocess.run([sys.executable, str(script)], stdout=out, stderr=out, check=True)
    return time.perf_counter() - started


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
        self.process = subprocess.Popen(
            [str(Path(sys.executable).with_name("scriptman")), "serve"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if requests.get(f"{self.base}/api/health", timeout=1).ok:
                    break
            except requests.RequestException:
                time.sleep(0.2)
        self.session = requests.Session()
        login = self.session.post(
            f"{self.base}/api/auth/login", json={"username": "admin", "password": "bench-password"}
        )
        self.session.headers["X-CSRF-Token"] = login.json()["csrf_token"]

    def script(self, name: str, code: str) -> int:
        return self.session.post(
            f"{self.base}/api/scripts", json={"name": name, "language": "python", "code": code}
        ).json()["id"]

    def run(self, script_id: int) -> dict:
        execution = self.session.post(f"{self.base}/api/scripts/{script_id}/execute", json={}).json()
        while execution["status"] in ("queued", "running"):
            time.sleep(0.01)
            execution = self.session.get(f"{self.base}/api/executions/{execution['id']}").json()
        return execution

    def stop(self) -> None:
        os.killpg(self.process.pid, signal.SIGTERM)
        self.process.wait(timeout=20)


def run_overhead(server: Server, folder: Path) -> tuple[float, float]:
    code = "print('hello')\n"
    script_id = server.script("overhead", code)
    server.run(script_id)  # warm up
    baseline = statistics.median(bare(code, folder) for _ in range(RUNS))
    totals = []
    for _ in range(RUNS):
        started = time.perf_counter()
        server.run(script_id)
        totals.append(time.perf_counter() - started)
    return baseline, statistics.median(totals)


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


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        server = Server(folder / "home")
        try:
            base_run, managed_run = run_overhead(server, folder)
            base_log, managed_log = log_throughput(server, folder)
            fanout = sse_fanout(server)
        finally:
            server.stop()
    print(f"machine: {platform.platform()}, {os.cpu_count()} CPUs, Python {platform.python_version()}")
    print("| measure | baseline | Scriptman | ratio |")
    print("|---|---|---|---|")
    print(
        f"| trivial run, median of {RUNS} (API submit → final status) | {base_run * 1000:.0f} ms bare `python3` | "
        f"{managed_run * 1000:.0f} ms | {managed_run / base_run:.1f}× |"
    )
    print(
        f"| {LINES:,} lines of output | {base_log:.2f} s to a file | {managed_log:.2f} s (timestamped, masked log) | "
        f"{managed_log / base_log:.1f}× |"
    )
    print(
        f"| SSE fan-out: {SSE_CLIENTS} clients × 40 lines | — | {fanout['events']} events, {fanout['failures']} failures, "
        f"p50 {fanout['p50_ms']:.0f} ms, p99 {fanout['p99_ms']:.0f} ms from print to client | — |"
    )


if __name__ == "__main__":
    main()
