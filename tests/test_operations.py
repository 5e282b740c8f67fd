"""Operating Scriptman from a shell: quiet CLI commands, no files outside its home, a private database.

Each command runs as the installed ``scriptman`` entry point in its own process, as an admin
would run it, with HOME pointing at a fresh folder (so anything written to ``~`` shows up).
"""

from __future__ import annotations

import os
import signal
import socket
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from tests.conftest import build_app, close_app, make_settings
from tests.helpers import create_script, wait_for

SCRIPTMAN = str(Path(sys.executable).with_name("scriptman"))
DATABASE_FILES = ("scriptman.db", "scriptman.db-wal", "scriptman.db-shm")


def cli_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """The machine's environment with a fresh SCRIPTMAN_HOME and HOME (no XDG runtime folder)."""
    user_home = tmp_path / "user-home"
    user_home.mkdir(exist_ok=True)
    env = {key: value for key, value in os.environ.items() if not key.upper().startswith("SCRIPTMAN_")}
    env.pop("XDG_RUNTIME_DIR", None)
    env.update(
        {
            "HOME": str(user_home),
            "SCRIPTMAN_HOME": str(tmp_path / "home"),
            "SCRIPTMAN_SCHEDULER_ENABLED": "false",
            "SCRIPTMAN_ADMIN_PASSWORD": "admin-password-1",
            **extra,
        }
    )
    return env


def scriptman(
    tmp_path: Path, *args: str, timeout: float = 120, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [SCRIPTMAN, *args],
        env=cli_env(tmp_path, **(env or {})),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def modes(data_dir: Path) -> dict[str, int]:
    return {
        name: stat.S_IMODE((data_dir / name).stat().st_mode) for name in DATABASE_FILES if (data_dir / name).exists()
    }


def test_db_upgrade_prints_no_alembic_lines_and_makes_a_private_database(tmp_path: Path) -> None:
    first = scriptman(tmp_path, "db", "upgrade")
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip() == "database is up to date"
    assert "alembic" not in first.stderr and "INFO" not in first.stderr, first.stderr
    found = modes(tmp_path / "home" / "data")
    assert found["scriptman.db"] == 0o600 and set(found.values()) == {0o600}, found
    # an older install's world-readable database is made private on the next start
    database = tmp_path / "home" / "data" / "scriptman.db"
    database.chmod(0o644)
    again = scriptman(tmp_path, "db", "upgrade")
    assert again.returncode == 0 and "alembic" not in again.stderr + again.stdout
    assert stat.S_IMODE(database.stat().st_mode) == 0o600


def test_scriptman_run_prints_the_run_not_alembic(tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "home")
    app = build_app(settings)
    try:
        create_script(app.test_client(), "hello", "print('hello from the script')")
    finally:
        close_app(app)
    database = {"SCRIPTMAN_DATABASE_URL": settings.database_url} if settings.database_url else {}
    result = scriptman(tmp_path, "run", "hello", env=database)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "hello from the script" in result.stdout
    assert "alembic" not in result.stdout + result.stderr


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _up(base: str) -> bool:
    try:
        return requests.get(f"{base}/api/health", timeout=1).status_code == 200
    except requests.RequestException:
        return False


@pytest.mark.timeout(120)
def test_serve_makes_no_control_socket_in_home_and_keeps_the_database_private(tmp_path: Path) -> None:
    port = _free_port()
    server = subprocess.Popen(
        [SCRIPTMAN, "serve", "--port", str(port)],
        env=cli_env(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: _up(base) or server.poll() is not None, 60, 0.2, "the server to start")
        assert server.poll() is None, "the server stopped"
        login = requests.post(
            f"{base}/api/auth/login", json={"username": "admin", "password": "admin-password-1"}, timeout=10
        )
        assert login.status_code == 200  # a write: the WAL and shared-memory files exist now
        user_home = tmp_path / "user-home"
        assert not (user_home / ".gunicorn").exists() and list(user_home.iterdir()) == []
        found = modes(tmp_path / "home" / "data")
        assert set(found) == set(DATABASE_FILES) and set(found.values()) == {0o600}, found
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        output, _ = server.communicate(timeout=30)
    assert "alembic" not in output and "control socket" not in output.lower(), output
