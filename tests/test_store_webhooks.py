"""The store's webhook operations on SQLite and Postgres: a delivery id recorded once, and the PR steps a
delivery makes due now (and only those)."""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest

from autonomous_dev.store.backends import SqliteStore, Store, StoreError, TaskState
from autonomous_dev.store.schema import SQLITE_TYPES
from tests.test_store import REPO, T0, backend, make_store, observe_all, pr_step, store

__all__ = ["backend", "make_store", "store"]  # the fixtures of tests/test_store.py, on both backends
LATER = T0 + timedelta(minutes=10)


def due_at(store: Store, issue: int) -> object:
    task = store.get(REPO, issue)
    assert task is not None
    return task.next_attempt_at


def test_a_delivery_id_is_recorded_once(store: Store) -> None:
    assert store.record_delivery("72d3162e-cc78-11e3-81ab-4c9367dc0958", "issues.labeled", now=T0)
    assert not store.record_delivery("72d3162e-cc78-11e3-81ab-4c9367dc0958", "issues.labeled", now=T0)
    assert store.record_delivery("another-delivery", "issues.labeled", now=T0)


def test_delivery_ids_older_than_a_week_are_forgotten(store: Store) -> None:
    assert store.record_delivery("old", "status", now=T0)
    assert not store.record_delivery("old", "status", now=T0 + timedelta(days=6))
    assert store.record_delivery("old", "status", now=T0 + timedelta(days=8))  # pruned, then new again


def test_make_due_brings_waiting_pr_steps_forward_by_issue_or_pr_number(store: Store) -> None:
    pr_step(store, 1, TaskState.LANDING, retry_at=LATER)  # its PR is #101
    pr_step(store, 2, TaskState.OUT_OF_DATE, retry_at=LATER)  # PR #102
    pr_step(store, 3, TaskState.LANDING, retry_at=LATER)  # PR #103: not named
    assert store.make_due(REPO, [101, 2], now=T0) == [1, 2]
    assert due_at(store, 1) == due_at(store, 2) == T0
    assert due_at(store, 3) == LATER
    assert store.claim(REPO, [1, 2, 3], "w1", 60, now=T0) is not None  # due now: claimable
    assert store.make_due(REPO, [103, 999], now=T0) == [3]
    assert store.make_due("acme/other", [101], now=T0) == []


def test_make_due_without_numbers_brings_every_waiting_pr_step_forward(store: Store) -> None:
    pr_step(store, 1, TaskState.LANDING, retry_at=LATER)
    pr_step(store, 2, TaskState.OUT_OF_DATE, retry_at=LATER)
    assert store.make_due(REPO, None, now=T0) == [1, 2]
    assert store.make_due(REPO, None, now=T0) == []  # due already: nothing to change


def test_make_due_leaves_attempts_ends_and_claims_alone(store: Store) -> None:
    pr_step(store, 1, TaskState.FAILED, retry_at=LATER)  # a failed attempt keeps its backoff
    pr_step(store, 2, TaskState.PR_OPENED)  # looked at in every cycle: nothing to bring forward
    pr_step(store, 3, TaskState.LANDING, retry_at=LATER)
    store.claim(REPO, [3], "w1", 60, now=LATER)  # a worker looks at it now
    observe_all(store, [4])
    assert store.make_due(REPO, [1, 2, 3, 4], now=T0) == []
    assert due_at(store, 1) == LATER and due_at(store, 4) is None


def test_the_states_made_due_are_the_pr_steps_of_the_lifecycle() -> None:
    from autonomous_dev.store import webhooks
    from autonomous_dev.store.records import STEP_OF, WAITING, Step

    waiting = ", ".join(
        f"'{WAITING[step]}'" for step in dict.fromkeys(STEP_OF.values()) if step is not Step.ATTEMPT
    )
    assert f"state IN ({waiting})" in webhooks.MAKE_DUE and f"state IN ({waiting})" in webhooks.MAKE_ALL_DUE


def test_migration_3_adds_the_deliveries_to_a_version_2_database(tmp_path: Path) -> None:
    from autonomous_dev.store.schema import MIGRATIONS

    assert 3 in dict(MIGRATIONS)
    path = tmp_path / "state.db"
    with sqlite3.connect(path) as conn:  # what a version-2 daemon left behind
        conn.execute(
            "CREATE TABLE autonomous_dev_schema_version (version integer PRIMARY KEY, applied_at text)"
        )
        for version, statements in MIGRATIONS[:2]:
            for statement in statements:
                conn.execute(statement.format_map(SQLITE_TYPES))
            conn.execute("INSERT INTO autonomous_dev_schema_version VALUES (?, 'then')", (version,))
    store = SqliteStore(path)
    with pytest.raises(StoreError, match="no such table"):
        store.record_delivery("d1", "ping", now=T0)
    store.migrate()
    assert store.record_delivery("d1", "ping", now=T0) and not store.record_delivery("d1", "ping", now=T0)
    store.close()
