"""Comments the tool posts at most once: each carries a hidden marker that is looked for before posting."""

from __future__ import annotations

from .models import Comment
from .ports import GitHubRepo
from .prompts import MARKER_PREFIX
from .retry import retry_write


def has_marker(comments: list[Comment], marker: str) -> bool:
    return any(marker in comment.body for comment in comments)


class Commenter:
    def __init__(self, repo: GitHubRepo) -> None:
        self.repo = repo

    def posted(self, number: int, marker: str) -> bool:
        return has_marker(self.repo.comments(number), marker)

    def post_once(self, number: int, body: str, kind: str) -> None:
        """Post unless a comment with the same hidden marker is there already (a rerun, a retried POST)."""
        wanted = body[body.index(MARKER_PREFIX) :]

        def existing() -> Comment | None:
            return next((c for c in self.repo.comments(number) if wanted in c.body), None)

        what = f"{self.repo.full_name}#{number}: posting the {kind} comment"
        retry_write(what, lambda: self.repo.add_comment(number, body), look=existing)
