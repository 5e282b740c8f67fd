"""Where a run's files live, and the one safe way to reach a path a user names inside them."""

from __future__ import annotations

import os
import re
import shutil
import stat
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from backend.config import Settings
from backend.errors import BadRequest, NotFound

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
    def result(self) -> Path:
        return self.workspace / CONTROL_DIR / "result.json"


def run_paths(settings: Settings, execution_id: int) -> RunPaths:
    return RunPaths(
        workspace=settings.workspaces_dir / f"execution_{execution_id}",
        log=settings.logs_dir / f"execution_{execution_id}.log",
        control=settings.data_dir / "runs" / f"execution_{execution_id}",
    )


def prepare(paths: RunPaths, language: str, code: str) -> Path:
    """Create the workspace and control folders and write the script file; returns its path."""
    paths.workspace.mkdir(parents=True, exist_ok=True)
    (paths.workspace / CONTROL_DIR).mkdir(exist_ok=True)
    paths.control.mkdir(parents=True, exist_ok=True, mode=0o700)
    script = paths.workspace / SCRIPT_FILES[language]
    script.write_text(code, encoding="utf-8")
    if language == "shell":
        script.chmod(0o755)
    return script


def remove(paths: RunPaths) -> None:
    shutil.rmtree(paths.workspace, ignore_errors=True)
    shutil.rmtree(paths.control, ignore_errors=True)
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


def safe_join(root: Path, relative: str) -> Path:
    """Resolve ``relative`` inside ``root``, refusing ``..``, absolute paths and symlinks.

    Each component is checked with ``lstat``; a symlink anywhere in the path is refused even if
    it points inside, because a script can re-point it between check and use.
    """
    if "\x00" in relative or relative.startswith(("/", "\\")):
        raise BadRequest("Path must be relative to the workspace.", field="path")
    parts = [p for p in relative.replace("\\", "/").split("/") if p not in ("", ".")]
    if any(part == ".." for part in parts):
        raise BadRequest("Path must not contain '..'.", field="path")
    current = root
    for part in parts:
        current = current / part
        try:
            info = current.lstat()
        except (FileNotFoundError, NotADirectoryError):
            raise NotFound(f"No file {relative!r} in this workspace.") from None
        except OSError as error:
            raise BadRequest(f"Cannot open {relative!r}: {error.strerror}.", field="path") from None
        if stat.S_ISLNK(info.st_mode):
            raise BadRequest("Symbolic links are not followed.", field="path")
    real_root = os.path.realpath(root)
    if os.path.commonpath([real_root, os.path.realpath(current)]) != real_root:
        raise BadRequest("Path leaves the workspace.", field="path")
    return current
