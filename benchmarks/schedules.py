"""Schedule lateness: 1,000 schedules firing each minute, against one schedule alone, same server.

Not a test: run by hand (`.venv/bin/python benchmarks/schedules.py [ticks]`, part of `make bench`)
and copy the printed table into benchmarks/README.md. It starts the real server with the scheduler
on (``SCRIPTMAN_SCHEDULER_ENABLED=true``), then:

1. **baseline**: one schedule (cron ``* * * * *``, UTC, overlap ``parallel``) fires at the next
   minute boundary alone;
2. **load**: 999 more are created through the API (as a user or a script would) and all 1,000 fire
   at the following boundaries (``ticks``, default 2).

Lateness is what the server records for each fire (``schedule_fires``): ``fired_at`` (when the fire
code got to the tick) and the run's ``queued_at`` (when its run was queued, committed), each minus
the tick (``scheduled_for``, the minute boundary). They are read from the database file after the
ticks (read-only): fetching 1,000 fire lists through the API would load the server being measured.
Every schedule must have exactly one fire row per tick, with outcome ``started`` and one run.

Lateness is about firing, not about running: the server runs with ``SCRIPTMAN_MAX_CONCURRENCY=1``
and a long ``sleep`` holds that one slot, so the 1,000 runs stay queued and none competes for the
2 CPUs with the scheduler (on this machine a run costs ~100 ms of CPU; 1,000 runs a minute would be
more than the machine can execute at all, whatever the scheduler does).
"""

from __future__ import annotations

import os
import platform
import sqlite3
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.log_latency import percentile  # noqa: E402
from benchmarks.run import Server  # noqa: E402

SCHEDULES = 1000
CRON = "* * * * *"
MIN_LEAD_SECONDS = 5.0  # schedules must all exist this long before the tick they are measured on
FIRE_WAIT_SECONDS = 55.0


def next_boundary(after: float) -> float:
    return (int(after) // 60 + 1) * 60.0


def stored_instant(text: str) -> float:
    """A naive-UTC ``DateTime`` column as SQLite holds it ("2026-11-30 21:00:00.123456")."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


def fires_for(db_path: Path, tick: float) -> list[tuple[int, str, float, float | None]]:
    """(schedule id, outcome, fired_at - tick, queued_at - tick) of every fire row of ``tick``."""
    stamp = datetime.fromtimestamp(tick, UTC).replace(tzinfo=None).isoformat(sep=" ")
    with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=10) as conn:
        rows = conn.execute(
            "SELECT f.schedule_id, f.outcome, f.fired_at, e.queued_at FROM schedule_fires f "
            "LEFT JOIN executions e ON e.id = f.execution_id WHERE f.scheduled_for LIKE ?",
            (stamp[:19] + "%",),
        ).fetchall()
    return [
        (int(sid), str(outcome), stored_instant(fired) - tick, stored_instant(queued) - tick if queued else None)
        for sid, outcome, fired, queued in rows
    ]


def wait_for_fires(db_path: Path, tick: float, expected: int) -> list[tuple[int, str, float, float | None]]:
    time.sleep(max(0.0, tick - time.time()))
    deadline = time.time() + FIRE_WAIT_SECONDS
    rows = fires_for(db_path, tick)
    while len(rows) < expected and time.time() < deadline:
        time.sleep(0.5)
        rows = fires_for(db_path, tick)
    time.sleep(1.0)  # a duplicate fire would come within the tick's fire pass: look once more
    return fires_for(db_path, tick)


def create_schedule(server: Server, script_id: int, index: int) -> int:
    response = server.session.post(
        f"{server.base}/api/schedules",
        json={
            "name": f"every-minute-{index}",
            "script_id": script_id,
            "cron": CRON,
            "timezone": "UTC",
            "overlap_policy": "parallel",
            "misfire_grace_seconds": 60,
        },
    )
    response.raise_for_status()
    return int(response.json()["id"])


def summary(rows: list[tuple[int, str, float, float | None]], schedule_ids: set[int]) -> dict[str, float | int]:
    fired = [r[2] for r in rows]
    queued = [r[3] for r in rows if r[3] is not None]
    per_schedule = Counter(r[0] for r in rows)
    return {
        "rows": len(rows),
        "started": sum(1 for r in rows if r[1] == "started"),
        "missing": len(schedule_ids - set(per_schedule)),
        "duplicates": sum(1 for count in per_schedule.values() if count > 1),
        "fired_p50": percentile(fired, 50),
        "fired_p99": percentile(fired, 99),
        "fired_max": max(fired),
        "queued_p50": percentile(queued, 50) if queued else float("nan"),
        "queued_p99": percentile(queued, 99) if queued else float("nan"),
        "queued_max": max(queued) if queued else float("nan"),
    }


def main() -> None:
    ticks = int(sys.argv[1]) if len(sys.argv) > 1 else 2
    with tempfile.TemporaryDirectory(prefix="scriptman-schedules-") as tmp:
        home = Path(tmp) / "home"
        home.mkdir()
        db_path = home / "data" / "scriptman.db"
        server = Server(
            home,
            {"SCRIPTMAN_SCHEDULER_ENABLED": "true", "SCRIPTMAN_MAX_CONCURRENCY": "1", "SCRIPTMAN_TIMEZONE": "UTC"},
        )
        try:
            blocker = server.submit(server.script("hold-the-slot", "import time\ntime.sleep(600)\n"))
            while server.session.get(f"{server.base}/api/executions/{blocker['id']}").json()["status"] != "running":
                time.sleep(0.05)
            script_id = server.script("scheduled", "pass\n")
            solo = {create_schedule(server, script_id, 0)}
            tick = next_boundary(time.time() + MIN_LEAD_SECONDS)
            baseline = summary(wait_for_fires(db_path, tick, 1), solo)

            started = time.perf_counter()
            everyone = solo | {create_schedule(server, script_id, i) for i in range(1, SCHEDULES)}
            create_seconds = time.perf_counter() - started
            loaded = []
            tick = next_boundary(time.time() + MIN_LEAD_SECONDS)
            for _ in range(ticks):
                loaded.append(summary(wait_for_fires(db_path, tick, SCHEDULES), everyone))
                tick += 60
        finally:
            server.stop()
    print(f"{platform.platform()}, {len(os.sched_getaffinity(0))} CPUs, Python {platform.python_version()}")
    print(
        f"{SCHEDULES - 1} schedules created through the API in {create_seconds:.1f} s "
        f"({1000 * create_seconds / (SCHEDULES - 1):.1f} ms each); lateness in ms after the minute boundary"
    )
    print(
        "| tick | fire rows (started) / missing / duplicated | fired_at p50 / p99 / max | run queued p50 / p99 / max |"
    )
    print("|---|---|---|---|")
    for name, s in [("1 schedule alone (baseline)", baseline)] + [
        (f"{SCHEDULES} schedules, tick {i + 1}", s) for i, s in enumerate(loaded)
    ]:
        print(
            f"| {name} | {s['rows']} ({s['started']}) / {s['missing']} / {s['duplicates']} | "
            f"{1000 * s['fired_p50']:.0f} / {1000 * s['fired_p99']:.0f} / {1000 * s['fired_max']:.0f} | "
            f"{1000 * s['queued_p50']:.0f} / {1000 * s['queued_p99']:.0f} / {1000 * s['queued_max']:.0f} |"
        )


if __name__ == "__main__":
    main()
