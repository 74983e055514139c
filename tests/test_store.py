"""The task store on SQLite and Postgres: observe/claim/lease/transition, the lifecycle's claims, releases
and recoveries, usage, meta, and racing claimers."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from autonomous_dev.errors import AutonomousDevError, ConfigError, ExitStatus, InfrastructureError
from autonomous_dev.store import backends
from autonomous_dev.store.backends import (
    ClaimLost,
    SqliteStore,
    Store,
    TaskState,
    Transition,
    UsageDelta,
    open_store,
)
from autonomous_dev.store.postgres import PostgresStore
from autonomous_dev.store.records import FollowMarks
from autonomous_dev.store.schema import MIGRATIONS

ROOT = Path(__file__).resolve().parents[1]
REPO = "acme/widgets"
T0 = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)  # in the future, so real-clock leases never look expired


@dataclass(frozen=True)
class Backend:
    kind: str
    sqlite_path: Path
    dsn: str | None


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    path = tmp_path / "state" / "nested" / "store.db"
    if request.param == "postgres":
        return Backend("postgres", path, request.getfixturevalue("pg_dsn"))
    return Backend("sqlite", path, None)


@pytest.fixture
def make_store(backend: Backend) -> Iterator[Callable[[], Store]]:
    opened: list[Store] = []

    def make() -> Store:
        store = open_store(backend.kind, backend.sqlite_path, backend.dsn)
        opened.append(store)
        return store

    yield make
    for store in opened:
        store.close()


@pytest.fixture
def store(make_store: Callable[[], Store]) -> Store:
    store = make_store()
    store.migrate()
    return store


def schema_versions(backend: Backend) -> list[int]:
    query = "SELECT version FROM autonomous_dev_schema_version ORDER BY version"
    if backend.dsn is not None:
        with psycopg.connect(backend.dsn) as conn:
            return [row[0] for row in conn.execute(query)]
    with sqlite3.connect(backend.sqlite_path) as conn:
        return [row[0] for row in conn.execute(query)]


def observe_all(store: Store, issues: range, repo: str = REPO) -> None:
    for issue in issues:
        store.observe(repo, issue, f"fp-{issue}")


def test_open_store_builds_the_configured_backend(tmp_path: Path) -> None:
    assert isinstance(open_store("sqlite", tmp_path / "s.db", None), SqliteStore)
    assert isinstance(open_store("postgres", tmp_path / "s.db", "postgresql://u@db.example/x"), PostgresStore)
    with pytest.raises(ConfigError, match="DATABASE_URL"):
        open_store("postgres", tmp_path / "s.db", None)
    with pytest.raises(ConfigError, match="unknown state backend"):
        open_store("mysql", tmp_path / "s.db", None)


def test_postgres_connection_errors_name_the_host_not_the_password(tmp_path: Path) -> None:
    store = open_store("postgres", tmp_path / "s.db", "postgresql://bot:Sup3rSecretPw@127.0.0.1:1/state")
    with pytest.raises(InfrastructureError) as caught:
        store.migrate()
    assert "cannot reach the Postgres state database at 127.0.0.1:1: connection refused" in str(caught.value)
    assert "Sup3rSecretPw" not in str(caught.value)
    assert caught.value.exit_status == ExitStatus.UNAVAILABLE
    assert caught.value.service == "Postgres"


def test_postgres_store_reconnects_after_the_server_drops_its_connection(pg_dsn: str) -> None:
    app = f"store-test-{uuid.uuid4().hex[:8]}"
    store = PostgresStore(f"{pg_dsn}&application_name={app}")
    store.migrate()
    store.set_meta("k", "v")
    query = "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s"
    with psycopg.connect(pg_dsn, autocommit=True) as admin:
        assert admin.execute(query, (app,)).fetchall() == [(True,)]
    assert store.get_meta("k") == "v"  # the dropped connection is noticed and replaced, unseen
    with psycopg.connect(pg_dsn, autocommit=True) as admin:
        assert admin.execute(query, (app,)).fetchall() == [(True,)]
    store.set_meta("k", "w")  # a transaction too: its BEGIN found the connection gone, nothing was done
    assert store.get_meta("k") == "w"
    store.close()


def use_from_short_lived_threads(store: Store, count: int) -> None:
    """What a daemon does: every busy cycle starts new worker threads that use the store, then end."""
    for number in range(count):
        thread = threading.Thread(target=store.set_meta, args=(f"k{number}", "v"))
        thread.start()
        thread.join()
    store.get_meta("k0")  # one more thread (this one) opens its connection


def test_postgres_connections_of_finished_threads_are_closed(pg_dsn: str) -> None:
    app = f"store-test-{uuid.uuid4().hex[:8]}"
    store = PostgresStore(f"{pg_dsn}&application_name={app}")
    store.migrate()
    use_from_short_lived_threads(store, 12)
    with psycopg.connect(pg_dsn, autocommit=True) as admin:
        query = "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s"
        [(open_connections,)] = admin.execute(query, (app,)).fetchall()
    store.close()
    assert open_connections <= 2  # this thread's, and at most the last worker's


def test_sqlite_connections_of_finished_threads_are_closed(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    store = SqliteStore(path)
    store.migrate()
    use_from_short_lived_threads(store, 12)
    fds = Path("/proc/self/fd")
    open_files = [fd for fd in fds.iterdir() if fd.exists() and fd.resolve() == path.resolve()]
    store.close()
    assert len(open_files) <= 2


def test_sqlite_file_is_created_on_first_use_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "state" / "store.db"
    store = SqliteStore(path)
    assert not path.exists()  # the constructor neither connects nor migrates
    store.migrate()
    store.close()
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_migrate_twice_is_a_no_op(store: Store, backend: Backend) -> None:
    store.observe(REPO, 1, "fp")
    versions = schema_versions(backend)
    store.migrate()
    assert schema_versions(backend) == versions == sorted(version for version, _ in MIGRATIONS)
    assert store.get(REPO, 1) is not None


def test_observe_creates_a_queued_task_and_tracks_the_fingerprint(store: Store) -> None:
    created = store.observe(REPO, 7, "fp-a")
    assert (created.repo, created.issue, created.state, created.attempts) == (REPO, 7, TaskState.QUEUED, 0)
    assert created.fingerprint == "fp-a" and created.claim_owner is None
    assert created.created_at.tzinfo is not None and created.created_at.utcoffset() == timedelta(0)
    assert store.observe(REPO, 7, "fp-a") == created  # an unchanged issue writes nothing
    assert store.observe(REPO, 7, "fp-b").fingerprint == "fp-b"
    assert store.get(REPO, 7) == store.observe(REPO, 7, "fp-b")
    assert store.get(REPO, 8) is None


@pytest.mark.parametrize("state", [TaskState.FAILED, TaskState.NEEDS_HUMAN])
def test_editing_the_issue_requeues_a_failed_task(store: Store, state: TaskState) -> None:
    store.observe(REPO, 1, "fp-a")
    assert store.claim(REPO, [1], "w1", 60, now=T0) is not None
    store.transition(
        REPO, 1, "w1", Transition(state, error="tests failed", next_attempt_at=T0 + timedelta(hours=1))
    )
    unchanged = store.observe(REPO, 1, "fp-a")
    assert (unchanged.state, unchanged.attempts, unchanged.last_error) == (state, 1, "tests failed")
    edited = store.observe(REPO, 1, "fp-b")
    assert (edited.state, edited.attempts, edited.last_error) == (TaskState.QUEUED, 0, None)
    assert edited.next_attempt_at is None and edited.fingerprint == "fp-b"


def test_editing_a_done_task_only_records_the_fingerprint(store: Store) -> None:
    store.observe(REPO, 1, "fp-a")
    store.claim(REPO, [1], "w1", 60, now=T0)
    store.transition(REPO, 1, "w1", Transition(TaskState.DONE))
    edited = store.observe(REPO, 1, "fp-b")
    assert (edited.state, edited.attempts, edited.fingerprint) == (TaskState.DONE, 1, "fp-b")


def test_reset_requeues_unconditionally(store: Store) -> None:
    store.observe(REPO, 1, "fp")
    store.claim(REPO, [1], "w1", 60, now=T0)
    store.transition(REPO, 1, "w1", Transition(TaskState.NEEDS_HUMAN, error="stuck", next_attempt_at=T0))
    store.reset(REPO, 1)
    task = store.get(REPO, 1)
    assert task is not None
    assert (task.state, task.attempts, task.last_error, task.next_attempt_at) == (
        TaskState.QUEUED,
        0,
        None,
        None,
    )
    store.reset(REPO, 99)  # unknown tasks are ignored
    assert store.get(REPO, 99) is None


def test_claim_takes_a_lease_and_counts_the_attempt(store: Store) -> None:
    store.observe(REPO, 1, "fp")
    task = store.claim(REPO, [1], "w1", 60, now=T0)
    assert task is not None
    assert (task.state, task.attempts, task.claim_owner) == (TaskState.WORKING, 1, "w1")
    assert task.lease_expires_at == T0 + timedelta(seconds=60)
    assert store.claim(REPO, [1], "w2", 60, now=T0 + timedelta(seconds=59)) is None
    assert store.claim(REPO, [], "w2", 60, now=T0) is None
    with pytest.raises(ValueError, match="timezone-aware"):
        store.claim(REPO, [1], "w2", 60, now=datetime(2030, 1, 1))  # naive on purpose


def test_a_crashed_workers_task_is_claimable_once_its_lease_expires(store: Store) -> None:
    store.observe(REPO, 1, "fp")
    store.claim(REPO, [1], "w1", 60, now=T0)
    retaken = store.claim(REPO, [1], "w2", 60, now=T0 + timedelta(seconds=61))
    assert retaken is not None
    assert (retaken.claim_owner, retaken.attempts, retaken.state) == ("w2", 2, TaskState.WORKING)


def test_claim_follows_the_candidate_order_and_skips_the_unclaimable(store: Store) -> None:
    observe_all(store, range(1, 6))
    store.observe("acme/other", 9, "fp")
    store.claim(REPO, [2], "w1", 60, now=T0)
    store.transition(REPO, 2, "w1", Transition(TaskState.DONE))
    store.claim(REPO, [4], "w1", 60, now=T0)
    store.transition(REPO, 4, "w1", Transition(TaskState.NEEDS_HUMAN))
    order = [9, 42, 4, 3, 2, 5, 1]
    claimed = [store.claim(REPO, order, "w2", 60, now=T0) for _ in range(4)]
    assert [task.issue if task else None for task in claimed] == [3, 5, 1, None]


def test_claim_waits_for_next_attempt_at(store: Store) -> None:
    store.observe(REPO, 1, "fp")
    store.claim(REPO, [1], "w1", 60, now=T0)
    store.transition(
        REPO, 1, "w1", Transition(TaskState.FAILED, error="boom", next_attempt_at=T0 + timedelta(minutes=10))
    )
    assert store.claim(REPO, [1], "w1", 60, now=T0 + timedelta(minutes=9)) is None
    task = store.claim(REPO, [1], "w1", 60, now=T0 + timedelta(minutes=10))
    assert task is not None and task.attempts == 2 and task.last_error == "boom"


def test_heartbeat_extends_the_lease_until_the_claim_is_lost(store: Store) -> None:
    store.observe(REPO, 1, "fp")
    store.observe(REPO, 2, "fp")
    past = datetime.now(UTC) - timedelta(hours=1)
    store.claim(REPO, [1], "w1", 5, now=past)
    assert store.heartbeat(REPO, 1, "w1", 300)
    task = store.get(REPO, 1)
    assert task is not None and task.lease_expires_at is not None
    assert task.lease_expires_at > datetime.now(UTC) + timedelta(seconds=200)
    assert not store.heartbeat(REPO, 1, "w2", 300)
    store.claim(REPO, [2], "w1", 5, now=past)
    assert store.claim(REPO, [2], "w2", 300) is not None  # w1's lease expired: w2 takes over
    assert not store.heartbeat(REPO, 2, "w1", 300)


def test_transition_ends_the_step_and_releases_the_claim(store: Store) -> None:
    store.observe(REPO, 1, "fp")
    store.claim(REPO, [1], "w1", 60, now=T0)
    with pytest.raises(ClaimLost):
        store.transition(REPO, 1, "w2", Transition(TaskState.DONE))
    store.transition(
        REPO, 1, "w1", Transition(TaskState.PR_OPENED, pr_number=3, pr_url="https://example.test/pull/3")
    )
    task = store.get(REPO, 1)
    assert task is not None
    assert (task.state, task.pr_number, task.claim_owner, task.lease_expires_at) == (
        TaskState.PR_OPENED,
        3,
        None,
        None,
    )
    with pytest.raises(ClaimLost) as caught:  # released: not even the former owner holds it now
        store.transition(REPO, 1, "w1", Transition(TaskState.DONE))
    assert isinstance(caught.value, AutonomousDevError) and "acme/widgets#1" in str(caught.value)


def pr_step(store: Store, issue: int, state: TaskState, retry_at: datetime | None = None) -> None:
    """A task whose attempt opened PR #`issue + 100`, now in `state`."""
    store.observe(REPO, issue, "fp")
    store.claim(REPO, [issue], "w0", 60, now=T0)
    url = f"https://example.test/pull/{issue + 100}"
    store.transition(
        REPO, issue, "w0", Transition(state, pr_number=issue + 100, pr_url=url, next_attempt_at=retry_at)
    )


def test_a_transition_records_the_pr_steps_failed_in_a_row_and_a_success_clears_them(store: Store) -> None:
    pr_step(store, 1, TaskState.LANDING)
    store.claim(REPO, [1], "w1", 60, now=T0)
    store.transition(REPO, 1, "w1", Transition(TaskState.LANDING, error="boom", step_failures=2))
    task = store.get(REPO, 1)
    assert task is not None and (task.step_failures, task.last_error) == (2, "boom")
    store.claim(REPO, [1], "w1", 60, now=T0)
    store.release(REPO, 1, "w1")  # given back (a stop, an outage): not a failure, nor a success
    task = store.get(REPO, 1)
    assert task is not None and task.step_failures == 2
    store.claim(REPO, [1], "w1", 60, now=T0)
    store.transition(REPO, 1, "w1", Transition(TaskState.LANDING))
    task = store.get(REPO, 1)
    assert task is not None and task.step_failures == 0


def test_a_claim_starts_the_step_its_state_waits_for_and_counts_only_attempts(store: Store) -> None:
    pr_step(store, 1, TaskState.LANDING)
    pr_step(store, 2, TaskState.OUT_OF_DATE)
    pr_step(store, 3, TaskState.MERGED)  # an end: never claimed
    pr_step(store, 4, TaskState.PR_OPENED)  # waits for people, and is followed: looked at, in its state
    pr_step(store, 5, TaskState.REVIEW_DUE)
    pr_step(store, 6, TaskState.REPAIR_DUE)
    landing = store.claim(REPO, [1], "w1", 60, now=T0)
    updating = store.claim(REPO, [2], "w1", 60, now=T0)
    assert landing is not None and (landing.state, landing.attempts) == (TaskState.LANDING, 1)
    assert updating is not None and (updating.state, updating.attempts) == (TaskState.UPDATING, 1)
    assert store.claim(REPO, [3], "w1", 60, now=T0) is None
    claimed = [store.claim(REPO, [n], "w1", 60, now=T0) for n in (4, 5, 6)]
    assert [(t.state, t.attempts) for t in claimed if t] == [
        (TaskState.PR_OPENED, 1),
        (TaskState.REVIEWING, 1),
        (TaskState.REPAIRING, 1),
    ]
    for number in (2, 5, 6):
        store.release(REPO, number, "w1")  # a stop: the step is due again
    released = [store.get(REPO, n) for n in (2, 5, 6)]
    assert [(t.state, t.attempts) for t in released if t] == [
        (TaskState.OUT_OF_DATE, 1),
        (TaskState.REVIEW_DUE, 1),
        (TaskState.REPAIR_DUE, 1),
    ]


def test_a_transition_adds_rounds_and_sets_what_following_the_pr_took_in(store: Store) -> None:
    pr_step(store, 1, TaskState.REVIEW_DUE)
    assert store.claim(REPO, [1], "w1", 60, now=T0) is not None
    marks = FollowMarks(
        review_comment=12, comment=7, review=3, repaired_head="abc", repaired_checks=("a", "b c")
    )
    store.transition(REPO, 1, "w1", Transition(TaskState.PR_OPENED, review_rounds=1, marks=marks))
    assert store.claim(REPO, [1], "w1", 60, now=T0) is not None
    store.transition(REPO, 1, "w1", Transition(TaskState.PR_OPENED, review_rounds=1, repair_rounds=1))
    task = store.get(REPO, 1)
    assert task is not None and (task.review_rounds, task.repair_rounds, task.marks) == (2, 1, marks)
    assert store.tasks(REPO)[0].marks == marks and store.pending_steps(REPO)[0].marks == marks
    assert store.claim(REPO, [1], "w1", 60, now=T0) is not None
    store.release(REPO, 1, "w1")
    with pytest.raises(ClaimLost):  # a lost claim records no rounds either
        store.transition(REPO, 1, "w1", Transition(TaskState.PR_OPENED, review_rounds=1))
    task = store.get(REPO, 1)
    assert task is not None and task.review_rounds == 2


def test_a_crashed_step_is_recovered_to_the_state_it_waited_in(store: Store) -> None:
    observe_all(store, [1])
    pr_step(store, 2, TaskState.OUT_OF_DATE)
    store.claim(REPO, [1], "w1", 30, now=T0)
    store.claim(REPO, [2], "w1", 30, now=T0)
    later = T0 + timedelta(seconds=60)
    expired = store.expired_claims(now=later)
    assert [task.state for task in expired] == [TaskState.WORKING, TaskState.UPDATING]
    assert all(store.recover(task, "crashed", now=later) for task in expired)
    assert not store.recover(expired[0], "crashed", now=later)  # once only
    recovered = [store.get(REPO, n) for n in (1, 2)]
    assert [(t.state, t.attempts, t.last_error, t.step_failures) for t in recovered if t] == [
        (TaskState.QUEUED, 1, "crashed", 0),  # the attempt counts (at its claim): a crash is no free retry
        (TaskState.OUT_OF_DATE, 1, "crashed", 1),  # a step on the PR lost in the middle: one in a row
    ]


def test_adopt_records_a_pr_its_attempt_did_not_and_only_then(store: Store) -> None:
    observe_all(store, [1, 2])
    store.claim(REPO, [1], "w1", 30, now=T0)  # the worker died after opening the PR
    url = "https://example.test/pull/7"
    assert not store.adopt(REPO, 1, TaskState.LANDING, 7, url, None)  # its lease is live
    store.claim(REPO, [2], "w1", 30, now=datetime.now(UTC) - timedelta(minutes=5))
    assert store.adopt(REPO, 2, TaskState.LANDING, 7, url, T0)
    task = store.get(REPO, 2)
    assert task is not None and (task.state, task.pr_number, task.claim_owner) == (TaskState.LANDING, 7, None)
    assert task.deadline_at == T0
    assert not store.adopt(REPO, 2, TaskState.PR_OPENED, 7, url, None)  # past its attempt now


def test_pending_steps_lists_the_pr_steps_due_or_not(store: Store) -> None:
    pr_step(store, 1, TaskState.LANDING, retry_at=T0 + timedelta(minutes=5))
    pr_step(store, 2, TaskState.OUT_OF_DATE)
    pr_step(store, 3, TaskState.MERGED)
    observe_all(store, [4])
    pending = store.pending_steps(REPO)
    assert [(t.issue, t.state) for t in pending] == [(1, TaskState.LANDING), (2, TaskState.OUT_OF_DATE)]
    assert pending[0].next_attempt_at == T0 + timedelta(minutes=5)
    assert store.claim(REPO, [1], "w1", 60, now=T0) is None  # not due yet


def test_the_sql_follows_the_lifecycle_tables() -> None:
    """The state names written into the SQL are the ones of store/records.py."""
    from autonomous_dev.store import sql
    from autonomous_dev.store.records import RUNNING, STEP_OF, WAITING, Step

    def listed(states: object) -> str:
        return ", ".join(f"'{state}'" for state in states)  # type: ignore[attr-defined]

    def flat(statement: str) -> str:
        return " ".join(statement.split()).replace("( ", "(")

    assert listed(STEP_OF) in flat(sql.PICK_SQLITE) and listed(STEP_OF) in flat(sql.PICK_POSTGRES)
    pr_states = [state for state, step in STEP_OF.items() if step is not Step.ATTEMPT]
    assert f"state IN ({listed(pr_states)})" in flat(sql.LIST_PENDING_STEPS)
    attempt_states = [state for state, step in STEP_OF.items() if step is Step.ATTEMPT]
    assert listed(attempt_states) in sql.CLAIM and listed(attempt_states) in sql.ADOPT
    for state, step in STEP_OF.items():
        if state is not RUNNING[step]:
            assert f"WHEN '{state}' THEN '{RUNNING[step]}'" in " ".join(sql.CLAIM.split())
        if state is RUNNING[step] and state is not WAITING[step]:
            for statement in (sql.RELEASE, sql.RECOVER):
                assert f"WHEN '{state}' THEN '{WAITING[step]}'" in statement


def test_migration_2_keeps_a_version_1_database(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    from autonomous_dev.store.schema import SQLITE_TYPES

    conn.execute(
        "CREATE TABLE autonomous_dev_schema_version (version integer PRIMARY KEY, applied_at text NOT NULL)"
    )
    for statement in MIGRATIONS[0][1]:
        conn.execute(statement.format_map(SQLITE_TYPES))
    conn.execute("INSERT INTO autonomous_dev_schema_version VALUES (1, 'then')")
    conn.execute(
        "INSERT INTO autonomous_dev_tasks (repo, issue, state, attempts, created_at, updated_at)"
        " VALUES ('acme/widgets', 1, 'claimed', 1, 0, 0)"
    )
    conn.commit()
    conn.close()
    store = SqliteStore(path)
    store.migrate()
    task = store.get(REPO, 1)
    assert task is not None and (task.state, task.attempts, task.updates, task.deadline_at) == (
        TaskState.WORKING,
        1,
        0,
        None,
    )
    assert (task.review_rounds, task.repair_rounds, task.marks) == (0, 0, FollowMarks())  # migration 5
    assert task.step_failures == 0  # migration 7
    store.close()


def test_release_gives_the_attempt_back(store: Store) -> None:
    store.observe(REPO, 1, "fp")
    store.claim(REPO, [1], "w1", 60, now=T0)
    store.release(REPO, 1, "w2")  # not the owner: nothing happens
    held = store.get(REPO, 1)
    assert held is not None and held.claim_owner == "w1"
    store.release(REPO, 1, "w1")
    task = store.get(REPO, 1)
    assert task is not None
    assert (task.state, task.attempts, task.claim_owner, task.lease_expires_at) == (
        TaskState.QUEUED,
        0,
        None,
        None,
    )
    store.claim(REPO, [1], "w1", 60, now=T0)
    store.reset(REPO, 1)
    store.release(REPO, 1, "w1")
    again = store.get(REPO, 1)
    assert again is not None and again.attempts == 0  # never below zero


def test_usage_accumulates_and_cost_since_sums_a_window(store: Store) -> None:
    store.observe(REPO, 1, "fp")
    before = datetime.now(UTC)
    store.add_usage(REPO, 1, UsageDelta(input_tokens=100, output_tokens=10, cost_usd=0.25))
    middle = datetime.now(UTC)
    store.add_usage(REPO, 1, UsageDelta(cache_read_tokens=7, cache_write_tokens=3, cost_usd=0.5))
    store.add_usage(REPO, 2, UsageDelta(cost_usd=1.0))  # no task row yet: still counts against the budget
    task = store.get(REPO, 1)
    assert task is not None
    tokens = (task.input_tokens, task.output_tokens, task.cache_read_tokens, task.cache_write_tokens)
    assert tokens == (100, 10, 7, 3) and task.cost_usd == pytest.approx(0.75)
    assert store.cost_since(before) == pytest.approx(1.75)
    assert store.cost_since(middle) == pytest.approx(1.5)
    assert store.cost_since(datetime.now(UTC) + timedelta(seconds=1)) == 0.0


def test_meta_is_a_small_key_value_table(store: Store) -> None:
    assert store.get_meta("etag:issues") is None
    store.set_meta("etag:issues", 'W/"1"')
    store.set_meta("etag:issues", 'W/"2"')
    assert store.get_meta("etag:issues") == 'W/"2"'


def test_expired_claims_lists_leases_that_ran_out(store: Store) -> None:
    observe_all(store, range(1, 4))
    store.claim(REPO, [1], "w1", 30, now=T0)
    store.claim(REPO, [2], "w2", 600, now=T0)
    later = T0 + timedelta(seconds=60)
    assert [task.issue for task in store.expired_claims(now=later)] == [1]
    assert store.expired_claims(now=T0) == []


def test_tasks_lists_newest_first_and_filters_by_repo(store: Store) -> None:
    observe_all(store, range(1, 4))
    observe_all(store, range(1, 2), repo="acme/other")
    store.claim(REPO, [2], "w1", 60, now=T0)
    assert (store.tasks()[0].repo, store.tasks()[0].issue) == (REPO, 2)
    assert len(store.tasks()) == 4 and len(store.tasks(limit=2)) == 2
    assert sorted(task.issue for task in store.tasks(REPO)) == [1, 2, 3]


def test_threads_on_two_instances_claim_each_task_exactly_once(
    store: Store, make_store: Callable[[], Store]
) -> None:
    candidates = list(range(1, 21))
    observe_all(store, range(1, 21))
    instances = [make_store(), make_store()]
    claimed: list[int] = []
    errors: list[Exception] = []
    lock = threading.Lock()

    def work(instance: Store, owner: str) -> None:
        try:
            while (task := instance.claim(REPO, candidates, owner, 60)) is not None:
                with lock:
                    claimed.append(task.issue)
                instance.transition(REPO, task.issue, owner, Transition(TaskState.DONE))
        except Exception as exc:  # reported below: a thread's exception would otherwise be lost
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(instances[i % 2], f"w{i}")) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert sorted(claimed) == candidates


CLAIMER = textwrap.dedent(
    """
    import sys
    import time
    from pathlib import Path
    sys.path.insert(0, sys.argv[1])
    from autonomous_dev.store.backends import TaskState, Transition, open_store

    kind, path, dsn, owner = sys.argv[2], Path(sys.argv[3]), sys.argv[4] or None, sys.argv[5]
    store = open_store(kind, path, dsn)
    store.migrate()
    issues = list(range(1, 31))
    for issue in issues:
        store.observe("acme/widgets", issue, f"fp-{issue}")
    print("ready", flush=True)
    sys.stdin.readline()
    while (task := store.claim("acme/widgets", issues, owner, 60)) is not None:
        print(task.issue, flush=True)
        time.sleep(0.01)  # "work" outside the transaction, so the others get their turn at the lock
        store.transition("acme/widgets", task.issue, owner, Transition(TaskState.DONE))
    store.close()
    """
)


def test_processes_racing_on_a_fresh_database_claim_each_task_exactly_once(backend: Backend) -> None:
    # Nothing is migrated yet: the three processes also race to create the schema.
    args = [str(ROOT), backend.kind, str(backend.sqlite_path), backend.dsn or ""]
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", CLAIMER, *args, f"proc{i}"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(3)
    ]
    for proc in procs:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready", proc.communicate()
    for proc in procs:  # release all three at once so they really race
        assert proc.stdin is not None
        proc.stdin.write("go\n")
        proc.stdin.flush()
    outputs = [proc.communicate(timeout=60) for proc in procs]
    for proc, (_, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err
    claimed = [int(line) for out, _ in outputs for line in out.split()]
    assert sorted(claimed) == list(range(1, 31))


def test_the_threads_of_one_process_take_turns_to_write_instead_of_meeting_a_locked_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With SQLite's busy timeout at 0, eight threads writing at once never find the file locked: they
    queue in the process, where the next goes as soon as the last is done (SQLite's busy handler would
    sleep 10 ms and more before trying again)."""
    monkeypatch.setattr(backends, "SQLITE_BUSY_TIMEOUT_S", 0.0)

    class SlowWrites(SqliteStore):  # each write holds the file a while, so the threads overlap
        def _run(self, conn: sqlite3.Connection, query: str, params: Sequence[object]) -> backends.Result:
            result = super()._run(conn, query, params)
            if query.lstrip().startswith("UPDATE"):
                time.sleep(0.002)
            return result

    store = SlowWrites(tmp_path / "state.db")
    store.migrate()
    failures: list[AutonomousDevError] = []

    def write() -> None:
        for _ in range(40):
            try:
                store.heartbeat("acme/widgets", 1, "w1", 30)
            except AutonomousDevError as exc:
                failures.append(exc)

    threads = [threading.Thread(target=write) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    store.close()
    assert failures == []
