"""Check runs, commit statuses and scripted CI for the local GitHub stand-in.

Routes (all below ``/repos/{owner}/{name}``; ``{ref}`` is a sha, an abbreviated sha or a branch name):

* ``GET commits/{ref}/check-runs`` -> ``{"total_count", "check_runs"}`` (``check_name`` / ``status``
  filters, paginated like GitHub: PyGithub's ``Commit.get_check_runs()`` reads ``check_runs``);
* ``GET commits/{ref}/status`` -> the combined status (latest status per context; no statuses means
  ``state: "pending"`` and ``total_count: 0``, as on GitHub);
* ``GET commits/{ref}/statuses`` and ``GET statuses/{ref}`` -> every status, newest first;
* ``POST statuses/{sha}`` -> create a status (needs write);
* ``GET commits/{ref}`` -> the commit (``files`` always empty).

Scripted CI (:meth:`ChecksSetup.set_ci`): for every sha, the k-th read (0-based) of its check runs
(``via="check_run"``) or of its combined status (``via="status"``) reports ``steps[min(k, len - 1)]`` for
the check / context ``check_name``. Only the first page of those two endpoints counts as a read; the
statuses list, mergeability and the merge endpoint see the last reported step (``steps[0]`` before any
read) without advancing the script. Explicitly set check runs / statuses are reported in addition.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence

from .github_json import JsonDict, Render
from .github_routing import ApiError, Ctx, Response, Router, paginate, validation_failed
from .github_state import (
    CheckRun,
    CiScript,
    CommitStatus,
    Repo,
    State,
    branch_sha,
    commit_info,
    now_iso,
    run_git,
)

router = Router()
RUN_STATUSES = ("queued", "in_progress", "completed")
CONCLUSIONS = ("success", "failure", "neutral", "cancelled", "skipped", "timed_out", "action_required")
GOOD_CONCLUSIONS = ("success", "neutral", "skipped")
STATUS_STATES = ("pending", "success", "failure", "error")
_PENDING_WORDS = ("queued", "in_progress", "pending")
CI_BOT = "github-actions[bot]"


# -- evaluation (callers hold State.lock) ----------------------------------------------------------
def resolve_commit(repo: Repo, ref: str) -> str | None:
    """Full sha of ``ref`` (branch name, full or abbreviated sha) or None."""
    sha = branch_sha(repo.path, ref)
    if sha is not None or ref.startswith("-"):
        return sha
    proc = run_git("-C", str(repo.path), "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}", check=False)
    return proc.stdout.strip() if proc.returncode == 0 and proc.stdout.strip() else None


def record_read(repo: Repo, sha: str, kind: str) -> None:
    """Count one read of ``sha``'s check runs (``kind="check_run"``) or combined status (``"status"``)."""
    repo.check_reads[(sha, kind)] = repo.check_reads.get((sha, kind), 0) + 1
    if repo.ci is not None and repo.ci.via == kind:
        repo.ci_position[sha] = repo.ci_position.get(sha, 0) + 1


def _scripted_step(repo: Repo, sha: str, kind: str) -> str | None:
    """The step last reported for ``sha`` (``steps[0]`` before any read), None without such a script."""
    script = repo.ci
    if script is None or script.via != kind:
        return None
    index = max(repo.ci_position.get(sha, 0) - 1, 0)
    return script.steps[min(index, len(script.steps) - 1)]


def _stable_id(repo: Repo, sha: str, name: str) -> int:
    return 10**8 + zlib.crc32(f"{repo.id}:{sha}:{name}".encode()) % 10**8


def check_runs(repo: Repo, sha: str) -> list[CheckRun]:
    """Check runs of ``sha``: the scripted CI's (at its current step) followed by the explicit ones."""
    runs: list[CheckRun] = []
    step = _scripted_step(repo, sha, "check_run")
    if step is not None and repo.ci is not None:
        name, stamp = repo.ci.check_name, now_iso()
        if step in _PENDING_WORDS:
            status, conclusion = ("queued" if step == "queued" else "in_progress"), None
        else:
            status, conclusion = "completed", step
        run_id = _stable_id(repo, sha, name)
        completed = stamp if conclusion else None
        title, summary = f"{name}: {conclusion or status}", f"Scripted CI step {step!r}."
        runs.append(CheckRun(run_id, sha, name, status, conclusion, stamp, completed, title, summary))
    runs += [run for run in repo.check_runs if run.sha == sha]
    return runs


def statuses(repo: Repo, sha: str) -> list[CommitStatus]:
    """Every status of ``sha``, newest first (the scripted CI's current one counts as the oldest)."""
    found = [status for status in reversed(repo.statuses) if status.sha == sha]
    step = _scripted_step(repo, sha, "status")
    if step is not None and repo.ci is not None:
        state = "pending" if step in _PENDING_WORDS else step
        context = repo.ci.check_name
        found.append(
            CommitStatus(_stable_id(repo, sha, context), sha, context, state, CI_BOT, now_iso(), f"CI {step}")
        )
    return found


def latest_statuses(repo: Repo, sha: str) -> list[CommitStatus]:
    """The newest status per context."""
    latest: dict[str, CommitStatus] = {}
    for status in statuses(repo, sha):
        latest.setdefault(status.context, status)
    return list(latest.values())


def combined_state(latest: Sequence[CommitStatus]) -> str:
    if any(s.state in ("failure", "error") for s in latest):
        return "failure"
    if not latest or any(s.state == "pending" for s in latest):
        return "pending"
    return "success"


def verdict(repo: Repo, sha: str, name: str) -> str:
    """``success`` / ``failure`` / ``pending`` / ``missing`` of the check run or status context ``name``."""
    found = [
        ("success" if run.conclusion in GOOD_CONCLUSIONS else "failure")
        if run.status == "completed"
        else "pending"
        for run in check_runs(repo, sha)
        if run.name == name
    ]
    found += [
        {"success": "success", "pending": "pending"}.get(s.state, "failure")
        for s in latest_statuses(repo, sha)
        if s.context == name
    ]
    if not found:
        return "missing"
    if "failure" in found:
        return "failure"
    return "success" if all(v == "success" for v in found) else "pending"


def all_green(repo: Repo, sha: str) -> bool:
    """Every check run completed with success / neutral / skipped and every latest status success."""
    runs_ok = all(r.status == "completed" and r.conclusion in GOOD_CONCLUSIONS for r in check_runs(repo, sha))
    return runs_ok and all(s.state == "success" for s in latest_statuses(repo, sha))


# -- JSON ------------------------------------------------------------------------------------------
def check_run_doc(render: Render, repo: Repo, run: CheckRun) -> JsonDict:
    html = render.web(f"/{repo.owner}/{repo.name}/runs/{run.id}")
    if run.app == "github-actions":  # GitHub's link names the workflow run and the job (the run's id)
        html = render.web(f"/{repo.owner}/{repo.name}/actions/runs/{run.id + 1}/job/{run.id}")
    return {
        "id": run.id,
        "node_id": render.node_id("CR", run.id),
        "name": run.name,
        "head_sha": run.sha,
        "external_id": str(run.id),
        "status": run.status,
        "conclusion": run.conclusion,
        "started_at": run.started_at,
        "completed_at": run.completed_at,
        "url": render.repo_api(repo, f"/check-runs/{run.id}"),
        "html_url": html,
        "details_url": html,
        "output": {
            "title": run.title,
            "summary": run.summary,
            "text": run.text,
            "annotations_count": len(run.annotations),
            "annotations_url": render.repo_api(repo, f"/check-runs/{run.id}/annotations"),
        },
        "check_suite": {"id": run.id + 1},
        "app": {
            "id": zlib.crc32(run.app.encode()) % 10**6,
            "slug": run.app,
            "node_id": render.node_id("A", zlib.crc32(run.app.encode()) % 10**6),
            "name": run.app,
            "owner": render.user("github" if run.app == "github-actions" else run.app),
            "html_url": render.web(f"/apps/{run.app}"),
        },
        "pull_requests": [],
    }


def status_doc(render: Render, repo: Repo, status: CommitStatus) -> JsonDict:
    return {
        "id": status.id,
        "node_id": render.node_id("SC", status.id),
        "url": render.repo_api(repo, f"/statuses/{status.sha}"),
        "avatar_url": render.web(f"/avatars/{status.creator}"),
        "state": status.state,
        "description": status.description,
        "target_url": status.target_url,
        "context": status.context,
        "created_at": status.created_at,
        "updated_at": status.created_at,
        "creator": render.user(status.creator),
    }


def commit_doc(render: Render, repo: Repo, sha: str) -> JsonDict:
    info = commit_info(repo.path, sha)
    people = {
        k: {"name": info[f"{k}_name"], "email": info[f"{k}_email"], "date": info[f"{k}_date"]}
        for k in ("author", "committer")
    }
    return {
        "sha": sha,
        "node_id": render.node_id("C", zlib.crc32(sha.encode()) % 10**8),
        "url": render.repo_api(repo, f"/commits/{sha}"),
        "html_url": render.web(f"/{repo.owner}/{repo.name}/commit/{sha}"),
        "comments_url": render.repo_api(repo, f"/commits/{sha}/comments"),
        "commit": {
            "message": info["message"].rstrip("\n"),
            "tree": {"sha": info["tree"], "url": render.repo_api(repo, f"/git/trees/{info['tree']}")},
            "url": render.repo_api(repo, f"/git/commits/{sha}"),
            "comment_count": 0,
            **people,
        },
        "author": None,
        "committer": None,
        "parents": [
            {"sha": p, "url": render.repo_api(repo, f"/commits/{p}")} for p in info["parents"].split()
        ],
        "files": [],
        "stats": {"additions": 0, "deletions": 0, "total": 0},
    }


# -- routes ----------------------------------------------------------------------------------------
def _commit_or_422(repo: Repo, ref: str) -> str:
    sha = resolve_commit(repo, ref)
    if sha is None:
        raise ApiError(422, f"No commit found for SHA: {ref}")
    return sha


def _first_page(ctx: Ctx) -> bool:
    return ctx.q("page") in (None, "", "1")


@router.route("GET", "{R}/commits/(?P<ref>.+)/check-runs")
def list_check_runs(ctx: Ctx, owner: str, name: str, ref: str) -> Response:
    repo = ctx.repo(owner, name)
    sha = _commit_or_422(repo, ref)
    if _first_page(ctx):
        record_read(repo, sha, "check_run")
    wanted_name, wanted_status = ctx.q("check_name"), ctx.q("status")
    runs = [
        run
        for run in check_runs(repo, sha)
        if (wanted_name is None or run.name == wanted_name) and wanted_status in (None, run.status)
    ]
    status, headers, items = paginate(ctx, runs, lambda run: check_run_doc(ctx.render, repo, run))
    return status, headers, {"total_count": len(runs), "check_runs": items}


@router.route("GET", "{R}/commits/(?P<ref>.+)/status")
def combined_status(ctx: Ctx, owner: str, name: str, ref: str) -> Response:
    repo = ctx.repo(owner, name)
    sha = _commit_or_422(repo, ref)
    if _first_page(ctx):
        record_read(repo, sha, "status")
    latest = latest_statuses(repo, sha)
    _, headers, items = paginate(ctx, latest, lambda s: status_doc(ctx.render, repo, s))
    doc = {
        "state": combined_state(latest),
        "statuses": items,
        "sha": sha,
        "total_count": len(latest),
        "repository": ctx.render.repo(repo, None),
        "commit_url": ctx.render.repo_api(repo, f"/commits/{sha}"),
        "url": ctx.render.repo_api(repo, f"/commits/{sha}/status"),
    }
    return 200, headers, doc


@router.route("GET", "{R}/commits/(?P<ref>.+)/statuses")
@router.route("GET", "{R}/statuses/(?P<ref>.+)")
def list_statuses(ctx: Ctx, owner: str, name: str, ref: str) -> Response:
    repo = ctx.repo(owner, name)
    sha = _commit_or_422(repo, ref)
    return paginate(ctx, statuses(repo, sha), lambda s: status_doc(ctx.render, repo, s))


@router.route("POST", "{R}/statuses/(?P<sha>[^/]+)")
def create_status(ctx: Ctx, owner: str, name: str, sha: str) -> Response:
    repo, data = ctx.repo(owner, name), ctx.obj()
    ctx.require(repo, "write")
    full = None if branch_sha(repo.path, sha) else resolve_commit(repo, sha)  # a sha, not a branch
    if full is None:
        raise ApiError(422, f"No commit found for SHA: {sha}")
    if data.get("state") not in STATUS_STATES:
        raise validation_failed("Status", "state", "custom", "state is not included in the list")
    context = data.get("context") or "default"
    status = CommitStatus(
        ctx.state.next_id(),
        full,
        str(context),
        str(data["state"]),
        ctx.login,
        now_iso(),
        data.get("description"),
        data.get("target_url"),
    )
    repo.statuses.append(status)
    return 201, {}, status_doc(ctx.render, repo, status)


@router.route("GET", "{R}/commits/(?P<ref>.+)")
def get_commit(ctx: Ctx, owner: str, name: str, ref: str) -> Response:
    repo = ctx.repo(owner, name)
    return 200, {}, commit_doc(ctx.render, repo, _commit_or_422(repo, ref))


# -- FakeGitHub set-up and inspection --------------------------------------------------------------
class ChecksSetup:
    """Check-run / status helpers mixed into ``FakeGitHub``."""

    state: State

    def _commit(self, owner: str, name: str, ref: str) -> tuple[Repo, str]:
        repo = self.state.repo(owner, name)
        sha = resolve_commit(repo, ref)
        if sha is None:
            raise ValueError(f"no commit {ref!r} in {owner}/{name}")
        return repo, sha

    def set_check_run(
        self,
        owner: str,
        name: str,
        sha: str,
        check_name: str,
        status: str,
        conclusion: str | None = None,
        *,
        title: str | None = None,
        summary: str | None = None,
    ) -> int:
        """Create or replace the check run ``check_name`` on ``sha`` (a sha or branch); returns its id.

        ``status`` is queued / in_progress / completed (completed needs a ``conclusion``); a conclusion
        word as ``status`` (e.g. ``"success"``) is short for completed with that conclusion.
        """
        if status in CONCLUSIONS and conclusion is None:
            status, conclusion = "completed", status
        if status not in RUN_STATUSES or (conclusion is None) != (status != "completed"):
            raise ValueError(f"bad check run status/conclusion: {status!r}/{conclusion!r}")
        if conclusion is not None and conclusion not in CONCLUSIONS:
            raise ValueError(f"conclusion must be one of {CONCLUSIONS}")
        with self.state.lock:
            repo, full = self._commit(owner, name, sha)
            stamp = now_iso()
            completed = stamp if status == "completed" else None
            for run in repo.check_runs:
                if run.sha == full and run.name == check_name:
                    run.status, run.conclusion, run.completed_at = status, conclusion, completed
                    run.title, run.summary = title, summary
                    return run.id
            run = CheckRun(self.state.next_id(), full, check_name, status, conclusion, stamp, completed)
            run.title, run.summary = title, summary
            repo.check_runs.append(run)
            return run.id

    def set_status(
        self,
        owner: str,
        name: str,
        sha: str,
        context: str,
        state: str,
        *,
        description: str | None = None,
        target_url: str | None = None,
        creator: str = CI_BOT,
    ) -> int:
        """Add a commit status (pending / success / failure / error) to ``sha`` (a sha or branch)."""
        if state not in STATUS_STATES:
            raise ValueError(f"state must be one of {STATUS_STATES}")
        with self.state.lock:
            repo, full = self._commit(owner, name, sha)
            status = CommitStatus(
                self.state.next_id(), full, context, state, creator, now_iso(), description, target_url
            )
            repo.statuses.append(status)
            return status.id

    def set_ci(
        self, owner: str, name: str, steps: Sequence[str], check_name: str = "ci", via: str = "check_run"
    ) -> None:
        """Script the CI of every sha of the repository; see the module docstring. Restarts all scripts."""
        if via not in ("check_run", "status"):
            raise ValueError("via must be 'check_run' or 'status'")
        allowed = _PENDING_WORDS + (CONCLUSIONS if via == "check_run" else ("success", "failure", "error"))
        if not steps or any(step not in allowed for step in steps):
            raise ValueError(f"steps must be a non-empty sequence of {allowed}")
        with self.state.lock:
            repo = self.state.repo(owner, name)
            repo.ci = CiScript(tuple(steps), check_name, via)
            repo.ci_position.clear()

    def clear_ci(self, owner: str, name: str) -> None:
        with self.state.lock:
            self.state.repo(owner, name).ci = None

    def check_reads(self, owner: str, name: str, sha: str, via: str | None = None) -> int:
        """How often the check runs and/or combined status of ``sha`` were read (first pages only)."""
        with self.state.lock:
            repo = self.state.repo(owner, name)
            full = resolve_commit(repo, sha) or sha
            return sum(n for (s, kind), n in repo.check_reads.items() if s == full and via in (None, kind))
