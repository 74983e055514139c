"""The fixed set of reasons a task ends without a ready PR (errors.Cause): what each means to the people
reading the tracking comment, the label it puts on the issue, and how a step's end is classified (from
the exception's type and the outcome's kind, never from message text)."""

from __future__ import annotations

from autonomous_dev.errors import AutonomousDevError, Cause
from autonomous_dev.models import OutcomeKind
from autonomous_dev.store.records import TaskState

LABEL_PREFIX = "autonomous-dev:cause/"

# What the cause means, in the words of the tracking comment; docs/troubleshooting.md says what to do.
MEANING: dict[Cause, str] = {
    Cause.SETUP_FAILED: "the repository's environment could not be set up (installing its dependencies "
    "failed), so its tests could not run",
    Cause.BASELINE_RED: "the base branch's tests are already broken, so nothing could prove the change",
    Cause.BUDGET_TOKENS: "the task used up its token budget (execution.maxTokensPerTask)",
    Cause.BUDGET_COST: "the task used up its cost budget (execution.maxCostUsdPerTask)",
    Cause.BUDGET_TURNS: "the model used up its turns (execution.maxTurns)",
    Cause.BUDGET_TIME: "the task ran out of time (execution.timeoutMinutes)",
    Cause.RATE_LIMITED: "GitHub or Claude asked the tool to slow down; the attempt was not counted",
    Cause.SERVICE_DOWN: "GitHub or Claude could not be reached; the attempt was not counted",
    Cause.MODEL_GAVE_UP: "the model finished without changing anything",
    Cause.CHECKS_FAILED: "the change still fails the build or the tests (or the pull request's checks) "
    "after the repair rounds",
    Cause.REVIEW_ROUNDS: "new review input came after the last review round the tool makes "
    "(review.maxRounds)",
    Cause.NOT_MERGED: "the pull request is open, but the tool will not merge it",
    Cause.SECRET_IN_CHANGE: "the change would have pushed a new secret, so nothing was pushed",
    Cause.MODEL_ERROR: "Claude refused a request",
    Cause.GITHUB_ERROR: "GitHub refused a request",
    Cause.GIT_ERROR: "a git operation failed",
    Cause.WORKER_LOST: "the worker stopped in the middle of the step (killed or crashed)",
    Cause.UNEXPECTED: "an unexpected error (a bug in autonomous-dev)",
}
# Given back uncounted: the task resumes by itself, nothing about the issue to label.
PAUSES = frozenset({Cause.RATE_LIMITED, Cause.SERVICE_DOWN})
# States in which a cause is the task's standing answer (labelled); in the others it is a passing failure.
ENDS = frozenset({TaskState.FAILED, TaskState.NEEDS_HUMAN, TaskState.DONE, TaskState.PR_OPENED})


def label(cause: Cause) -> str:
    return f"{LABEL_PREFIX}{cause.value}"


def of_error(exc: BaseException) -> Cause:
    """The cause of a step that raised: the error type's own (budget and checks errors carry which)."""
    return exc.cause if isinstance(exc, AutonomousDevError) else Cause.UNEXPECTED


def of_outcome(kind: OutcomeKind) -> Cause | None:
    """The cause of an attempt that ended by itself without a PR (None: it opened one, or had nothing to
    do, or was a dry run)."""
    return Cause.MODEL_GAVE_UP if kind is OutcomeKind.NO_CHANGES else None


def wanted_label(state: TaskState, cause: Cause | None) -> str | None:
    """The cause label the issue should carry after a step ended in `state` with `cause`."""
    if cause is None or cause in PAUSES or state not in ENDS:
        return None
    return label(cause)
