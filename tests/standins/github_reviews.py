"""Pull request review comments and submitted reviews for the local GitHub stand-in.

Routes (below ``/repos/{owner}/{name}``):

* ``GET pulls/{n}/comments`` -> the review comments, by id (``sort`` / ``direction`` are accepted and
  ignored: creation order is id order here);
* ``POST pulls/{n}/comments/{id}/replies`` -> a reply in that comment's thread (needs read, like a
  review): ``in_reply_to_id`` names the thread's first comment, as on GitHub, even when ``{id}`` is a reply.

Set-up: :meth:`ReviewSetup.add_review_comment` (a reviewer's comment on a line, or a reply) and
:meth:`ReviewSetup.submit_review` (APPROVED / CHANGES_REQUESTED / COMMENTED by any user).
"""

from __future__ import annotations

from typing import Any

from . import github_merge
from .github_json import JsonDict
from .github_routing import ApiError, Ctx, Response, Router, paginate, validation_failed
from .github_state import Issue, Repo, ReviewComment, State, now_iso, pull_shas

router = Router()


def review_comment_doc(ctx: Ctx, repo: Repo, comment: ReviewComment) -> JsonDict:
    pull_url = ctx.render.repo_api(repo, f"/pulls/{comment.pull_number}")
    html = ctx.render.web(f"/{repo.owner}/{repo.name}/pull/{comment.pull_number}#discussion_r{comment.id}")
    doc: JsonDict = {
        "id": comment.id,
        "node_id": ctx.render.node_id("PRRC", comment.id),
        "pull_request_review_id": None,
        "path": comment.path,
        "line": comment.line,
        "original_line": comment.line,
        "side": "RIGHT",
        "diff_hunk": comment.diff_hunk,
        "commit_id": comment.commit_id,
        "original_commit_id": comment.commit_id,
        "user": ctx.render.user(comment.user),
        "body": comment.body,
        "created_at": comment.created_at,
        "updated_at": comment.created_at,
        "author_association": ctx.render.author_association(repo, comment.user),
        "url": ctx.render.repo_api(repo, f"/pulls/comments/{comment.id}"),
        "html_url": html,
        "pull_request_url": pull_url,
        "_links": {"self": {"href": html}, "html": {"href": html}, "pull_request": {"href": pull_url}},
    }
    if comment.in_reply_to_id is not None:
        doc["in_reply_to_id"] = comment.in_reply_to_id
    return doc


def new_review_comment(
    state: State, repo: Repo, issue: Issue, user: str, body: str, where: tuple[str, int | None, str]
) -> ReviewComment:
    """A comment on ``where`` = (path, line, diff hunk) of the pull request's current head."""
    assert issue.pull is not None
    head, _ = pull_shas(repo, issue.pull)
    path, line, hunk = where
    comment = ReviewComment(state.next_id(), issue.number, user, body, path, line, hunk, head, now_iso())
    repo.review_comments[comment.id] = comment
    issue.updated_at = comment.created_at
    return comment


def _thread_root(repo: Repo, issue: Issue, comment_id: int) -> ReviewComment:
    comment = repo.review_comments.get(comment_id)
    if comment is None or comment.pull_number != issue.number:
        raise ApiError(404, "Not Found")
    return repo.review_comments[comment.in_reply_to_id] if comment.in_reply_to_id else comment


@router.route("GET", "{R}/pulls/(?P<number>[0-9]+)/comments")
def list_review_comments(ctx: Ctx, owner: str, name: str, number: str) -> Response:
    repo = ctx.repo(owner, name)
    issue = ctx.issue(repo, number, pulls_only=True)
    found = sorted(
        (c for c in repo.review_comments.values() if c.pull_number == issue.number), key=lambda c: c.id
    )
    return paginate(ctx, found, lambda c: review_comment_doc(ctx, repo, c))


@router.route("POST", "{R}/pulls/(?P<number>[0-9]+)/comments/(?P<comment_id>[0-9]+)/replies")
def reply(ctx: Ctx, owner: str, name: str, number: str, comment_id: str) -> Response:
    repo, data = ctx.repo(owner, name), ctx.obj()
    issue = ctx.issue(repo, number, pulls_only=True)
    ctx.require(repo, "read")
    root = _thread_root(repo, issue, int(comment_id))
    if not isinstance(data.get("body"), str) or not data["body"]:
        raise validation_failed("PullRequestReviewComment", "body", "missing_field")
    where = (root.path, root.line, root.diff_hunk)
    made = new_review_comment(ctx.state, repo, issue, ctx.login, data["body"], where)
    made.in_reply_to_id = root.id
    return 201, {}, review_comment_doc(ctx, repo, made)


class ReviewSetup:
    """Review helpers mixed into ``FakeGitHub``."""

    state: State

    def add_review_comment(
        self,
        owner: str,
        name: str,
        number: int,
        body: str,
        path: str = "calc.py",
        line: int | None = 1,
        *,
        user: str = "reviewer",
        diff_hunk: str | None = None,
        in_reply_to: int | None = None,
    ) -> int:
        """A review comment by ``user`` on ``path``:``line`` of pull request ``number`` (or a reply)."""
        with self.state.lock:
            repo, issue = self.state.issue(owner, name, number)
            if issue.pull is None:
                raise ValueError(f"#{number} is not a pull request")
            hunk = diff_hunk if diff_hunk is not None else f"@@ -{line},1 +{line},1 @@"
            if in_reply_to is not None:
                root = _thread_root(repo, issue, in_reply_to)
                path, line, hunk = root.path, root.line, root.diff_hunk
            made = new_review_comment(self.state, repo, issue, user, body, (path, line, hunk))
            made.in_reply_to_id = None if in_reply_to is None else root.id
            return made.id

    def submit_review(self, owner: str, name: str, number: int, user: str, state: str, body: str = "") -> int:
        """A submitted review (APPROVED, CHANGES_REQUESTED or COMMENTED) by ``user``; returns its id."""
        if state not in github_merge.REVIEW_EVENTS.values():
            raise ValueError(f"state must be one of {tuple(github_merge.REVIEW_EVENTS.values())}")
        with self.state.lock:
            repo, issue = self.state.issue(owner, name, number)
            return github_merge.add_review(self.state, repo, issue, user, state, body).id

    def review_comments(self, owner: str, name: str, number: int) -> list[dict[str, Any]]:
        """Snapshots of a pull request's review comments, by id."""
        with self.state.lock:
            repo = self.state.repo(owner, name)
            return [
                {
                    "id": c.id,
                    "body": c.body,
                    "user": c.user,
                    "in_reply_to_id": c.in_reply_to_id,
                    "path": c.path,
                }
                for c in sorted(repo.review_comments.values(), key=lambda c: c.id)
                if c.pull_number == number
            ]
