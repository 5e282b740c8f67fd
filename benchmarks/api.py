"""API throughput at 100,000 executions and 1,000 scripts: 20 concurrent clients against one alone.

Not a test: run by hand (`make bench`). It starts the real server (``scriptman serve``: gunicorn
gthread) in a temporary ``SCRIPTMAN_HOME`` twice: with one web process (the default) and with one per
core (``SCRIPTMAN_WEB_PROCESSES``, at least 2), and seeds the database
directly (bulk inserts of scripts, versions, schedules and executions spread over ~90 days,
statuses, triggers, results and errors as a busy team would have them), then drives a mix of the
requests the web app and scripts make: the executions list (plain, by status, by script, text
search), one execution, the scripts list and search, the dashboard numbers and the schedules list.

Each phase runs for a fixed time; the baseline in the same run is one client alone. Two floors at
the same concurrency: ``/api/health`` (Flask and the security hooks, no session) and the machine's
floor, a trivial WSGI app served by the same gunicorn configuration (``backend.server.
gunicorn_options``): what any request costs here before Scriptman's own work. Clients authenticate
as a browser would (a logged-in session cookie) and as a script would (a bearer token). A third
20-client phase starts a trivial run every second meanwhile (``Ticker``): each run's state changes
void what the server remembers (list totals, the dashboard), as on a busy server.

The load generator shares the CPUs with the server, so it is made cheap: raw HTTP/1.1 on kept-alive
connections, all clients on one asyncio loop. ``client_costs`` measures each way (``requests``,
``http.client`` in threads, asyncio) against the floor in the same run.

``BENCH_API_HOME=<dir>`` keeps the seeded home between runs (seeded once); ``BENCH_API_CLIENT``
picks the way of sending; ``BENCH_API_PROFILE=<file>`` records a py-spy profile of the 20-client
phase.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import os
import platform
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import psutil
import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from run import Server, free_port, start_in_session  # noqa: E402

SCRIPTS = 1_000
EXECUTIONS = 100_000
SCHEDULES = 100
DAYS = 90
CLIENTS = 20
SOLO_SECONDS = float(os.environ.get("BENCH_API_SOLO_SECONDS", 12))
LOAD_SECONDS = float(os.environ.get("BENCH_API_LOAD_SECONDS", 25))
FLOOR_SECONDS = float(os.environ.get("BENCH_API_FLOOR_SECONDS", 8))
ENDPOINT_SECONDS = float(os.environ.get("BENCH_API_ENDPOINT_SECONDS", 2))
CLIENT_WAY = os.environ.get("BENCH_API_CLIENT", "asyncio")  # see Client and client_costs()
RUN_EVERY_SECONDS = float(os.environ.get("BENCH_API_RUN_EVERY_SECONDS", 1))
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


def target(kind: str, rng: random.Random) -> str:
    """The path and query of one request of ``kind``, drawn with ``rng``."""
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
    return f"{path}?{urlencode(params)}" if params else path


class Client:
    """One user: a kept-alive connection of their own (cookie or bearer token), requests drawn from the mix.

    The load generator shares the 2 CPUs with the server, so each request must cost it little: a raw
    HTTP/1.1 request on a kept-alive socket read by asyncio (one thread for all clients) costs a
    fraction of ``requests`` (see ``client_costs``: CPU per request of each way, same run).
    """

    def __init__(self, base: str, auth: dict[str, Any], seed_value: int) -> None:
        parts = urlsplit(base)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.base = base
        self.auth = auth
        headers = {"Host": parts.netloc, **auth.get("headers", {})}
        if auth.get("cookies"):
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in auth["cookies"].items())
        self.headers = headers
        self.head = "".join(f"{key}: {value}\r\n" for key, value in headers.items())
        self.rng = random.Random(seed_value)
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.http: Any = None  # the threaded ways' connection

    # -- asyncio, raw HTTP/1.1 (the default) -------------------------------------------------------
    async def fetch(self, kind: str) -> tuple[str, float, int]:
        request = f"GET {target(kind, self.rng)} HTTP/1.1\r\n{self.head}\r\n".encode()
        started = time.perf_counter()
        for attempt in (1, 2):  # a connection the server closed meanwhile (keep-alive timeout): once more
            if self.writer is None:
                self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
            assert self.reader is not None
            try:
                self.writer.write(request)
                head = await self.reader.readuntil(b"\r\n\r\n")
            except (ConnectionError, asyncio.IncompleteReadError):
                await self.close()
                if attempt == 2:
                    raise
                started = time.perf_counter()
                continue
            break
        lower = head.lower()
        at = lower.find(b"\r\ncontent-length:")
        if at < 0:
            raise RuntimeError(f"{kind}: an answer without Content-Length: {head[:200]!r}")
        length = int(lower[at + 17 : lower.index(b"\r\n", at + 2)])
        await self.reader.readexactly(length)
        elapsed = time.perf_counter() - started
        if b"\r\nconnection: close" in lower:
            await self.close()
        return kind, elapsed, int(head[9:12])

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(ConnectionError):
                await self.writer.wait_closed()
        self.reader = self.writer = None

    # -- threads: http.client on a kept-alive connection, or requests (the way before) -------------
    def request(self, kind: str, way: str) -> tuple[str, float, int]:
        path = target(kind, self.rng)
        started = time.perf_counter()
        if way == "requests":
            if self.http is None:
                self.http = requests.Session()
                self.http.headers.update(self.auth.get("headers", {}))
                self.http.cookies.update(self.auth.get("cookies", {}))
            status = self.http.get(self.base + path, timeout=60).status_code
        else:
            if self.http is None:
                self.http = http.client.HTTPConnection(self.host, self.port, timeout=60)
            self.http.request("GET", path, headers=self.headers)
            answer = self.http.getresponse()
            answer.read()
            status = answer.status
        return kind, time.perf_counter() - started, status


def drive(clients: list[Client], seconds: float, mix: dict[str, float], way: str = "") -> dict[str, Any]:
    """Every client sends its next request as soon as its last answer arrived, for ``seconds``.

    ``way``: "asyncio" (default, ``BENCH_API_CLIENT``), "http.client" or "requests" (one thread each).
    """
    way = way or CLIENT_WAY
    samples: dict[str, list[float]] = defaultdict(list)
    errors: list[str] = []
    lock = threading.Lock()
    stop = time.monotonic() + seconds
    results: list[tuple[str, float, int]] = []

    def loop(client: Client) -> None:
        mine: list[tuple[str, float, int]] = []
        while time.monotonic() < stop:
            mine.append(client.request(_pick(mix, client.rng), way))
        with lock:
            results.extend(mine)

    async def task(client: Client) -> None:
        try:
            while time.monotonic() < stop:
                results.append(await client.fetch(_pick(mix, client.rng)))
        finally:
            await client.close()

    async def run_all() -> None:
        await asyncio.gather(*(task(client) for client in clients))

    server_cpu, client_cpu = cpu_seconds(SERVER_PID), time.process_time()
    started = time.perf_counter()
    if way == "asyncio":
        asyncio.run(run_all())
    else:
        threads = [threading.Thread(target=loop, args=(client,)) for client in clients]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    wall = time.perf_counter() - started
    client_seconds = time.process_time() - client_cpu
    for kind, elapsed, status in results:
        if status != 200:
            errors.append(f"{kind}: {status}")
        samples[kind].append(elapsed)
    every = [value for values in samples.values() for value in values]
    return {
        "samples": samples,
        "all": every,
        "rate": len(every) / wall,
        "errors": errors,
        # CPU per request: what the server (and this client) spent, whatever else the machine ran
        "server_ms": 1000 * (cpu_seconds(SERVER_PID) - server_cpu) / max(1, len(every)),
        "client_ms": 1000 * client_seconds / max(1, len(every)),
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


FLOOR_BODY = b'{"status":"ok"}'


def floor_app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    """The least a WSGI app can do: the machine's floor for a request through Scriptman's gunicorn."""
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(FLOOR_BODY)))])
    return [FLOOR_BODY]


def serve_floor() -> None:
    """``api.py --floor-server``: ``floor_app`` under gunicorn with the options of ``scriptman serve``
    (workers = SCRIPTMAN_WEB_PROCESSES, gthread, its threads, keep-alive and access log)."""
    from gunicorn.app.base import BaseApplication

    from backend.config import Settings
    from backend.server import gunicorn_options

    class FloorServer(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            for key, value in gunicorn_options(Settings(), self.cfg.settings).items():
                self.cfg.set(key, value)

        def load(self) -> Any:
            return floor_app

    FloorServer().run()


class Floor:
    """``serve_floor`` in a process group of its own, on a free port, like ``run.Server``."""

    def __init__(self, home: Path, processes: int = 1) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        env = {
            **os.environ,
            "SCRIPTMAN_HOME": str(home),
            "SCRIPTMAN_PORT": str(self.port),
            "SCRIPTMAN_WEB_PROCESSES": str(processes),
        }
        self.process = start_in_session([sys.executable, __file__, "--floor-server"], env, f"{self.base}/", 30)

    def stop(self) -> None:
        os.killpg(self.process.pid, signal.SIGTERM)
        self.process.wait(timeout=20)


def client_costs(floor: Floor) -> dict[str, dict[str, Any]]:
    """Each way of sending requests, 20 clients against the floor: the client's own CPU per request
    (the clients share the CPUs with the server, so the cheapest is the one the phases use)."""
    return {
        way: drive([Client(floor.base, {}, 700 + i) for i in range(CLIENTS)], FLOOR_SECONDS / 2, {"health": 1}, way)
        for way in ("requests", "http.client", "asyncio")
    }


def seeded_home(tmp: Path) -> tuple[Path, float]:
    """A home with the schema and the rows; ``BENCH_API_HOME`` keeps one across runs (seeded once)."""
    kept = os.environ.get("BENCH_API_HOME")
    home = Path(kept) if kept else tmp / "home"
    home.mkdir(parents=True, exist_ok=True)
    marker = home / "bench-seeded"
    if marker.exists():
        return home, 0.0
    started = time.perf_counter()
    # the schema first: the server's own start migrates (and creates the admin) on an empty home
    Server(home).stop()
    seed(home)
    marker.write_text(f"{SCRIPTS} scripts, {EXECUTIONS} executions\n")
    return home, time.perf_counter() - started


class Ticker:
    """A trivial run started every ``RUN_EVERY_SECONDS`` while a phase runs: each run's state changes
    void what the server remembers (list totals, the dashboard), as on a busy server."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.script = server.script(f"bench-tick-{os.getpid()}-{time.monotonic_ns()}", "print('tick')")
        self.started = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        while not self.stop.wait(RUN_EVERY_SECONDS):
            self.server.submit(self.script)
            self.started += 1

    def __enter__(self) -> Ticker:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(30)


def floor_phases(home: Path, processes: int, seed_base: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """The trivial WSGI app on ``processes`` web processes: one client, then 20."""
    floor = Floor(home, processes)
    SERVER_PID[:] = [floor.process.pid]
    try:
        drive([Client(floor.base, {}, seed_base + i) for i in range(4)], 1, {"health": 1})  # warm up
        solo = drive([Client(floor.base, {}, seed_base + 50)], FLOOR_SECONDS / 2, {"health": 1})
        many = drive([Client(floor.base, {}, seed_base + 60 + i) for i in range(CLIENTS)], FLOOR_SECONDS, {"health": 1})
    finally:
        floor.stop()
    return solo, many


def server_phases(home: Path, processes: int, *, full: bool) -> dict[str, Any]:
    """Scriptman on ``processes`` web processes: the 20-client phases (and with ``full`` one client
    alone, each endpoint alone and the /api/health floor)."""
    server = Server(home, {"SCRIPTMAN_WEB_PROCESSES": str(processes)})
    SERVER_PID[:] = [server.process.pid]
    out: dict[str, Any] = {}
    try:
        token = server.session.post(f"{server.base}/api/auth/tokens", json={"name": "bench"}).json()["token"]
        cookie_auth = {"cookies": dict(server.session.cookies)}
        token_auth = {"headers": {"Authorization": f"Bearer {token}"}}

        def clients(count: int, auth: dict[str, Any], offset: int) -> list[Client]:
            return [Client(server.base, auth, offset + i) for i in range(count)]

        drive(clients(4, cookie_auth, 900), 3, MIX)  # warm up: caches, connections, the page cache
        if full:
            out["solo"] = drive(clients(1, cookie_auth, 0), SOLO_SECONDS, MIX)
        profiler = profile(server) if PROFILE and full else None
        out["cookie"] = drive(clients(CLIENTS, cookie_auth, 100), LOAD_SECONDS, MIX)
        if profiler is not None:
            profiler.wait()
        out["bearer"] = drive(clients(CLIENTS, token_auth, 200), LOAD_SECONDS, MIX)
        with Ticker(server) as ticker:
            out["runs"] = drive(clients(CLIENTS, cookie_auth, 250), LOAD_SECONDS, MIX)
        out["runs_started"] = ticker.started
        if full:
            # one client on one endpoint at a time: the server's CPU per request of each, which moves
            # far less with the machine's other load than latencies do
            out["alone"] = {kind: drive(clients(1, cookie_auth, 500), ENDPOINT_SECONDS, {kind: 1}) for kind in MIX}
            out["health_solo"] = drive(clients(1, cookie_auth, 300), FLOOR_SECONDS / 2, {"health": 1})
            out["health"] = drive(clients(CLIENTS, cookie_auth, 400), FLOOR_SECONDS, {"health": 1})
    finally:
        server.stop()
    return out


def main() -> None:
    one = 1
    several = max(2, os.cpu_count() or 2)  # SCRIPTMAN_WEB_PROCESSES: one per core (README)
    with tempfile.TemporaryDirectory() as tmp:
        home, seeded = seeded_home(Path(tmp))
        floor = Floor(home, one)
        SERVER_PID[:] = [floor.process.pid]
        try:
            drive([Client(floor.base, {}, 600 + i) for i in range(4)], 1, {"health": 1})  # warm up
            ways = client_costs(floor)
        finally:
            floor.stop()
        floors = {one: floor_phases(home, one, 640), several: floor_phases(home, several, 740)}
        single = server_phases(home, one, full=True)
        multi = server_phases(home, several, full=False)
    load = os.getloadavg()
    print(f"machine: {platform.platform()}, {os.cpu_count()} CPUs, Python {platform.python_version()}")
    print(f"load average at the end: {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f} (1 / 5 / 15 min)")
    print(f"client: {CLIENT_WAY}; a run started every {RUN_EVERY_SECONDS:g} s in the 'with runs' phases")
    if seeded:
        print(f"seeded {SCRIPTS:,} scripts, {EXECUTIONS:,} executions, {SCHEDULES} schedules in {seeded:.1f} s")
    phases = {
        "1 client (cookie), 1 process": single["solo"],
        f"{CLIENTS} clients (cookie), 1 process": single["cookie"],
        f"{CLIENTS} clients (bearer), 1 process": single["bearer"],
        f"{CLIENTS} clients (cookie) with runs, 1 process": single["runs"],
        f"{CLIENTS} clients (cookie), {several} processes": multi["cookie"],
        f"{CLIENTS} clients (bearer), {several} processes": multi["bearer"],
        f"{CLIENTS} clients (cookie) with runs, {several} processes": multi["runs"],
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
    print(f"runs started meanwhile: {single['runs_started']} (1 process), {multi['runs_started']} ({several})")
    print("\n| floor | 1 client | 20 clients |\n|---|---|---|")
    floor_rows = [("/api/health (Flask, no session), 1 process", single["health_solo"], single["health"])]
    for processes, (solo, many) in floors.items():
        floor_rows.append(
            (f"a trivial WSGI app, Scriptman's gunicorn configuration, {processes} process(es)", solo, many)
        )
    for name, solo, many in floor_rows:
        print(
            f"| {name} | {row('health', solo['all'])}, {solo['rate']:.0f} req/s | "
            f"{row('health', many['all'])}, {many['rate']:.0f} req/s, CPU per request server "
            f"{many['server_ms']:.2f} / client {many['client_ms']:.2f} ms |"
        )
    print("\n| load generator (20 clients against the floor app) | p50 / p99 | req/s | client CPU per request |")
    print("|---|---|---|---|")
    for way, phase in ways.items():
        print(f"| {way} | {row(way, phase['all'])} | {phase['rate']:.0f} | {phase['client_ms']:.3f} ms |")
    print("\n| endpoint alone (1 client, 1 process) | p50 | server CPU per request |\n|---|---|---|")
    for kind, phase in single["alone"].items():
        print(f"| {kind} | {pct(phase['all'], 0.5):.1f} ms | {phase['server_ms']:.1f} ms |")
    print(f"| health | {pct(single['health_solo']['all'], 0.5):.1f} ms | {single['health_solo']['server_ms']:.1f} ms |")
    measured = [*phases.values(), *single["alone"].values(), single["health"], *(many for _, many in floors.values())]
    errors = [e for phase in measured for e in phase["errors"]]
    if errors:
        print(f"{len(errors)} non-200 answers, e.g. {errors[:5]}")


if __name__ == "__main__":
    if sys.argv[1:] == ["--floor-server"]:
        serve_floor()
    else:
        main()
