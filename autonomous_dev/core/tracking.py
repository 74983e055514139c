"""The tracking comment and the cause labels: one comment per issue, created when a task is claimed and
edited in place as its steps go on, and an `autonomous-dev:cause/<name>` label while the task stands
failed. The comment is found again by its hidden marker (looked for before one is created, so a crash
between creating it and recording anything leaves one comment). Reporting is best effort: a GitHub
failure here is logged, and the step's outcome stands; the store marks the comment as behind, and the
next cycle brings it up to date."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import fields, replace

from autonomous_dev.core import causes
from autonomous_dev.core.comments import has_marker
from autonomous_dev.core.progress import CI_REPAIR, REVIEW, UPDATE, Failure, Progress
from autonomous_dev.core.progress_text import Limits, render, tracking_marker
from autonomous_dev.errors import Cause, GitHubError, InfrastructureError
from autonomous_dev.models import Comment, Issue
from autonomous_dev.ports import GitHubRepo
from autonomous_dev.retry import retry_write
from autonomous_dev.security.outgoing import only_own_closing
from autonomous_dev.settings.sections import ReportSettings
from autonomous_dev.store.records import WAITING, Step, TaskRecord, TaskState, Transition, UsageDelta

log = logging.getLogger(__name__)
# The line a PR's look hands over on when it finds a round's limit reached.
ROUND_OF = {Cause.CHECKS_FAILED: CI_REPAIR, Cause.REVIEW_ROUNDS: REVIEW}
DEFAULT_LIMITS = Limits(max_attempts=3, max_repair_rounds=2, needs_human_label="needs-human")


class Tracker:
    """One repository's tracking comments and cause labels; both off unless asked for (and in a dry run)."""

    def __init__(
        self,
        repo: GitHubRepo,
        limits: Limits = DEFAULT_LIMITS,
        *,
        comment: bool = False,
        cause_labels: bool = False,
        edit_seconds: float = 60.0,
        merging: bool = False,
        ticks: Callable[[], float] = time.monotonic,
    ) -> None:
        self.repo = repo
        self.limits = limits
        self.comment = comment
        self.cause_labels = cause_labels
        self.edit_seconds = edit_seconds  # phase edits at most this often; a step's start and end always
        self.merging = merging
        self.ticks = ticks
        self._shown: dict[int, tuple[int, str]] = {}  # issue -> (comment id, the text it has)
        self._labels: dict[int, set[str]] = {}  # issue -> the cause labels it carries, as last set
        self._open: dict[int, TaskReport] = {}
        self._lock = threading.Lock()

    @classmethod
    def configured(
        cls, repo: GitHubRepo, report: ReportSettings, limits: Limits, merging: bool, dry_run: bool
    ) -> Tracker:
        """As the settings ask (nothing in a dry run)."""
        on = not dry_run
        comment, labels, seconds = (
            report.tracking_comment and on,
            report.cause_labels and on,
            report.tracking_edit_seconds,
        )
        return cls(repo, limits, comment=comment, cause_labels=labels, edit_seconds=seconds, merging=merging)

    def open(
        self, issue: Issue, record: TaskRecord, keep: Callable[[str], None] = lambda _: None
    ) -> TaskReport:
        """The report of the step just claimed on `record`; `keep` stores the comment's data while it runs
        (so a crash loses nothing it showed)."""
        report = TaskReport(self, issue, record, keep)
        with self._lock:
            self._open[issue.number] = report
        return report

    def warn(self, number: int, warning: str) -> bool:
        """Show why nothing proved the change now, before its PR opens; False when there is no comment
        for it (the caller posts the warning on its own)."""
        with self._lock:
            report = self._open.get(number)
        return report.warn(warning) if self.comment and report is not None else False

    def refresh(self, record: TaskRecord) -> bool:
        """Bring a comment that is behind its task (an edit failed, a crash) up to date; True when shown."""
        if not self.comment or record.progress is None:
            return True
        progress = Progress.from_json(record.progress, self.merging)
        lost = record.cause is not None and record.cause not in causes.PAUSES
        progress = progress.settle(record.state, failed=lost)
        return self.show(record.issue, render(progress, record, self.limits))

    def show(self, number: int, body: str, read: Sequence[Comment] | None = None) -> bool:
        """Create the issue's tracking comment, or edit it when its text changes; False if GitHub failed.
        `read`: the issue's comments, read just now (else they are read when the comment is not known)."""
        body = only_own_closing(body, self.repo.full_name, number).text
        where = {"repo": self.repo.full_name, "issue": number}
        try:
            with self._lock:
                known = self._shown.get(number)
            found = known or self._found(number, read)
            if found is not None and found[1] == body:
                return True
            if found is None:
                what = f"{self.repo.full_name}#{number}: posting the tracking comment"
                made = retry_write(
                    what, lambda: self.repo.add_comment(number, body), self._retry_look(number)
                )
                comment_id = made.id
                if made.body != body:  # found by its marker: an earlier run made it
                    comment_id = self.repo.edit_comment(made.id, body).id
            else:
                comment_id = self.repo.edit_comment(found[0], body).id
        except (GitHubError, InfrastructureError) as exc:
            log.warning("%s#%d: the tracking comment could not be updated (%s); it is tried again later",
                        self.repo.full_name, number, exc.message, extra=where)  # fmt: skip
            with self._lock:  # looked for again next time (someone may have deleted it)
                self._shown.pop(number, None)
            return False
        with self._lock:
            self._shown[number] = (comment_id, body)
        return True

    def settle_labels(self, issue: Issue, state: TaskState, cause: Cause | None) -> None:
        """The issue carries the cause label of a task that stands failed, and none once it goes on well;
        a passing failure (a look at a PR that will be repeated) leaves the labels as they are."""
        wanted = causes.wanted_label(state, cause)
        if not self.cause_labels or (wanted is None and cause is not None):
            return
        with self._lock:
            present = self._labels.get(issue.number)
        if present is None:
            present = {label for label in issue.labels if label.startswith(causes.LABEL_PREFIX)}
        try:
            for label in sorted(present - {wanted}):
                self.repo.remove_label(issue.number, label)
            if wanted is not None and wanted not in present:
                self.repo.add_label(issue.number, wanted)
        except (GitHubError, InfrastructureError) as exc:
            log.warning("%s#%d: the cause label could not be set (%s)", self.repo.full_name, issue.number,
                        exc.message, extra={"repo": self.repo.full_name, "issue": issue.number})  # fmt: skip
            return
        with self._lock:
            self._labels[issue.number] = {wanted} if wanted is not None else set()

    def closed(self, number: int) -> None:
        with self._lock:
            self._open.pop(number, None)

    def _retry_look(self, number: int) -> Callable[[], Comment | None]:
        """What retry_write looks with before each try: not before the first (the look was just made),
        before a retry (a POST that failed may have landed)."""
        tries = iter(range(1, 1_000))
        return lambda: self._find(number) if next(tries) > 1 else None

    def _found(self, number: int, read: Sequence[Comment] | None = None) -> tuple[int, str] | None:
        comment = self._find(number, read)
        return (comment.id, comment.body) if comment is not None else None

    def _find(self, number: int, read: Sequence[Comment] | None = None) -> Comment | None:
        wanted, own = tracking_marker(number), self.repo.own_logins()
        comments = self.repo.comments(number) if read is None else read
        return next((c for c in comments if has_marker([c], wanted, own)), None)


class TaskReport:
    """What one claimed step shows in the tracking comment: created or edited when it starts, edited at
    most every `edit_seconds` while it works, and when it ends (or pauses)."""

    def __init__(
        self, tracker: Tracker, issue: Issue, record: TaskRecord, keep: Callable[[str], None]
    ) -> None:
        self.tracker = tracker
        self.issue = issue
        self.record = record
        self.keep = keep
        self.progress = Progress.from_json(record.progress, tracker.merging)
        self.used = UsageDelta()
        self.shown_at = -float("inf")

    def begin(self) -> None:
        """A long step (an attempt, an update) starts: the comment displays the claim."""
        record = self.record
        if record.step is Step.UPDATE:
            self.progress = self.progress.enter(UPDATE, note=f"round {record.updates + 1}")
        elif record.step is Step.REVIEW:
            limit = self.tracker.limits.max_review_rounds
            self.progress = self.progress.enter(REVIEW, note=f"round {record.review_rounds + 1} of {limit}")
        elif record.step is Step.REPAIR:
            limit = self.tracker.limits.max_ci_repair_rounds
            note = f"round {record.repair_rounds + 1} of {limit}"
            self.progress = self.progress.enter(CI_REPAIR, note=note)
        else:
            self.progress = self.progress.begin_attempt(self.tracker.merging, _earlier(record))
        read = self.issue.thread.comments if self.issue.thread is not None else None
        self._show(self._task(), force=True, kept=True, read=read)

    def phase(self, text: str) -> None:
        attempt = self.record.step is Step.ATTEMPT
        self.progress = self.progress.phase(text) if attempt else self.progress.note(text)
        self._show(self._task(), force=False)

    def usage(self, delta: UsageDelta) -> None:
        self.used = UsageDelta(*(getattr(self.used, f.name) + getattr(delta, f.name) for f in fields(delta)))

    def warn(self, warning: str) -> bool:
        self.progress = self.progress.warn(warning)
        self._show(self._task(), force=True, kept=True)
        return True

    def finish(self, transition: Transition) -> Transition:
        """The step's end as the comment and the labels show it; the transition to write, carrying the
        comment's data and whether the comment shows it."""
        failed = transition.cause is not None and transition.state is not TaskState.DONE
        cause = transition.cause if transition.state is TaskState.NEEDS_HUMAN else None
        line = ROUND_OF.get(cause) if cause is not None else None
        if line is not None and self.record.step in (Step.FOLLOW, Step.LAND):  # a look found the limit
            self.progress = self.progress.enter(line)
        if failed and self.record.step is Step.ATTEMPT and transition.pr_url is not None:
            self.progress = self.progress.draft_opened()
        else:
            self.progress = self.progress.settle(transition.state, failed)
        shown = self._show(self._task(transition), force=True)
        self.tracker.settle_labels(self.issue, transition.state, transition.cause)
        if not self.tracker.comment:
            return transition
        return replace(transition, progress=self.progress.to_json(), shown=shown)

    def pause(self, cause: Cause, why: str) -> None:
        """The step was given back uncounted (an outage): say so, best effort."""
        step = self.record.step or Step.ATTEMPT
        counted = self.record.attempts - (1 if step is Step.ATTEMPT else 0)
        paused = replace(self._task(), state=WAITING[step], cause=cause, last_error=why, attempts=counted)
        self._show(paused, force=True)

    def _task(self, transition: Transition | None = None) -> TaskRecord:
        """The task as the comment shows it: the record claimed, what this step used, how it ended."""
        r, used = self.record, self.used
        task = replace(r, input_tokens=r.input_tokens + used.input_tokens, output_tokens=r.output_tokens +
                       used.output_tokens, cache_read_tokens=r.cache_read_tokens + used.cache_read_tokens,
                       cache_write_tokens=r.cache_write_tokens + used.cache_write_tokens,
                       cost_usd=r.cost_usd + used.cost_usd)  # fmt: skip
        if transition is None:
            return task
        t = transition
        return replace(task, state=t.state, last_error=t.error, next_attempt_at=t.next_attempt_at,
                       pr_url=t.pr_url or r.pr_url, updates=r.updates + t.updates, cause=t.cause,
                       review_rounds=r.review_rounds + t.review_rounds,
                       repair_rounds=r.repair_rounds + t.repair_rounds)  # fmt: skip

    def _show(
        self, task: TaskRecord, force: bool, kept: bool = False, read: Sequence[Comment] | None = None
    ) -> bool:
        """Edit the comment (a phase: only once `edit_seconds` passed); `kept`: store what it shows first;
        `read`: the issue's comments as the claim read them."""
        tracker = self.tracker
        if not tracker.comment:
            return True
        if kept:
            self.keep(self.progress.to_json())
        if not force and tracker.ticks() - self.shown_at < tracker.edit_seconds:
            return False
        self.shown_at = tracker.ticks()
        return tracker.show(self.issue.number, render(self.progress, task, tracker.limits), read)


def _earlier(record: TaskRecord) -> Failure | None:
    """The failure of the attempt before this one, if it failed (a pause is not a failed attempt)."""
    cause = record.cause
    if cause is None or cause in causes.PAUSES or record.attempts < 2:
        return None
    return Failure(record.attempts - 1, cause, record.last_error or "")
