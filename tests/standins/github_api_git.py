"""REST routes of the local GitHub stand-in backed by the real bare repository: pulls, refs, branches.

Merging, reviews, mergeability and branch protection are in :mod:`.github_merge`.
"""

from __future__ import annotations

from .github_merge import mergeability
from .github_routing import ApiError, Ctx, Response, Router, apply_common_updates, paginate, validation_failed
from .github_state import (
    GitError,
    PullInfo,
    branch_sha,
    commit_exists,
    commits_between,
    read_branches,
    run_git,
)

router = Router()


# -- pull requests -------------------------------------------------------------------------------
@router.route("GET", "{R}/pulls")
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


@router.route("POST", "{R}/pulls")
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
            raise validation_failed(
                "PullRequest", None, "custom", f"A pull request already exists for {repo.owner}:{head}."
            )
    if commits_between(repo.path, base_sha, head_sha) == 0:
        raise validation_failed("PullRequest", None, "custom", f"No commits between {base} and {head}")
    pull = PullInfo(
        head,
        base,
        repo.owner,
        head_sha,
        base_sha,
        draft=bool(data.get("draft", False)),
        maintainer_can_modify=bool(data.get("maintainer_can_modify", True)),
    )
    issue = ctx.state.new_issue(repo, str(data["title"]), str(data.get("body") or ""), ctx.login, pull)
    return 201, {}, ctx.render.pull(repo, issue, mergeability(ctx.state, repo, issue, start=False))


@router.route("GET", "{R}/pulls/(?P<number>[0-9]+)")
def get_pull(ctx: Ctx, owner: str, name: str, number: str) -> Response:
    repo = ctx.repo(owner, name)
    issue = ctx.issue(repo, number, pulls_only=True)
    return 200, {}, ctx.render.pull(repo, issue, mergeability(ctx.state, repo, issue, start=True))


@router.route("PATCH", "{R}/pulls/(?P<number>[0-9]+)")
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
    apply_common_updates(ctx, issue, data)
    return 200, {}, ctx.render.pull(repo, issue, mergeability(ctx.state, repo, issue, start=False))


# -- git refs and branches (read from / written to the real bare repository) --------------------
@router.route("GET", "{R}/git/refs?/heads/(?P<branch>.+)")
def get_ref(ctx: Ctx, owner: str, name: str, branch: str) -> Response:
    repo = ctx.repo(owner, name)
    sha = branch_sha(repo.path, branch)
    if sha is None:
        raise ApiError(404, "Not Found")
    return 200, {}, ctx.render.ref(repo, f"refs/heads/{branch}", sha)


@router.route("DELETE", "{R}/git/refs/heads/(?P<branch>.+)")
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


@router.route("POST", "{R}/git/refs")
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


@router.route("GET", "{R}/branches")
def list_branches(ctx: Ctx, owner: str, name: str) -> Response:
    repo = ctx.repo(owner, name)
    branches = sorted(read_branches(repo.path).items())
    return paginate(ctx, branches, lambda item: ctx.render.branch(repo, item[0], item[1], full=False))


@router.route("GET", "{R}/branches/(?P<branch>.+)")
def get_branch(ctx: Ctx, owner: str, name: str, branch: str) -> Response:
    repo = ctx.repo(owner, name)
    sha = branch_sha(repo.path, branch)
    if sha is None:
        raise ApiError(404, "Branch not found")
    return 200, {}, ctx.render.branch(repo, branch, sha)
