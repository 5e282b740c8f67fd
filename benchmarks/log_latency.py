"""Log latency: a line printed by a run → received by a live SSE client, against a bare pipe.

Not a test: run by hand (`.venv/bin/python benchmarks/log_latency.py [rounds]`) and copy the
printed table into benchmarks/README.md. It starts the real server (`scriptman serve`, as
benchmarks/run.py does) and, in alternating rounds:

- **bare pipe** (the floor): the same script run with ``python3``, its stdout a pipe read line by
  line by this process;
- **SSE `log`**: one client on ``/logs/stream`` (one event per record, as `scriptman run` and
  curl users read it);
- **SSE `batch=true`**: the same with batching on (what the web app opens);
- **SSE `log`, poll**: a second server with ``SCRIPTMAN_LOG_FOLLOW=poll``, i.e. the 100 ms file
  poll every stream used before inotify.

The script prints 50 lines 50 ms apart, each carrying ``time.time()`` at the print; a client
computes receive time - print time (same machine, same clock). The script waits on a gate file so
that the client is connected before the first line.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.run import Server  # noqa: E402
from tests import sse  # noqa: E402

LINES = 50
GAP_SECONDS = 0.05
CODE = """import os, sys, time
while not os.path.exists({gate!r}):
    time.sleep(0.002)
for i in range({lines}):
    print(repr(time.time()), flush=True)
    time.sleep({gap})
"""


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))]


def bare_pipe(folder: Path) -> list[float]:
    gate = folder / "bare-gate"
    gate.touch()
    script = folder / "bare_latency.py"
    script.write_text(CODE.format(gate=str(gate), lines=LINES, gap=GAP_SECONDS))
    latencies: list[float] = []
    with subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True) as child:
        assert child.stdout is not None
        for line in child.stdout:
            latencies.append(time.time() - float(line))
    return latencies


def sse_round(server: Server, folder: Path, index: int, batch: bool) -> list[float]:
    gate = folder / f"gate-{index}-{int(batch)}"
    code = CODE.format(gate=str(gate), lines=LINES, gap=GAP_SECONDS)
    script_id = server.script(f"latency-{index}-{int(batch)}", code)
    execution = server.submit(script_id)
    latencies: list[float] = []
    url = f"{server.base}/api/executions/{execution['id']}/logs/stream" + ("?batch=true" if batch else "")
    with server.session.get(url, stream=True, timeout=60) as response:
        for event in sse.parse(response.iter_content(chunk_size=None)):
            received = time.time()
            records = event.data if event.event == "logs" else [event.data] if event.event == "log" else []
            for record in records:
                if record["stream"] == "sys" and not gate.exists():
                    gate.touch()  # the run started and we are following it: let it print
                if record["stream"] == "out":
                    latencies.append(received - float(record["text"]))
            if event.event == "end":
                break
    assert len(latencies) == LINES, f"got {len(latencies)} of {LINES} lines"
    return latencies


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    with tempfile.TemporaryDirectory(prefix="scriptman-latency-") as tmp:
        folder = Path(tmp)
        (folder / "home").mkdir()
        (folder / "home-poll").mkdir()
        server = Server(folder / "home")
        polling = Server(folder / "home-poll", {"SCRIPTMAN_LOG_FOLLOW": "poll"})
        results: dict[str, list[list[float]]] = {
            "bare pipe": [],
            "SSE `log` (inotify)": [],
            "SSE `batch=true` (inotify)": [],
            "SSE `log`, SCRIPTMAN_LOG_FOLLOW=poll (the 100 ms poll of before)": [],
        }
        try:
            for index in range(rounds):
                results["bare pipe"].append(bare_pipe(folder))
                results["SSE `log` (inotify)"].append(sse_round(server, folder, index, batch=False))
                results["SSE `batch=true` (inotify)"].append(sse_round(server, folder, index, batch=True))
                results["SSE `log`, SCRIPTMAN_LOG_FOLLOW=poll (the 100 ms poll of before)"].append(
                    sse_round(polling, folder, 1000 + index, batch=False)
                )
        finally:
            server.stop()
            polling.stop()
    print(f"{platform.platform()}, {len(os.sched_getaffinity(0))} CPUs, Python {platform.python_version()}")
    print(f"{rounds} rounds of {LINES} lines {int(GAP_SECONDS * 1000)} ms apart; latency in ms")
    print("| client | p50 (all rounds) | p99 (all rounds) | p50 per round | p99 per round |")
    print("|---|---|---|---|---|")
    for name, per_round in results.items():
        pooled = [v for values in per_round for v in values]
        p50s = [1000 * percentile(values, 50) for values in per_round]
        p99s = [1000 * percentile(values, 99) for values in per_round]
        print(
            f"| {name} | {1000 * percentile(pooled, 50):.2f} | {1000 * percentile(pooled, 99):.2f} | "
            f"{min(p50s):.2f} to {max(p50s):.2f} | {min(p99s):.2f} to {max(p99s):.2f} |"
        )


if __name__ == "__main__":
    main()
