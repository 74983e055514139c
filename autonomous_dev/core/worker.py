"""Runs the step a claim started and writes the one transition that ends it; failures follow the policy
(back off, then hand over), outages give the claim back uncounted, a lost claim records nothing."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime

from autonomous_dev.core import causes
from autonomous_dev.core.lifecycle import FailurePolicy, StepResult
from autonomous_dev.core.observe import CycleObserver
from autonomous_dev.core.repository import RepoWork
from autonomous_dev.core.tracking import TaskReport
from autonomous_dev.errors import (
    AutonomousDevError,
    Cause,
    ChecksFailed,
    CredentialError,
    GitHubError,
    InfrastructureError,
    WorkerLost,
)
from autonomous_dev.logs import audit
from autonomous_dev.models import Issue, Outcome, OutcomeKind, PullRequest, Usage
from autonomous_dev.ports import Store
from autonomous_dev.store.records import (
    ONCE_PER_CYCLE,
    ClaimLost,
    Step,
    TaskRecord,
    TaskState,
    Transition,
    UsageDelta,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Ran:
    """A claimed step as it ended: what it did, and the transition written (None: the claim was given
    back, after a stop or an outage, or lost to another worker)."""

    outcome: Outcome
    transition: Transition | None


class TaskRunner:
    def __init__(
        self,
        store: Store,
        owner: str,
        failures: FailurePolicy,
        observer: CycleObserver,
        clock: Callable[[], datetime],
        cost_of: Callable[[Usage], float] = lambda usage: 0.0,
        redact: Callable[[str], str] = lambda text: text,
    ) -> None:
        self.store = store
        self.owner = owner
        self.failures = failures
        self.observer = observer
        self.clock = clock
        self.cost_of = cost_of
        self.redact = redact
        self.outage: InfrastructureError | None = None  # the first one met; the cycle claims no more
        self.auth_error: CredentialError | None = None

    def run(
        self, work: RepoWork, issue: Issue, record: TaskRecord, free_place: Callable[[], None] = lambda: None
    ) -> Ran:
        """The claimed step and the transition written for it; raises only when the store fails to
        record it. A look at a PR that found nothing new is not reported. `free_place`: called when
        what is left of the step no longer needs a worker (it only commits, pushes and reports)."""
        quiet = record.step in ONCE_PER_CYCLE
        if not quiet:
            self.observer.task_started(work.name, issue)
        result = self._run(work, issue, record, free_place)
        if result.outcome.kind is not OutcomeKind.UNCHANGED:
            if quiet:
                self.observer.task_started(work.name, issue)
            self.observer.task_finished(work.name, issue, result.outcome)
        return result

    def _run(self, work: RepoWork, issue: Issue, record: TaskRecord, free_place: Callable[[], None]) -> Ran:
        context = {"repo": work.name, "issue": issue.number}
        keep = functools.partial(self.store.keep_progress, work.name, issue.number, self.owner)
        report = work.thread.tracker.open(issue, record, keep)
        try:
            done = self._step(work, issue, record, _StoreObserver(self, work.name, report, free_place))
            transition = report.finish(done.transition)  # shown before it is recorded: nothing to redo
            self.store.transition(work.name, issue.number, self.owner, transition)
            return Ran(replace(done.outcome, cause=transition.cause), transition)
        except CredentialError as exc:
            self.store.release(work.name, issue.number, self.owner)
            self.auth_error = self.auth_error or exc
            return _given_back(issue, str(exc))
        except InfrastructureError as exc:
            return self._outage(work, issue, exc, report)
        except ClaimLost:
            log.warning("%s#%d: the claim was lost to another worker", work.name, issue.number, extra=context)
            return _given_back(issue, "claim lost")
        except AutonomousDevError as exc:
            draft = exc.pr_url if isinstance(exc, ChecksFailed) else None
            return self._failed(work, issue, record, report, Failed(str(exc), causes.of_error(exc), draft))
        except Exception as exc:  # the one catch-all per task: record it, release the claim, go on
            log.exception("%s#%d failed unexpectedly", work.name, issue.number, extra=context)
            why = f"unexpected error: {type(exc).__name__}: {exc}"
            return self._failed(work, issue, record, report, Failed(why, causes.of_error(exc)))
        finally:
            work.thread.tracker.closed(issue.number)

    def _step(self, work: RepoWork, issue: Issue, record: TaskRecord, observer: _StoreObserver) -> StepResult:
        report = observer.report
        if self.failures.lost_too_often(record):  # it may be what kills the worker: a human looks first
            raise _lost(record, self.failures.max_attempts)
        if record.step is Step.LAND:
            assert work.landing is not None, "a landing task in a repository without auto-merge"
            return work.landing.look(issue, record)
        if record.step is Step.FOLLOW:
            assert work.follow is not None, "a followed PR in a repository that does not follow PRs"
            return work.follow.look(issue, record)
        skipped = work.attempt.answered_before(issue) if record.step is Step.ATTEMPT else None
        if skipped is not None:
            return StepResult(skipped, Transition(TaskState.DONE))
        work.thread.show_claim(issue.number)  # the label (tracking comment off) displays the claim ...
        report.begin()  # ... or the tracking comment does
        try:
            if record.step is Step.UPDATE:
                return self._update(work, issue, record, observer)
            if record.step is Step.REVIEW:
                assert work.review is not None
                return work.review.run(issue, record, observer)
            if record.step is Step.REPAIR:
                assert work.repair is not None
                return work.repair.run(issue, record, observer)
            return self._attempt(work, issue, observer)
        finally:
            work.thread.hide_claim(issue.number)

    def _attempt(self, work: RepoWork, issue: Issue, observer: _StoreObserver) -> StepResult:
        outcome = work.attempt.run(issue, observer)
        pull = outcome.pr
        if outcome.kind is not OutcomeKind.PR_OPENED or pull is None:
            return StepResult(outcome, Transition(TaskState.DONE, cause=causes.of_outcome(outcome.kind)))
        if work.landing is not None:
            return StepResult(outcome, work.landing.opened(pull))
        return StepResult(outcome, Transition(TaskState.PR_OPENED, pr_number=pull.number, pr_url=pull.url))

    def _update(
        self, work: RepoWork, issue: Issue, record: TaskRecord, observer: _StoreObserver
    ) -> StepResult:
        assert work.update is not None and work.landing is not None and record.pr_number is not None
        status = work.repo.pull_status(record.pr_number)
        pull = PullRequest(record.pr_number, record.pr_url or "", status.head, status.base)
        failure = work.update.run(issue, pull, observer)
        if failure is not None:
            return work.landing.hand_over(issue, pull, failure)
        outcome = Outcome(issue.number, OutcomeKind.WAITING, "updated; its checks run again", pr=pull)
        return StepResult(outcome, work.landing.updated())

    def _failed(
        self, work: RepoWork, issue: Issue, record: TaskRecord, report: TaskReport, failed: Failed
    ) -> Ran:
        error = self.redact(failed.error)
        context = {"repo": work.name, "issue": issue.number}
        most = self.failures.max_attempts  # a claim beyond it (workers lost) is no attempt of its own
        if record.step is Step.ATTEMPT:
            attempts = f"attempt {min(record.attempts, most)} of {most}"
        else:
            attempts = f"{record.step} step, {min(record.step_failures + 1, most)} of {most} in a row"
        log.warning("%s#%d failed (%s, %s): %s", work.name, issue.number, attempts, failed.cause.value, error,
                    extra=context)  # fmt: skip
        if self.failures.gives_up(record):
            try:
                if record.step is Step.ATTEMPT:
                    work.thread.give_up(issue, min(record.attempts, most), error)
                else:
                    failures = self.failures.max_attempts
                    work.thread.give_up_pr_steps(issue, record.pr_url or "", failures, error)
            except (GitHubError, InfrastructureError) as exc:  # reporting: the hand-over is recorded anyway
                log.warning("%s#%d: the hand-over could not be shown on the issue: %s", work.name,
                            issue.number, exc.message, extra=context)  # fmt: skip
        transition = self.failures.after_failure(record, error, self.clock(), failed.pr_url)
        transition = report.finish(replace(transition, cause=failed.cause))
        self.store.transition(work.name, issue.number, self.owner, transition)
        return Ran(Outcome(issue.number, OutcomeKind.FAILED, error, cause=failed.cause), transition)

    def _outage(self, work: RepoWork, issue: Issue, exc: InfrastructureError, report: TaskReport) -> Ran:
        """Not the task's fault: give the claim back uncounted and claim nothing more this cycle."""
        self.outage = self.outage or exc
        log.info("%s#%d: %s is unreachable; the claim is released, no attempt counted", work.name,
                 issue.number, exc.service, extra={"repo": work.name, "issue": issue.number})  # fmt: skip
        why = self.redact(exc.message)
        try:
            self.store.release(work.name, issue.number, self.owner, exc.cause)
            work.thread.hide_claim(issue.number)
        except (InfrastructureError, GitHubError) as also:  # the lease runs out; the next cycle recovers it
            log.debug("%s#%d: releasing the claim failed too: %s", work.name, issue.number, also)
        report.pause(exc.cause, why)
        return Ran(Outcome(issue.number, OutcomeKind.FAILED, why, cause=exc.cause), None)

    def vetted(self, work: RepoWork, issue: Issue) -> Issue | None:
        """Right before an attempt starts, the labeller's permission is asked afresh (write access removed
        since the issue was admitted means no work) and the thread read for the attempt. The issue with
        that read, or None when refused (the claim is given back)."""
        try:
            read = work.thread.trust.claim_read(issue)
        except InfrastructureError as exc:  # an outage, not a refusal: the claim goes back uncounted
            self.outage = self.outage or exc
            where = {"repo": work.name, "issue": issue.number}
            log.info("%s#%d: %s is unreachable at the claim; the claim is released, no attempt counted",
                     work.name, issue.number, exc.service, extra=where)  # fmt: skip
            self.store.release(work.name, issue.number, self.owner, exc.cause)
            return None
        except GitHubError as exc:  # no fresh answer, no work
            read = f"cannot check who vouched for it again ({exc.message})"
        if not isinstance(read, str):
            return replace(issue, thread=read)
        audit(log, "input_rejected", "%s#%d: refused at claim time: %s", work.name, issue.number, read,
              level=logging.WARNING, repo=work.name, issue=issue.number)  # fmt: skip
        self.store.release(work.name, issue.number, self.owner)
        return None


@dataclass(frozen=True)
class Failed:
    """How a step failed: the message, its cause, the draft PR holding the evidence (if one was opened)."""

    error: str
    cause: Cause
    pr_url: str | None = None


def _given_back(issue: Issue, why: str) -> Ran:
    """A step that ended without a transition of its own: its claim was given back or lost."""
    return Ran(Outcome(issue.number, OutcomeKind.FAILED, why), None)


class _StoreObserver:
    """Records every model turn's usage and cost in the store as it happens (a crash loses none)."""

    def __init__(
        self, runner: TaskRunner, repo: str, report: TaskReport, free_place: Callable[[], None]
    ) -> None:
        self.runner = runner
        self.repo = repo
        self.report = report
        self.free_place = free_place

    def phase(self, issue: Issue, phase: str) -> None:
        log.info(
            "%s#%d: %s", self.repo, issue.number, phase, extra={"repo": self.repo, "issue": issue.number}
        )
        self.runner.observer.task_phase(self.repo, issue, phase)
        self.report.phase(phase)

    def publishing(self, issue: Issue) -> None:
        self.free_place()

    def usage(self, issue: Issue, turn_usage: Usage) -> None:
        cost = self.runner.cost_of(turn_usage)
        delta = UsageDelta(
            input_tokens=turn_usage.input_tokens,
            output_tokens=turn_usage.output_tokens,
            cache_read_tokens=turn_usage.cache_read_input_tokens,
            cache_write_tokens=turn_usage.cache_creation_input_tokens,
            cost_usd=cost,
        )
        self.runner.store.add_usage(self.repo, issue.number, delta)
        self.report.usage(delta)
        self.runner.observer.task_usage(self.repo, issue, turn_usage, cost)


def _lost(record: TaskRecord, most: int) -> WorkerLost:
    used = (
        "every attempt was used"
        if record.step is Step.ATTEMPT
        else f"its PR's steps failed {most} times in a row"
    )
    return WorkerLost(
        f"{used}, the last one stopped in the middle (the worker was killed or crashed); it is not started "
        "again, in case it is what stops the worker",
        "read the log around its last claims (a memory limit, a crash), then edit the issue or remove "
        "the needs-human label",
    )
