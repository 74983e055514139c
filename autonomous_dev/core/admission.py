"""Which of a repository's tasks a cycle may claim: labelled issues (and issues a trusted mention asked
for) admitted by the rules (trust, a human's hand-over, edits), PRs of ours whose attempt never recorded
them (or whose store does not know them), and PR steps that are due; or, for `run --issue N`, only the
issues named, by the same rules."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from autonomous_dev.core.issue_thread import fingerprint
from autonomous_dev.core.repository import RepoWork
from autonomous_dev.errors import UsageError
from autonomous_dev.models import Issue, PostedComment, PullRequest, issue_of_branch
from autonomous_dev.ports import Store
from autonomous_dev.store.records import STEP_OF, Step, TaskRecord, TaskState

log = logging.getLogger(__name__)


class RunningElsewhere(str):
    """A refusal because another worker's claim on the task is live: its attempt answers any request (decided
    once, at the claim check: the lease may run out a moment later)."""


class PullOpen(str):
    """Not a refusal: the issue named has an open pull request of ours, whose steps wait for people or
    for their time (reviews, checks, the next look)."""


@dataclass(frozen=True)
class Listing:
    """What one repository shows this cycle: its labelled issues, the open PRs of ours by issue, and
    the PR steps that are due."""

    issues: list[Issue]
    pulls: dict[int | None, PullRequest]
    due: list[TaskRecord]

    @property
    def empty(self) -> bool:
        return not self.issues and not self.due


Records = list[TaskRecord]
Admit = Callable[[int, Issue], None]  # a task this cycle may claim
Refuse = Callable[[int, str], None]  # an issue the rules keep out, and why
Issues = frozenset[int] | None  # `run --issue`: only these; None: all


def ours(pull: PullRequest, own: frozenset[str]) -> bool:
    """A PR the tool opened: by one of its own logins, from a branch of this repository (not a fork's)."""
    return pull.author.lower() in own and not pull.from_fork


def live_claim(record: TaskRecord, now: datetime) -> bool:
    expiry = record.lease_expires_at
    return record.claim_owner is not None and expiry is not None and expiry > now


class Admission:
    def __init__(self, store: Store, clock: Callable[[], datetime]) -> None:
        self.store = store
        self.clock = clock
        self._tried: set[tuple[str, int]] = set()  # PRs of ours this process adopted (or tried to)

    def list(
        self,
        work: RepoWork,
        only: frozenset[int] | None = None,
        must_exist: bool = False,
        pull: int | None = None,
    ) -> Listing:
        """`only`: just these issues (labelled or not: admission says why one is not let in) and their PR
        steps; `pull`: only the steps of this PR of ours; `must_exist`: an issue of `only` (or the PR)
        that does not exist or is closed is a UsageError."""
        if pull is not None:
            return Listing([], {}, self._pull_steps(work, pull, must_exist))
        if only is None:
            issues = work.repo.labelled_issues(work.thread.labels.issue_label)
        else:
            issues = _named(work, only, must_exist)
        own = work.repo.own_logins()
        pulls = {issue_of_branch(pull.head): pull for pull in work.repo.open_pulls() if ours(pull, own)}
        if work.mentions is not None:
            issues = _mentioned(work, issues, pulls, only, self.review_requested)
        self._adopt_unknown(work, pulls, only)
        now = self.clock()
        due = [
            record
            for record in self.store.pending_steps(work.name)
            if (record.next_attempt_at is None or record.next_attempt_at <= now)
            and not live_claim(record, now)
            and work.runs(record)
            and (only is None or record.issue in only)
        ]
        return Listing(issues, pulls, due)

    def admit(self, work: RepoWork, listing: Listing, add: Admit, refuse: Refuse | None = None) -> None:
        """Hand each task this cycle may claim to `add` as soon as it is admitted (PR steps first: they
        finish work), so workers start on the first while the rest are checked. `refuse` hears why an
        issue was kept out (for `run --issue`, which names it)."""
        issues = {issue.number: issue for issue in listing.issues}
        for record in listing.due:
            add(record.issue, issues.get(record.issue, Issue(record.issue, "", "")))
        due = {record.issue for record in listing.due}
        for issue in listing.issues:
            pull = listing.pulls.get(issue.number)
            if pull is not None:
                self._request_done(work, issue, f"its pull request {pull.url} is open (ask there)")
                if self._adopt(work, issue, pull) is TaskState.LANDING:
                    add(issue.number, issue)
                elif refuse is not None and issue.number not in due:
                    refuse(issue.number, _waiting(pull))
            elif (reason := self._refusal(work, issue)) is None:
                add(issue.number, issue)
            else:
                if not isinstance(reason, RunningElsewhere):  # that task answers the request
                    self._request_done(work, issue, f"not worked on: {reason}")
                if refuse is not None:
                    refuse(issue.number, reason)

    def review_requested(self, work: RepoWork, pull: PullRequest, mention: PostedComment) -> bool:
        """A trusted mention on one of our PRs: the PR's follow step reads every trusted conversation comment,
        this one included, and starts a REVIEW round with it (answered once, by its hidden marker). True when
        the PR is followed (the mention is then done here); False leaves it open in the store."""
        return work.follow is not None

    def _request_done(self, work: RepoWork, issue: Issue, note: str) -> None:
        """A request that will not be worked on is done, unless its issue's task is running elsewhere."""
        if issue.request is None or work.mentions is None:
            return
        record = self.store.get(work.name, issue.number)
        if record is None or not live_claim(record, self.clock()):
            work.mentions.finish(issue.request, note)

    def _pull_steps(self, work: RepoWork, number: int, must_exist: bool) -> Records:
        """The due steps of PR `number` of ours (`run --pr`); a PR of ours whose task this store does not
        know (opened by a run with another store) is adopted into following."""
        pull = next((p for p in work.repo.open_pulls() if p.number == number), None)
        issue = issue_of_branch(pull.head) if pull is not None else None
        if pull is None or issue is None or not ours(pull, work.repo.own_logins()):
            if must_exist:
                raise UsageError(f"#{number} of {work.name} is no open pull request of the tool's",
                                 "name an open PR from one of its auto/ branches with --pr")  # fmt: skip
            return []
        record = self.store.get(work.name, issue)
        if record is None or record.pr_number != number:
            _adopt_pull(self.store, work, issue, pull)
            record = self.store.get(work.name, issue)
        now = self.clock()
        if record is None or live_claim(record, now) or not work.runs(record):
            return []
        return [record] if record.next_attempt_at is None or record.next_attempt_at <= now else []

    def _adopt_unknown(self, work: RepoWork, pulls: dict[int | None, PullRequest], only: Issues) -> None:
        """Open PRs of ours whose task this store does not know (the store was lost or replaced, e.g.
        SQLite by Postgres) are adopted into following, once; from the PRs the cycle lists anyway. A PR
        whose issue is gone is tried once per process (each try would cost a request)."""
        if work.follow is None:  # a dry run follows nothing
            return
        for issue, pull in pulls.items():
            key = (work.name, pull.number)
            if issue is None or (only is not None and issue not in only) or key in self._tried:
                continue
            if self.store.get(work.name, issue) is None:
                log.info("%s#%d: %s is ours but unknown to the store; following it", work.name, issue,
                         pull.url, extra={"repo": work.name, "issue": issue})  # fmt: skip
                _adopt_pull(self.store, work, issue, pull)  # an outage raises: the next cycle tries again
                self._tried.add(key)

    def _adopt(self, work: RepoWork, issue: Issue, pull: PullRequest) -> TaskState | None:
        """A PR of ours exists: an attempt opened it, and if its worker stopped before recording it, the
        task goes on from the PR (to landing, or waiting for people), its stale claim label removed.
        The state it goes on in; None when there was nothing to adopt."""
        record = self.store.get(work.name, issue.number)
        if record is None or record.step is not Step.ATTEMPT or live_claim(record, self.clock()):
            return None
        opened = work.landing.opened(pull) if work.landing is not None else None
        state = opened.state if opened is not None else TaskState.PR_OPENED
        deadline = opened.deadline_at if opened is not None else None
        if not self.store.adopt(work.name, issue.number, state, pull.number, pull.url, deadline):
            return None
        log.info("%s#%d: %s exists; the task goes on from it (%s)", work.name, issue.number, pull.url,
                 state.value, extra={"repo": work.name, "issue": issue.number})  # fmt: skip
        if work.thread.labels.in_progress_label in issue.labels:
            work.thread.drop_label(issue.number, work.thread.labels.in_progress_label)
        return state

    def _refusal(self, work: RepoWork, issue: Issue) -> str | None:
        """Record the issue in the store if this cycle may attempt it (None), else say why not."""
        labels = work.thread.labels
        if labels.issue_label not in issue.labels and issue.request is None:  # only `run --issue N` so
            return (f"it does not have the {labels.issue_label!r} label: a user with write access applies it "
                    "to vouch for the issue's text")  # fmt: skip
        record = self.store.get(work.name, issue.number)
        if labels.needs_human_label in issue.labels:
            if record is None or record.fingerprint == fingerprint(issue):
                return (
                    f"it is labelled {labels.needs_human_label!r}: edit it or remove that label to try again"
                )
            work.thread.drop_label(issue.number, labels.needs_human_label)
        if record is not None and live_claim(record, self.clock()):
            return RunningElsewhere(f"{record.claim_owner} is working on it")
        if labels.in_progress_label in issue.labels:  # displays a claim that no longer exists (a crash)
            work.thread.drop_label(issue.number, labels.in_progress_label)
        if record is not None and STEP_OF.get(record.state, Step.ATTEMPT) is not Step.ATTEMPT:
            return f"a pull request of ours was opened for it ({record.state.value}); its own steps go on"
        reason = work.thread.trust.untrusted_reason(issue)
        if reason:
            context = {"event": "input_rejected", "repo": work.name, "issue": issue.number}
            log.warning("%s#%d: skipped: %s", work.name, issue.number, reason, extra=context)
            return reason
        if record is not None and record.state is TaskState.NEEDS_HUMAN:
            self.store.reset(work.name, issue.number)  # a human removed the needs-human label
        elif (
            record is not None
            and record.fingerprint != fingerprint(issue)
            and record.state
            in (
                TaskState.DONE,
                TaskState.PR_OPENED,
                TaskState.MERGED,
            )
        ):
            self.store.reset(work.name, issue.number)  # edited since it was answered
        self.store.observe(work.name, issue.number, fingerprint(issue))
        if issue.request is not None and work.mentions is not None:
            work.mentions.admitted(issue.request)
        return None


def _waiting(pull: PullRequest) -> PullOpen:
    return PullOpen(
        f"its pull request {pull.url} is open and waits for reviews or checks; "
        f"`run --pr {pull.number}` takes its due steps"
    )


def _named(work: RepoWork, only: frozenset[int], must_exist: bool) -> list[Issue]:
    issues = []
    for number in sorted(only):
        issue = work.repo.issue(number)
        if issue is not None and issue.state == "open":
            issues.append(issue)
        elif must_exist:
            why = "does not exist (or is a pull request)" if issue is None else f"is {issue.state}"
            raise UsageError(f"issue #{number} of {work.name} {why}", "name an open issue with --issue")
    return issues


def _mentioned(
    work: RepoWork,
    issues: list[Issue],
    pulls: dict[int | None, PullRequest],
    only: frozenset[int] | None,
    review: Callable[[RepoWork, PullRequest, PostedComment], bool],
) -> list[Issue]:
    """Poll the mentions: the issues they ask for join the listed ones (or stand in for them, carrying
    the request); those on our PRs go to `review_requested`."""
    assert work.mentions is not None
    ours = [pull for number, pull in pulls.items() if number is not None]  # an auto/ branch
    work.mentions.poll({pull.number for pull in ours})
    for pull, mention in work.mentions.pull_mentions(ours):
        if (only is None or pull.number in only) and review(work, pull, mention):
            work.mentions.finish(mention, "its review round was started")
    requested = {issue.number: issue for issue in work.mentions.requests(only)}
    return [requested.pop(issue.number, issue) for issue in issues] + list(requested.values())


def _adopt_pull(store: Store, work: RepoWork, number: int, pull: PullRequest) -> None:
    found = work.repo.issue(number)
    if found is None:
        return
    store.observe(work.name, number, fingerprint(found))
    opened = work.landing.opened(pull) if work.landing is not None else None
    state = opened.state if opened is not None else TaskState.PR_OPENED
    store.adopt(work.name, number, state, pull.number, pull.url, opened.deadline_at if opened else None)
