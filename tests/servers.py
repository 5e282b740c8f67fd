"""Real PostgreSQL and Redis servers for the suite, from Debian's packages, on loopback ports.

Each starts in a fresh temporary folder and is stopped by its pid when the session ends, so a
test run leaves nothing behind. ``make test`` installs the packages when they are missing.
PostgreSQL refuses to run as root: when the suite runs as root the data folder is given to the
``postgres`` user and the server runs as that user.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

POSTGRES_BIN_DIRS = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
START_TIMEOUT_SECONDS = 60.0


@dataclass
class Server:
    """A started server: its URL, its process and the folder it lives in."""

    url: str
    process: subprocess.Popen[bytes]
    folder: Path
    extra: dict[str, str] = field(default_factory=dict)

    def stop(self) -> None:
        if self.process.poll() is None:
            # SIGINT is PostgreSQL's "fast shutdown"; Redis treats it as SIGTERM.
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.folder, ignore_errors=True)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_for_port(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode}: {log.read_text(errors='replace')}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise RuntimeError(f"the server did not listen on {port} within {START_TIMEOUT_SECONDS} s")


def _as_postgres_user() -> dict[str, str]:
    """Popen's ``user``/``group`` switch (not ``runuser``, which would sit between our signals and the server)."""
    return {"user": "postgres", "group": "postgres"} if os.geteuid() == 0 else {}


def start_postgres() -> Server:
    """``initdb`` + ``postgres`` on a free loopback port; the URL points at its ``postgres`` database."""
    if not POSTGRES_BIN_DIRS:
        raise RuntimeError("PostgreSQL is not installed (Debian package postgresql; `make test` installs it)")
    bin_dir = POSTGRES_BIN_DIRS[0]
    folder = Path(tempfile.mkdtemp(prefix="scriptman-pg-"))
    data, log = folder / "data", folder / "server.log"
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres", "postgres")
    subprocess.run(
        [str(bin_dir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres", "-E", "UTF8"],
        check=True,
        capture_output=True,
        cwd=folder,
        **_as_postgres_user(),  # type: ignore[arg-type]
    )
    port = free_port()
    settings = [
        "-c", f"port={port}", "-c", "listen_addresses=127.0.0.1", "-c", f"unix_socket_directories={folder}",
        "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
        "-c", "max_connections=300", "-c", "shared_buffers=64MB",
    ]  # fmt: skip
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [str(bin_dir / "postgres"), "-D", str(data), *settings],
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=folder,
            start_new_session=True,  # a Ctrl-C of the test run reaches the server only through stop()
            **_as_postgres_user(),  # type: ignore[arg-type]
        )
    _wait_for_port(port, process, log)
    server = Server(f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres", process, folder)
    _wait_for_postgres(server)
    return server


def _wait_for_postgres(server: Server) -> None:
    """The port opens before the server accepts logins ("the database system is starting up")."""
    import psycopg

    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    dsn = server.url.replace("postgresql+psycopg://", "postgresql://")
    while True:
        try:
            psycopg.connect(dsn, connect_timeout=2).close()
            return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def start_redis() -> Server:
    """``redis-server`` on a free loopback port, nothing saved to disk."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server is not installed (Debian package redis-server; `make test` installs it)")
    folder = Path(tempfile.mkdtemp(prefix="scriptman-redis-"))
    log = folder / "server.log"
    port = free_port()
    command = [
        binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(folder),
        "--save", "", "--appendonly", "no", "--daemonize", "no", "--logfile", str(log),
    ]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, start_new_session=True)
    _wait_for_port(port, process, log)
    return Server(f"redis://127.0.0.1:{port}/0", process, folder)


def main(argv: list[str]) -> int:
    """``python -m tests.servers postgres -- <command>``: the command runs with a fresh PostgreSQL.

    Its URL is in ``SCRIPTMAN_TEST_DATABASE_URL`` (tests/conftest.py then puts every test's app on
    a database of its own on that server); the server is stopped when the command ends, however it ends.
    """
    if len(argv) < 3 or argv[0] != "postgres" or argv[1] != "--":
        print("usage: python -m tests.servers postgres -- <command> [args...]", file=sys.stderr)
        return 2
    # a SIGTERM (a CI job's timeout, `timeout`) ends this process through the ``finally`` below too
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    server = start_postgres()
    try:
        environment = {**os.environ, "SCRIPTMAN_TEST_DATABASE_URL": server.url}
        return subprocess.call(argv[2:], env=environment)
    finally:
        server.stop()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
