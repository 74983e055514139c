"""A review round's answers: one reply in each review thread it took in, one comment on the PR's
conversation for the comments and reviews there. Each carries a hidden marker naming the round and its
input, is looked for before posting (a retried POST, a restarted round), and counts only when the tool's
own login wrote it."""

from __future__ import annotations

import re
from collections.abc import Sequence

from autonomous_dev.core import round_prompts
from autonomous_dev.core.issue_thread import IssueThread
from autonomous_dev.core.prompts import MARKER_PREFIX, defuse_markers
from autonomous_dev.core.review_input import REVIEW_COMMENT, ReviewItem
from autonomous_dev.models import Comment
from autonomous_dev.ports import GitHubRepo
from autonomous_dev.retry import retry_write

THREAD, CONVERSATION = "review-reply", "review-answer"
INPUT = re.compile(r" input=([^ ]*) -->")
ADDRESSED = re.compile(r"\n\n_In reply to [^\n]*_\s*$")


class ReviewReplies:
    def __init__(self, repo: GitHubRepo, thread: IssueThread) -> None:
        self.repo = repo
        self.thread = thread

    def prior(self, issue: int, pr: int, number: int) -> tuple[str, tuple[str, ...]] | None:
        """A reply round `number` posted before a restart: its answer and the input it named, so the rest
        get the same answer; None when the round replied nowhere yet."""
        own = self.repo.own_logins()
        prefixes = [round_prompts.round_prefix(kind, issue, pr, number) for kind in (THREAD, CONVERSATION)]
        written = [(c.author, c.body) for c in self.repo.review_threads(pr)]
        written += [(c.author, c.body) for c in self.repo.comments(pr)]
        for author, body in written:
            if author.lower() in own and any(prefix in body for prefix in prefixes):
                found = INPUT.search(body)
                keys = tuple(key for key in found.group(1).split(",") if key) if found else ()
                answer = ADDRESSED.sub("", body[: body.index(MARKER_PREFIX)].strip())
                return answer.strip(), keys
        return None

    def post(
        self, issue: int, pr: int, number: int, keys: Sequence[str], items: Sequence[ReviewItem], answer: str
    ) -> int:
        """The answer once per thread and once on the conversation; how many places were answered."""
        threads = list(dict.fromkeys(item.thread for item in items if item.kind == REVIEW_COMMENT))
        for root in threads:
            marker = round_prompts.reply_marker(THREAD, issue, pr, number, keys, thread=root)
            self._reply_once(pr, root, f"{answer}\n\n{marker}")
        talk = [item for item in items if item.kind != REVIEW_COMMENT]
        if talk:
            who = ", ".join(f"@{name}" for name in dict.fromkeys(item.author for item in talk))
            marker = round_prompts.reply_marker(CONVERSATION, issue, pr, number, keys)
            self.thread.post_once(pr, f"{answer}\n\n_In reply to {who}._\n\n{marker}", CONVERSATION)
        return len(threads) + (1 if talk else 0)

    def _reply_once(self, pr: int, root: int, body: str) -> None:
        if self.thread.dry_run:
            return
        body = defuse_markers(body)  # the model's answer quoted before the marker counts as no marker
        wanted = body[body.index(MARKER_PREFIX) :]
        own = self.repo.own_logins()

        def existing() -> Comment | None:
            replies = self.repo.review_threads(pr, since_id=root)
            found = next((c for c in replies if c.author.lower() in own and wanted in c.body), None)
            return None if found is None else Comment(found.id, found.body, found.author, found.author_type)

        what = f"{self.repo.full_name} PR #{pr}: replying in the thread of review comment {root}"
        retry_write(what, lambda: self.repo.reply_to_review_comment(pr, root, body), look=existing)
