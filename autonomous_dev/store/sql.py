"""The store's SQL and its operations written once for both backends (the schema: store/schema.py)."""

from __future__ import annotations

import abc
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from autonomous_dev.errors import Cause
from autonomous_dev.store import follow_sql, mentions, webhooks
from autonomous_dev.store.progress_sql import (
    UNSHOWN_WHERE,
    ProgressWrites,
    read_cause,
    value,
)
from autonomous_dev.store.records import ClaimLost, TaskRecord, TaskState, Transition, UsageDelta
from autonomous_dev.store.schema import (
    CREATE_VERSION_TABLE,
    INSERT_VERSION,
    SELECT_VERSIONS,
    migrations_for,
)

Row = tuple[Any, ...]
Execute = Callable[[str, Sequence[object]], "Result"]

# Statements use psycopg's `%s` placeholders; the SQLite backend swaps them for `?`.
# Columns in the order TaskRecord's fields are read.
SELECT_TASKS = """SELECT repo, issue, state, attempts, last_error, pr_number, pr_url, fingerprint,
    next_attempt_at, claim_owner, lease_expires_at, input_tokens, output_tokens, cache_read_tokens,
    cache_write_tokens, cost_usd, created_at, updated_at, updates, deadline_at, review_rounds,
    repair_rounds, seen_review_comment, seen_comment, seen_review, repaired_head, repaired_checks,
    cause, progress, progress_shown, step_failures FROM autonomous_dev_tasks"""

GET_TASK = SELECT_TASKS + " WHERE repo = %s AND issue = %s"
LIST_TASKS = SELECT_TASKS + " ORDER BY updated_at DESC, repo, issue DESC LIMIT %s"
LIST_REPO_TASKS = SELECT_TASKS + " WHERE repo = %s ORDER BY updated_at DESC, issue DESC LIMIT %s"
EXPIRED_CLAIMS = (
    SELECT_TASKS + " WHERE claim_owner IS NOT NULL AND lease_expires_at < %s ORDER BY lease_expires_at"
)

INSERT_TASK = """INSERT INTO autonomous_dev_tasks (repo, issue, fingerprint, created_at, updated_at)
    VALUES (%s, %s, %s, %s, %s) ON CONFLICT (repo, issue) DO NOTHING"""
# An edited issue (new fingerprint) that had failed or needed a human is eligible again.
RESET_IF_EDITED = """UPDATE autonomous_dev_tasks
    SET state = 'queued', attempts = 0, next_attempt_at = NULL, last_error = NULL, cause = NULL,
        updated_at = %s
    WHERE repo = %s AND issue = %s AND state IN ('failed', 'needs_human') AND fingerprint <> %s"""
SET_FINGERPRINT = """UPDATE autonomous_dev_tasks SET fingerprint = %s, updated_at = %s
    WHERE repo = %s AND issue = %s AND (fingerprint IS NULL OR fingerprint <> %s)"""
RESET = """UPDATE autonomous_dev_tasks
    SET state = 'queued', attempts = 0, next_attempt_at = NULL, last_error = NULL, cause = NULL,
        updated_at = %s
    WHERE repo = %s AND issue = %s"""

# The state names below follow store/records.py's tables (STEP_OF, RUNNING, WAITING); a test compares them.
# Claimable: a state that waits for a step, or runs one under an expired lease (a crashed worker's),
# and not backing off.
PICK_SQLITE = """SELECT t.issue FROM autonomous_dev_tasks t JOIN json_each(%s) c ON c.value = t.issue
    WHERE t.repo = %s AND t.state IN ('queued', 'failed', 'working', 'landing', 'out_of_date', 'updating',
            'pr_opened', 'review_due', 'reviewing', 'repair_due', 'repairing')
        AND (t.claim_owner IS NULL OR t.lease_expires_at < %s)
        AND (t.next_attempt_at IS NULL OR t.next_attempt_at <= %s)
    ORDER BY c.key LIMIT 1"""
PICK_POSTGRES = """SELECT issue FROM autonomous_dev_tasks
    WHERE repo = %s AND issue = ANY(%s::bigint[])
        AND state IN ('queued', 'failed', 'working', 'landing', 'out_of_date', 'updating', 'pr_opened',
            'review_due', 'reviewing', 'repair_due', 'repairing')
        AND (claim_owner IS NULL OR lease_expires_at < %s)
        AND (next_attempt_at IS NULL OR next_attempt_at <= %s)
    ORDER BY array_position(%s::bigint[], issue) LIMIT 1 FOR UPDATE SKIP LOCKED"""
# A claim starts the state's step; only an attempt counts towards maxAttempts.
CLAIM = """UPDATE autonomous_dev_tasks
    SET state = CASE state WHEN 'queued' THEN 'working' WHEN 'failed' THEN 'working'
            WHEN 'out_of_date' THEN 'updating' WHEN 'review_due' THEN 'reviewing'
            WHEN 'repair_due' THEN 'repairing' ELSE state END,
        attempts = attempts + CASE WHEN state IN ('queued', 'failed', 'working') THEN 1 ELSE 0 END,
        claim_owner = %s, lease_expires_at = %s, updated_at = %s
    WHERE repo = %s AND issue = %s"""
HEARTBEAT = """UPDATE autonomous_dev_tasks SET lease_expires_at = %s
    WHERE repo = %s AND issue = %s AND claim_owner = %s"""
TRANSITION = """UPDATE autonomous_dev_tasks
    SET state = %s, last_error = %s, next_attempt_at = %s, deadline_at = %s, updates = updates + %s,
        pr_number = COALESCE(%s, pr_number), pr_url = COALESCE(%s, pr_url), cause = %s,
        progress = COALESCE(%s, progress), progress_shown = %s, step_failures = %s,
        claim_owner = NULL, lease_expires_at = NULL, updated_at = %s
    WHERE repo = %s AND issue = %s AND claim_owner = %s"""
# A step given back (a stop, an outage): the state it waited in, and an attempt uncounted.
RELEASE = """UPDATE autonomous_dev_tasks
    SET state = CASE state WHEN 'working' THEN 'queued' WHEN 'updating' THEN 'out_of_date'
            WHEN 'reviewing' THEN 'review_due' WHEN 'repairing' THEN 'repair_due' ELSE state END,
        attempts = CASE WHEN state = 'working' AND attempts > 0 THEN attempts - 1 ELSE attempts END,
        cause = COALESCE(%s, cause), claim_owner = NULL, lease_expires_at = NULL, updated_at = %s
    WHERE repo = %s AND issue = %s AND claim_owner = %s"""
# A crashed worker's step (its lease ran out): the state it waited in, the attempt counted (at its claim)
# or a step on the PR counted as failed; a tracking comment is behind it now (the same where a PR is
# adopted).
RECOVER = """UPDATE autonomous_dev_tasks
    SET state = CASE state WHEN 'working' THEN 'queued' WHEN 'updating' THEN 'out_of_date'
            WHEN 'reviewing' THEN 'review_due' WHEN 'repairing' THEN 'repair_due' ELSE state END,
        step_failures = step_failures + CASE state WHEN 'working' THEN 0 ELSE 1 END,
        last_error = %s, cause = %s, progress_shown = CASE WHEN progress IS NULL THEN 1 ELSE 0 END,
        claim_owner = NULL, lease_expires_at = NULL, updated_at = %s
    WHERE repo = %s AND issue = %s AND claim_owner = %s AND lease_expires_at < %s"""
# The PR of an attempt whose worker stopped before recording it: the task goes on from the PR.
ADOPT = """UPDATE autonomous_dev_tasks
    SET state = %s, pr_number = %s, pr_url = %s, next_attempt_at = NULL, deadline_at = %s,
        last_error = NULL, cause = NULL, progress_shown = CASE WHEN progress IS NULL THEN 1 ELSE 0 END,
        claim_owner = NULL, lease_expires_at = NULL, updated_at = %s
    WHERE repo = %s AND issue = %s AND state IN ('queued', 'failed', 'working')
        AND (claim_owner IS NULL OR lease_expires_at < %s)"""
UNSHOWN = SELECT_TASKS + UNSHOWN_WHERE
LIST_PENDING_STEPS = SELECT_TASKS + " WHERE repo = %s AND state IN " + follow_sql.PR_STEPS + " ORDER BY issue"

ADD_USAGE = """UPDATE autonomous_dev_tasks
    SET input_tokens = input_tokens + %s, output_tokens = output_tokens + %s,
        cache_read_tokens = cache_read_tokens + %s, cache_write_tokens = cache_write_tokens + %s,
        cost_usd = cost_usd + %s, updated_at = %s
    WHERE repo = %s AND issue = %s"""
INSERT_USAGE_EVENT = """INSERT INTO autonomous_dev_usage_events
    (at, repo, issue, input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, cost_usd)
    VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"""
COST_SINCE = "SELECT COALESCE(SUM(cost_usd), 0) FROM autonomous_dev_usage_events WHERE at >= %s"

GET_META = "SELECT value FROM autonomous_dev_meta WHERE key = %s"
SET_META = """INSERT INTO autonomous_dev_meta (key, value) VALUES (%s, %s)
    ON CONFLICT (key) DO UPDATE SET value = excluded.value"""


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Result:
    rows: list[Row]
    rowcount: int


def utcnow() -> datetime:
    return datetime.now(UTC)


def aware(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError(f"store times must be timezone-aware, got {moment!r}")
    return moment


class SqlStore(webhooks.WebhookRecords, mentions.MentionRecords, ProgressWrites, abc.ABC):
    """The Store operations, written once against a small backend interface."""

    @abc.abstractmethod
    def _transaction(self) -> AbstractContextManager[Execute]:
        """A write transaction that excludes other claimers for its duration."""

    @abc.abstractmethod
    def _read(self, query: str, params: Sequence[object]) -> list[Row]: ...

    @abc.abstractmethod
    def _encode(self, moment: datetime | None) -> object:
        """A tz-aware time as the backend stores it."""

    @abc.abstractmethod
    def _decode(self, value: Any) -> datetime | None: ...

    @abc.abstractmethod
    def _pick(self, execute: Execute, repo: str, candidates: Sequence[int], now: object) -> int | None:
        """The first claimable candidate, in the candidates' order, locked for this transaction."""

    def _record(self, row: Row) -> TaskRecord:
        created, updated = self._decode(row[16]), self._decode(row[17])
        assert created is not None and updated is not None  # NOT NULL columns
        return TaskRecord(
            repo=row[0],
            issue=int(row[1]),
            state=TaskState(row[2]),
            attempts=int(row[3]),
            last_error=row[4],
            pr_number=None if row[5] is None else int(row[5]),
            pr_url=row[6],
            fingerprint=row[7],
            next_attempt_at=self._decode(row[8]),
            claim_owner=row[9],
            lease_expires_at=self._decode(row[10]),
            input_tokens=int(row[11]),
            output_tokens=int(row[12]),
            cache_read_tokens=int(row[13]),
            cache_write_tokens=int(row[14]),
            cost_usd=float(row[15]),
            created_at=created,
            updated_at=updated,
            updates=int(row[18]),
            deadline_at=self._decode(row[19]),
            review_rounds=int(row[20]),
            repair_rounds=int(row[21]),
            marks=follow_sql.marks_of(row[22:27]),
            cause=read_cause(row[27]),
            progress=row[28],
            progress_shown=bool(row[29]),
            step_failures=int(row[30]),
        )

    def _now(self) -> object:
        return self._encode(utcnow())

    def observe(self, repo: str, issue: int, fingerprint: str) -> TaskRecord:
        now = self._now()
        with self._transaction() as execute:
            execute(INSERT_TASK, (repo, issue, fingerprint, now, now))
            execute(RESET_IF_EDITED, (now, repo, issue, fingerprint))
            execute(SET_FINGERPRINT, (fingerprint, now, repo, issue, fingerprint))
            return self._record(execute(GET_TASK, (repo, issue)).rows[0])

    def reset(self, repo: str, issue: int) -> None:
        with self._transaction() as execute:
            execute(RESET, (self._now(), repo, issue))

    def claim(
        self, repo: str, candidates: Sequence[int], owner: str, lease_s: float, now: datetime | None = None
    ) -> TaskRecord | None:
        if not candidates:
            return None
        moment = aware(now) if now is not None else utcnow()
        at, lease = self._encode(moment), self._encode(moment + timedelta(seconds=lease_s))
        with self._transaction() as execute:
            issue = self._pick(execute, repo, [int(c) for c in candidates], at)
            if issue is None:
                return None
            execute(CLAIM, (owner, lease, at, repo, issue))
            return self._record(execute(GET_TASK, (repo, issue)).rows[0])

    def heartbeat(self, repo: str, issue: int, owner: str, lease_s: float) -> bool:
        lease = self._encode(utcnow() + timedelta(seconds=lease_s))
        with self._transaction() as execute:
            return execute(HEARTBEAT, (lease, repo, issue, owner)).rowcount == 1

    def add_usage(self, repo: str, issue: int, delta: UsageDelta) -> None:
        now = self._now()
        tokens = (delta.input_tokens, delta.output_tokens, delta.cache_read_tokens, delta.cache_write_tokens)
        with self._transaction() as execute:
            execute(ADD_USAGE, (*tokens, delta.cost_usd, now, repo, issue))
            execute(INSERT_USAGE_EVENT, (now, repo, issue, *tokens, delta.cost_usd))

    def transition(self, repo: str, issue: int, owner: str, to: Transition) -> None:
        retry_at = self._encode(aware(to.next_attempt_at) if to.next_attempt_at is not None else None)
        deadline = self._encode(aware(to.deadline_at) if to.deadline_at is not None else None)
        state = TaskState(to.state).value
        params = (state, to.error, retry_at, deadline, to.updates, to.pr_number, to.pr_url, value(to.cause),
                  to.progress, int(to.shown), to.step_failures, self._now(), repo, issue, owner)  # fmt: skip
        with self._transaction() as execute:
            if execute(TRANSITION, params).rowcount != 1:
                raise _claim_lost(repo, issue, owner)
            follow_sql.record(execute, repo, issue, to)

    def release(self, repo: str, issue: int, owner: str, cause: Cause | None = None) -> None:
        with self._transaction() as execute:
            execute(RELEASE, (value(cause), self._now(), repo, issue, owner))

    def recover(self, record: TaskRecord, error: str, now: datetime | None = None) -> bool:
        moment = self._encode(aware(now) if now is not None else utcnow())
        lost = Cause.WORKER_LOST.value
        params = (error, lost, self._now(), record.repo, record.issue, record.claim_owner, moment)
        with self._transaction() as execute:
            return execute(RECOVER, params).rowcount == 1

    def adopt(
        self,
        repo: str,
        issue: int,
        state: TaskState,
        pr_number: int,
        pr_url: str,
        deadline_at: datetime | None,
    ) -> bool:
        deadline = self._encode(aware(deadline_at) if deadline_at is not None else None)
        now = self._now()
        with self._transaction() as execute:
            params = (TaskState(state).value, pr_number, pr_url, deadline, now, repo, issue, now)
            return execute(ADOPT, params).rowcount == 1

    def pending_steps(self, repo: str) -> list[TaskRecord]:
        return [self._record(row) for row in self._read(LIST_PENDING_STEPS, (repo,))]

    def unshown(self, now: datetime | None = None) -> list[TaskRecord]:
        moment = aware(now) if now is not None else utcnow()
        return [self._record(row) for row in self._read(UNSHOWN, (self._encode(moment),))]

    def expired_claims(self, now: datetime | None = None) -> list[TaskRecord]:
        moment = aware(now) if now is not None else utcnow()
        return [self._record(row) for row in self._read(EXPIRED_CLAIMS, (self._encode(moment),))]

    def get(self, repo: str, issue: int) -> TaskRecord | None:
        rows = self._read(GET_TASK, (repo, issue))
        return self._record(rows[0]) if rows else None

    def tasks(self, repo: str | None = None, limit: int = 1000) -> list[TaskRecord]:
        if repo is None:
            rows = self._read(LIST_TASKS, (limit,))
        else:
            rows = self._read(LIST_REPO_TASKS, (repo, limit))
        return [self._record(row) for row in rows]

    def cost_since(self, since: datetime) -> float:
        return float(self._read(COST_SINCE, (self._encode(aware(since)),))[0][0])

    def get_meta(self, key: str) -> str | None:
        rows = self._read(GET_META, (key,))
        return str(rows[0][0]) if rows else None

    def set_meta(self, key: str, value: str) -> None:
        with self._transaction() as execute:
            execute(SET_META, (key, value))

    def _apply_migrations(self, types: Mapping[str, str]) -> None:
        """Apply each pending migration in its own transaction; the caller excludes other migrators."""
        with self._transaction() as execute:
            execute(CREATE_VERSION_TABLE, ())
        for version, statements in migrations_for(types):
            with self._transaction() as execute:
                applied = {int(row[0]) for row in execute(SELECT_VERSIONS, ()).rows}
                if version in applied:
                    continue
                for statement in statements:
                    execute(statement, ())
                execute(INSERT_VERSION, (version, utcnow().isoformat()))


def _claim_lost(repo: str, issue: int, owner: str) -> ClaimLost:
    return ClaimLost(
        f"{repo}#{issue}: worker {owner} no longer holds the claim",
        "its lease expired and another worker took the task over; this attempt's result was not recorded",
    )
