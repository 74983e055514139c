"""Following a PR of ours: one look per cycle at what changed on it (no worker waits for it). New trusted
review input makes a review round due; failed checks of its own head make a CI-repair round due; a check
that fails on the base branch too is reported once, not repaired; past `review.maxRounds` or
`ci.maxRepairRounds` a human takes over. A PR merged or closed by people ends the task.

Every look is made of conditional GETs, so a PR on which nothing changed costs no rate limit. A PR under
auto-merge is looked at the same way by each landing look (`Landing.look` asks `due` first).

Other triggers (a mention of the tool on the PR) start a review round through `review_due`: the round
reads every trusted input since the last one, the mentioning comment among it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace

from autonomous_dev.core import round_prompts
from autonomous_dev.core.issue_thread import IssueThread
from autonomous_dev.core.lifecycle import StepResult
from autonomous_dev.core.review_input import ReviewReader
from autonomous_dev.errors import Cause
from autonomous_dev.models import Issue, Outcome, OutcomeKind, PullRequest, PullStatus
from autonomous_dev.ports import GitHubRepo
from autonomous_dev.settings.rounds import CISettings, ReviewSettings
from autonomous_dev.store.records import TaskRecord, TaskState, Transition

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Failing:
    """The failed checks of a PR's head: its own (to repair) and those failing on the base too."""

    own: tuple[str, ...]
    on_base: tuple[str, ...]


def pull_of(record: TaskRecord, status: PullStatus) -> PullRequest:
    assert record.pr_number is not None
    return PullRequest(record.pr_number, record.pr_url or "", status.head, status.base, status.draft)


def pull_now(
    repo: GitHubRepo, issue: Issue, record: TaskRecord
) -> tuple[PullStatus, PullRequest, StepResult | None]:
    """The PR as it is now for a round, and the round's end when the PR is no longer open (the next look
    at it ends the task)."""
    assert record.pr_number is not None
    status = repo.pull_status(record.pr_number)
    pull = pull_of(record, status)
    if status.state == "open" and not status.merged:
        return status, pull, None
    gone = Outcome(issue.number, OutcomeKind.WAITING, "the PR is no longer open", pr=pull)
    return status, pull, StepResult(gone, Transition(TaskState.PR_OPENED))


def failing(repo: GitHubRepo, record: TaskRecord, status: PullStatus) -> Failing:
    """The head's failed checks, less those a CI-repair round took on for this very head already; the
    base branch's checks are read only when something failed (both reads are conditional)."""
    failed = set(repo.checks(status.head_sha).failed)
    if record.marks.repaired_head == status.head_sha:
        failed -= set(record.marks.repaired_checks)
    if not failed:
        return Failing((), ())
    on_base = failed & set(repo.checks(f"heads/{status.base}").failed)
    return Failing(tuple(sorted(failed - on_base)), tuple(sorted(on_base)))


def hand_over(
    thread: IssueThread,
    issue: Issue,
    pull: PullRequest,
    said: tuple[str, str],
    why: tuple[str, Cause],
    ended: Transition | None = None,
) -> StepResult:
    """The needs-human label on the issue and why (`why`: the reason and its cause): in the tracking
    comment when there is one (the step's end shows it), else in one comment of its own (`said`: its body
    and kind); the task ends there (`ended` carries what the step took in on the way)."""
    reason, cause = why
    where = {"repo": thread.repo.full_name, "issue": issue.number}
    log.warning("%s#%d: %s: %s; labelled %r", thread.repo.full_name, issue.number, pull.url, reason,
                thread.labels.needs_human_label, extra=where)  # fmt: skip
    thread.hand_over(issue.number, *said)
    outcome = Outcome(issue.number, OutcomeKind.NEEDS_HUMAN, reason, pr=pull)
    ended = replace(ended or Transition(TaskState.NEEDS_HUMAN), state=TaskState.NEEDS_HUMAN, error=reason,
                    cause=cause)  # fmt: skip
    return StepResult(outcome, ended)


class Follow:
    def __init__(
        self,
        repo: GitHubRepo,
        thread: IssueThread,
        reader: ReviewReader,
        review: ReviewSettings,
        ci: CISettings,
    ) -> None:
        self.repo = repo
        self.thread = thread
        self.reader = reader
        self.review = review
        self.ci = ci

    def look(self, issue: Issue, record: TaskRecord) -> StepResult:
        """The follow step of a PR waiting for people."""
        assert record.pr_number is not None
        status = self.repo.pull_status(record.pr_number)
        pull = pull_of(record, status)
        if status.merged:
            return StepResult(Outcome(issue.number, OutcomeKind.MERGED, f"{pull.url} was merged", pr=pull),
                              Transition(TaskState.MERGED))  # fmt: skip
        if status.state != "open":
            why = f"{pull.url} was closed without merging"
            return StepResult(Outcome(issue.number, OutcomeKind.SKIPPED, why, pr=pull),
                              Transition(TaskState.DONE, error=why))  # fmt: skip
        found = self.due(issue, record, status, Transition(TaskState.PR_OPENED))
        if found is not None:
            return found
        unchanged = Outcome(issue.number, OutcomeKind.UNCHANGED, "nothing new on the PR", pr=pull)
        return StepResult(unchanged, Transition(TaskState.PR_OPENED))

    def due(
        self, issue: Issue, record: TaskRecord, status: PullStatus, back: Transition
    ) -> StepResult | None:
        """The round that new review input or failed checks call for now (or a hand-over at the limits);
        None when nothing did. `back` keeps the task in the state it waits in."""
        found = self.review_due(issue, record, status, back)
        return found if found is not None else self._repair_due(issue, record, status, back)

    def review_due(
        self, issue: Issue, record: TaskRecord, status: PullStatus, back: Transition
    ) -> StepResult | None:
        """A review round, due when trusted input came in since the last one (the entry point for other
        triggers too: the round answers every trusted input since)."""
        if self.review.max_rounds == 0 or record.pr_number is None:
            return None
        pull = pull_of(record, status)
        found = self.reader.read(pull.number, record.marks)
        if not found.items:
            if found.marks == record.marks:
                return None
            self.reader.report(found, pull.number, issue.number)  # once: the marks move past it
            left_out = Outcome(issue.number, OutcomeKind.UNCHANGED, "review input left out", pr=pull)
            return StepResult(left_out, replace(back, marks=found.marks))
        if record.review_rounds >= self.review.max_rounds:
            label = self.thread.labels.needs_human_label
            body = round_prompts.review_limit_comment(issue.number, pull.url, record.review_rounds, label)
            reason = f"new review input after {record.review_rounds} review round(s) (review.maxRounds)"
            ended = Transition(TaskState.NEEDS_HUMAN, marks=found.marks)
            return hand_over(self.thread, issue, pull, (body, "review-limit"), (reason, Cause.REVIEW_ROUNDS),
                             ended)  # fmt: skip
        what = f"{len(found.items)} piece(s) of review input: a review round is due"
        outcome = Outcome(issue.number, OutcomeKind.WAITING, what, pr=pull)
        return StepResult(outcome, Transition(TaskState.REVIEW_DUE, deadline_at=back.deadline_at))

    def _repair_due(
        self, issue: Issue, record: TaskRecord, status: PullStatus, back: Transition
    ) -> StepResult | None:
        if self.ci.max_repair_rounds == 0 or not status.head_sha:
            return None
        pull = pull_of(record, status)
        found = failing(self.repo, record, status)
        for name in found.on_base:
            report = round_prompts.baseline_report(issue.number, pull.number, name, status.base)
            self.thread.post_once(pull.number, report, "ci-baseline")
        if not found.own:
            return None
        names = ", ".join(found.own)
        if record.repair_rounds >= self.ci.max_repair_rounds:
            reason = (
                f"{names} still fail after {record.repair_rounds} CI-repair round(s) (ci.maxRepairRounds)"
            )
            body = round_prompts.repair_hand_over_comment(issue.number, pull.url, reason, status.head_sha,
                                                          self.thread.labels.needs_human_label)  # fmt: skip
            why = (reason, Cause.CHECKS_FAILED)
            return hand_over(self.thread, issue, pull, (body, "ci-needs-human"), why)
        what = f"checks failed: {names}: a CI-repair round is due"
        outcome = Outcome(issue.number, OutcomeKind.WAITING, what, pr=pull)
        return StepResult(outcome, Transition(TaskState.REPAIR_DUE, deadline_at=back.deadline_at))
