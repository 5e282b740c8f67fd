"""Browser benchmark: the execution page with a firehose run and with a finished million-line log.

Not a test: run by hand (`make bench-ui`), copy the printed table into benchmarks/README.md.
Drives Debian's chromium through Playwright against the real server; long tasks (main-thread
blocks > 50 ms) are collected with a PerformanceObserver. Baselines from the same run: the run's
own duration as the API reports it, and the same log fetched whole into one `<pre>`.
"""

from __future__ import annotations

import os
import platform
import sys
import tempfile
import time
from pathlib import Path

from playwright.sync_api import Page, sync_playwright

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import Server

FIREHOSE_LINES = 100_000
BIG_LOG_LINES = 1_000_000
CHROMIUM = os.environ.get("SCRIPTMAN_CHROMIUM", "/usr/bin/chromium")
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"]
LONG_TASKS = """
window.__long = [];
new PerformanceObserver((list) => { for (const e of list.getEntries()) window.__long.push(e.duration) })
  .observe({ type: 'longtask', buffered: true });
"""

# The baseline viewer: the whole log as text into one <pre>, timed until it has been painted.
NAIVE_VIEWER = """async (url) => {
  const started = performance.now();
  const text = await (await fetch(url)).text();
  const pre = document.createElement('pre');
  pre.textContent = text;
  document.body.replaceChildren(pre);
  await new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done)));
  return performance.now() - started;
}"""


def lines_code(count: int) -> str:
    return f"import sys\nw = sys.stdout.write\nfor i in range({count}):\n    w(f'line {{i}} ' + 'x' * 40 + '\\n')\n"


def login(page: Page, base: str) -> None:
    page.goto(f"{base}/login")
    page.get_by_label("Username").fill("admin")
    page.get_by_label("Password", exact=True).fill("bench-password")
    page.locator("[data-test=login-submit]").click()
    page.wait_for_url(lambda url: "/login" not in url)


def watch(page: Page, url: str, last_line: str) -> dict[str, float]:
    started = time.perf_counter()
    page.goto(url)
    page.evaluate(LONG_TASKS)
    page.locator("[data-test=log-view] .log-line", has_text=last_line).first.wait_for(timeout=300_000)
    shown = time.perf_counter() - started
    page.wait_for_timeout(500)
    long_tasks = page.evaluate("window.__long")
    return {
        "seconds": shown,
        "max_long_ms": max(long_tasks, default=0.0),
        "sum_long_ms": sum(long_tasks),
        "dom_lines": page.locator("[data-test=log-view] .log-line").count(),
        "heap_mb": page.evaluate("performance.memory ? performance.memory.usedJSHeapSize / 1048576 : 0"),
    }


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        server = Server(Path(tmp) / "home", {"SCRIPTMAN_MAX_LOG_BYTES": str(200 * 1024 * 1024)})
        try:
            firehose = server.script("firehose", lines_code(FIREHOSE_LINES))
            big = server.script("big", lines_code(BIG_LOG_LINES))
            big_run = server.run(big)  # finished before the page opens
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
                page = browser.new_page(viewport={"width": 1280, "height": 900})
                login(page, server.base)
                run = server.session.post(f"{server.base}/api/scripts/{firehose}/execute", json={}).json()
                live = watch(page, f"{server.base}/executions/{run['id']}", f"line {FIREHOSE_LINES - 1} ")
                live_run = server.session.get(f"{server.base}/api/executions/{run['id']}").json()
                replay = watch(page, f"{server.base}/executions/{big_run['id']}", f"line {BIG_LOG_LINES - 1} ")
                page.goto(f"{server.base}/api/health")  # same origin, so the session cookie goes along
                plain = page.evaluate(NAIVE_VIEWER, f"/api/executions/{big_run['id']}/logs?format=text") / 1000
                browser.close()
        finally:
            server.stop()
    log_mb = (BIG_LOG_LINES * 60) / 1e6
    print(f"machine: {platform.platform()}, {os.cpu_count()} CPUs")
    print("| measure | baseline | Scriptman page | ratio |")
    print("|---|---|---|---|")
    print(
        f"| live: {FIREHOSE_LINES:,} lines printed at full speed, page open from submit until the last line shows "
        f"| {live_run['duration_ms'] / 1000:.2f} s the run itself | {live['seconds']:.2f} s; longest main-thread block "
        f"{live['max_long_ms']:.0f} ms, {live['sum_long_ms'] / 1000:.1f} s blocked in all; {live['dom_lines']:,} lines "
        f"in the DOM; JS heap {live['heap_mb']:.0f} MB | {live['seconds'] * 1000 / live_run['duration_ms']:.1f}× |"
    )
    print(
        f"| finished run, {BIG_LOG_LINES:,}-line log (~{log_mb:.0f} MB): open the page until the last line shows "
        f"| {plain:.2f} s the whole log fetched as text into one `<pre>` | {replay['seconds']:.2f} s; longest block "
        f"{replay['max_long_ms']:.0f} ms; {replay['dom_lines']:,} lines in the DOM; JS heap {replay['heap_mb']:.0f} MB "
        f"| {replay['seconds'] / plain:.2f}× |"
    )


if __name__ == "__main__":
    main()
