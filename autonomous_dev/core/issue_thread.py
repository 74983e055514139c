"""What the tool writes on an issue and reads from it: display labels, once-only comments, the issue
as untrusted text. Steps say what happened; this is the one place that turns it into GitHub writes."""

from __future__ import annotations

import logging

from autonomous_dev.core import prompts
from autonomous_dev.core.comments import Commenter
from autonomous_dev.core.tracking import Tracker
from autonomous_dev.logs import audit
from autonomous_dev.models import Issue
from autonomous_dev.ports import GitHubRepo
from autonomous_dev.security.outgoing import one_line
from autonomous_dev.security.sanitize import describe, sanitize
from autonomous_dev.security.trust import TrustGate
from autonomous_dev.settings.sections import DiscoverySettings

log = logging.getLogger(__name__)


def fingerprint(issue: Issue) -> str:
    """Changes with the issue's text and with each new request (mention) for it."""
    asked = f"\nrequest={issue.request.comment.id}" if issue.request is not None else ""
    return prompts.content_fingerprint(issue.title, issue.body + asked)


class IssueThread:
    """One repository's issues as the tool writes them (nothing in a dry run) and reads them."""

    def __init__(
        self,
        repo: GitHubRepo,
        labels: DiscoverySettings,
        trust: TrustGate,
        max_issue_chars: int,
        dry_run: bool = False,
        tracker: Tracker | None = None,
    ) -> None:
        self.repo = repo
        self.labels = labels
        self.trust = trust
        self.max_issue_chars = max_issue_chars
        self.dry_run = dry_run
        self.commenter = Commenter(repo)
        self.tracker = tracker or Tracker(repo)  # the tracking comment and cause labels (off by default)

    # -- labels: the in-progress label displays the store's claim (unless the tracking comment does);
    # needs-human hands over ----------------------------------------------------------------------------

    def show_claim(self, number: int) -> None:
        if not self.dry_run and not self.tracker.comment:
            self.repo.add_label(number, self.labels.in_progress_label)

    def hide_claim(self, number: int) -> None:
        if not self.tracker.comment:
            self.drop_label(number, self.labels.in_progress_label)

    def drop_label(self, number: int, label: str) -> None:
        if not self.dry_run:
            log.info("%s#%d: removing the %r label", self.repo.full_name, number, label,
                     extra={"repo": self.repo.full_name, "issue": number})  # fmt: skip
            self.repo.remove_label(number, label)

    def hand_over(self, number: int, body: str, kind: str) -> None:
        """Label the issue for a human and say why, once (in the tracking comment, when there is one)."""
        if not self.dry_run:
            self.repo.add_label(number, self.labels.needs_human_label)
            if not self.tracker.comment:
                self.commenter.post_once(number, body, kind)

    # -- comments ------------------------------------------------------------------------------------------

    def post_once(self, number: int, body: str, kind: str) -> None:
        if not self.dry_run:
            self.commenter.post_once(number, body, kind)

    def warn_unverified(self, number: int, branch: str, caveat: str) -> None:
        """Say, before the PR opens, that nothing proved the change (a crash after it then loses nothing):
        in the tracking comment, or in a comment of its own."""
        if not self.dry_run and not self.tracker.warn(number, caveat):
            self.commenter.post_once(number, prompts.not_verified_comment(number, branch, caveat), "pr-link")

    def answered_without_changes(self, issue: Issue) -> bool:
        marker = prompts.marker("no-changes", issue.number, f"fingerprint={fingerprint(issue)}")
        read = issue.thread.comments if issue.thread is not None else None
        return self.commenter.posted(issue.number, marker, read)

    def give_up(self, issue: Issue, attempts: int, error: str) -> None:
        label = self.labels.needs_human_label
        body = prompts.needs_human_comment(issue.number, attempts, error, fingerprint(issue), label)
        self.hand_over(issue.number, body, "needs-human")

    def give_up_pr_steps(self, issue: Issue, pr_url: str, failures: int, error: str) -> None:
        """The steps on the PR failed `failures` times in a row: a human takes the PR over."""
        label = self.labels.needs_human_label
        body = prompts.pr_steps_failed_comment(issue.number, pr_url, failures, error, label)
        self.hand_over(issue.number, body, "pr-steps-failed")

    # -- reading ---------------------------------------------------------------------------------------------

    def read(self, issue: Issue) -> tuple[str, list[str]]:
        """The issue as untrusted data (hidden content removed, only maintainers' comments included; the
        request of a mention as it read when it was trusted), and a note per part that had hidden content
        removed, for the evidence."""
        notes: list[str] = []
        request = issue.request
        comments = [
            (c.author, self._clean(issue, f"a comment by {c.author}", c.body, notes))
            for c in self.trust.trusted_comments(issue)
            if request is None or c.id != request.comment.id
        ]
        title = self._clean(issue, "the title", one_line(issue.title, limit=len(issue.title)), notes)
        body = self._clean(issue, "the body", issue.body, notes)
        asked = None
        if request is not None:
            author = request.comment.author
            asked = (author, self._clean(issue, f"the request by {author}", request.comment.body, notes))
        message = prompts.issue_message(self.repo.full_name, issue.number, title, body, comments, asked)
        return message, notes

    def _clean(self, issue: Issue, where: str, text: str, notes: list[str]) -> str:
        cleaned = sanitize(text, self.max_issue_chars)
        if cleaned.removed or cleaned.truncated:
            what = describe(cleaned.removed) + (" (cut to length)" if cleaned.truncated else "")
            context = {"repo": self.repo.full_name, "issue": issue.number}
            message = "%s#%d: removed from %s: %s"
            args = (self.repo.full_name, issue.number, where, what)
            audit(log, "input_rejected", message, *args, level=logging.WARNING, **context)
            if cleaned.removed:
                notes.append(f"{where}: {describe(cleaned.removed)}")
        return cleaned.text
