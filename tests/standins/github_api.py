"""REST routes of the local GitHub stand-in (everything below ``/api/v3``).

:func:`dispatch` maps an authenticated request onto a handler; handlers run under ``State.lock``
and return ``(status, extra_headers, json_body)`` or raise :class:`ApiError`.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode

from .github_json import DOCS, JsonDict, Render
from .github_state import (
    Comment,
    GitError,
    Issue,
    PullInfo,
    Repo,
    State,
    Token,
    branch_sha,
    commit_exists,
    commits_between,
    now_iso,
    read_branches,
    run_git,
)

Response = tuple[int, dict[str, str], Any]
Handler = Callable[..., Response]


class ApiError(Exception):
    """An error response in GitHub's shape."""

    def __init__(self, status: int, message: str, errors: list[JsonDict] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.errors = errors

    def body(self) -> JsonDict:
        doc: JsonDict = {"message": self.message}
        if self.errors is not None:
            doc["errors"] = self.errors
        doc["documentation_url"] = DOCS
        return doc


def validation_failed(resource: str, field: str | None = None, code: str = "invalid",
                      message: str | None = None) -> ApiError:
    error: JsonDict = {"resource": resource, "code": code}
    if field is not None:
        error["field"] = field
    if message is not None:
        error["message"] = message
    return ApiError(422, "Validation Failed", [error])


@dataclass(frozen=True)
class Ctx:
    """One authenticated API request."""

    state: State
    render: Render
    method: str
    path: str  # below /api/v3, still percent-encoded
    full_path: str  # as requested, without the query string
    query_pairs: tuple[tuple[str, str], ...]
    body: bytes
    token: Token

    @property
    def login(self) -> str:
        return self.token.login

    def q(self, name: str, default: str | None = None) -> str | None:
        for key, value in self.query_pairs:
            if key == name:
                return value
        return default

    def payload(self) -> Any:
        if not self.body.strip():
            return {}
        try:
            return json.loads(self.body)
        except ValueError as exc:
            raise ApiError(400, "Problems parsing JSON") from exc

    def obj(self) -> JsonDict:
        data = self.payload()
        if not isinstance(data, dict):
            raise ApiError(400, "Problems parsing JSON")
        return data

    def repo(self, owner: str, name: str) -> Repo:
        found = self.state.find_repo(owner, name)
        if found is None:
            raise ApiError(404, "Not Found")
        return found

    def issue(self, repo: Repo, number: str, pulls_only: bool = False) -> Issue:
        found = repo.issues.get(int(number))
        if found is None or (pulls_only and found.pull is None):
            raise ApiError(404, "Not Found")
        return found

    def require(self, repo: Repo, level: str) -> None:
        if not self.state.has_permission(repo, self.login, level):
            raise ApiError(403, "Resource not accessible by personal access token")


ROUTES: list[tuple[str, re.Pattern[str], Handler]] = []
_REPO = r"/repos/(?P<owner>[^/]+)/(?P<name>[^/]+)"


def route(method: str, pattern: str) -> Callable[[Handler], Handler]:
    def register(func: Handler) -> Handler:
        ROUTES.append((method, re.compile(f"^{pattern.replace('{R}', _REPO)}/?$"), func))
        return func

    return register


def dispatch(ctx: Ctx) -> Response:
    """Route ``ctx`` to its handler; unknown routes (or methods) give GitHub's 404."""
    for method, regex, handler in ROUTES:
        match = regex.match(ctx.path)
        if match and method == ctx.method:
            with ctx.state.lock:
                return handler(ctx, **{k: unquote(v) for k, v in match.groupdict().items()})
    raise ApiError(404, "Not Found")


def paginate(ctx: Ctx, items: Sequence[Any], render: Callable[[Any], Any]) -> Response:
    """Slice ``items`` by ``page``/``per_page`` and add an RFC 5988 ``Link`` header like GitHub's."""
    per_page = _int(ctx.q("per_page"), 30)
    per_page = 30 if per_page < 1 else min(per_page, 100)
    page = max(1, _int(ctx.q("page"), 1))
    last = max(1, math.ceil(len(items) / per_page))

    def link(number: int, rel: str) -> str:
        params = [(k, v) for k, v in ctx.query_pairs if k != "page"] + [("page", str(number))]
        return f'<{ctx.state.base_http}{ctx.full_path}?{urlencode(params)}>; rel="{rel}"'

    links = []
    if page > 1:
        links.append(link(min(page - 1, last), "prev"))
    if page < last:
        links += [link(page + 1, "next"), link(last, "last")]
    if page > 1:
        links.append(link(1, "first"))
    chunk = items[(page - 1) * per_page: page * per_page]
    return 200, ({"Link": ", ".join(links)} if links else {}), [render(item) for item in chunk]


def _int(value: str | None, default: int) -> int:
    try:
        return int(value) if value is not None else default
    except ValueError:
        return default


def _label_names(data: Any) -> list[str]:
    """Label names from ``{"labels": [...]}`` or a bare list of names / ``{"name": ...}`` objects."""
    if isinstance(data, dict):
        data = data.get("labels", [])
    if isinstance(data, str) or not isinstance(data, list):
        raise validation_failed("Label", "labels")
    names = [item.get("name") if isinstance(item, dict) else item for item in data]
    if not all(isinstance(name, str) and name for name in names):
        raise validation_failed("Label", "name")
    return names


# -- users, rate limit ---------------------------------------------------------------------------
@route("GET", "/user")
def get_user(ctx: Ctx) -> Response:
    doc = ctx.render.user(ctx.login) | {"name": ctx.login, "email": None, "public_repos": 0}
    return 200, {}, doc


@route("GET", "/users/(?P<login>[^/]+)")
def get_user_by_login(ctx: Ctx, login: str) -> Response:
    return 200, {}, ctx.render.user(login)


@route("GET", "/rate_limit")
def get_rate_limit(ctx: Ctx) -> Response:
    tok = ctx.token
    core = {"limit": 5000, "remaining": tok.remaining, "reset": tok.reset, "used": 5000 - tok.remaining,
            "resource": "core"}
    search = {"limit": 30, "remaining": 30, "reset": tok.reset, "used": 0, "resource": "search"}
    graphql = core | {"resource": "graphql"}
    return 200, {}, {"resources": {"core": core, "search": search, "graphql": graphql}, "rate": core}


# -- repositories, permissions -------------------------------------------------------------------
@route("GET", "{R}")
def get_repo(ctx: Ctx, owner: str, name: str) -> Response:
    return 200, {}, ctx.render.repo(ctx.repo(owner, name), ctx.login)


@route("GET", "{R}/collaborators/(?P<user>[^/]+)/permission")
def get_collaborator_permission(ctx: Ctx, owner: str, name: str, user: str) -> Response:
    repo = ctx.repo(owner, name)
    role = ctx.state.permission(repo, user)
    legacy = {"maintain": "write", "triage": "read"}.get(role, role)  # GitHub's legacy mapping
    user_doc = ctx.render.user(user) | {"permissions": ctx.render.permissions(repo, user), "role_name": role}
    return 200, {}, {"permission": legacy, "role_name": role, "user": user_doc}


# -- issues --------------------------------------------------------------------------------------
@route("GET", "{R}/issues")
def list_issues(ctx: Ctx, owner: str, name: str) -> Response:
    repo = ctx.repo(owner, name)
    state = ctx.q("state", "open")
    if state not in ("open", "closed", "all"):
        raise validation_failed("Issue", "state")
    wanted = [part.strip().lower() for part in (ctx.q("labels") or "").split(",") if part.strip()]
    creator, since = ctx.q("creator"), ctx.q("since")
    items = [
        issue for issue in repo.issues.values()
        if (state == "all" or issue.state == state)
        and all(label in {name.lower() for name in issue.labels} for label in wanted)
        and (creator is None or issue.user.lower() == creator.lower())
        and (since is None or issue.updated_at >= since)
    ]
    sort = ctx.q("sort", "created")
    key: Callable[[Issue], Any] = {
        "updated": lambda i: (i.updated_at, i.number),
        "comments": lambda i: (len(ctx.state.issue_comments(repo, i.number)), i.number),
    }.get(sort or "created", lambda i: i.number)
    items.sort(key=key, reverse=ctx.q("direction", "desc") != "asc")
    return paginate(ctx, items, lambda issue: ctx.render.issue(repo, issue))


@route("POST", "{R}/issues")
def create_issue(ctx: Ctx, owner: str, name: str) -> Response:
    repo, data = ctx.repo(owner, name), ctx.obj()
    ctx.require(repo, "read")
    title = data.get("title")
    if not isinstance(title, str) or not title:
        raise validation_failed("Issue", "title", "missing_field")
    issue = ctx.state.new_issue(repo, title, str(data.get("body") or ""), ctx.login)
    if data.get("labels") and ctx.state.has_permission(repo, ctx.login, "triage"):
        ctx.state.add_labels(repo, issue, _label_names(data["labels"]), ctx.login)
    return 201, {}, ctx.render.issue(repo, issue)


@route("GET", "{R}/issues/(?P<number>[0-9]+)")
def get_issue(ctx: Ctx, owner: str, name: str, number: str) -> Response:
    repo = ctx.repo(owner, name)
    return 200, {}, ctx.render.issue(repo, ctx.issue(repo, number))


@route("PATCH", "{R}/issues/(?P<number>[0-9]+)")
def update_issue(ctx: Ctx, owner: str, name: str, number: str) -> Response:
    repo, data = ctx.repo(owner, name), ctx.obj()
    issue = ctx.issue(repo, number)
    triage = ctx.state.has_permission(repo, ctx.login, "triage")
    if not triage and issue.user.lower() != ctx.login.lower():
        ctx.require(repo, "triage")
    _apply_common_updates(ctx, issue, data)
    if "labels" in data and triage:
        ctx.state.set_labels(repo, issue, _label_names(data["labels"] or []), ctx.login)
    return 200, {}, ctx.render.issue(repo, issue)


def _apply_common_updates(ctx: Ctx, issue: Issue, data: JsonDict) -> None:
    """Apply ``title`` / ``body`` / ``state`` from an issue or pull request PATCH body."""
    resource = "PullRequest" if issue.pull else "Issue"
    if "title" in data:
        if not isinstance(data["title"], str) or not data["title"]:
            raise validation_failed(resource, "title")
        issue.title = data["title"]
    if "body" in data:
        issue.body = str(data["body"] or "")
    if "state" in data:
        if data["state"] not in ("open", "closed"):
            raise validation_failed(resource, "state")
        if data["state"] == "open" and issue.pull and issue.pull.merged:
            raise validation_failed(resource, "state", "custom", "Cannot reopen a merged pull request")
        ctx.state.set_state(issue, data["state"], ctx.login, data.get("state_reason"))
    elif data.get("state_reason") and issue.state == "closed":
        issue.state_reason = data["state_reason"]
    issue.updated_at = now_iso()


@route("GET", "{R}/issues/(?P<number>[0-9]+)/labels")
def list_issue_labels(ctx: Ctx, owner: str, name: str, number: str) -> Response:
    repo = ctx.repo(owner, name)
    issue = ctx.issue(repo, number)
    return paginate(ctx, issue.labels, lambda n: ctx.render.label(repo, ctx.state.ensure_label(repo, n)))


@route("POST", "{R}/issues/(?P<number>[0-9]+)/labels")
def add_issue_labels(ctx: Ctx, owner: str, name: str, number: str) -> Response:
    repo = ctx.repo(owner, name)
    issue = ctx.issue(repo, number)
    ctx.require(repo, "triage")
    ctx.state.add_labels(repo, issue, _label_names(ctx.payload()), ctx.login)
    return 200, {}, ctx.render.issue_labels(repo, issue)


@route("PUT", "{R}/issues/(?P<number>[0-9]+)/labels")
def set_issue_labels(ctx: Ctx, owner: str, name: str, number: str) -> Response:
    repo = ctx.repo(owner, name)
    issue = ctx.issue(repo, number)
    ctx.require(repo, "triage")
    ctx.state.set_labels(repo, issue, _label_names(ctx.payload()), ctx.login)
    return 200, {}, ctx.render.issue_labels(repo, issue)


@route("DELETE", "{R}/issues/(?P<number>[0-9]+)/labels")
def clear_issue_labels(ctx: Ctx, owner: str, name: str, number: str) -> Response:
    repo = ctx.repo(owner, name)
    issue = ctx.issue(repo, number)
    ctx.require(repo, "triage")
    ctx.state.set_labels(repo, issue, [], ctx.login)
    return 204, {}, None


@route("DELETE", "{R}/issues/(?P<number>[0-9]+)/labels/(?P<label>.+)")
def remove_issue_label(ctx: Ctx, owner: str, name: str, number: str, label: str) -> Response:
    repo = ctx.repo(owner, name)
    issue = ctx.issue(repo, number)
    ctx.require(repo, "triage")
    if not ctx.state.remove_label(repo, issue, label, ctx.login):
        raise ApiError(404, "Label does not exist")
    return 200, {}, ctx.render.issue_labels(repo, issue)


@route("GET", "{R}/issues/(?P<number>[0-9]+)/events")
def list_issue_events(ctx: Ctx, owner: str, name: str, number: str) -> Response:
    repo = ctx.repo(owner, name)
    issue = ctx.issue(repo, number)
    return paginate(ctx, issue.events, lambda event: ctx.render.event(repo, event))


# -- comments ------------------------------------------------------------------------------------
@route("GET", "{R}/issues/(?P<number>[0-9]+)/comments")
def list_comments(ctx: Ctx, owner: str, name: str, number: str) -> Response:
    repo = ctx.repo(owner, name)
    issue = ctx.issue(repo, number)
    return paginate(ctx, ctx.state.issue_comments(repo, issue.number), lambda c: ctx.render.comment(repo, c))


@route("POST", "{R}/issues/(?P<number>[0-9]+)/comments")
def create_comment(ctx: Ctx, owner: str, name: str, number: str) -> Response:
    repo, data = ctx.repo(owner, name), ctx.obj()
    issue = ctx.issue(repo, number)
    ctx.require(repo, "read")
    if not isinstance(data.get("body"), str) or not data["body"]:
        raise validation_failed("IssueComment", "body", "missing_field")
    comment = ctx.state.add_comment(repo, issue, data["body"], ctx.login)
    return 201, {}, ctx.render.comment(repo, comment)


def _comment(ctx: Ctx, repo: Repo, comment_id: str, modify: bool) -> Comment:
    comment = repo.comments.get(int(comment_id))
    if comment is None:
        raise ApiError(404, "Not Found")
    if modify and comment.user.lower() != ctx.login.lower():
        ctx.require(repo, "write")
    return comment


@route("GET", "{R}/issues/comments/(?P<comment_id>[0-9]+)")
def get_comment(ctx: Ctx, owner: str, name: str, comment_id: str) -> Response:
    repo = ctx.repo(owner, name)
    return 200, {}, ctx.render.comment(repo, _comment(ctx, repo, comment_id, False))


@route("PATCH", "{R}/issues/comments/(?P<comment_id>[0-9]+)")
def update_comment(ctx: Ctx, owner: str, name: str, comment_id: str) -> Response:
    repo, data = ctx.repo(owner, name), ctx.obj()
    comment = _comment(ctx, repo, comment_id, True)
    if not isinstance(data.get("body"), str) or not data["body"]:
        raise validation_failed("IssueComment", "body", "missing_field")
    comment.body, comment.updated_at = data["body"], now_iso()
    return 200, {}, ctx.render.comment(repo, comment)


@route("DELETE", "{R}/issues/comments/(?P<comment_id>[0-9]+)")
def delete_comment(ctx: Ctx, owner: str, name: str, comment_id: str) -> Response:
    repo = ctx.repo(owner, name)
    del repo.comments[_comment(ctx, repo, comment_id, True).id]
    return 204, {}, None


# -- repository labels ---------------------------------------------------------------------------
@route("GET", "{R}/labels")
def list_labels(ctx: Ctx, owner: str, name: str) -> Response:
    repo = ctx.repo(owner, name)
    return paginate(ctx, list(repo.labels.values()), lambda label: ctx.render.label(repo, label))


@route("GET", "{R}/labels/(?P<label>.+)")
def get_label(ctx: Ctx, owner: str, name: str, label: str) -> Response:
    repo = ctx.repo(owner, name)
    if label.lower() not in repo.labels:
        raise ApiError(404, "Not Found")
    return 200, {}, ctx.render.label(repo, repo.labels[label.lower()])


@route("POST", "{R}/labels")
def create_label(ctx: Ctx, owner: str, name: str) -> Response:
    repo, data = ctx.repo(owner, name), ctx.obj()
    ctx.require(repo, "write")
    label_name = data.get("name")
    if not isinstance(label_name, str) or not label_name:
        raise validation_failed("Label", "name", "missing_field")
    if label_name.lower() in repo.labels:
        raise validation_failed("Label", "name", "already_exists")
    color = str(data.get("color") or "ededed").lstrip("#")
    label = ctx.state.ensure_label(repo, label_name, color, data.get("description"))
    return 201, {}, ctx.render.label(repo, label)


# -- pull requests -------------------------------------------------------------------------------
@route("GET", "{R}/pulls")
def list_pulls(ctx: Ctx, owner: str, name: str) -> Response:
    repo = ctx.repo(owner, name)
    state = ctx.q("state", "open")
    if state not in ("open", "closed", "all"):
        raise validation_failed("PullRequest", "state")
    head, base = ctx.q("head"), ctx.q("base")
    head_owner, _, head_ref = (head or "").rpartition(":")
    items = []
    for issue in sorted(repo.issues.values(), key=lambda i: i.number, reverse=ctx.q("direction") != "asc"):
        pull = issue.pull
        if pull is None or (state != "all" and issue.state != state):
            continue
        if head and (pull.head != head_ref or (head_owner and head_owner.lower() != pull.head_owner.lower())):
            continue
        if base and pull.base != base:
            continue
        items.append(issue)
    return paginate(ctx, items, lambda issue: ctx.render.pull(repo, issue))


@route("POST", "{R}/pulls")
def create_pull(ctx: Ctx, owner: str, name: str) -> Response:
    repo, data = ctx.repo(owner, name), ctx.obj()
    ctx.require(repo, "read")
    for field in ("title", "head", "base"):
        if not isinstance(data.get(field), str) or not data[field]:
            raise validation_failed("PullRequest", field, "missing_field")
    head_owner, _, head = str(data["head"]).rpartition(":")
    head_owner = head_owner or repo.owner
    head_sha = branch_sha(repo.path, head)
    if head_owner.lower() != repo.owner.lower() or head_sha is None:
        raise validation_failed("PullRequest", "head")
    base = str(data["base"])
    base_sha = branch_sha(repo.path, base)
    if base_sha is None:
        raise validation_failed("PullRequest", "base")
    for issue in repo.issues.values():
        if issue.pull and issue.state == "open" and issue.pull.head == head and issue.pull.base == base:
            raise validation_failed("PullRequest", None, "custom",
                                    f"A pull request already exists for {repo.owner}:{head}.")
    if commits_between(repo.path, base_sha, head_sha) == 0:
        raise validation_failed("PullRequest", None, "custom", f"No commits between {base} and {head}")
    pull = PullInfo(head, base, repo.owner, head_sha, base_sha, draft=bool(data.get("draft", False)),
                    maintainer_can_modify=bool(data.get("maintainer_can_modify", True)))
    issue = ctx.state.new_issue(repo, str(data["title"]), str(data.get("body") or ""), ctx.login, pull)
    return 201, {}, ctx.render.pull(repo, issue)


@route("GET", "{R}/pulls/(?P<number>[0-9]+)")
def get_pull(ctx: Ctx, owner: str, name: str, number: str) -> Response:
    repo = ctx.repo(owner, name)
    return 200, {}, ctx.render.pull(repo, ctx.issue(repo, number, pulls_only=True))


@route("PATCH", "{R}/pulls/(?P<number>[0-9]+)")
def update_pull(ctx: Ctx, owner: str, name: str, number: str) -> Response:
    repo, data = ctx.repo(owner, name), ctx.obj()
    issue = ctx.issue(repo, number, pulls_only=True)
    assert issue.pull is not None
    if issue.user.lower() != ctx.login.lower():
        ctx.require(repo, "write")
    if "base" in data:
        if not isinstance(data["base"], str) or branch_sha(repo.path, data["base"]) is None:
            raise validation_failed("PullRequest", "base")
        issue.pull.base = data["base"]
    if "draft" in data:
        issue.pull.draft = bool(data["draft"])
    _apply_common_updates(ctx, issue, data)
    return 200, {}, ctx.render.pull(repo, issue)


# -- git refs and branches (read from / written to the real bare repository) --------------------
@route("GET", "{R}/git/refs?/heads/(?P<branch>.+)")
def get_ref(ctx: Ctx, owner: str, name: str, branch: str) -> Response:
    repo = ctx.repo(owner, name)
    sha = branch_sha(repo.path, branch)
    if sha is None:
        raise ApiError(404, "Not Found")
    return 200, {}, ctx.render.ref(repo, f"refs/heads/{branch}", sha)


@route("DELETE", "{R}/git/refs/heads/(?P<branch>.+)")
def delete_ref(ctx: Ctx, owner: str, name: str, branch: str) -> Response:
    repo = ctx.repo(owner, name)
    ctx.require(repo, "write")
    sha = branch_sha(repo.path, branch)
    if sha is None:
        raise ApiError(422, "Reference does not exist")
    if branch == repo.default_branch:
        raise ApiError(422, "Cannot delete the default branch")
    run_git("-C", str(repo.path), "update-ref", "-d", f"refs/heads/{branch}", sha)
    return 204, {}, None


@route("POST", "{R}/git/refs")
def create_ref(ctx: Ctx, owner: str, name: str) -> Response:
    repo, data = ctx.repo(owner, name), ctx.obj()
    ctx.require(repo, "write")
    ref, sha = data.get("ref"), data.get("sha")
    if not isinstance(ref, str) or not ref.startswith("refs/heads/") or ref.count("/") < 2:
        raise ApiError(422, "Reference name must start with 'refs/heads/' here")
    if not isinstance(sha, str) or not commit_exists(repo.path, sha):
        raise ApiError(422, "Object does not exist")
    try:
        run_git("-C", str(repo.path), "update-ref", ref, sha, "")
    except GitError as exc:
        raise ApiError(422, "Reference already exists") from exc
    return 201, {}, ctx.render.ref(repo, ref, branch_sha(repo.path, ref.removeprefix("refs/heads/")) or sha)


@route("GET", "{R}/branches")
def list_branches(ctx: Ctx, owner: str, name: str) -> Response:
    repo = ctx.repo(owner, name)
    branches = sorted(read_branches(repo.path).items())
    return paginate(ctx, branches, lambda item: ctx.render.branch(repo, item[0], item[1], full=False))


@route("GET", "{R}/branches/(?P<branch>.+)")
def get_branch(ctx: Ctx, owner: str, name: str, branch: str) -> Response:
    repo = ctx.repo(owner, name)
    sha = branch_sha(repo.path, branch)
    if sha is None:
        raise ApiError(404, "Branch not found")
    return 200, {}, ctx.render.branch(repo, branch, sha)


def parse_query(query: str) -> tuple[tuple[str, str], ...]:
    return tuple(parse_qsl(query, keep_blank_values=True))


__all__ = ["ApiError", "Ctx", "Response", "dispatch", "parse_query"]
