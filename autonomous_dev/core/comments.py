"""Comments the tool posts at most once: each carries a hidden marker that is looked for before posting.

A marker counts only in a comment the tool's own identity wrote (`GitHubRepo.own_logins`): anyone can
type `<!-- autonomous-dev:kind=no-changes ... -->` into a comment, and a forged one must not stop work.
"""

from __future__ import annotations

from collections.abc import Sequence

from autonomous_dev.core.prompts import MARKER_PREFIX, defuse_markers
from autonomous_dev.models import Comment
from autonomous_dev.ports import GitHubRepo
from autonomous_dev.retry import retry_write
from autonomous_dev.security.outgoing import only_own_closing


def has_marker(comments: Sequence[Comment], marker: str, own: frozenset[str]) -> bool:
    """Whether one of the comments by the logins in `own` (lower-case) carries the marker."""
    return any(marker in comment.body and comment.author.lower() in own for comment in comments)


class Commenter:
    def __init__(self, repo: GitHubRepo) -> None:
        self.repo = repo

    def posted(self, number: int, marker: str, read: Sequence[Comment] | None = None) -> bool:
        """Whether the marker is on the issue (in the comments `read` just now, when given)."""
        comments = self.repo.comments(number) if read is None else read
        return has_marker(comments, marker, self.repo.own_logins())

    def is_own(self, login: str) -> bool:
        """Whether `login` is the tool itself (issues it filed carry markers that count, too)."""
        return login.lower() in self.repo.own_logins()

    def post_once(self, number: int, body: str, kind: str) -> None:
        """Post unless a comment with the same hidden marker is there already (a rerun, a retried POST).

        Closing keywords for other issues are neutralised: a comment quotes the model's words.
        """
        body = defuse_markers(only_own_closing(body, self.repo.full_name, number).text)
        wanted = body[body.index(MARKER_PREFIX) :]

        def existing() -> Comment | None:
            own = self.repo.own_logins()
            return next((c for c in self.repo.comments(number) if has_marker([c], wanted, own)), None)

        what = f"{self.repo.full_name}#{number}: posting the {kind} comment"
        retry_write(what, lambda: self.repo.add_comment(number, body), look=existing)
