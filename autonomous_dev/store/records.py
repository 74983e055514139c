"""The task records and their lifecycle: the states, which step each state waits for, and what a claim,
a release and a crash do to a state. The SQL adapter (store/sql.py) follows these tables."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

from autonomous_dev.errors import AutonomousDevError, Cause


class TaskState(enum.StrEnum):
    """Where a task is. The diagram is in docs/architecture.md."""

    QUEUED = "queued"  # an attempt is due (now, or at next_attempt_at)
    WORKING = "working"  # an attempt holds the claim: worktree, agent, checks, push, PR
    FAILED = "failed"  # the last attempt failed; the next is due at next_attempt_at
    PR_OPENED = "pr_opened"  # a PR waits for people (auto-merge off, or merging was refused)
    LANDING = "landing"  # auto-merge: the PR is looked at once per step, due at next_attempt_at
    OUT_OF_DATE = "out_of_date"  # the PR conflicts with or is behind its base: an update is due
    UPDATING = "updating"  # an update holds the claim: rebase or merge, conflicts, checks, push
    MERGED = "merged"
    NEEDS_HUMAN = "needs_human"
    DONE = "done"  # ended without a PR: no change needed, a dry run, or answered before


class Step(enum.StrEnum):
    """The one job that moves a task out of a waiting state."""

    ATTEMPT = "attempt"
    LAND = "land"
    UPDATE = "update"


# The step each claimable state waits for; a running state is claimable once its lease has lapsed.
STEP_OF: dict[TaskState, Step] = {
    TaskState.QUEUED: Step.ATTEMPT,
    TaskState.FAILED: Step.ATTEMPT,
    TaskState.WORKING: Step.ATTEMPT,
    TaskState.LANDING: Step.LAND,
    TaskState.OUT_OF_DATE: Step.UPDATE,
    TaskState.UPDATING: Step.UPDATE,
}
# What a claim turns the state into while the step runs, and what a lost claim goes back to.
RUNNING: dict[Step, TaskState] = {
    Step.ATTEMPT: TaskState.WORKING,
    Step.LAND: TaskState.LANDING,
    Step.UPDATE: TaskState.UPDATING,
}
WAITING: dict[Step, TaskState] = {
    Step.ATTEMPT: TaskState.QUEUED,
    Step.LAND: TaskState.LANDING,
    Step.UPDATE: TaskState.OUT_OF_DATE,
}


@dataclass(frozen=True)
class TaskRecord:
    """One task (a repository's issue) as the store last recorded it; times are tz-aware UTC."""

    repo: str
    issue: int
    state: TaskState
    attempts: int
    last_error: str | None
    pr_number: int | None
    pr_url: str | None
    fingerprint: str | None
    next_attempt_at: datetime | None
    claim_owner: str | None
    lease_expires_at: datetime | None
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int
    cost_usd: float
    created_at: datetime
    updated_at: datetime
    updates: int = 0  # rounds of bringing the PR's branch up to date
    deadline_at: datetime | None = None  # landing stops waiting for the checks then
    cause: Cause | None = None  # why the last step ended without a ready PR (None: it did not)
    progress: str | None = None  # the tracking comment's data (core/progress.py), JSON; None: no comment
    progress_shown: bool = True  # False: the comment is behind the record (an edit failed, a crash)

    @property
    def step(self) -> Step | None:
        return STEP_OF.get(self.state)


@dataclass(frozen=True)
class UsageDelta:
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    cost_usd: float = 0.0


@dataclass(frozen=True)
class Transition:
    """The one store write that ends a step: the next state, when it is due, and what it learned."""

    state: TaskState
    error: str | None = None
    next_attempt_at: datetime | None = None
    pr_number: int | None = None
    pr_url: str | None = None
    deadline_at: datetime | None = None
    updates: int = 0  # added to the task's count of branch updates
    cause: Cause | None = None  # why it ended without a ready PR; None clears the task's cause
    progress: str | None = None  # the tracking comment's data, JSON; None keeps the task's
    shown: bool = True  # whether the tracking comment shows this transition already


class StoreError(AutonomousDevError):
    """The state database could not be reached or refused an operation."""

    code = "AD800"


class ClaimLost(AutonomousDevError):
    """Another worker took over the task after this worker's lease expired."""

    code = "AD810"
