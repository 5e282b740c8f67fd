"""Browser tests: the real server (``scriptman serve``) on a free port, driven in Debian's chromium.

The browser is never downloaded (no network here): Playwright launches ``/usr/bin/chromium``
(``SCRIPTMAN_CHROMIUM``), which ``make test`` installs from Debian when it is missing. A missing
browser or an unbuilt web app fails these tests; it never skips them.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import pytest
import requests
from playwright.sync_api import Browser, ConsoleMessage, Page, sync_playwright

REPO = Path(__file__).resolve().parents[2]
ADMIN_PASSWORD = "e2e-admin-password"
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SERVER_START_SECONDS = 30
RUNS_END_SECONDS = 30
ACTIVE = ("queued", "running")
SUPERVISOR = "executor/supervise.py"


@dataclass
class Server:
    url: str
    home: Path
    process: subprocess.Popen[bytes]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    dist = REPO / "frontend" / "dist" / "index.html"
    assert dist.is_file(), "the web app is not built: run `make install` (make test does)"
    home = tmp_path_factory.mktemp("e2e-home")
    port = _free_port()
    env = {
        **os.environ,
        "SCRIPTMAN_HOME": str(home),
        "SCRIPTMAN_PORT": str(port),
        "SCRIPTMAN_ADMIN_PASSWORD": ADMIN_PASSWORD,
        "SCRIPTMAN_MAX_CONCURRENCY": "2",
        "SCRIPTMAN_SCHEDULER_LOCK_RETRY_SECONDS": "0.5",
    }
    scriptman = [sys.executable, "-m", "backend.cli"]
    subprocess.run([*scriptman, "db", "upgrade"], env=env, cwd=REPO, check=True, capture_output=True)
    log = (home / "server.log").open("wb")
    process = subprocess.Popen([*scriptman, "serve"], env=env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + SERVER_START_SECONDS
    while True:
        try:
            if requests.get(f"{url}/api/health", timeout=5).status_code == 200:
                break
        except requests.RequestException:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            log.close()
            raise AssertionError("the server did not start:\n" + (home / "server.log").read_text(errors="replace"))
        time.sleep(0.2)
    yield Server(url=url, home=home, process=process)
    try:
        _end_runs(url)
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()
    _wait_no_supervisor(home)


def _end_runs(url: str) -> None:
    """Cancel, through the API, every run the suite left queued or running, and wait until each has ended.

    Stopping the server alone would not: a run's supervisor outlives the server by design.
    """
    api = requests.Session()
    login = api.post(f"{url}/api/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD}, timeout=10)
    api.headers["X-CSRF-Token"] = login.json()["csrf_token"]

    def active() -> list[int]:
        return [
            execution["id"]
            for status in ACTIVE
            for execution in api.get(f"{url}/api/executions?status={status}&per_page=200", timeout=10).json()["items"]
        ]

    deadline = time.monotonic() + RUNS_END_SECONDS
    while left := active():
        assert time.monotonic() < deadline, f"runs still active after a cancel: {left}"
        for execution_id in left:  # again while it lasts: a cancel sent as a run starts may not reach it
            cancelled = api.post(f"{url}/api/executions/{execution_id}/cancel", timeout=10)
            assert cancelled.status_code in (200, 409), cancelled.text  # 409: it ended meanwhile
        time.sleep(0.5)


def _wait_no_supervisor(home: Path) -> None:
    """No run supervisor of this home may outlive the suite (a zombie counts as gone)."""
    deadline = time.monotonic() + RUNS_END_SECONDS
    while left := _supervisors(home):
        assert time.monotonic() < deadline, f"run supervisors of {home} left behind: {left}"
        time.sleep(0.2)


def _supervisors(home: Path) -> list[int]:
    """Live ``python -I -S .../supervise.py <home>/data/runs/execution_<id>/spec.json`` processes."""
    found = []
    for proc in psutil.process_iter(["cmdline", "status"]):
        cmdline = proc.info["cmdline"] or []
        is_supervisor = len(cmdline) >= 2 and cmdline[-2].endswith(SUPERVISOR)
        if is_supervisor and Path(cmdline[-1]).is_relative_to(home) and proc.info["status"] != psutil.STATUS_ZOMBIE:
            found.append(proc.pid)
    return found


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    executable = os.environ.get("SCRIPTMAN_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    assert Path(executable).exists(), f"no chromium at {executable}: `make test-deps` installs Debian's package"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_FLAGS)
        yield browser
        browser.close()


@dataclass
class Console:
    """Every console error and uncaught exception of a page; a test ends by asserting there were none."""

    errors: list[str] = field(default_factory=list)

    def on_console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.errors.append(f"console: {message.text} @ {message.location.get('url')}")

    def on_page_error(self, error: Exception) -> None:
        self.errors.append(f"pageerror: {error}")


@pytest.fixture
def console() -> Console:
    return Console()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> object:
    report = yield
    if report.when == "call":
        item.stash[FAILED_KEY] = report.failed
    return report


FAILED_KEY = pytest.StashKey[bool]()


@pytest.fixture
def page(
    browser: Browser, server: Server, console: Console, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[Page]:
    context = browser.new_context(base_url=server.url, viewport={"width": 1280, "height": 860}, accept_downloads=True)
    context.set_default_timeout(15_000)
    page = context.new_page()
    page.on("console", console.on_console)
    page.on("pageerror", console.on_page_error)
    yield page
    if request.node.stash.get(FAILED_KEY, False):
        shot = tmp_path / "failure.png"
        page.screenshot(path=str(shot), full_page=True)
        print(f"screenshot of the failure: {shot} (page {page.url})")
    context.close()
    assert console.errors == [], "the browser reported errors:\n" + "\n".join(console.errors)


def login(page: Page, username: str = "admin", password: str = ADMIN_PASSWORD) -> None:
    page.goto("/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password", exact=True).fill(password)
    page.locator("[data-test=login-submit]").click()
    page.wait_for_url(lambda url: "/login" not in url)


def screenshot(page: Page, name: str) -> None:
    """Saved for the README when SCRIPTMAN_SCREENSHOTS_DIR is set (`make screenshots`)."""
    folder = os.environ.get("SCRIPTMAN_SCREENSHOTS_DIR")
    if folder:
        target = REPO / folder
        target.mkdir(parents=True, exist_ok=True)
        page.wait_for_timeout(600)  # let charts and toasts settle
        page.screenshot(path=str(target / f"{name}.png"))
