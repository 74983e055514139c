"""What webhook deliveries do to the store: the deliveries seen (so a redelivery is processed once) and
the PR steps a delivery makes due now; their table and SQL, written once for both backends."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from autonomous_dev.store.sql import Execute

# GitHub lets a delivery be redelivered for a few days; a week of ids covers it and keeps the table small.
KEEP_DELIVERIES = timedelta(days=7)

MIGRATION = [
    """CREATE TABLE autonomous_dev_webhook_deliveries (
        id {text} PRIMARY KEY,
        event {text} NOT NULL,
        received_at {time} NOT NULL
    )""",
    "CREATE INDEX autonomous_dev_webhook_deliveries_at ON autonomous_dev_webhook_deliveries (received_at)",
]

INSERT_DELIVERY = """INSERT INTO autonomous_dev_webhook_deliveries (id, event, received_at)
    VALUES (%s, %s, %s) ON CONFLICT (id) DO NOTHING"""
FORGET_DELIVERIES = "DELETE FROM autonomous_dev_webhook_deliveries WHERE received_at < %s"

# The states that wait for a PR step (store/records.py: STEP_OF, not an attempt; a test compares them).
# A failed attempt keeps its backoff: a comment must not buy another paid attempt early.
# Issues and pull requests share one number sequence per repository, so a number names one or the other.
MAKE_DUE = """UPDATE autonomous_dev_tasks SET next_attempt_at = %s, updated_at = %s
    WHERE repo = %s AND state IN ('landing', 'out_of_date', 'pr_opened', 'review_due', 'repair_due')
        AND claim_owner IS NULL
        AND next_attempt_at > %s AND (issue = %s OR pr_number = %s)
    RETURNING issue"""
MAKE_ALL_DUE = """UPDATE autonomous_dev_tasks SET next_attempt_at = %s, updated_at = %s
    WHERE repo = %s AND state IN ('landing', 'out_of_date', 'pr_opened', 'review_due', 'repair_due')
        AND claim_owner IS NULL
        AND next_attempt_at > %s
    RETURNING issue"""


class _Backend(Protocol):
    def _transaction(self) -> AbstractContextManager[Execute]: ...

    def _encode(self, moment: datetime | None) -> object: ...


class WebhookRecords:
    """The store operations webhook deliveries need; mixed into SqlStore."""

    def record_delivery(self: _Backend, delivery_id: str, event: str, now: datetime | None = None) -> bool:
        moment = now or datetime.now(UTC)
        with self._transaction() as execute:
            execute(FORGET_DELIVERIES, (self._encode(moment - KEEP_DELIVERIES),))
            return execute(INSERT_DELIVERY, (delivery_id, event, self._encode(moment))).rowcount == 1

    def make_due(
        self: _Backend, repo: str, numbers: Sequence[int] | None, now: datetime | None = None
    ) -> list[int]:
        at = self._encode(now or datetime.now(UTC))
        with self._transaction() as execute:
            if numbers is None:
                rows = execute(MAKE_ALL_DUE, (at, at, repo, at)).rows
            else:
                rows = [row for n in numbers for row in execute(MAKE_DUE, (at, at, repo, at, n, n)).rows]
        return sorted({int(row[0]) for row in rows})
