"""Review input on a PR of ours, read since what was taken in before: review comments, reviews that request
changes, and conversation comments. Only users with write access count; bots (unless allowed), the tool
itself and everyone else are left out, outsiders and bots logged as `input_rejected`; hidden content is
removed from what is kept."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace

from autonomous_dev.core.prompts import MARKER_PREFIX
from autonomous_dev.core.round_prompts import ReviewText
from autonomous_dev.logs import audit
from autonomous_dev.models import is_bot
from autonomous_dev.ports import GitHubRepo
from autonomous_dev.security.sanitize import describe, sanitize
from autonomous_dev.security.trust import WRITE_PERMISSIONS, TrustGate
from autonomous_dev.store.records import FollowMarks

log = logging.getLogger(__name__)

REVIEW_COMMENT, COMMENT, REVIEW = "r", "c", "v"  # the kinds of input, as their keys start
CHANGES_REQUESTED = "CHANGES_REQUESTED"


@dataclass(frozen=True)
class ReviewItem:
    """One piece of trusted review input. `thread`: a review comment's thread (its first comment), where
    the reply goes; 0 for the PR's conversation."""

    kind: str
    id: int
    author: str
    text: ReviewText
    thread: int = 0

    @property
    def key(self) -> str:
        return f"{self.kind}{self.id}"


@dataclass(frozen=True)
class Rejected:
    key: str
    author: str
    reason: str


@dataclass(frozen=True)
class ReviewInput:
    """What was read since `marks`: the trusted input, what was left out and why, and the marks past all."""

    items: tuple[ReviewItem, ...]
    rejected: tuple[Rejected, ...]
    marks: FollowMarks
    hidden: tuple[str, ...] = field(default=())  # notes on hidden content removed


def marks_through(marks: FollowMarks, keys: tuple[str, ...] | list[str]) -> FollowMarks:
    """`marks` moved on past the input named by `keys` (and not back)."""
    newest = {kind: max([int(k[1:]) for k in keys if k[:1] == kind], default=0) for kind in "rcv"}
    return replace(
        marks,
        review_comment=max(marks.review_comment, newest[REVIEW_COMMENT]),
        comment=max(marks.comment, newest[COMMENT]),
        review=max(marks.review, newest[REVIEW]),
    )


class ReviewReader:
    def __init__(self, repo: GitHubRepo, trust: TrustGate, allow_bots: list[str], max_chars: int) -> None:
        self.repo = repo
        self.trust = trust
        self.allow_bots = frozenset(login.lower() for login in allow_bots)
        self.max_chars = max_chars

    def read(self, pr: int, marks: FollowMarks) -> ReviewInput:
        """Everything new on PR `pr` since `marks` (conditional GETs: nothing new costs no rate limit)."""
        own = self.repo.own_logins()
        items, rejected, hidden = [], [], []
        newest = {REVIEW_COMMENT: marks.review_comment, COMMENT: marks.comment, REVIEW: marks.review}
        for found, author_type in self._since(pr, marks):
            newest[found.kind] = max(newest[found.kind], found.id)
            body = found.text.body
            if found.author.lower() in own or not body.strip() or MARKER_PREFIX in body:
                continue  # the tool's own replies, empty reviews: nothing to answer
            reason = self._refusal(found.author, author_type)
            if reason is not None:
                rejected.append(Rejected(found.key, found.author, reason))
                continue
            cleaned = sanitize(body, self.max_chars)
            if cleaned.removed:
                hidden.append(f"{found.key} by {found.author}: {describe(cleaned.removed)}")
            items.append(replace(found, text=replace(found.text, key=found.key, body=cleaned.text)))
        moved = replace(
            marks, review_comment=newest[REVIEW_COMMENT], comment=newest[COMMENT], review=newest[REVIEW]
        )
        return ReviewInput(tuple(items), tuple(rejected), moved, tuple(hidden))

    def _since(self, pr: int, marks: FollowMarks) -> list[tuple[ReviewItem, str]]:
        """Each piece of input newer than `marks`, as it was written, with its author's account type."""
        found: list[tuple[ReviewItem, str]] = []
        for c in self.repo.review_threads(pr, since_id=marks.review_comment):
            text = ReviewText("", c.author, c.body, c.path, c.line, c.diff_hunk)
            found.append(
                (ReviewItem(REVIEW_COMMENT, c.id, c.author, text, c.in_reply_to_id or c.id), c.author_type)
            )
        for comment in self.repo.comments(pr):
            if comment.id > marks.comment:
                text = ReviewText("", comment.author, comment.body)
                found.append((ReviewItem(COMMENT, comment.id, comment.author, text), comment.author_type))
        for review in self.repo.reviews(pr):
            if review.id > marks.review:  # only a review that requests changes asks for something
                text = ReviewText("", review.author, review.body if review.state == CHANGES_REQUESTED else "")
                found.append((ReviewItem(REVIEW, review.id, review.author, text), review.author_type))
        return found

    def _refusal(self, author: str, author_type: str) -> str | None:
        if is_bot(author, author_type) and author.lower() not in self.allow_bots:
            return "written by a bot (not in review.allowBots)"
        permission = self.trust.permission(author, fresh=True)
        if permission not in WRITE_PERMISSIONS:
            return f"{author} has {permission} permission (write needed)"
        return None

    def report(self, found: ReviewInput, pr: int, issue: int) -> None:
        """Log what was left out (once: the marks move past it) and what hidden content was removed."""
        where = {"repo": self.repo.full_name, "issue": issue}
        for rejected in found.rejected:
            audit(log, "input_rejected", "%s#%d: review input %s on PR #%d left out: %s", self.repo.full_name,
                  issue, rejected.key, pr, rejected.reason, level=logging.WARNING, **where)  # fmt: skip
        for note in found.hidden:
            audit(log, "input_rejected", "%s#%d: hidden content removed from review input %s",
                  self.repo.full_name, issue, note, level=logging.WARNING, **where)  # fmt: skip
