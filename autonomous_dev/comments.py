"""Comments the tool posts at most once: each carries a hidden marker that is looked for before posting.

A marker counts only in a comment the tool's own identity wrote (`GitHubRepo.own_logins`): anyone can
type `<!-- autonomous-dev:kind=no-changes ... -->` into a comment, and a forged one must not stop work.
"""

from __future__ import annotations

import logging
import time

from .errors import GitHubError
from .models import Comment
from .outgoing import only_own_closing
from .ports import GitHubRepo
from .prompts import MARKER_PREFIX

log = logging.getLogger(__name__)
COMMENT_ATTEMPTS = 4
COMMENT_RETRY_PAUSE_S = 0.5  # times the attempt number: a 502 storm usually clears in seconds


def has_marker(comments: list[Comment], marker: str, own: frozenset[str]) -> bool:
    """Whether one of the comments by the logins in `own` (lower-case) carries the marker."""
    return any(marker in comment.body and comment.author.lower() in own for comment in comments)


class Commenter:
    def __init__(self, repo: GitHubRepo) -> None:
        self.repo = repo

    def posted(self, number: int, marker: str) -> bool:
        return has_marker(self.repo.comments(number), marker, self.repo.own_logins())

    def is_own(self, login: str) -> bool:
        """Whether `login` is the tool itself (issues it filed carry markers that count, too)."""
        return login.lower() in self.repo.own_logins()

    def post_once(self, number: int, body: str, kind: str) -> None:
        """Post unless a comment with the same hidden marker is there already (a rerun, a retried POST).

        Closing keywords for other issues are neutralised: a comment quotes the model's words.
        """
        body = only_own_closing(body, self.repo.full_name, number).text
        wanted = body[body.index(MARKER_PREFIX) :]
        where = {"repo": self.repo.full_name, "issue": number}
        for attempt in range(1, COMMENT_ATTEMPTS + 1):
            if self.posted(number, wanted):
                log.info(
                    "%s#%d: the %s comment is already there", self.repo.full_name, number, kind, extra=where
                )
                return
            try:
                self.repo.add_comment(number, body)
                return
            except GitHubError as exc:
                # A failed POST may still have been applied: look again before posting again.
                if not exc.transient or attempt == COMMENT_ATTEMPTS:
                    raise
                log.info("%s#%d: posting the %s comment failed (%s); checking before trying again",
                         self.repo.full_name, number, kind, exc.status, extra=where)  # fmt: skip
                time.sleep(COMMENT_RETRY_PAUSE_S * attempt)
