"""API throughput at 100,000 executions and 1,000 scripts: 20 concurrent clients against one alone.

Not a test: run by hand (`make bench`). It starts the real server (``scriptman serve``: one gunicorn
gthread process) in a temporary ``SCRIPTMAN_HOME``, seeds the database directly (bulk inserts of
scripts, versions, schedules and executions spread over ~90 days, statuses, triggers, results and
errors as a busy team would have them), then drives a mix of the requests the web app and scripts
make: the executions list (plain, by status, by script, text search), one execution, the scripts
list and search, the dashboard numbers and the schedules list.

Each phase runs for a fixed time; the baseline in the same run is one client alone, and the floor
is ``/api/health`` (no database, no session) at the same concurrency: what the server costs per
request before any of the endpoints' own work. Clients authenticate as a browser would (a logged-in
session cookie) and as a script would (a bearer token).
"""

from __future__ import annotations

import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psutil
import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from run import Server  # noqa: E402

SCRIPTS = 1_000
EXECUTIONS = 100_000
SCHEDULES = 100
DAYS = 90
CLIENTS = 20
SOLO_SECONDS = float(os.environ.get("BENCH_API_SOLO_SECONDS", 12))
LOAD_SECONDS = float(os.environ.get("BENCH_API_LOAD_SECONDS", 25))
FLOOR_SECONDS = float(os.environ.get("BENCH_API_FLOOR_SECONDS", 8))
ENDPOINT_SECONDS = float(os.environ.get("BENCH_API_ENDPOINT_SECONDS", 2))
PROFILE = os.environ.get("BENCH_API_PROFILE", "")  # a file: record a py-spy profile of the server (see profile())
# status → share of the history (what a team's run history looks like: mostly green)
STATUSES = {
    "succeeded": 0.82,
    "failed": 0.10,
    "timed_out": 0.02,
    "cancelled": 0.03,
    "interrupted": 0.01,
    "running": 0.0001,
    "queued": 0.0001,
}
TRIGGERS = {"schedule": 0.6, "manual": 0.2, "api": 0.1, "webhook": 0.05, "retry": 0.03, "rerun": 0.02}
ERRORS = [
    "exit code 1",
    "Traceback (most recent call last): ConnectionError: connection refused",
    "timed out after 300 s",
    "KeyError: 'customer_id'",
    "disk quota exceeded",
]
WORDS = ["backup", "report", "sync", "cleanup", "import", "export", "deploy", "check", "invoice", "metrics"]
# endpoint name → weight in the mix (a dashboard open in a few tabs, people browsing runs, scripts polling)
MIX = {
    "executions": 24,
    "executions?status": 8,
    "executions?script_id": 10,
    "executions?q": 6,
    "execution": 22,
    "scripts": 6,
    "scripts?q": 6,
    "stats": 10,
    "schedules": 8,
}


def _pick(weights: dict[str, float], rng: random.Random) -> str:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def seed(home: Path) -> None:
    """Bulk rows through the app's own tables (so JSON and encrypted columns are written as the app
    writes them), in a few executemany calls."""
    os.environ["SCRIPTMAN_HOME"] = str(home)
    from sqlalchemy import insert

    from backend.app import create_app
    from backend.config import Settings
    from backend.extensions import db
    from backend.models import Execution, Schedule, Script, ScriptVersion

    app = create_app(Settings())
    rng = random.Random(16)
    now = datetime.now(UTC).replace(tzinfo=None)
    with app.app_context():
        code = "import json\nprint('hello')\n"
        scripts = [
            {
                "id": i,
                "name": f"{WORDS[i % len(WORDS)]}-{WORDS[(i // 10) % len(WORDS)]}-{i:04d}",
                "description": f"Nightly {WORDS[i % len(WORDS)]} job number {i}",
                "language": "python",
                "code": code,
                "folder": f"team-{i % 12}",
                "created_at": now - timedelta(days=120),
                "updated_at": now - timedelta(days=rng.randint(0, 120)),
            }
            for i in range(1, SCRIPTS + 1)
        ]
        db.session.execute(insert(Script), scripts)
        db.session.execute(
            insert(ScriptVersion),
            [
                {"script_id": i, "number": 1, "code": code, "created_at": now - timedelta(days=120)}
                for i in scripts_ids()
            ],
        )
        schedule_scripts = [rng.randint(1, SCRIPTS // 4) for _ in range(SCHEDULES)]
        db.session.execute(
            insert(Schedule),
            [
                {
                    "id": i,
                    "name": f"schedule-{i:03d}",
                    "script_id": schedule_scripts[i - 1],
                    "cron": f"{i % 60} * * * *",
                    "params": {},
                    "enabled": i % 7 != 0,
                }
                for i in range(1, SCHEDULES + 1)
            ],
        )
        statuses, status_weights = list(STATUSES), list(STATUSES.values())
        triggers, trigger_weights = list(TRIGGERS), list(TRIGGERS.values())
        span = DAYS * 86400
        # a few scripts run far more often than the rest (Zipf-like: the busiest has ~4 % of the runs)
        script_weights = [1 / rank**0.7 for rank in range(1, SCRIPTS + 1)]
        rows: list[dict[str, Any]] = []
        # ids ascending with time, as the server hands them out
        offsets = sorted(rng.uniform(0, span) for _ in range(EXECUTIONS))
        for index, offset in enumerate(offsets, start=1):
            status = rng.choices(statuses, status_weights)[0]
            trigger = rng.choices(triggers, trigger_weights)[0]
            script_id = rng.choices(range(1, SCRIPTS + 1), script_weights)[0]
            schedule_id = None
            if trigger == "schedule":  # a run a schedule fired: that schedule's script
                schedule_id = rng.randint(1, SCHEDULES)
                script_id = schedule_scripts[schedule_id - 1]
            queued = now - timedelta(seconds=span - offset)
            duration = int(rng.expovariate(1 / 4000)) + 5
            final = status not in ("queued", "running")
            started = queued + timedelta(milliseconds=rng.randint(5, 400)) if status != "queued" else None
            rows.append(
                {
                    "id": index,
                    "script_id": script_id,
                    "schedule_id": schedule_id,
                    "version_number": 1,
                    "trigger": trigger,
                    "params": {"day": queued.date().isoformat()} if index % 3 == 0 else {},
                    "secret_params": {},
                    "status": status,
                    "exit_code": (0 if status == "succeeded" else 1) if final else None,
                    "result": {"rows": rng.randint(0, 10_000)} if status == "succeeded" and index % 4 == 0 else None,
                    "error": rng.choice(ERRORS) if status in ("failed", "timed_out") else None,
                    "queued_at": queued,
                    "started_at": started,
                    "finished_at": started + timedelta(milliseconds=duration) if final and started else None,
                    "duration_ms": duration if final else None,
                    "peak_memory_kb": rng.randint(8_000, 200_000) if final else None,
                    "cpu_time_ms": duration // 3 if final else None,
                    "attempt": 1,
                    "created_by_id": 1,
                    "variables": [],
                }
            )
        for start in range(0, len(rows), 10_000):
            db.session.execute(insert(Execution), rows[start : start + 10_000])
        db.session.commit()
        db.engine.dispose()


def scripts_ids() -> range:
    return range(1, SCRIPTS + 1)


class Client:
    """One user: their own HTTP session (cookie or bearer token), requests drawn from the mix."""

    def __init__(self, base: str, auth: dict[str, Any], seed_value: int) -> None:
        self.base = base
        self.http = requests.Session()
        self.http.headers.update(auth.get("headers", {}))
        self.http.cookies.update(auth.get("cookies", {}))
        self.rng = random.Random(seed_value)

    def request(self, kind: str) -> tuple[str, float, int]:
        rng = self.rng
        params: dict[str, Any] = {}
        path = "/api/executions"
        if kind == "executions?status":
            params = {"status": rng.choice(["failed", "succeeded", "timed_out", "cancelled"])}
        elif kind == "executions?script_id":
            params = {"script_id": rng.randint(1, SCRIPTS)}
        elif kind == "executions?q":
            params = {"q": rng.choice([*WORDS, "refused", "quota", "#" + str(rng.randint(1, EXECUTIONS))])}
        elif kind == "execution":
            path = f"/api/executions/{rng.randint(1, EXECUTIONS)}"
        elif kind == "scripts":
            path, params = "/api/scripts", {"page": rng.randint(1, 5)}
        elif kind == "scripts?q":
            path, params = "/api/scripts", {"q": rng.choice(WORDS) + rng.choice(["", "-", "-00"])}
        elif kind == "stats":
            path, params = "/api/stats", {"days": 14}
        elif kind == "schedules":
            path = "/api/schedules"
        elif kind == "health":
            path = "/api/health"
        started = time.perf_counter()
        response = self.http.get(self.base + path, params=params, timeout=60)
        elapsed = time.perf_counter() - started
        return kind, elapsed, response.status_code


def drive(clients: list[Client], seconds: float, mix: dict[str, float]) -> dict[str, Any]:
    """Every client sends its next request as soon as its last answer arrived, for ``seconds``."""
    samples: dict[str, list[float]] = defaultdict(list)
    errors: list[str] = []
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def loop(client: Client) -> None:
        mine: list[tuple[str, float, int]] = []
        while time.monotonic() < stop:
            mine.append(client.request(_pick(mix, client.rng)))
        with lock:
            for kind, elapsed, status in mine:
                if status != 200:
                    errors.append(f"{kind}: {status}")
                samples[kind].append(elapsed)

    server_cpu, client_cpu = cpu_seconds(SERVER_PID), time.process_time()
    started = time.perf_counter()
    threads = [threading.Thread(target=loop, args=(client,)) for client in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    every = [value for values in samples.values() for value in values]
    return {
        "samples": samples,
        "all": every,
        "rate": len(every) / wall,
        "errors": errors,
        # CPU per request: what the server (and this client) spent, whatever else the machine ran
        "server_ms": 1000 * (cpu_seconds(SERVER_PID) - server_cpu) / max(1, len(every)),
        "client_ms": 1000 * (time.process_time() - client_cpu) / max(1, len(every)),
    }


SERVER_PID: list[int] = []  # the server's main process, set once it runs


def cpu_seconds(pid: list[int]) -> float:
    """User + system CPU of the server's process tree (its gunicorn worker does the work)."""
    if not pid:
        return 0.0
    main = psutil.Process(pid[0])
    total = 0.0
    for process in [main, *main.children(recursive=True)]:
        try:
            times = process.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


def profile(server: Server) -> subprocess.Popen[bytes]:
    """py-spy (the dev extra) samples the server during the 20-client phase into ``PROFILE``:
    a flame graph (.svg), speedscope (.json) or collapsed stacks (anything else)."""
    kind = {".svg": "flamegraph", ".json": "speedscope"}.get(Path(PROFILE).suffix, "raw")
    spy = [str(Path(sys.executable).with_name("py-spy")), "record", "--pid", str(server.process.pid)]
    options = ["--subprocesses", "--format", kind, "--output", PROFILE, "--duration", str(int(LOAD_SECONDS))]
    return subprocess.Popen([*spy, *options], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return 1000 * ordered[min(len(ordered) - 1, max(0, int(q * len(ordered) + 0.5) - 1))]


def row(name: str, values: list[float]) -> str:
    return f"{pct(values, 0.5):.1f} / {pct(values, 0.99):.1f} ms ({len(values)})"


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        home.mkdir()
        started = time.perf_counter()
        # the schema first: the server's own start migrates (and creates the admin) on an empty home
        server = Server(home)
        server.stop()
        seed(home)
        seeded = time.perf_counter() - started
        server = Server(home)
        SERVER_PID[:] = [server.process.pid]
        try:
            token = server.session.post(f"{server.base}/api/auth/tokens", json={"name": "bench"}).json()["token"]
            cookie_auth = {"cookies": dict(server.session.cookies)}
            token_auth = {"headers": {"Authorization": f"Bearer {token}"}}

            def clients(count: int, auth: dict[str, Any], offset: int) -> list[Client]:
                return [Client(server.base, auth, offset + i) for i in range(count)]

            drive(clients(4, cookie_auth, 900), 3, MIX)  # warm up: caches, connections, the page cache
            solo = drive(clients(1, cookie_auth, 0), SOLO_SECONDS, MIX)
            profiler = profile(server) if PROFILE else None
            cookie = drive(clients(CLIENTS, cookie_auth, 100), LOAD_SECONDS, MIX)
            if profiler is not None:
                profiler.wait()
            bearer = drive(clients(CLIENTS, token_auth, 200), LOAD_SECONDS, MIX)
            # one client on one endpoint at a time: the server's CPU per request of each, which moves
            # far less with the machine's other load than latencies do
            alone = {kind: drive(clients(1, cookie_auth, 500), ENDPOINT_SECONDS, {kind: 1}) for kind in MIX}
            floor_solo = drive(clients(1, cookie_auth, 300), FLOOR_SECONDS / 2, {"health": 1})
            floor = drive(clients(CLIENTS, cookie_auth, 400), FLOOR_SECONDS, {"health": 1})
        finally:
            server.stop()
    print(f"machine: {platform.platform()}, {os.cpu_count()} CPUs, Python {platform.python_version()}")
    print(f"seeded {SCRIPTS:,} scripts, {EXECUTIONS:,} executions, {SCHEDULES} schedules in {seeded:.1f} s")
    phases = {
        "1 client (cookie)": solo,
        f"{CLIENTS} clients (cookie)": cookie,
        f"{CLIENTS} clients (bearer token)": bearer,
    }
    print("| endpoint | " + " | ".join(f"{name} p50 / p99" for name in phases) + " |")
    print("|---|" + "---|" * len(phases))
    for kind in MIX:
        cells = [row(kind, phase["samples"].get(kind, [0.0])) for phase in phases.values()]
        print(f"| {kind} | " + " | ".join(cells) + " |")
    print("| **all** | " + " | ".join(row("all", phase["all"]) for phase in phases.values()) + " |")
    print("| req/s | " + " | ".join(f"{phase['rate']:.0f}" for phase in phases.values()) + " |")
    print(
        "| CPU per request, server / client | "
        + " | ".join(f"{phase['server_ms']:.1f} / {phase['client_ms']:.1f} ms" for phase in phases.values())
        + " |"
    )
    print(
        f"| floor: /api/health | {row('health', floor_solo['all'])}, {floor_solo['rate']:.0f} req/s | "
        f"{row('health', floor['all'])}, {floor['rate']:.0f} req/s, CPU per request server "
        f"{floor['server_ms']:.1f} / client {floor['client_ms']:.1f} ms | — |"
    )
    print("\n| endpoint alone (1 client) | p50 | server CPU per request |\n|---|---|---|")
    for kind, phase in alone.items():
        print(f"| {kind} | {pct(phase['all'], 0.5):.1f} ms | {phase['server_ms']:.1f} ms |")
    print(f"| health | {pct(floor_solo['all'], 0.5):.1f} ms | {floor_solo['server_ms']:.1f} ms |")
    errors = [e for phase in (*phases.values(), *alone.values(), floor) for e in phase["errors"]]
    if errors:
        print(f"{len(errors)} non-200 answers, e.g. {errors[:5]}")
    mean = statistics.fmean(cookie["all"]) * 1000
    print(f"20 clients (cookie): mean {mean:.1f} ms")


if __name__ == "__main__":
    main()
