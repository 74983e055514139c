"""The mention trigger: comments naming the tool's handle, found with one conditional request per cycle,
judged once each (the store keeps every decision), and handed on: on an issue as the request its task
works on, on one of our PRs as a request for a review round."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Collection, Iterable
from dataclasses import replace
from datetime import datetime, timedelta

from autonomous_dev.errors import GitHubError
from autonomous_dev.logs import audit
from autonomous_dev.models import Issue, MentionState, PostedComment, PullRequest
from autonomous_dev.ports import GitHubRepo, Store
from autonomous_dev.security.hidden_markdown import code_spans
from autonomous_dev.security.sanitize import sanitize
from autonomous_dev.security.trust import WRITE_PERMISSIONS, TrustGate
from autonomous_dev.store.records import Step

log = logging.getLogger(__name__)

# A repository's first poll looks back this far: a mention written just before the tool was started
# counts, a year of old ones does not.
LOOK_BACK = timedelta(days=1)
MAX_COMMENT_CHARS = 65_536  # GitHub's own limit on a comment's body
# The poll's `since` mark moves only once this many comments are listed (a page): a new mark is a new URL,
# whose first request costs a rate-limit point, while the same URL is answered 304 until a comment changes.
MARK_MOVES_AT = 100
# Lines GitHub shows as a quotation or an indented code block: a handle there is not a request.
_QUOTED_OR_CODE = re.compile(r"^(?:[ \t]*>| {4}|\t).*$", re.MULTILINE)


def names(text: str, handles: Iterable[str]) -> bool:
    """Whether `text` mentions one of `handles` where a reader sees a mention: in its visible text (hidden
    content removed), outside code and quotations, as a whole login (`@bot`, `@Bot,`; not `@bot-x`,
    `a@bot`, `@bot/team`), ignoring case."""
    alternatives = "|".join(re.escape(handle) for handle in handles if handle)
    if not alternatives:
        return False
    visible = sanitize(text, MAX_COMMENT_CHARS).text
    for start, end in reversed(code_spans(visible)):
        visible = f"{visible[:start]} {visible[end:]}"
    visible = _QUOTED_OR_CODE.sub("", visible)
    pattern = rf"(?<![\w@/.`-])@(?:{alternatives})(?![\w/\[-])"
    return re.search(pattern, visible, re.IGNORECASE) is not None


class MentionWatch:
    """One repository's mentions of the tool's handle (`handle`; empty: the token's own logins)."""

    def __init__(
        self, repo: GitHubRepo, store: Store, trust: TrustGate, handle: str, clock: Callable[[], datetime]
    ) -> None:
        self.repo = repo
        self.store = store
        self.trust = trust
        self.handle = handle
        self.clock = clock

    @property
    def name(self) -> str:
        return self.repo.full_name

    def poll(self, own_pulls: Collection[int]) -> None:
        """Read the comments changed since the last poll (one conditional request when nothing changed)
        and judge the mentions among them not judged before. `own_pulls`: our open PRs' numbers. A GitHub
        refusal is logged and the mentions wait for the next cycle; an outage is raised."""
        key = f"mentions-since:{self.name}"
        mark = self.store.get_meta(key)
        since = datetime.fromisoformat(mark) if mark else self.clock() - LOOK_BACK
        try:
            comments = self.repo.comments_since(since)
        except GitHubError as exc:
            log.warning("%s: the comments could not be read, mentions wait for the next cycle: %s",
                        self.name, exc.message, extra={"repo": self.name})  # fmt: skip
            return
        known = self.store.known_mentions(self.name, [posted.comment.id for posted in comments])
        handles = {self.handle} if self.handle else self.repo.own_logins()
        for posted in comments:
            if posted.comment.id not in known and names(posted.comment.body, handles):
                self._judge(posted, own_pulls)
        newest = max((posted.updated_at for posted in comments), default=since)
        if mark is None:
            self.store.set_meta(key, since.isoformat())
        elif len(comments) >= MARK_MOVES_AT and newest > since:
            self.store.set_meta(key, newest.isoformat())

    def requests(self, only: frozenset[int] | None = None) -> list[Issue]:
        """The open issues a trusted mention asked for and whose attempt has not ended, each carrying its
        request (one per issue: the one its task is queued for, else the newest)."""
        waiting: dict[int, list[tuple[PostedComment, MentionState]]] = {}
        for mention, state in self.store.open_mentions(self.name):
            if mention.on_pull or (only is not None and mention.number not in only):
                continue
            if state is MentionState.ADMITTED and not self._attempt_due(mention.number):
                self.finish(mention, "its attempt ended")
            else:
                waiting.setdefault(mention.number, []).append((mention, state))
        chosen = [self._request(mentions) for mentions in waiting.values()]
        found = []
        for mention in chosen:
            issue = self.repo.issue(mention.number)
            if issue is None or issue.state != "open":
                self.finish(mention, "the issue is closed (or is a pull request that is not ours)")
            else:
                found.append(replace(issue, request=mention))
        return found

    def pull_mentions(self, pulls: Collection[PullRequest]) -> list[tuple[PullRequest, PostedComment]]:
        """The trusted mentions on our open PRs not handled yet, oldest first; those on PRs that closed
        since are finished."""
        open_pulls = {pull.number: pull for pull in pulls}
        found = []
        for mention, _ in self.store.open_mentions(self.name):
            if not mention.on_pull:
                continue
            pull = open_pulls.get(mention.number)
            if pull is None:
                self.finish(mention, "the pull request is closed")
            else:
                found.append((pull, mention))
        return found

    def admitted(self, mention: PostedComment) -> None:
        """Its issue's task is queued for it: it stays open until that attempt ends."""
        self.store.mark_mention(self.name, mention.comment.id, MentionState.ADMITTED)

    def finish(self, mention: PostedComment, note: str) -> None:
        where = {"repo": self.name, "issue": mention.number}
        log.info("%s#%d: the request in comment %d is done: %s", self.name, mention.number,
                 mention.comment.id, note, extra=where)  # fmt: skip
        self.store.mark_mention(self.name, mention.comment.id, MentionState.DONE, note)

    # -- details -----------------------------------------------------------------------------------------

    def _request(self, mentions: list[tuple[PostedComment, MentionState]]) -> PostedComment:
        """An issue's request: the one its task is queued for (later ones wait until that attempt ends),
        else the newest (it supersedes the earlier ones)."""
        admitted = [mention for mention, state in mentions if state is MentionState.ADMITTED]
        if admitted:
            return admitted[0]
        *earlier, (newest, _) = mentions
        for mention, _ in earlier:
            self.finish(mention, f"comment {newest.comment.id} asked again")
        return newest

    def _attempt_due(self, number: int) -> bool:
        record = self.store.get(self.name, number)
        return record is not None and record.step is Step.ATTEMPT

    def _judge(self, posted: PostedComment, own_pulls: Collection[int]) -> None:
        """Ours and bots' comments are ignored; so are PRs that are not ours. A writer's mention is kept
        for work; anyone else's is recorded as rejected and audited, once."""
        comment, where = posted.comment, {"repo": self.name, "issue": posted.number}
        if comment.author.lower() in self.repo.own_logins() or comment.by_bot:
            log.debug("%s#%d: comment %d by %s mentions the tool; ignored (ours or a bot's)", self.name,
                      posted.number, comment.id, comment.author, extra=where)  # fmt: skip
            return
        if posted.on_pull and posted.number not in own_pulls:
            log.debug("%s#%d: a mention on a pull request that is not ours; ignored", self.name,
                      posted.number, extra=where)  # fmt: skip
            return
        permission = self.trust.permission(comment.author, fresh=True)
        if permission not in WRITE_PERMISSIONS:
            why = f"{comment.author} has {permission} permission (write needed)"
            if self.store.record_mention(self.name, posted, MentionState.REJECTED, why):
                audit(log, "input_rejected", "%s#%d: ignored the mention in comment %d: %s", self.name,
                      posted.number, comment.id, why, level=logging.WARNING, **where)  # fmt: skip
            return
        if self.store.record_mention(self.name, posted, MentionState.NEW):
            wanted = "a review round" if posted.on_pull else "work on it"
            log.info("%s#%d: %s asked for %s in comment %d", self.name, posted.number, comment.author, wanted,
                     comment.id, extra=where)  # fmt: skip
