"""The landing step: one look at a PR of ours (auto-merge on) and the one thing to do about it now.

It never waits: checks still running mean "look again at next_attempt_at", and the worker is free.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from autonomous_dev.core import prompts
from autonomous_dev.core.follow import Follow
from autonomous_dev.core.issue_thread import IssueThread
from autonomous_dev.core.lifecycle import StepResult
from autonomous_dev.errors import Cause, GitHubError
from autonomous_dev.models import CheckSummary, Issue, Outcome, OutcomeKind, PullRequest, PullStatus
from autonomous_dev.ports import GitHubRepo
from autonomous_dev.settings.sections import MergeSettings
from autonomous_dev.store.records import TaskRecord, TaskState, Transition

log = logging.getLogger(__name__)
READY_STATES = frozenset({"clean", "has_hooks"})


class Readiness(enum.Enum):
    MERGED = "merged"
    CLOSED = "closed"
    WAIT = "wait"
    OUT_OF_DATE = "out of date"
    FAILED = "failed"
    BLOCKED = "blocked"
    READY = "ready"


@dataclass(frozen=True)
class Assessment:
    readiness: Readiness
    reason: str


def assess(status: PullStatus, checks: CheckSummary | None, require_checks: bool) -> Assessment:
    """What to do with the PR now; `checks` is None while GitHub has not computed mergeability."""
    if status.merged:
        return Assessment(Readiness.MERGED, "it is merged")
    if status.state != "open":
        return Assessment(Readiness.CLOSED, "it was closed without merging")
    if status.draft:
        return Assessment(Readiness.BLOCKED, "it is a draft")
    if status.mergeable is False or status.mergeable_state in ("dirty", "behind"):
        what = "conflicts with its base" if status.mergeable is False else "is behind its base"
        return Assessment(Readiness.OUT_OF_DATE, f"it {what}")
    if status.mergeable is None or checks is None:
        return Assessment(Readiness.WAIT, "GitHub is still computing whether it can be merged")
    if checks.failed:
        return Assessment(Readiness.FAILED, f"checks failed: {', '.join(sorted(set(checks.failed)))}")
    if checks.pending:
        return Assessment(Readiness.WAIT, f"checks still running: {', '.join(sorted(set(checks.pending)))}")
    if checks.empty and require_checks:
        return Assessment(Readiness.WAIT, "no check run or commit status has reported for its head")
    if status.mergeable_state == "blocked":
        return Assessment(
            Readiness.BLOCKED,
            "branch protection blocks the merge (required reviews or other rules); I do not bypass it",
        )
    if status.mergeable_state in READY_STATES:
        return Assessment(Readiness.READY, "ready")
    return Assessment(Readiness.WAIT, f"GitHub reports its merge state as {status.mergeable_state!r}")


class Landing:
    """Takes one PR towards merged, a look at a time, or says plainly on the issue why it will not."""

    def __init__(
        self,
        repo: GitHubRepo,
        thread: IssueThread,
        merge: MergeSettings,
        clock: Callable[[], datetime],
        follow: Follow | None = None,  # review input and failed checks come first: a round, not a merge
    ) -> None:
        self.repo = repo
        self.thread = thread
        self.merge = merge
        self.clock = clock
        self.follow = follow

    def opened(self, pull: PullRequest) -> Transition:
        """The state a freshly opened PR waits in: landing now, giving its checks the configured time."""
        if pull.draft:
            return Transition(TaskState.PR_OPENED, pr_number=pull.number, pr_url=pull.url)
        deadline = self.clock() + timedelta(minutes=self.merge.checks_timeout_minutes)
        return Transition(TaskState.LANDING, pr_number=pull.number, pr_url=pull.url, deadline_at=deadline)

    def updated(self) -> Transition:
        """After the branch was brought up to date: CI starts again on the new head."""
        deadline = self.clock() + timedelta(minutes=self.merge.checks_timeout_minutes)
        return Transition(TaskState.LANDING, deadline_at=deadline, updates=1)

    def look(self, issue: Issue, record: TaskRecord) -> StepResult:
        assert record.pr_number is not None and record.pr_url is not None
        status = self.repo.pull_status(record.pr_number)
        pull = PullRequest(record.pr_number, record.pr_url, status.head, status.base)
        if self.follow is not None and status.state == "open" and not status.merged:
            here = Transition(TaskState.LANDING, deadline_at=record.deadline_at)
            due = self.follow.due(issue, record, status, here)
            if due is not None:
                return due
        checks = self.repo.checks(status.head_sha) if status.mergeable else None
        found = assess(status, checks, self.merge.require_checks)
        if found.readiness is Readiness.READY:
            found = self._merge(pull, status.head_sha)
        if found.readiness is Readiness.MERGED:
            return self._finish(issue, pull, record.updates)
        if found.readiness is Readiness.OUT_OF_DATE:
            return self._out_of_date(issue, pull, found.reason, record.updates)
        if found.readiness is not Readiness.WAIT:
            end = TaskState.DONE if found.readiness is Readiness.CLOSED else TaskState.PR_OPENED
            cause = Cause.CHECKS_FAILED if found.readiness is Readiness.FAILED else Cause.NOT_MERGED
            return self._refuse(issue, pull, found.reason, status.head_sha, end, cause)
        now = self.clock()
        if record.deadline_at is not None and now >= record.deadline_at:
            why = f"{found.reason} after {self.merge.checks_timeout_minutes:g} minutes"
            return self._refuse(issue, pull, why, status.head_sha, TaskState.PR_OPENED)
        log.info("%s: not merging yet: %s", _name(self.repo, issue), found.reason)
        retry_at = now + timedelta(seconds=self.merge.poll_seconds)
        waiting = Transition(TaskState.LANDING, next_attempt_at=retry_at, deadline_at=record.deadline_at)
        return StepResult(Outcome(issue.number, OutcomeKind.WAITING, found.reason, pr=pull), waiting)

    def _merge(self, pull: PullRequest, head_sha: str) -> Assessment:
        """Merge the head we looked at. GitHub's 409 (the head moved) means look again; its 405 (protection,
        a merge method the repository does not allow) is a refusal unless the PR turns out merged already."""
        try:
            self.repo.merge_pull(pull.number, self.merge.merge_method, head_sha)
            return Assessment(Readiness.MERGED, "merged")
        except GitHubError as exc:
            if exc.status == 409:
                return Assessment(Readiness.WAIT, "its head moved while merging")
            if exc.status != 405:
                raise
            now = self.repo.pull_status(pull.number)
            if now.merged:  # a repeated PUT after a lost answer
                return Assessment(Readiness.MERGED, "merged")
            found = assess(now, None, self.merge.require_checks)
            if found.readiness is Readiness.OUT_OF_DATE or now.mergeable is None:  # another PR merged first
                return found
            return Assessment(Readiness.BLOCKED, f"GitHub refused the merge: {exc.message}")

    def _out_of_date(self, issue: Issue, pull: PullRequest, reason: str, updates: int) -> StepResult:
        strategy = self.merge.conflict_strategy
        if strategy == "manual" or updates >= self.merge.max_retries:
            why = (
                reason if strategy == "manual" else f"{reason}, still after {updates} round(s) of updating it"
            )
            return self.hand_over(issue, pull, why)
        log.info(
            "%s: PR #%d needs an update (%s): %s", _name(self.repo, issue), pull.number, strategy, reason
        )
        outcome = Outcome(issue.number, OutcomeKind.WAITING, f"{reason}: updating it", pr=pull)
        return StepResult(outcome, Transition(TaskState.OUT_OF_DATE))

    def hand_over(self, issue: Issue, pull: PullRequest, reason: str) -> StepResult:
        label = self.thread.labels.needs_human_label
        log.warning("%s: %s %s; labelled %r", _name(self.repo, issue), pull.url, reason, label)
        self.thread.hand_over(
            issue.number, prompts.conflict_comment(issue.number, pull.url, reason, label), "merge-conflict"
        )
        outcome = Outcome(issue.number, OutcomeKind.NEEDS_HUMAN, f"not merged: {reason}", pr=pull)
        ended = Transition(TaskState.NEEDS_HUMAN, error=f"not merged: {reason}", cause=Cause.NOT_MERGED)
        return StepResult(outcome, ended)

    def _finish(self, issue: Issue, pull: PullRequest, updates: int) -> StepResult:
        if pull.head:
            self.repo.delete_branch(pull.head)
        body = prompts.merged_comment(issue.number, pull.url, self.merge.merge_method, updates)
        self.thread.post_once(issue.number, body, "merged")
        self.repo.close_issue(issue.number)
        log.info("%s: merged %s and closed the issue", _name(self.repo, issue), pull.url)
        return StepResult(
            Outcome(issue.number, OutcomeKind.MERGED, pull.url, pr=pull), Transition(TaskState.MERGED)
        )

    def _refuse(
        self,
        issue: Issue,
        pull: PullRequest,
        reason: str,
        head_sha: str,
        end: TaskState,
        cause: Cause = Cause.NOT_MERGED,
    ) -> StepResult:
        log.warning("%s: not merging %s: %s", _name(self.repo, issue), pull.url, reason)
        body = prompts.merge_refused_comment(issue.number, pull.url, reason, head_sha)
        self.thread.post_once(issue.number, body, "merge-refused")
        outcome = Outcome(issue.number, OutcomeKind.PR_OPENED, f"not merged: {reason}", pr=pull)
        return StepResult(outcome, Transition(end, error=f"not merged: {reason}", cause=cause))


def _name(repo: GitHubRepo, issue: Issue) -> str:
    return f"{repo.full_name}#{issue.number}"
