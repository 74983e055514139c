"""Auto-merge: wait for the PR's checks, keep it mergeable (rebase, merge or hand over), merge, close."""

from __future__ import annotations

import enum
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from autonomous_dev.core import prompts
from autonomous_dev.errors import GitHubError
from autonomous_dev.models import CheckSummary, Issue, Outcome, OutcomeKind, PullRequest, PullStatus
from autonomous_dev.ports import GitHubRepo

log = logging.getLogger(__name__)
READY_STATES = frozenset({"clean", "has_hooks"})
MAX_POLL_FACTOR = 8
STOP_CHECK_S = 1.0


@dataclass(frozen=True)
class MergePolicy:
    method: str = "squash"
    strategy: str = "rebase"
    checks_timeout_s: float = 1800.0
    poll_s: float = 15.0
    require_checks: bool = True
    max_retries: int = 2
    needs_human_label: str = "needs-human"


class Verdict(enum.Enum):
    MERGED = "merged"
    CLOSED = "closed"
    WAIT = "wait"
    OUT_OF_DATE = "out of date"
    FAILED = "failed"
    BLOCKED = "blocked"
    READY = "ready"


@dataclass(frozen=True)
class Assessment:
    verdict: Verdict
    reason: str


def assess(status: PullStatus, checks: CheckSummary | None, require_checks: bool) -> Assessment:
    """What to do with the PR now; `checks` is None while GitHub has not computed mergeability."""
    if status.merged:
        return Assessment(Verdict.MERGED, "it is merged")
    if status.state != "open":
        return Assessment(Verdict.CLOSED, "it was closed without merging")
    if status.draft:
        return Assessment(Verdict.BLOCKED, "it is a draft")
    if status.mergeable is False or status.mergeable_state in ("dirty", "behind"):
        what = "conflicts with its base" if status.mergeable is False else "is behind its base"
        return Assessment(Verdict.OUT_OF_DATE, f"it {what}")
    if status.mergeable is None or checks is None:
        return Assessment(Verdict.WAIT, "GitHub is still computing whether it can be merged")
    if checks.failed:
        return Assessment(Verdict.FAILED, f"checks failed: {', '.join(sorted(set(checks.failed)))}")
    if checks.pending:
        return Assessment(Verdict.WAIT, f"checks still running: {', '.join(sorted(set(checks.pending)))}")
    if checks.empty and require_checks:
        return Assessment(Verdict.WAIT, "no check run or commit status has reported for its head")
    if status.mergeable_state == "blocked":
        return Assessment(
            Verdict.BLOCKED,
            "branch protection blocks the merge (required reviews or other rules); I do not bypass it",
        )
    if status.mergeable_state in READY_STATES:
        return Assessment(Verdict.READY, "ready")
    return Assessment(Verdict.WAIT, f"GitHub reports its merge state as {status.mergeable_state!r}")


class Stopped(Exception):
    """The process is stopping while a merge waits; the next cycle carries on."""


class Lander:
    """Takes one ready PR to merged, or says plainly on the issue why it did not."""

    def __init__(
        self,
        repo: GitHubRepo,
        policy: MergePolicy,
        rework: Callable[[Issue, PullRequest], str | None],
        report: Callable[[int, str, str], None],
        stopping: Callable[[], bool] = lambda: False,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.repo = repo
        self.policy = policy
        self.rework = rework
        self.report = report
        self.stopping = stopping
        self.clock = clock
        self.sleep = sleep

    def land(self, issue: Issue, pull: PullRequest) -> Outcome:
        try:
            return self._land(issue, pull)
        except Stopped:
            log.info("%s: stopping; the next run goes on waiting to merge %s", _name(self, issue), pull.url)
            return Outcome(
                issue.number, OutcomeKind.MERGE_DEFERRED, "stopped while waiting to merge", pr=pull
            )

    def _land(self, issue: Issue, pull: PullRequest) -> Outcome:
        reworks, polls = 0, 0
        deadline = self.clock() + self.policy.checks_timeout_s
        while True:
            status = self.repo.pull_status(pull.number)
            checks = self.repo.checks(status.head_sha) if status.mergeable else None
            found = assess(status, checks, self.policy.require_checks)
            if found.verdict is Verdict.READY:
                found = self._merge(pull, status.head_sha)
            if found.verdict is Verdict.MERGED:
                return self._finish(issue, pull, reworks)
            if found.verdict is Verdict.OUT_OF_DATE:
                refused = self._update(issue, pull, found.reason, reworks)
                if refused is not None:
                    return refused
                reworks, polls = reworks + 1, 0
                deadline = self.clock() + self.policy.checks_timeout_s  # CI starts again on the new head
            elif found.verdict in (Verdict.FAILED, Verdict.BLOCKED, Verdict.CLOSED):
                return self._refuse(issue, pull, found.reason, status.head_sha)
            elif self.clock() >= deadline:
                minutes = self.policy.checks_timeout_s / 60
                return self._refuse(issue, pull, f"{found.reason} after {minutes:g} minutes", status.head_sha)
            else:
                log.info("%s: not merging yet: %s", _name(self, issue), found.reason)
                self._pause(polls, deadline)
                polls += 1

    def _merge(self, pull: PullRequest, head_sha: str) -> Assessment:
        """Merge the head we looked at. GitHub's 409 (the head moved) means look again; its 405 (protection,
        a merge method the repository does not allow) is a refusal unless the PR turns out merged already."""
        try:
            self.repo.merge_pull(pull.number, self.policy.method, head_sha)
            return Assessment(Verdict.MERGED, "merged")
        except GitHubError as exc:
            if exc.status == 409:
                return Assessment(Verdict.WAIT, "its head moved while merging")
            if exc.status != 405:
                raise
            if self.repo.pull_status(pull.number).merged:  # a repeated PUT after a lost answer
                return Assessment(Verdict.MERGED, "merged")
            return Assessment(Verdict.BLOCKED, f"GitHub refused the merge: {exc.message}")

    def _update(self, issue: Issue, pull: PullRequest, reason: str, reworks: int) -> Outcome | None:
        strategy = self.policy.strategy
        if strategy == "manual" or reworks >= self.policy.max_retries:
            why = (
                reason if strategy == "manual" else f"{reason}, still after {reworks} round(s) of updating it"
            )
            return self._hand_over(issue, pull, why)
        log.info("%s: updating PR #%d (%s): %s", _name(self, issue), pull.number, strategy, reason)
        failure = self.rework(issue, pull)
        return None if failure is None else self._hand_over(issue, pull, f"{reason}, and {failure}")

    def _finish(self, issue: Issue, pull: PullRequest, reworks: int) -> Outcome:
        self.repo.delete_branch(pull.head)
        self.report(
            issue.number,
            prompts.merged_comment(issue.number, pull.url, self.policy.method, reworks),
            "merged",
        )
        self.repo.close_issue(issue.number)
        log.info("%s: merged %s and closed the issue", _name(self, issue), pull.url)
        return Outcome(issue.number, OutcomeKind.MERGED, pull.url, pr=pull)

    def _refuse(self, issue: Issue, pull: PullRequest, reason: str, head_sha: str) -> Outcome:
        log.warning("%s: not merging %s: %s", _name(self, issue), pull.url, reason)
        self.report(
            issue.number,
            prompts.merge_refused_comment(issue.number, pull.url, reason, head_sha),
            "merge-refused",
        )
        return Outcome(issue.number, OutcomeKind.PR_OPENED, f"not merged: {reason}", pr=pull)

    def _hand_over(self, issue: Issue, pull: PullRequest, reason: str) -> Outcome:
        label = self.policy.needs_human_label
        log.warning("%s: %s %s; labelled %r", _name(self, issue), pull.url, reason, label)
        self.repo.add_label(issue.number, label)
        self.report(
            issue.number, prompts.conflict_comment(issue.number, pull.url, reason, label), "merge-conflict"
        )
        return Outcome(issue.number, OutcomeKind.NEEDS_HUMAN, f"not merged: {reason}", pr=pull)

    def _pause(self, polls: int, deadline: float) -> None:
        """Sleep with doubling intervals, never past the deadline, in short slices so a stop is noticed."""
        interval = self.policy.poll_s * min(2**polls, MAX_POLL_FACTOR)
        until = min(self.clock() + interval, deadline)
        while True:
            if self.stopping():
                raise Stopped
            left = until - self.clock()
            if left <= 0:
                return
            self.sleep(min(left, STOP_CHECK_S))


def _name(lander: Lander, issue: Issue) -> str:
    return f"{lander.repo.full_name}#{issue.number}"
