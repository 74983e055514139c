"""The SQL of the tracking comment's columns: why a task's last step ended without a ready PR (`cause`), the
comment's data (`progress`, JSON) and whether the comment shows the record yet (`progress_shown`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any, Protocol

from autonomous_dev.errors import Cause
from autonomous_dev.store.records import TaskRecord

PROGRESS_COLUMNS = [
    "ALTER TABLE autonomous_dev_tasks ADD COLUMN cause {text}",
    "ALTER TABLE autonomous_dev_tasks ADD COLUMN progress {text}",
    "ALTER TABLE autonomous_dev_tasks ADD COLUMN progress_shown {int} NOT NULL DEFAULT 1",
]
# Appended to the SELECT of tasks: those whose comment is behind their record, held by no live claim.
UNSHOWN_WHERE = """ WHERE progress_shown = 0 AND (claim_owner IS NULL OR lease_expires_at < %s)
    ORDER BY updated_at LIMIT 100"""
# Only when nothing changed the task since it was read for the edit.
MARK_SHOWN = """UPDATE autonomous_dev_tasks SET progress_shown = 1
    WHERE repo = %s AND issue = %s AND updated_at = %s"""
# What the comment shows while a step runs, kept for the comment's next edit after a crash.
KEEP_PROGRESS = """UPDATE autonomous_dev_tasks SET progress = %s
    WHERE repo = %s AND issue = %s AND claim_owner = %s"""


class _Backend(Protocol):
    def _transaction(self) -> AbstractContextManager[Callable[[str, Sequence[object]], Any]]: ...

    def _encode(self, moment: datetime | None) -> object: ...


class ProgressWrites:
    """The store's writes of the tracking comment's columns (mixed into store/sql.py's SqlStore)."""

    def mark_shown(self: _Backend, record: TaskRecord) -> bool:
        with self._transaction() as execute:
            params = (record.repo, record.issue, self._encode(record.updated_at))
            return bool(execute(MARK_SHOWN, params).rowcount == 1)

    def keep_progress(self: _Backend, repo: str, issue: int, owner: str, progress: str) -> None:
        with self._transaction() as execute:
            execute(KEEP_PROGRESS, (progress, repo, issue, owner))


def value(cause: Cause | None) -> str | None:
    return cause.value if cause is not None else None


def read_cause(stored: str | None) -> Cause | None:
    """A cause a later version wrote, which this one does not know, reads as None."""
    return Cause(stored) if stored in CAUSES else None


CAUSES = frozenset(cause.value for cause in Cause)
