"""SSE fan-out: 500 clients following one run, against one client alone on the same server.

Not a test: run by hand (`.venv/bin/python benchmarks/sse_clients.py [rounds] [clients] [threads]`,
part of `make bench`) and copy the printed table into benchmarks/README.md. It starts the real
server (gunicorn gthread, ``SCRIPTMAN_SERVER_THREADS`` = ``threads`` or the default) and, in
alternating rounds, a run printing ``LINES`` lines ``GAP_SECONDS`` apart (each carrying
``time.time()`` at the print) followed by:

- **1 client** (the baseline) on ``GET /api/executions/<id>/logs/stream``;
- **N clients** (default 500) on the same URL of one run.

The script waits on a gate file until every client has its response headers (or ``CONNECT_SECONDS``
passed, which is itself a finding), so all clients are connected before the first line. Each client
counts the ``log`` records it receives: every line must reach every client. Latency = receive time -
print time (same machine, same clock). Halfway through the run one ordinary API request
(``GET /api/executions/<id>``) is timed: it needs a free server thread too. Before the gate opens,
the server's CPU is measured for ``IDLE_SECONDS`` with every stream open and nothing to send: what
holding the streams costs (each stream looks the run's status up every second).

The client side is one asyncio process with plain sockets (HTTP/1.0, so the body is the raw event
stream): ~1 ms of CPU per line for 500 clients, on the same 2 CPUs as the server. Receive times are
taken when a socket's bytes are read, before parsing, and the client's CPU time is printed next to the
server's, so the share of the latency the client itself adds can be judged.
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.log_latency import percentile  # noqa: E402
from benchmarks.run import Server  # noqa: E402

LINES = 40
GAP_SECONDS = 0.05
CONNECT_SECONDS = 20.0
IDLE_SECONDS = 3.0
RUN_SECONDS = 120.0
CODE = """import os, time
while not os.path.exists({gate!r}):
    time.sleep(0.002)
for i in range({lines}):
    print(repr(time.time()), flush=True)
    time.sleep({gap})
"""


@dataclass
class Client:
    headers_at: float | None = None
    lines: int = 0
    ended: bool = False
    error: str | None = None
    latencies: list[float] = field(default_factory=list)


async def follow(host: str, port: int, path: str, cookie: str, client: Client) -> None:
    try:
        reader, writer = await asyncio.open_connection(host, port)
        writer.write(f"GET {path} HTTP/1.0\r\nHost: {host}:{port}\r\nCookie: {cookie}\r\n\r\n".encode())
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        if b" 200 " not in head.split(b"\r\n", 1)[0]:
            client.error = head.split(b"\r\n", 1)[0].decode()
            return
        client.headers_at = time.time()
        buffer = b""
        while not client.ended:
            chunk = await reader.read(65536)
            received = time.time()
            if not chunk:
                break
            buffer += chunk
            *blocks, buffer = buffer.split(b"\n\n")
            for block in blocks:
                event, data = "message", b""
                for line in block.split(b"\n"):
                    if line.startswith(b"event:"):
                        event = line[6:].strip().decode()
                    elif line.startswith(b"data:"):
                        data = line[5:].strip()
                if event == "log":
                    record = json.loads(data)
                    if record["stream"] == "out":
                        client.lines += 1
                        client.latencies.append(received - float(record["text"]))
                elif event == "end":
                    client.ended = True
        writer.close()
    except (OSError, asyncio.IncompleteReadError, ValueError) as error:
        client.error = repr(error)


async def fan_out(server: Server, execution_id: int, gate: Path, count: int) -> dict[str, object]:
    cookie = "; ".join(f"{c.name}={c.value}" for c in server.session.cookies)
    path = f"/api/executions/{execution_id}/logs/stream"
    clients = [Client() for _ in range(count)]
    tasks = [asyncio.create_task(follow("127.0.0.1", server.port, path, cookie, c)) for c in clients]
    started = time.time()
    while sum(c.headers_at is not None for c in clients) < count and time.time() - started < CONNECT_SECONDS:
        if all(t.done() for t in tasks):
            break
        await asyncio.sleep(0.01)
    connected = sum(c.headers_at is not None for c in clients)
    connect_seconds = time.time() - started
    # the streams open and idle (the run waits on its gate): what merely holding them costs the server
    idle_cpu = server_cpu(server)
    await asyncio.sleep(IDLE_SECONDS)
    idle_cpu = (server_cpu(server) - idle_cpu) / IDLE_SECONDS
    gate.touch()
    await asyncio.sleep(LINES * GAP_SECONDS / 2)
    api_started = time.perf_counter()
    api_ok = await asyncio.to_thread(_api_probe, server, execution_id)
    api_ms = 1000 * (time.perf_counter() - api_started)
    await asyncio.wait(tasks, timeout=RUN_SECONDS)
    for task in tasks:
        task.cancel()
    latencies = [v for c in clients for v in c.latencies]
    return {
        "connected": connected,
        "connect_s": connect_seconds,
        "complete": sum(c.lines == LINES for c in clients),
        "lines": sum(c.lines for c in clients),
        "errors": sorted({c.error for c in clients if c.error}),
        "latencies": latencies,
        "api_ms": api_ms if api_ok else float("nan"),
        "done_s": time.time() - started,
        "idle_cpu": idle_cpu,
    }


def _api_probe(server: Server, execution_id: int) -> bool:
    try:
        return server.session.get(f"{server.base}/api/executions/{execution_id}", timeout=RUN_SECONDS).ok
    except requests.RequestException:
        return False


def server_cpu(server: Server) -> float:
    total = 0.0
    for process in [psutil.Process(server.process.pid), *psutil.Process(server.process.pid).children(recursive=True)]:
        try:
            times = process.cpu_times()
            total += times.user + times.system
        except psutil.NoSuchProcess:
            pass
    return total


def one_round(server: Server, folder: Path, name: str, count: int) -> dict[str, object]:
    gate = folder / f"gate-{name}"
    script_id = server.script(name, CODE.format(gate=str(gate), lines=LINES, gap=GAP_SECONDS))
    execution = server.submit(script_id)
    cpu_server, cpu_client = server_cpu(server), time.process_time()
    result = asyncio.run(fan_out(server, int(execution["id"]), gate, count))
    result["cpu_server_s"] = server_cpu(server) - cpu_server
    result["cpu_client_s"] = time.process_time() - cpu_client
    result["status"] = server.wait(execution, 0.05)["status"]
    return result


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 2
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 500
    threads = sys.argv[3] if len(sys.argv) > 3 else None
    extra = {"SCRIPTMAN_SERVER_THREADS": threads} if threads else {}
    results: list[tuple[str, dict[str, object]]] = []
    with tempfile.TemporaryDirectory(prefix="scriptman-sse-") as tmp:
        folder = Path(tmp)
        (folder / "home").mkdir()
        server = Server(folder / "home", extra)
        try:
            rss = psutil.Process(server.process.pid).children()[0].memory_info().rss
            for index in range(rounds):
                results.append(("1 client (baseline)", one_round(server, folder, f"one-{index}", 1)))
                results.append((f"{count} clients", one_round(server, folder, f"many-{index}", count)))
            rss_after = psutil.Process(server.process.pid).children()[0].memory_info().rss
        finally:
            server.stop()
    print(f"{platform.platform()}, {len(os.sched_getaffinity(0))} CPUs, Python {platform.python_version()}")
    print(
        f"server threads: {threads or 'default'}; {LINES} lines {int(GAP_SECONDS * 1000)} ms apart per run; "
        f"worker RSS {rss / 2**20:.0f} → {rss_after / 2**20:.0f} MB over the rounds"
    )
    print(
        "| clients | connected before the first line (s) | clients with every line | lines received / sent | "
        "print → client p50 / p99 / max (ms) | API request during the run (ms) | CPU server / client (s) | "
        "server CPU, streams idle |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for name, r in results:
        lat = r["latencies"]
        assert isinstance(lat, list)
        lat_text = (
            f"{1000 * percentile(lat, 50):.0f} / {1000 * percentile(lat, 99):.0f} / {1000 * max(lat):.0f}"
            if lat
            else "—"
        )
        clients = 1 if name.startswith("1 ") else count
        errors = r["errors"]
        print(
            f"| {name} | {r['connected']} in {r['connect_s']:.1f} | {r['complete']} of {clients} | "
            f"{r['lines']} / {clients * LINES} | {lat_text} | {r['api_ms']:.0f} | "
            f"{r['cpu_server_s']:.1f} / {r['cpu_client_s']:.1f} | {100 * r['idle_cpu']:.0f} % |"
            + (f" errors: {errors}" if errors else "")
        )


if __name__ == "__main__":
    main()
