"""REST routes of the local GitHub stand-in: user, rate limit, repository, issues, labels, comments."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .github_routing import (
    ApiError,
    Ctx,
    Response,
    Router,
    apply_common_updates,
    label_names,
    paginate,
    validation_failed,
)
from .github_state import Comment, Issue, Repo

router = Router()


# -- users, rate limit ---------------------------------------------------------------------------
@router.route("GET", "/user")
def get_user(ctx: Ctx) -> Response:
    if ctx.token.installation is not None:  # an installation token is no user's
        raise ApiError(403, "Resource not accessible by integration")
    doc = ctx.render.user(ctx.login) | {"name": ctx.login, "email": None, "public_repos": 0}
    return 200, {}, doc


@router.route("GET", "/users/(?P<login>[^/]+)")
def get_user_by_login(ctx: Ctx, login: str) -> Response:
    return 200, {}, ctx.render.user(login)


@router.route("GET", "/rate_limit")
def get_rate_limit(ctx: Ctx) -> Response:
    tok = ctx.token
    core = {
        "limit": 5000,
        "remaining": tok.remaining,
        "reset": tok.reset,
        "used": 5000 - tok.remaining,
        "resource": "core",
    }
    search = {"limit": 30, "remaining": 30, "reset": tok.reset, "used": 0, "resource": "search"}
    graphql = core | {"resource": "graphql"}
    return 200, {}, {"resources": {"core": core, "search": search, "graphql": graphql}, "rate": core}


# -- repositories, permissions -------------------------------------------------------------------
@router.route("GET", "{R}")
def get_repo(ctx: Ctx, owner: str, name: str) -> Response:
    return 200, {}, ctx.render.repo(ctx.repo(owner, name), ctx.login)


@router.route("GET", "{R}/collaborators/(?P<user>[^/]+)/permission")
def get_collaborator_permission(ctx: Ctx, owner: str, name: str, user: str) -> Response:
    repo = ctx.repo(owner, name)
    role = ctx.state.permission(repo, user)
    legacy = {"maintain": "write", "triage": "read"}.get(role, role)  # GitHub's legacy mapping
    user_doc = ctx.render.user(user) | {"permissions": ctx.render.permissions(repo, user), "role_name": role}
    return 200, {}, {"permission": legacy, "role_name": role, "user": user_doc}


ROLE_OF = {"pull": "read", "push": "write"}  # the REST API's legacy names for roles


@router.route("PUT", "{R}/collaborators/(?P<user>[^/]+)")
def put_collaborator(ctx: Ctx, owner: str, name: str, user: str) -> Response:
    """Add a collaborator or change their role at once (GitHub invites; a test needs no invitation)."""
    repo = ctx.repo(owner, name)
    ctx.require(repo, "admin")
    wanted = str(ctx.obj().get("permission") or "push")
    role = ROLE_OF.get(wanted, wanted)
    if role not in ("read", "triage", "write", "maintain", "admin"):
        raise validation_failed("Repository", "permission")
    repo.permissions[user.lower()] = role
    return 204, {}, None


@router.route("DELETE", "{R}/collaborators/(?P<user>[^/]+)")
def delete_collaborator(ctx: Ctx, owner: str, name: str, user: str) -> Response:
    repo = ctx.repo(owner, name)
    ctx.require(repo, "admin")
    repo.permissions[user.lower()] = "none"
    return 204, {}, None


# -- issues --------------------------------------------------------------------------------------
@router.route("GET", "{R}/issues")
def list_issues(ctx: Ctx, owner: str, name: str) -> Response:
    repo = ctx.repo(owner, name)
    state = ctx.q("state", "open")
    if state not in ("open", "closed", "all"):
        raise validation_failed("Issue", "state")
    wanted = [part.strip().lower() for part in (ctx.q("labels") or "").split(",") if part.strip()]
    creator, since = ctx.q("creator"), ctx.q("since")
    items = [
        issue
        for issue in repo.issues.values()
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


@router.route("POST", "{R}/issues")
def create_issue(ctx: Ctx, owner: str, name: str) -> Response:
    repo, data = ctx.repo(owner, name), ctx.obj()
    ctx.require(repo, "read")
    title = data.get("title")
    if not isinstance(title, str) or not title:
        raise validation_failed("Issue", "title", "missing_field")
    issue = ctx.state.new_issue(repo, title, str(data.get("body") or ""), ctx.login)
    if data.get("labels") and ctx.state.has_permission(repo, ctx.login, "triage"):
        ctx.state.add_labels(repo, issue, label_names(data["labels"]), ctx.login)
    return 201, {}, ctx.render.issue(repo, issue)


@router.route("GET", "{R}/issues/(?P<number>[0-9]+)")
def get_issue(ctx: Ctx, owner: str, name: str, number: str) -> Response:
    repo = ctx.repo(owner, name)
    return 200, {}, ctx.render.issue(repo, ctx.issue(repo, number))


@router.route("PATCH", "{R}/issues/(?P<number>[0-9]+)")
def update_issue(ctx: Ctx, owner: str, name: str, number: str) -> Response:
    repo, data = ctx.repo(owner, name), ctx.obj()
    issue = ctx.issue(repo, number)
    triage = ctx.state.has_permission(repo, ctx.login, "triage")
    if not triage and issue.user.lower() != ctx.login.lower():
        ctx.require(repo, "triage")
    apply_common_updates(ctx, issue, data)
    if "labels" in data and triage:
        ctx.state.set_labels(repo, issue, label_names(data["labels"] or []), ctx.login)
    return 200, {}, ctx.render.issue(repo, issue)


@router.route("GET", "{R}/issues/(?P<number>[0-9]+)/labels")
def list_issue_labels(ctx: Ctx, owner: str, name: str, number: str) -> Response:
    repo = ctx.repo(owner, name)
    issue = ctx.issue(repo, number)
    return paginate(ctx, issue.labels, lambda n: ctx.render.label(repo, ctx.state.ensure_label(repo, n)))


@router.route("POST", "{R}/issues/(?P<number>[0-9]+)/labels")
def add_issue_labels(ctx: Ctx, owner: str, name: str, number: str) -> Response:
    repo = ctx.repo(owner, name)
    issue = ctx.issue(repo, number)
    ctx.require(repo, "triage")
    ctx.state.add_labels(repo, issue, label_names(ctx.payload()), ctx.login)
    return 200, {}, ctx.render.issue_labels(repo, issue)


@router.route("PUT", "{R}/issues/(?P<number>[0-9]+)/labels")
def set_issue_labels(ctx: Ctx, owner: str, name: str, number: str) -> Response:
    repo = ctx.repo(owner, name)
    issue = ctx.issue(repo, number)
    ctx.require(repo, "triage")
    ctx.state.set_labels(repo, issue, label_names(ctx.payload()), ctx.login)
    return 200, {}, ctx.render.issue_labels(repo, issue)


@router.route("DELETE", "{R}/issues/(?P<number>[0-9]+)/labels")
def clear_issue_labels(ctx: Ctx, owner: str, name: str, number: str) -> Response:
    repo = ctx.repo(owner, name)
    issue = ctx.issue(repo, number)
    ctx.require(repo, "triage")
    ctx.state.set_labels(repo, issue, [], ctx.login)
    return 204, {}, None


@router.route("DELETE", "{R}/issues/(?P<number>[0-9]+)/labels/(?P<label>.+)")
def remove_issue_label(ctx: Ctx, owner: str, name: str, number: str, label: str) -> Response:
    repo = ctx.repo(owner, name)
    issue = ctx.issue(repo, number)
    ctx.require(repo, "triage")
    if not ctx.state.remove_label(repo, issue, label, ctx.login):
        raise ApiError(404, "Label does not exist")
    return 200, {}, ctx.render.issue_labels(repo, issue)


@router.route("GET", "{R}/issues/(?P<number>[0-9]+)/events")
def list_issue_events(ctx: Ctx, owner: str, name: str, number: str) -> Response:
    repo = ctx.repo(owner, name)
    issue = ctx.issue(repo, number)
    return paginate(ctx, issue.events, lambda event: ctx.render.event(repo, event))


# -- comments ------------------------------------------------------------------------------------
@router.route("GET", "{R}/issues/(?P<number>[0-9]+)/comments")
def list_comments(ctx: Ctx, owner: str, name: str, number: str) -> Response:
    repo = ctx.repo(owner, name)
    issue = ctx.issue(repo, number)
    return paginate(ctx, ctx.state.issue_comments(repo, issue.number), lambda c: ctx.render.comment(repo, c))


@router.route("POST", "{R}/issues/(?P<number>[0-9]+)/comments")
def create_comment(ctx: Ctx, owner: str, name: str, number: str) -> Response:
    repo, data = ctx.repo(owner, name), ctx.obj()
    issue = ctx.issue(repo, number)
    ctx.require(repo, "read")
    if not isinstance(data.get("body"), str) or not data["body"]:
        raise validation_failed("IssueComment", "body", "missing_field")
    comment = ctx.state.add_comment(repo, issue, data["body"], ctx.login)
    return 201, {}, ctx.render.comment(repo, comment)


@router.route("GET", "{R}/issues/comments")
def list_repo_comments(ctx: Ctx, owner: str, name: str) -> Response:
    """Every issue and pull request conversation comment; `since` keeps those updated at or after it."""
    repo, since = ctx.repo(owner, name), ctx.q("since")
    if ctx.q("sort", "created") not in ("created", "updated"):
        raise validation_failed("IssueComment", "sort")
    field = "updated_at" if ctx.q("sort") == "updated" else "created_at"
    items = [c for c in repo.comments.values() if since is None or c.updated_at >= since]
    items.sort(key=lambda c: (getattr(c, field), c.id), reverse=ctx.q("direction", "asc") == "desc")
    return paginate(ctx, items, lambda c: ctx.render.comment(repo, c))


def _comment(ctx: Ctx, repo: Repo, comment_id: str, modify: bool) -> Comment:
    comment = repo.comments.get(int(comment_id))
    if comment is None:
        raise ApiError(404, "Not Found")
    if modify and comment.user.lower() != ctx.login.lower():
        ctx.require(repo, "write")
    return comment


@router.route("GET", "{R}/issues/comments/(?P<comment_id>[0-9]+)")
def get_comment(ctx: Ctx, owner: str, name: str, comment_id: str) -> Response:
    repo = ctx.repo(owner, name)
    return 200, {}, ctx.render.comment(repo, _comment(ctx, repo, comment_id, False))


@router.route("PATCH", "{R}/issues/comments/(?P<comment_id>[0-9]+)")
def update_comment(ctx: Ctx, owner: str, name: str, comment_id: str) -> Response:
    repo, data = ctx.repo(owner, name), ctx.obj()
    comment = _comment(ctx, repo, comment_id, True)
    if not isinstance(data.get("body"), str) or not data["body"]:
        raise validation_failed("IssueComment", "body", "missing_field")
    if data["body"] != comment.body:
        ctx.state.edit_text(comment, data["body"], ctx.login)
    return 200, {}, ctx.render.comment(repo, comment)


@router.route("DELETE", "{R}/issues/comments/(?P<comment_id>[0-9]+)")
def delete_comment(ctx: Ctx, owner: str, name: str, comment_id: str) -> Response:
    repo = ctx.repo(owner, name)
    del repo.comments[_comment(ctx, repo, comment_id, True).id]
    return 204, {}, None


# -- repository labels ---------------------------------------------------------------------------
@router.route("GET", "{R}/labels")
def list_labels(ctx: Ctx, owner: str, name: str) -> Response:
    repo = ctx.repo(owner, name)
    return paginate(ctx, list(repo.labels.values()), lambda label: ctx.render.label(repo, label))


@router.route("GET", "{R}/labels/(?P<label>.+)")
def get_label(ctx: Ctx, owner: str, name: str, label: str) -> Response:
    repo = ctx.repo(owner, name)
    if label.lower() not in repo.labels:
        raise ApiError(404, "Not Found")
    return 200, {}, ctx.render.label(repo, repo.labels[label.lower()])


@router.route("POST", "{R}/labels")
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
