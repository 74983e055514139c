"""Comments the tool posts at most once: each carries a hidden marker that is looked for before posting."""

from __future__ import annotations

import logging
import time

from .errors import GitHubError
from .models import Comment
from .ports import GitHubRepo
from .prompts import MARKER_PREFIX

log = logging.getLogger(__name__)
COMMENT_ATTEMPTS = 4
COMMENT_RETRY_PAUSE_S = 0.5  # times the attempt number: a 502 storm usually clears in seconds


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
