"""WORK_DIR: held by one process at a time, with a scratch directory emptied at each start."""

from __future__ import annotations

import fcntl
import shutil
from pathlib import Path
from typing import IO

from autonomous_dev.disk import disk_full, is_disk_full
from autonomous_dev.errors import AutonomousDevError, ConfigError, WorkspaceError


def hold_work_dir(work_dir: Path) -> IO[str]:
    """Take WORK_DIR for this process (released when it exits, even when killed); one user at a time.

    A WORK_DIR that cannot be created or written is a configuration error, found before anything is claimed.
    """
    try:
        work_dir.mkdir(parents=True, exist_ok=True)
        handle = open(work_dir / "in-use.lock", "a+")  # noqa: SIM115 - held for the life of the process
    except OSError as exc:
        raise _work_dir_error(work_dir, "the WORK_DIR lock", exc) from None
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise WorkspaceError(
            f"{work_dir} is in use by another autonomous-dev process",
            "stop it, or give this one its own --work-dir / WORK_DIR",
        ) from None
    return handle


def fresh_scratch(work_dir: Path) -> Path:
    """WORK_DIR/tmp, emptied: temporary directories of this process go there, and a killed one's are left
    there for the next start to remove. Call it only while holding WORK_DIR (`hold_work_dir`): then no live
    process owns anything in it."""
    scratch = work_dir / "tmp"
    if scratch.is_dir():
        for stale in scratch.iterdir():
            if stale.is_dir() and not stale.is_symlink():
                shutil.rmtree(stale, ignore_errors=True)
            else:
                stale.unlink(missing_ok=True)
    try:
        scratch.mkdir(mode=0o700, exist_ok=True)
    except OSError as exc:
        raise _work_dir_error(work_dir, "a temporary directory", exc) from None
    return scratch


def _work_dir_error(work_dir: Path, what: str, exc: OSError) -> AutonomousDevError:
    """A full disk is an outage (try again later); anything else makes WORK_DIR a configuration error."""
    if is_disk_full(exc):
        return disk_full(what, work_dir)
    reason = exc.strerror or type(exc).__name__
    where = f" ({exc.filename})" if exc.filename and Path(exc.filename) != work_dir else ""
    return ConfigError(
        f"WORK_DIR (execution.workDir, --work-dir) {work_dir} cannot be used: {reason}{where}",
        "point it at a directory this user may create and write, e.g. WORK_DIR=~/.autonomous-dev",
    )
