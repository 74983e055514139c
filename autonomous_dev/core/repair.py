"""The CI-repair step: one round fixing the checks a PR's head fails (and its base does not). What the checks
reported (output, annotations, the end of the Actions job log) is the task: hidden content removed,
secrets redacted, framed as untrusted. A pushed fix starts the checks again; a round that pushes nothing,
or one past `ci.maxRepairRounds`, hands the PR to a human with one comment. A restarted round finds its
commit (the round trailer) and does not repair twice."""

from __future__ import annotations

import logging
from dataclasses import replace

from autonomous_dev.core import round_prompts
from autonomous_dev.core.follow import failing, hand_over, pull_now
from autonomous_dev.core.issue_thread import IssueThread
from autonomous_dev.core.lifecycle import StepResult
from autonomous_dev.core.observe import TaskObserver
from autonomous_dev.core.pr_round import PullRound, RoundWork, Spent
from autonomous_dev.core.review import After
from autonomous_dev.errors import Cause
from autonomous_dev.models import FailedCheck, Issue, Outcome, OutcomeKind, PullRequest
from autonomous_dev.ports import GitHubRepo
from autonomous_dev.security.outgoing import one_line
from autonomous_dev.security.redact import Redactor
from autonomous_dev.security.sanitize import sanitize
from autonomous_dev.settings.rounds import CISettings
from autonomous_dev.store.records import FollowMarks, TaskRecord, TaskState, Transition

log = logging.getLogger(__name__)


class RepairRound:
    def __init__(
        self,
        repo: GitHubRepo,
        thread: IssueThread,
        rounds: PullRound,
        settings: CISettings,
        redactor: Redactor,
        after: After,
    ) -> None:
        self.repo = repo
        self.thread = thread
        self.rounds = rounds
        self.settings = settings
        self.redactor = redactor
        self.after = after

    def run(self, issue: Issue, record: TaskRecord, observer: TaskObserver) -> StepResult:
        status, pull, gone = pull_now(self.repo, issue, record)
        if gone is not None:
            return gone
        number = record.repair_rounds + 1
        with self.rounds.checkout(pull) as checkout:
            done = checkout.pushed(f"ci-repair {number}")
            if done is not None:  # pushed before a restart: counted now, not repeated
                return self._done(issue, pull, number, done, replace(record.marks, repaired_head=done.head))
            found = failing(self.repo, record, status)
            if not found.own:
                passing = Outcome(
                    issue.number, OutcomeKind.UNCHANGED, "no failed check left to repair", pr=pull
                )
                return StepResult(passing, self.after(pull))
            budget = self.rounds.budget_left(record)
            if number > self.settings.max_repair_rounds or isinstance(budget, Spent):
                spent = budget if isinstance(budget, Spent) else None
                limit = (f"{number - 1} CI-repair round(s) were made", Cause.CHECKS_FAILED)
                stop = (spent.reason, spent.cause) if spent else limit
                return self._hand_over(issue, pull, status.head_sha, stop, Transition(TaskState.NEEDS_HUMAN))
            observer.phase(issue, f"CI-repair round {number}")
            names = tuple(one_line(name) for name in found.own)
            failures = [
                check for check in self.repo.failed_checks(status.head_sha) if check.name in found.own
            ]
            task = self._task(issue, pull, status.head_sha, failures)

            def commit(summary: str) -> str:
                return round_prompts.repair_commit(issue.number, pull.number, number, summary, names,
                                                   status.head_sha)  # fmt: skip

            work = checkout.work(issue, task, commit, budget, observer)
        marks = replace(record.marks, repaired_head=status.head_sha, repaired_checks=found.own)
        if not work.pushed:
            ended = Transition(TaskState.NEEDS_HUMAN, repair_rounds=1, marks=marks)
            why = f"CI-repair round {number} for {', '.join(names)} pushed nothing: {work.reason}"
            return self._hand_over(issue, pull, status.head_sha, (why, work.cause), ended)
        return self._done(issue, pull, number, work, marks)

    def _task(self, issue: Issue, pull: PullRequest, head: str, failures: list[FailedCheck]) -> str:
        """The failed checks as the model reads them: each text's tail, hidden content removed, redacted."""
        checks = [round_prompts.check_text(self._cleaned(check)) for check in failures]
        full = self.repo.issue(issue.number) or issue  # a PR step is claimed knowing only the number
        issue_text, _ = self.thread.read(full)
        return round_prompts.ci_message(
            self.repo.full_name, issue.number, pull.number, head, checks, issue_text
        )

    def _cleaned(self, check: FailedCheck) -> FailedCheck:
        def clean(text: str) -> str:
            kept = round_prompts.tail(text, round_prompts.MAX_CHECK_CHARS)
            return self.redactor.redact(sanitize(kept, len(kept)).text)

        notes = tuple(
            replace(note, message=clean(note.message), path=clean(note.path)) for note in check.annotations
        )
        return replace(check, name=clean(check.name), title=clean(check.title), summary=clean(check.summary),
                       text=clean(check.text), log=clean(check.log), annotations=notes)  # fmt: skip

    def _done(
        self, issue: Issue, pull: PullRequest, number: int, work: RoundWork, marks: FollowMarks
    ) -> StepResult:
        log.info("%s#%d: CI-repair round %d pushed a fix to %s", self.repo.full_name, issue.number, number,
                 pull.url, extra={"repo": self.repo.full_name, "issue": issue.number})  # fmt: skip
        done = Outcome(issue.number, OutcomeKind.WAITING, f"CI-repair round {number}: pushed a fix", pr=pull)
        return StepResult(done, replace(self.after(pull), repair_rounds=1, marks=marks))

    def _hand_over(
        self, issue: Issue, pull: PullRequest, head: str, why: tuple[str, Cause], ended: Transition
    ) -> StepResult:
        label = self.thread.labels.needs_human_label
        body = round_prompts.repair_hand_over_comment(issue.number, pull.url, why[0], head, label)
        return hand_over(self.thread, issue, pull, (body, "ci-needs-human"), why, ended)
