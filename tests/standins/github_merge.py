"""Mergeability, branch protection, reviews and merging for the local GitHub stand-in.

* Mergeability is lazy, like GitHub's: the first ``GET pulls/{n}`` after the head or base sha changed
  answers ``"mergeable": null, "mergeable_state": "unknown"`` and starts the computation
  (``git merge-tree --write-tree base head``); later reads give the result. Created / edited pull
  requests answer with what is known (``unknown`` for a new one); lists leave the fields out. Merged or
  closed pull requests: ``null`` / ``unknown``. Otherwise, in this order: conflicts -> ``false`` /
  ``dirty``; draft -> ``draft``; protection unmet -> ``blocked``; any check run not completed with
  success / neutral / skipped, or any latest status not success -> ``unstable``; else ``clean``. Only the
  conflict part is cached; draft, protection and checks are evaluated on every read.
* Branch protection (``FakeGitHub.protect_branch``): required approving reviews (latest review per user
  with write access, not the author) and required check runs / status contexts on the head. An admin's
  token bypasses both when ``enforce_admins`` is false, as on GitHub. Pushes to protected branches are not
  policed.
* ``PUT pulls/{n}/merge`` merges in the bare repository with git plumbing (merge commit, squash or
  rebase; committer ``GitHub <noreply@github.com>``) and moves the base branch with
  ``git update-ref <new> <old>``, so a concurrent push makes it fail with 409.
* Closing keywords ("Closes #n") are NOT emulated: merging leaves referenced issues open.
"""

from __future__ import annotations

from collections.abc import Sequence

from . import github_checks
from .github_json import JsonDict
from .github_routing import ApiError, Ctx, Response, Router, paginate, validation_failed
from .github_state import (
    GitError,
    Issue,
    Protection,
    Repo,
    Review,
    State,
    branch_sha,
    commit_info,
    now_iso,
    pull_shas,
    run_git,
)

router = Router()
MERGE_METHODS = ("merge", "squash", "rebase")
REVIEW_EVENTS = {"APPROVE": "APPROVED", "REQUEST_CHANGES": "CHANGES_REQUESTED", "COMMENT": "COMMENTED"}
COMMITTER = {"GIT_COMMITTER_NAME": "GitHub", "GIT_COMMITTER_EMAIL": "noreply@github.com"}
NOT_MERGEABLE = "Pull Request is not mergeable"


# -- git plumbing ----------------------------------------------------------------------------------
def merge_tree(repo: Repo, ours: str, theirs: str) -> str | None:
    """Tree of merging ``theirs`` into ``ours`` (merge base found by git), None on conflicts."""
    proc = run_git("-C", str(repo.path), "merge-tree", "--write-tree", ours, theirs, check=False)
    if proc.returncode == 1:
        return None
    if proc.returncode != 0:
        raise GitError(f"git merge-tree {ours} {theirs} failed: {proc.stderr.strip()}")
    return proc.stdout.split()[0]


def _tree(repo: Repo, commit: str) -> str:
    return run_git("-C", str(repo.path), "rev-parse", f"{commit}^{{tree}}").stdout.strip()


def _commit_tree(
    repo: Repo, tree: str, parents: Sequence[str], message: str, author: tuple[str, str, str | None]
) -> str:
    name, email, date = author
    env = COMMITTER | {"GIT_AUTHOR_NAME": name, "GIT_AUTHOR_EMAIL": email}
    if date:
        env["GIT_AUTHOR_DATE"] = date
    args = [arg for parent in parents for arg in ("-p", parent)]
    return run_git("-C", str(repo.path), "commit-tree", tree, *args, "-m", message, env=env).stdout.strip()


def _pick_tree(repo: Repo, onto: str, commit: str, parent: str) -> str | None:
    """Tree of cherry-picking ``commit`` (parent ``parent``) onto ``onto``; None on conflicts.

    git 2.39's ``merge-tree`` has no ``--merge-base``, so the merge runs between two throw-away commits
    sharing a throw-away parent with ``parent``'s tree.
    """
    if _tree(repo, onto) == _tree(repo, parent):
        return _tree(repo, commit)
    scratch = ("stand-in", "stand-in@localhost", None)
    base = _commit_tree(repo, _tree(repo, parent), [], "base", scratch)
    ours = _commit_tree(repo, _tree(repo, onto), [base], "ours", scratch)
    theirs = _commit_tree(repo, _tree(repo, commit), [base], "theirs", scratch)
    return merge_tree(repo, ours, theirs)


# -- evaluation (callers hold State.lock) ----------------------------------------------------------
def approvals(state: State, repo: Repo, issue: Issue) -> int:
    """Users with write access (not the author) whose latest deciding review approves."""
    assert issue.pull is not None
    latest: dict[str, str] = {}
    for review in issue.pull.reviews:
        if review.state in ("APPROVED", "CHANGES_REQUESTED"):
            latest[review.user.lower()] = review.state
    return sum(
        1
        for user, verdict in latest.items()
        if verdict == "APPROVED" and user != issue.user.lower() and state.has_permission(repo, user, "write")
    )


def protection_problem(state: State, repo: Repo, issue: Issue, head: str) -> str | None:
    """GitHub's message for the first unmet protection rule of the base branch, or None."""
    assert issue.pull is not None
    rules = repo.protection.get(issue.pull.base)
    if rules is None:
        return None
    needed = rules.required_reviews
    if needed and approvals(state, repo, issue) < needed:
        are = "review is" if needed == 1 else "reviews are"
        return f"At least {needed} approving {are} required by reviewers with write access."
    for name in rules.required_checks:
        verdict = github_checks.verdict(repo, head, name)
        if verdict != "success":
            return f'Required status check "{name}" is {"failing" if verdict == "failure" else "expected"}.'
    return None


def mergeability(state: State, repo: Repo, issue: Issue, start: bool) -> tuple[bool | None, str]:
    """``(mergeable, mergeable_state)``; ``start`` (a GET of the pull request) starts the computation."""
    pull = issue.pull
    assert pull is not None
    if pull.merged or issue.state != "open":
        return None, "unknown"
    head, base = pull_shas(repo, pull)
    if pull.mergeable_for != (head, base) or pull.conflicts is None:
        if start:
            pull.mergeable_for = (head, base)
            pull.conflicts = merge_tree(repo, base, head) is None
        return None, "unknown"
    if pull.conflicts:
        return False, "dirty"
    if pull.draft:
        return True, "draft"
    if protection_problem(state, repo, issue, head) is not None:
        return True, "blocked"
    return True, "clean" if github_checks.all_green(repo, head) else "unstable"


# -- merging ---------------------------------------------------------------------------------------
def _merge(ctx: Ctx, repo: Repo, issue: Issue, method: str, data: JsonDict, head: str, base: str) -> str:
    """Create the merge result for ``method`` and return the new base head (not yet moved)."""
    pull = issue.pull
    assert pull is not None
    tree = merge_tree(repo, base, head)
    if tree is None:
        raise ApiError(405, NOT_MERGEABLE)
    merger: tuple[str, str, str | None] = (
        ctx.login,
        f"{ctx.state.user_id(ctx.login)}+{ctx.login}@users.noreply.github.com",
        None,
    )
    commits = run_git(
        "-C", str(repo.path), "rev-list", "--reverse", "--topo-order", "--no-merges", f"{base}..{head}"
    ).stdout.split()
    infos = [commit_info(repo.path, sha) for sha in commits]
    title, message = data.get("commit_title"), data.get("commit_message")
    if method == "merge":
        default_title = f"Merge pull request #{issue.number} from {pull.head_owner}/{pull.head}"
        text = f"{title or default_title}\n\n{issue.title if message is None else message}".rstrip()
        return _commit_tree(repo, tree, [base, head], text, merger)
    if method == "squash":
        listing = "\n\n".join(f"* {info['message'].strip()}" for info in infos)
        text = f"{title or f'{issue.title} (#{issue.number})'}\n\n{listing if message is None else message}"
        opener = (issue.user, f"{ctx.state.user_id(issue.user)}+{issue.user}@users.noreply.github.com", None)
        return _commit_tree(repo, tree, [base], text.rstrip(), opener)
    current = base
    for sha, info in zip(commits, infos, strict=True):
        parent = info["parents"].split()[0]
        picked = _pick_tree(repo, current, sha, parent)
        if picked is None:
            raise ApiError(405, NOT_MERGEABLE)
        author = (info["author_name"], info["author_email"], info["author_date"])
        current = _commit_tree(repo, picked, [current], info["message"].rstrip("\n"), author)
    return current


@router.route("PUT", "{R}/pulls/(?P<number>[0-9]+)/merge")
def merge_pull(ctx: Ctx, owner: str, name: str, number: str) -> Response:
    repo, data = ctx.repo(owner, name), ctx.obj()
    issue = ctx.issue(repo, number, pulls_only=True)
    pull = issue.pull
    assert pull is not None
    ctx.require(repo, "write")
    method = data.get("merge_method") or "merge"
    if method not in MERGE_METHODS:
        raise validation_failed("PullRequest", "merge_method", "invalid")
    if pull.merged or issue.state != "open":
        raise ApiError(405, NOT_MERGEABLE)
    head, base = pull_shas(repo, pull)
    if data.get("sha") not in (None, head):
        raise ApiError(409, "Head branch was modified. Review and try the merge again.")
    if merge_tree(repo, base, head) is None:
        raise ApiError(405, NOT_MERGEABLE)
    if pull.draft:
        raise ApiError(405, "Pull Request is still a draft")
    rules = repo.protection.get(pull.base)
    admin_bypass = (
        rules is not None and not rules.enforce_admins and ctx.state.has_permission(repo, ctx.login, "admin")
    )
    problem = None if admin_bypass else protection_problem(ctx.state, repo, issue, head)
    if problem is not None:
        raise ApiError(405, problem)
    new_head = _merge(ctx, repo, issue, method, data, head, base)
    try:
        run_git("-C", str(repo.path), "update-ref", f"refs/heads/{pull.base}", new_head, base)
    except GitError as exc:
        raise ApiError(409, "Base branch was modified. Review and try the merge again.") from exc
    pull.merged, pull.merged_at, pull.merged_by = True, now_iso(), ctx.login
    pull.merge_commit_sha, pull.merge_method = new_head, method
    ctx.state.set_state(issue, "closed", ctx.login)
    return 200, {}, {"sha": new_head, "merged": True, "message": "Pull Request successfully merged"}


# -- reviews and protection ------------------------------------------------------------------------
def review_doc(ctx: Ctx, repo: Repo, issue: Issue, review: Review) -> JsonDict:
    html = ctx.render.web(f"/{repo.owner}/{repo.name}/pull/{issue.number}#pullrequestreview-{review.id}")
    pull_url = ctx.render.repo_api(repo, f"/pulls/{issue.number}")
    return {
        "id": review.id,
        "node_id": ctx.render.node_id("PRR", review.id),
        "user": ctx.render.user(review.user),
        "body": review.body,
        "state": review.state,
        "commit_id": review.commit_id,
        "submitted_at": review.submitted_at if review.state != "PENDING" else None,
        "author_association": ctx.render.author_association(repo, review.user),
        "html_url": html,
        "pull_request_url": pull_url,
        "_links": {"html": {"href": html}, "pull_request": {"href": pull_url}},
    }


def add_review(state: State, repo: Repo, issue: Issue, user: str, review_state: str, body: str) -> Review:
    assert issue.pull is not None
    if review_state in ("APPROVED", "CHANGES_REQUESTED") and user.lower() == issue.user.lower():
        verb = "approve" if review_state == "APPROVED" else "request changes on"
        raise validation_failed("PullRequestReview", None, "custom", f"Can not {verb} your own pull request")
    head, _ = pull_shas(repo, issue.pull)
    review = Review(state.next_id(), user, review_state, head, body, now_iso())
    issue.pull.reviews.append(review)
    return review


@router.route("GET", "{R}/pulls/(?P<number>[0-9]+)/reviews")
def list_reviews(ctx: Ctx, owner: str, name: str, number: str) -> Response:
    repo = ctx.repo(owner, name)
    issue = ctx.issue(repo, number, pulls_only=True)
    assert issue.pull is not None
    reviews = [r for r in issue.pull.reviews if r.state != "PENDING" or r.user.lower() == ctx.login.lower()]
    return paginate(ctx, reviews, lambda review: review_doc(ctx, repo, issue, review))


@router.route("POST", "{R}/pulls/(?P<number>[0-9]+)/reviews")
def create_review(ctx: Ctx, owner: str, name: str, number: str) -> Response:
    repo, data = ctx.repo(owner, name), ctx.obj()
    issue = ctx.issue(repo, number, pulls_only=True)
    ctx.require(repo, "read")
    event = data.get("event")
    if event is not None and event not in REVIEW_EVENTS:
        raise validation_failed("PullRequestReview", "event")
    body = str(data.get("body") or "")
    if event in ("REQUEST_CHANGES", "COMMENT") and not body:
        raise validation_failed("PullRequestReview", "body", "missing_field")
    review = add_review(ctx.state, repo, issue, ctx.login, REVIEW_EVENTS.get(event or "", "PENDING"), body)
    return 200, {}, review_doc(ctx, repo, issue, review)


@router.route("GET", "{R}/branches/(?P<branch>.+)/protection")
def get_protection(ctx: Ctx, owner: str, name: str, branch: str) -> Response:
    repo = ctx.repo(owner, name)
    if not ctx.state.has_permission(repo, ctx.login, "admin"):
        raise ApiError(404, "Not Found")
    if branch_sha(repo.path, branch) is None:
        raise ApiError(404, "Branch not found")
    rules = repo.protection.get(branch)
    if rules is None:
        raise ApiError(404, "Branch not protected")
    url = ctx.render.repo_api(repo, f"/branches/{branch}/protection")
    off = {"enabled": False}
    doc: JsonDict = {
        "url": url,
        "enforce_admins": {"url": f"{url}/enforce_admins", "enabled": rules.enforce_admins},
        "required_signatures": {"url": f"{url}/required_signatures", "enabled": False},
        "required_linear_history": off,
        "allow_force_pushes": off,
        "allow_deletions": off,
        "block_creations": off,
        "required_conversation_resolution": off,
        "lock_branch": off,
        "allow_fork_syncing": off,
    }
    if rules.required_checks:
        doc["required_status_checks"] = {
            "url": f"{url}/required_status_checks",
            "strict": False,
            "contexts": list(rules.required_checks),
            "contexts_url": f"{url}/required_status_checks/contexts",
            "checks": [{"context": c, "app_id": None} for c in rules.required_checks],
        }
    if rules.required_reviews:
        doc["required_pull_request_reviews"] = {
            "url": f"{url}/required_pull_request_reviews",
            "dismiss_stale_reviews": False,
            "require_code_owner_reviews": False,
            "require_last_push_approval": False,
            "required_approving_review_count": rules.required_reviews,
        }
    return 200, {}, doc


# -- FakeGitHub set-up and inspection --------------------------------------------------------------
class MergeSetup:
    """Protection / review / merge helpers mixed into ``FakeGitHub``."""

    state: State

    def protect_branch(
        self,
        owner: str,
        name: str,
        branch: str,
        required_reviews: int = 0,
        required_checks: Sequence[str] = (),
        enforce_admins: bool = False,
    ) -> None:
        """Protect ``branch`` (replacing earlier rules); ``required_checks`` name check runs or contexts."""
        with self.state.lock:
            rules = Protection(required_reviews, tuple(required_checks), enforce_admins)
            self.state.repo(owner, name).protection[branch] = rules

    def unprotect_branch(self, owner: str, name: str, branch: str) -> None:
        with self.state.lock:
            self.state.repo(owner, name).protection.pop(branch, None)

    def approve(self, owner: str, name: str, number: int, user: str = "reviewer") -> int:
        """Record an APPROVED review by ``user`` (who must not be the author); returns the review id."""
        with self.state.lock:
            repo, issue = self.state.issue(owner, name, number)
            if issue.pull is None or user.lower() == issue.user.lower():
                raise ValueError(f"#{number} is not a pull request {user} can approve")
            return add_review(self.state, repo, issue, user, "APPROVED", "").id

    def merge_method(self, owner: str, name: str, number: int) -> str | None:
        """The ``merge_method`` a pull request was merged with (None while unmerged)."""
        with self.state.lock:
            _, issue = self.state.issue(owner, name, number)
            return issue.pull.merge_method if issue.pull else None
