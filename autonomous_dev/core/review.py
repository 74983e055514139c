"""The review step: one round answering the trusted review input on a PR of ours. The comments, with the
diff hunk each refers to, are the task; the branch gets one new commit when the model changed something
and the checks pass; every thread the round took in gets one reply saying what changed, or why nothing did.
A restarted round finds its commit (the round trailer) and its replies (hidden markers) and repeats
neither. Bounded by `review.maxRounds` and the task's budget."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace

from autonomous_dev.core import round_prompts
from autonomous_dev.core.agent import Budget
from autonomous_dev.core.follow import hand_over, pull_now
from autonomous_dev.core.issue_thread import IssueThread
from autonomous_dev.core.lifecycle import StepResult
from autonomous_dev.core.observe import TaskObserver
from autonomous_dev.core.pr_round import PullRound, RoundWork, Spent
from autonomous_dev.core.review_input import ReviewInput, ReviewReader, marks_through
from autonomous_dev.core.review_replies import ReviewReplies
from autonomous_dev.errors import Cause
from autonomous_dev.models import Issue, Outcome, OutcomeKind, PullRequest
from autonomous_dev.ports import GitHubRepo
from autonomous_dev.settings.rounds import ReviewSettings
from autonomous_dev.store.records import FollowMarks, TaskRecord, Transition

log = logging.getLogger(__name__)
After = Callable[[PullRequest], Transition]  # where a PR goes after a round: landing again, or people


class ReviewRound:
    def __init__(
        self,
        repo: GitHubRepo,
        thread: IssueThread,
        reader: ReviewReader,
        rounds: PullRound,
        settings: ReviewSettings,
        after: After,
    ) -> None:
        self.repo = repo
        self.thread = thread
        self.reader = reader
        self.rounds = rounds
        self.settings = settings
        self.after = after
        self.replies = ReviewReplies(repo, thread)

    def run(self, issue: Issue, record: TaskRecord, observer: TaskObserver) -> StepResult:
        _, pull, gone = pull_now(self.repo, issue, record)
        if gone is not None:
            return gone
        number = record.review_rounds + 1
        found = self.reader.read(pull.number, record.marks)
        self.reader.report(found, pull.number, issue.number)
        prior = self.replies.prior(issue.number, pull.number, number)
        if prior is not None:  # the round ended before a restart, its replies part-way posted
            answer, keys = prior
            pushed = answer.startswith(round_prompts.CHANGED)
            return self._answer(
                issue, pull, number, found, keys, answer, marks_through(record.marks, keys), pushed
            )
        if not found.items:  # taken back or out of reach since the look: nothing to answer
            nothing = Outcome(issue.number, OutcomeKind.UNCHANGED, "no review input left to answer", pr=pull)
            return StepResult(nothing, replace(self.after(pull), marks=found.marks))
        budget = self.rounds.budget_left(record)
        if number > self.settings.max_rounds or isinstance(budget, Spent):
            return self._stop(issue, pull, record, budget if isinstance(budget, Spent) else None)
        work = self._work(issue, pull, number, found, budget, observer)
        keys = work.keys if work.resumed else tuple(item.key for item in found.items)
        marks = marks_through(record.marks, keys) if work.resumed else found.marks
        if work.pushed:
            answer = round_prompts.changed_reply(work.summary)
        else:
            answer = round_prompts.unchanged_reply(work.reason, work.summary)
        return self._answer(issue, pull, number, found, keys, answer, marks, work.pushed)

    def _work(
        self,
        issue: Issue,
        pull: PullRequest,
        number: int,
        found: ReviewInput,
        budget: Budget,
        observer: TaskObserver,
    ) -> RoundWork:
        observer.phase(issue, f"review round {number}")
        full = self.repo.issue(issue.number) or issue  # a PR step is claimed knowing only the number
        issue_text, _ = self.thread.read(full)
        texts = [item.text for item in found.items]
        task = round_prompts.review_message(self.repo.full_name, issue.number, pull.number, number,
                                            self.settings.max_rounds, texts, issue_text)  # fmt: skip
        keys = [item.key for item in found.items]

        def commit(summary: str) -> str:
            return round_prompts.review_commit(issue.number, pull.number, number, summary, keys)

        with self.rounds.checkout(pull) as checkout:
            return checkout.pushed(f"review {number}") or checkout.work(issue, task, commit, budget, observer)

    def _answer(
        self,
        issue: Issue,
        pull: PullRequest,
        number: int,
        found: ReviewInput,
        keys: tuple[str, ...],
        answer: str,
        marks: FollowMarks,
        pushed: bool,
    ) -> StepResult:
        items = [item for item in found.items if item.key in keys]
        places = self.replies.post(issue.number, pull.number, number, keys, items, answer)
        what = "a new commit" if pushed else "no new commit"
        where = {"repo": self.repo.full_name, "issue": issue.number}
        log.info("%s#%d: review round %d on %s: %s, %d answer(s)", self.repo.full_name, issue.number, number,
                 pull.url, what, places, extra=where)  # fmt: skip
        done = Outcome(issue.number, OutcomeKind.WAITING, f"review round {number}: {what}", pr=pull)
        return StepResult(done, replace(self.after(pull), review_rounds=1, marks=marks))

    def _stop(self, issue: Issue, pull: PullRequest, record: TaskRecord, spent: Spent | None) -> StepResult:
        label = self.thread.labels.needs_human_label
        if spent is not None:
            body = round_prompts.budget_comment(issue.number, pull.url, spent.reason, label)
            return hand_over(self.thread, issue, pull, (body, "round-budget"), (spent.reason, spent.cause))
        reason = f"new review input after {record.review_rounds} review round(s) (review.maxRounds)"
        body = round_prompts.review_limit_comment(issue.number, pull.url, record.review_rounds, label)
        return hand_over(self.thread, issue, pull, (body, "review-limit"), (reason, Cause.REVIEW_ROUNDS))
