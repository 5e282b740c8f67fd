"""Where a run's files live and how they are made; paths a user names are opened with ``beneath``."""

from __future__ import annotations

import os
import re
import shutil
import stat
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from backend.config import Settings
from backend.errors import BadRequest, ProblemError

SCRIPT_FILES = {"python": "main.py", "javascript": "main.js", "shell": "main.sh"}
CONTROL_DIR = ".scriptman"
UNSAFE_NAME_CHARS = re.compile(r"[^\w.\- ()+@,=]")
MAX_NAME_BYTES = 200


@dataclass(frozen=True)
class RunPaths:
    """Every file a run touches, derived from its id and the install's folders."""

    workspace: Path
    log: Path
    control: Path  # server-private: spec (with secrets) and status, never shown to users

    @property
    def spec(self) -> Path:
        return self.control / "spec.json"

    @property
    def status(self) -> Path:
        return self.control / "status.json"

    @property
    def inputs(self) -> Path:
        """Uploaded files of the run, kept server-side so a re-run or retry gets them again."""
        return self.control / "inputs"

    @property
    def result(self) -> Path:
        return self.workspace / CONTROL_DIR / "result.json"


def run_paths(settings: Settings, execution_id: int) -> RunPaths:
    return RunPaths(
        workspace=settings.workspaces_dir / f"execution_{execution_id}",
        log=settings.logs_dir / f"execution_{execution_id}.log",
        control=settings.data_dir / "runs" / f"execution_{execution_id}",
    )


class PathTaken(ProblemError):
    status = 409
    title = "Run folder already exists"


def prepare(paths: RunPaths, language: str, code: str, owner: tuple[int, int] | None = None) -> Path:
    """Create the run's folders and files exclusively and write the script; returns its path.

    Nothing pre-existing is ever reused or written through: ids are never reused, so a
    workspace or log already in place was planted (e.g. a symlink by another run's script) or
    left by an earlier database, and the run fails instead. ``owner`` (uid, gid) is the run-as
    user, who gets the workspace; the log and control folder stay the server's.
    """
    paths.workspace.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.mkdir(paths.workspace, 0o700 if owner else 0o755)
        log_fd = os.open(paths.log, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    except FileExistsError as error:
        raise PathTaken(
            f"{error.filename} already exists; a new run never reuses or writes through an existing path "
            "(remove it if an earlier installation left it)"
        ) from None
    os.close(log_fd)
    _make_private_dir(paths.control)
    workspace_fd = os.open(paths.workspace, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        os.mkdir(CONTROL_DIR, 0o755, dir_fd=workspace_fd)
        name = SCRIPT_FILES[language]
        mode = 0o755 if language == "shell" else 0o644
        fd = os.open(
            name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, mode, dir_fd=workspace_fd
        )
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(code)
        _copy_inputs(paths.inputs, workspace_fd)
        if owner:
            for entry in (CONTROL_DIR, *os.listdir(workspace_fd)):
                os.chown(entry, *owner, dir_fd=workspace_fd, follow_symlinks=False)
            os.chown(workspace_fd, *owner)
    finally:
        os.close(workspace_fd)
    return paths.workspace / SCRIPT_FILES[language]


def _make_private_dir(path: Path) -> None:
    """The server-only control folder: may exist (uploads are kept there first), never as a link."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        if not stat.S_ISDIR(os.lstat(path).st_mode):
            raise PathTaken(f"{path} exists and is not a folder") from None


def _copy_inputs(inputs: Path, workspace_fd: int) -> None:
    """Uploaded files, kept in the control folder, copied in (the originals stay for a re-run)."""
    if not inputs.is_dir():
        return
    for entry in sorted(os.scandir(inputs), key=lambda e: e.name):
        if not entry.is_file(follow_symlinks=False):
            continue
        target = os.open(
            entry.name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644, dir_fd=workspace_fd
        )
        with open(entry.path, "rb") as source, os.fdopen(target, "wb") as out:
            shutil.copyfileobj(source, out, 1024 * 1024)


def remove(paths: RunPaths) -> None:
    """Delete a run's folders and log; a symlink planted in their place is removed, never followed."""
    for folder in (paths.workspace, paths.control):
        if folder.is_symlink():
            folder.unlink(missing_ok=True)
        else:
            shutil.rmtree(folder, ignore_errors=True)
    paths.log.unlink(missing_ok=True)


def sanitize_filename(name: str) -> str:
    """A safe single path component from an uploaded file's name; raises 400 when nothing is left."""
    name = unicodedata.normalize("NFC", name.replace("\\", "/")).split("/")[-1]
    name = UNSAFE_NAME_CHARS.sub("_", name).strip(" .")
    while len(name.encode("utf-8")) > MAX_NAME_BYTES:
        name = name[:-1]
    if not name or name in (".", "..") or name.startswith(CONTROL_DIR):
        raise BadRequest("The file name is empty or not allowed once unsafe characters are removed.")
    return name
