"""Disk full (ENOSPC, EDQUOT) met by any writer of WORK_DIR, turned into the outage error callers know."""

from __future__ import annotations

import errno
import sqlite3
from pathlib import Path

from autonomous_dev.errors import InfrastructureError

DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})
# How git, SQLite and the C library say it in text, when no errno reaches us.
DISK_FULL_WORDS = (
    "no space left on device",
    "disk quota exceeded",
    "database or disk is full",
    "out of diskspace",  # git
)
SQLITE_FULL = 13
HINT = "free space on that file system (or raise the quota); the work is taken up again on the next cycle"


def is_disk_full(exc: BaseException) -> bool:
    """Whether `exc` (an OSError, an SQLite error, a git failure) says the disk or the quota is full."""
    if isinstance(exc, OSError) and exc.errno in DISK_FULL_ERRNOS:
        return True
    if isinstance(exc, sqlite3.Error) and getattr(exc, "sqlite_errorcode", None) == SQLITE_FULL:
        return True
    return says_disk_full(str(exc))


def says_disk_full(text: str) -> bool:
    lowered = text.lower()
    return any(words in lowered for words in DISK_FULL_WORDS)


def disk_full(what: str, path: Path | str) -> InfrastructureError:
    """The error for a write of `what` under `path` that found no space: an outage, not the task's fault."""
    return InfrastructureError("disk", f"the disk is full: could not write {what} in {path}", HINT)
