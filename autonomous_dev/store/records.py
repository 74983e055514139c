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
    PR_OPENED = "pr_opened"  # a PR waits for people (auto-merge off, or merging was refused); followed
    LANDING = "landing"  # auto-merge: the PR is looked at once per step, due at next_attempt_at
    OUT_OF_DATE = "out_of_date"  # the PR conflicts with or is behind its base: an update is due
    UPDATING = "updating"  # an update holds the claim: rebase or merge, conflicts, checks, push
    REVIEW_DUE = "review_due"  # trusted review input on the PR waits for a review round
    REVIEWING = "reviewing"  # a review round holds the claim: the comments as the task, a new commit, replies
    REPAIR_DUE = "repair_due"  # the PR's head failed checks of its own: a CI-repair round is due
    REPAIRING = "repairing"  # a CI-repair round holds the claim: the failed checks' output as the task
    MERGED = "merged"
    NEEDS_HUMAN = "needs_human"
    DONE = "done"  # ended without a PR: no change needed, a dry run, or answered before


class Step(enum.StrEnum):
    """The one job that moves a task out of a waiting state."""

    ATTEMPT = "attempt"
    LAND = "land"
    UPDATE = "update"
    FOLLOW = "follow"  # one look at a PR waiting for people: new review input, failed checks, merged, closed
    REVIEW = "review"
    REPAIR = "repair"


# The step each claimable state waits for; a running state is claimable once its lease has lapsed.
STEP_OF: dict[TaskState, Step] = {
    TaskState.QUEUED: Step.ATTEMPT,
    TaskState.FAILED: Step.ATTEMPT,
    TaskState.WORKING: Step.ATTEMPT,
    TaskState.LANDING: Step.LAND,
    TaskState.OUT_OF_DATE: Step.UPDATE,
    TaskState.UPDATING: Step.UPDATE,
    TaskState.PR_OPENED: Step.FOLLOW,
    TaskState.REVIEW_DUE: Step.REVIEW,
    TaskState.REVIEWING: Step.REVIEW,
    TaskState.REPAIR_DUE: Step.REPAIR,
    TaskState.REPAIRING: Step.REPAIR,
}
# What a claim turns the state into while the step runs, and what a lost claim goes back to.
RUNNING: dict[Step, TaskState] = {
    Step.ATTEMPT: TaskState.WORKING,
    Step.LAND: TaskState.LANDING,
    Step.UPDATE: TaskState.UPDATING,
    Step.FOLLOW: TaskState.PR_OPENED,
    Step.REVIEW: TaskState.REVIEWING,
    Step.REPAIR: TaskState.REPAIRING,
}
WAITING: dict[Step, TaskState] = {
    Step.ATTEMPT: TaskState.QUEUED,
    Step.LAND: TaskState.LANDING,
    Step.UPDATE: TaskState.OUT_OF_DATE,
    Step.FOLLOW: TaskState.PR_OPENED,
    Step.REVIEW: TaskState.REVIEW_DUE,
    Step.REPAIR: TaskState.REPAIR_DUE,
}
# Looked at once per cycle, never again in the cycle that looked (a look that finds nothing stays put).
ONCE_PER_CYCLE = frozenset({Step.FOLLOW})


@dataclass(frozen=True)
class FollowMarks:
    """What following a PR has taken in: the newest review comment, conversation comment and review read
    (GitHub's ids grow within each kind), and the head whose failed checks a CI-repair round took on."""

    review_comment: int = 0
    comment: int = 0
    review: int = 0
    repaired_head: str = ""
    repaired_checks: tuple[str, ...] = ()


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
    review_rounds: int = 0  # rounds of answering review input on the PR
    repair_rounds: int = 0  # rounds of repairing the PR's failed checks
    marks: FollowMarks = FollowMarks()
    cause: Cause | None = None  # why the last step ended without a ready PR (None: it did not)
    progress: str | None = None  # the tracking comment's data (core/progress.py), JSON; None: no comment
    progress_shown: bool = True  # False: the comment is behind the record (an edit failed, a crash)
    step_failures: int = 0  # the PR's steps that failed (or lost their worker) in a row; see `attempts`

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
    review_rounds: int = 0  # added to the task's count of review rounds
    repair_rounds: int = 0  # added to the task's count of CI-repair rounds
    marks: FollowMarks | None = None  # None: unchanged
    cause: Cause | None = None  # why it ended without a ready PR; None clears the task's cause
    progress: str | None = None  # the tracking comment's data, JSON; None keeps the task's
    shown: bool = True  # whether the tracking comment shows this transition already
    step_failures: int = 0  # the PR's steps failed in a row, this one included; 0 when it did not fail


class StoreError(AutonomousDevError):
    """The state database could not be reached or refused an operation."""

    code = "AD800"


class ClaimLost(AutonomousDevError):
    """Another worker took over the task after this worker's lease expired."""

    code = "AD810"
