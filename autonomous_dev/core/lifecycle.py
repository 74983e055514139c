"""What a step hands back (its outcome and the store write that ends it), and the policy for failures:
back off, then hand over. Pure functions of their inputs; the store writes the result."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from autonomous_dev.models import Outcome
from autonomous_dev.store.records import WAITING, Step, TaskRecord, TaskState, Transition


@dataclass(frozen=True)
class StepResult:
    """What a step did (for the caller's report) and the store write that ends it."""

    outcome: Outcome
    transition: Transition


@dataclass(frozen=True)
class FailurePolicy:
    max_attempts: int
    backoff_s: tuple[float, ...]

    def gives_up(self, record: TaskRecord) -> bool:
        """This failure is the last one: the attempt was the maxAttempts-th, or the PR's steps have now
        failed maxAttempts times in a row."""
        if record.step is Step.ATTEMPT:
            return record.attempts >= self.max_attempts
        return record.step_failures + 1 >= self.max_attempts

    def lost_too_often(self, record: TaskRecord) -> bool:
        """The workers of the claimed step stopped in the middle of it (killed or crashed) until nothing
        was left: this claim is an attempt beyond maxAttempts (a claim counts one; only a crash leaves
        it counted without an outcome), or the PR's steps were lost maxAttempts times in a row."""
        if record.step is Step.ATTEMPT:
            return record.attempts > self.max_attempts
        return record.step_failures >= self.max_attempts

    def after_failure(self, record: TaskRecord, error: str, now: datetime, pr_url: str | None) -> Transition:
        """A failed attempt backs off, then goes to a human after maxAttempts; a failed step on the PR (a
        look, an update, a review or CI-repair round) waits in its state and is tried again after the
        longest backoff, and goes to a human once the PR's steps failed maxAttempts times in a row."""
        failures = 0 if record.step is Step.ATTEMPT else record.step_failures + 1
        if self.gives_up(record):
            return Transition(TaskState.NEEDS_HUMAN, error=error, pr_url=pr_url, step_failures=failures)
        if record.step is Step.ATTEMPT:
            delay = self.backoff_s[min(record.attempts, len(self.backoff_s)) - 1]
            retry_at = now + timedelta(seconds=delay)
            return Transition(TaskState.FAILED, error=error, next_attempt_at=retry_at, pr_url=pr_url)
        assert record.step is not None
        retry_at = now + timedelta(seconds=max(self.backoff_s))
        return Transition(WAITING[record.step], error=error, next_attempt_at=retry_at,
                          deadline_at=record.deadline_at, step_failures=failures)  # fmt: skip
