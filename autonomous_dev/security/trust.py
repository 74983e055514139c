"""The trust boundary: act on text a maintainer vouched for by labelling; show the model only theirs."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime

from autonomous_dev.core.comments import Commenter
from autonomous_dev.core.prompts import MARKER_PREFIX, marker
from autonomous_dev.errors import GitHubError, InfrastructureError
from autonomous_dev.logs import audit
from autonomous_dev.models import (
    Comment,
    Issue,
    IssueEvent,
    PostedComment,
    TextHistory,
    ThreadHistory,
    ThreadRead,
)
from autonomous_dev.ports import GitHubRepo
from autonomous_dev.security.permissions import Permissions
from autonomous_dev.settings.services import SecuritySettings

log = logging.getLogger(__name__)

WRITE_PERMISSIONS = frozenset({"admin", "maintain", "write"})


class TrustGate:
    """Answers who may steer the tool; permission answers are kept for a while (`Permissions`).

    `notify`: comment on issues refused for edits after the label (off in dry runs).
    """

    def __init__(
        self,
        repo: GitHubRepo,
        trigger_label: str,
        security: SecuritySettings,
        notify: bool = True,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.repo = repo
        self.trigger_label = trigger_label
        self.security = security
        self.notify = notify
        self._permissions = Permissions(repo.permission, clock)
        self._commenter = Commenter(repo)

    def untrusted_reason(self, issue: Issue) -> str | None:
        """Why the issue must not be acted on, or None when a user with write access vouched for its text.

        The issue's text was read before this check, so the edits seen here cover it. An issue a mention
        asked for (`issue.request`) is vouched for by the mention's author, as of the comment's time.
        """
        events = self.repo.events(issue.number)
        if issue.request is not None:
            return self._request_reason(issue, issue.request, events)
        labelled = self._labelled(events)
        reason = self._labeller_reason(labelled, fresh=False) or self._author_reason(issue)
        if reason is None and labelled is not None:
            reason = self._edited_since(issue, labelled, events)
        return reason

    def claim_read(self, issue: Issue) -> ThreadRead | str:
        """Right before an attempt: the label is still there and whoever applied it (or wrote the request)
        still has write access; then the comments are read, once for the whole attempt. The read, or why
        the attempt must not start."""
        if issue.request is not None:
            author = issue.request.comment.author
            permission = self.permission(author, fresh=True)
            if permission not in WRITE_PERMISSIONS:
                return f"{author}, who asked for it, has {permission} permission now (write needed)"
            vouched_at = issue.request.created_at
        else:
            labelled = self._labelled(self.repo.events(issue.number))
            reason = self._labeller_reason(labelled, fresh=True)
            if reason is not None:
                return reason
            assert labelled is not None  # a missing label is a reason
            vouched_at = labelled.at
        return ThreadRead(vouched_at, tuple(self.repo.comments(issue.number)))

    def trusted_comments(self, issue: Issue) -> list[Comment]:
        """Comments by users with write permission whose text nobody else changed since the issue was
        vouched for (the label, or the request of a mention); from the claim's read when there is one."""
        what = "the request" if issue.request is not None else f"the {self.trigger_label!r} label"
        since: datetime | None
        if issue.thread is not None:
            comments, since = list(issue.thread.comments), issue.thread.vouched_at
        else:
            comments = self.repo.comments(issue.number)  # read first: the history read next covers them
            since = issue.request.created_at if issue.request is not None else self._label_time(issue.number)
        comments = [c for c in comments if MARKER_PREFIX not in c.body]
        comments = [c for c in comments if self.permission(c.author, fresh=True) in WRITE_PERMISSIONS]
        if not comments:  # nothing to vet (a new issue's usual thread): no history to read
            return []
        history = self.repo.edit_history(issue.number)
        kept = []
        for comment in comments:
            edits = history.comments.get(comment.id)
            # not in the history read: its editors cannot be known
            editors = ["unknown"] if edits is None or since is None else self._outsiders(edits, since)
            if editors:
                self._reject(issue.number, "dropped comment %d: edited after %s by %s", comment.id, what,
                             ", ".join(editors))  # fmt: skip
                continue
            kept.append(comment)
        return kept

    def permission(self, login: str, fresh: bool = False) -> str:
        """The user's permission; `fresh` revalidates now (free when unchanged: GitHub answers 304)."""
        return self._permissions.of(login, fresh)

    # -- details -----------------------------------------------------------------------------------------

    def _label_time(self, number: int) -> datetime | None:
        labelled = self._labelled(self.repo.events(number))
        return labelled.at if labelled is not None else None

    def _labelled(self, events: list[IssueEvent]) -> IssueEvent | None:
        """The most recent application of the trigger label."""
        label, found = self.trigger_label, None
        for event in events:
            if event.event == "labeled" and event.label == label:
                found = event
        return found

    def _labeller_reason(self, labelled: IssueEvent | None, fresh: bool) -> str | None:
        label = self.trigger_label
        if labelled is None or not labelled.actor:
            return f"no record of who applied the {label!r} label"
        permission = self.permission(labelled.actor, fresh=fresh)
        if permission not in WRITE_PERMISSIONS:
            return (f"the {label!r} label was applied by {labelled.actor}, who has {permission} permission "
                    "(write needed)")  # fmt: skip
        return None

    def _request_reason(self, issue: Issue, request: PostedComment, events: list[IssueEvent]) -> str | None:
        """A mention vouches for the issue as it read when the comment was written, if its author has
        write access now (asked afresh) and nobody without it changed the issue or the comment since."""
        author, since = request.comment.author, request.created_at
        permission = self.permission(author, fresh=True)
        if permission not in WRITE_PERMISSIONS:
            return f"the request (comment {request.comment.id}) is by {author}, with {permission} permission"
        reason = self._author_reason(issue)
        if reason is not None:
            return reason
        found = self._editors_since(issue, since, events, "the request")
        if isinstance(found, str):
            return found
        editors, history = found
        own = history.comments.get(request.comment.id)  # missing: not among the comments read, unknown
        editors = sorted({*editors, *(self._outsiders(own, since) if own is not None else ["unknown"])})
        if not editors:
            return None
        return (f"it or the request was changed after the request by {', '.join(editors)} (no write "
                "permission); a maintainer must ask again")  # fmt: skip

    def _author_reason(self, issue: Issue) -> str | None:
        """security.requireAuthorPermission: the issue's author must have write access too."""
        if not self.security.require_author_permission:
            return None
        permission = self.permission(issue.author)
        if permission in WRITE_PERMISSIONS:
            return None
        return f"the author {issue.author} has {permission} permission (write needed)"

    def _editors_since(
        self, issue: Issue, since: datetime, events: list[IssueEvent], what: str
    ) -> tuple[list[str], ThreadHistory] | str:
        """Who without write access changed the title or body at or after `since`, with the history read;
        a reason when GitHub cannot say (no history, no trust)."""
        renamed = [e.actor or "unknown" for e in events if e.event == "renamed" and e.at >= since]
        try:
            history = self.repo.edit_history(issue.number)
        except (GitHubError, InfrastructureError) as exc:
            where = {"repo": self.repo.full_name, "issue": issue.number}
            log.warning("%s#%d: cannot read who edited it (%s); skipped this cycle", self.repo.full_name,
                        issue.number, exc, extra=where)  # fmt: skip
            return f"cannot tell who edited it since {what} ({exc.message})"
        return sorted({*self._untrusted(renamed), *self._outsiders(history.body, since)}), history

    def _edited_since(self, issue: Issue, labelled: IssueEvent, events: list[IssueEvent]) -> str | None:
        """Who without write access changed the title or body since the label was applied."""
        found = self._editors_since(issue, labelled.at, events, f"the {self.trigger_label!r} label")
        if isinstance(found, str):
            return found
        editors = found[0]
        if not editors:
            return None
        self._ask_for_label(issue.number, labelled, editors)
        return (f"its text was changed after the {self.trigger_label!r} label by {', '.join(editors)} "
                "(no write permission); a maintainer must re-apply the label")  # fmt: skip

    def _outsiders(self, text: TextHistory, since: datetime) -> list[str]:
        """Editors without write access of the revisions saved at or after `since` (a label and an edit in
        the same second count as edited after: GitHub's times have whole seconds). The original text is
        no edit; unread revisions count as edits by an unknown user."""
        editors = [r.editor or "unknown" for r in text.revisions if r.at >= since and r.at > text.created_at]
        if not text.complete:
            editors.append("unknown")
        return self._untrusted(editors)

    def _untrusted(self, logins: list[str]) -> list[str]:
        return sorted({login for login in logins if self.permission(login) not in WRITE_PERMISSIONS})

    def _ask_for_label(self, number: int, labelled: IssueEvent, editors: list[str]) -> None:
        """One comment per label application, so a re-applied label that is edited again asks again."""
        stamp = labelled.at.strftime("%Y%m%dT%H%M%SZ")
        body = edited_after_label_comment(number, self.trigger_label, editors, stamp)
        if self.notify:
            self._commenter.post_once(number, body, "edited-after-label")

    def _reject(self, number: int, message: str, *args: object) -> None:
        where = {"repo": self.repo.full_name, "issue": number}
        audit(log, "input_rejected", f"%s#%d: {message}", self.repo.full_name, number, *args,
              level=logging.WARNING, **where)  # fmt: skip


def edited_after_label_comment(number: int, label: str, editors: list[str], label_stamp: str) -> str:
    who = ", ".join(f"`{login}`" if login != "unknown" else "an unknown user" for login in editors)
    return (
        f"This issue's text was changed by {who} after the `{label}` label was applied, by someone "
        "without write access, so autonomous-dev will not act on it. A maintainer who has read the "
        f"current text can remove and re-apply the `{label}` label to vouch for it.\n\n"
        + marker("edited-after-label", number, f"label={label_stamp}")
    )
