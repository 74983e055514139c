"""In-memory state and git helpers behind the local GitHub stand-in.

Holds tokens, repositories, issues / pull requests, comments, labels, events, check runs (with their
annotations and Actions job logs), commit statuses, reviews, review comments and branch protection for
:class:`tests.standins.github_server.FakeGitHub`, plus :class:`RecordedRequest` and the fault-hook
type. Branch data is never cached: it is read from the real bare repositories with ``git``
whenever it is needed, so a branch pushed over smart HTTP is visible immediately.

All mutating helpers expect the caller to hold :attr:`State.lock`.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

RATE_LIMIT = 5000
PERMISSION_LEVELS: tuple[str, ...] = ("none", "read", "triage", "write", "maintain", "admin")
# Permission assumed for a token user that is neither the repo owner nor given one via set_permission.
DEFAULT_PERMISSION = "write"
AUTO_LABEL_COLOR = "ededed"


def now_iso() -> str:
    """Current UTC time in GitHub's timestamp format."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


class GitError(RuntimeError):
    """A git command run by the stand-in failed."""


def git_env() -> dict[str, str]:
    """Environment for git commands run by the server: no inherited GIT_* variables, no user config."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("GIT_")}
    env["GIT_CONFIG_NOSYSTEM"] = "1"
    env["GIT_CONFIG_GLOBAL"] = os.devnull
    env["GIT_TERMINAL_PROMPT"] = "0"
    return env


def run_git(
    *args: str, cwd: Path | None = None, check: bool = True, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``git args`` (``env`` added to :func:`git_env`); raise :class:`GitError` when ``check`` fails."""
    proc = subprocess.run(
        ["git", *args], cwd=cwd, env=git_env() | dict(env or {}), capture_output=True, text=True, check=False
    )
    if check and proc.returncode != 0:
        raise GitError(f"git {' '.join(args)} failed ({proc.returncode}): {proc.stderr.strip()}")
    return proc


def http_backend_command() -> list[str]:
    """The ``git http-backend`` CGI program (found via ``git --exec-path``)."""
    backend = Path(run_git("--exec-path").stdout.strip()) / "git-http-backend"
    return [str(backend)] if backend.exists() else ["git", "http-backend"]


def read_branches(bare: Path) -> dict[str, str]:
    """Map branch name -> commit sha for every ``refs/heads/*`` ref of a bare repository."""
    out = run_git("-C", str(bare), "for-each-ref", "--format=%(objectname) %(refname)", "refs/heads").stdout
    result: dict[str, str] = {}
    for line in out.splitlines():
        sha, _, ref = line.partition(" ")
        result[ref.removeprefix("refs/heads/")] = sha
    return result


def branch_sha(bare: Path, branch: str) -> str | None:
    """Commit sha of ``branch`` in ``bare`` or None when it does not exist."""
    proc = run_git(
        "-C", str(bare), "rev-parse", "--verify", "--quiet", f"refs/heads/{branch}^{{commit}}", check=False
    )
    sha = proc.stdout.strip()
    return sha if proc.returncode == 0 and sha else None


def pull_shas(repo: Repo, pull: PullInfo) -> tuple[str, str]:
    """Current (head, base) shas of a pull request: frozen once merged, last known when a branch is gone."""
    if not pull.merged:
        pull.head_sha = branch_sha(repo.path, pull.head) or pull.head_sha
        pull.base_sha = branch_sha(repo.path, pull.base) or pull.base_sha
    return pull.head_sha, pull.base_sha


def commit_exists(bare: Path, sha: str) -> bool:
    """Whether ``sha`` names a commit in ``bare``."""
    return run_git("-C", str(bare), "cat-file", "-e", f"{sha}^{{commit}}", check=False).returncode == 0


def commits_between(bare: Path, base: str, head: str) -> int:
    """Number of commits reachable from ``head`` but not from ``base``."""
    out = run_git("-C", str(bare), "rev-list", "--count", f"{base}..{head}").stdout
    return int(out.strip() or "0")


def commit_info(bare: Path, sha: str) -> dict[str, str]:
    """Author, committer, message, tree and parents of a commit."""
    fmt = "%H%x00%T%x00%P%x00%an%x00%ae%x00%aI%x00%cn%x00%ce%x00%cI%x00%B"
    out = run_git("-C", str(bare), "show", "-s", f"--format={fmt}", sha).stdout
    keys = (
        "sha",
        "tree",
        "parents",
        "author_name",
        "author_email",
        "author_date",
        "committer_name",
        "committer_email",
        "committer_date",
        "message",
    )
    return dict(zip(keys, out.split("\x00", len(keys) - 1), strict=False))


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the server received it (chunked bodies de-chunked, gzip bodies left as sent)."""

    method: str
    path: str  # including the query string
    headers: dict[str, str]
    body: bytes

    def header(self, name: str, default: str | None = None) -> str | None:
        """Case-insensitive header lookup."""
        for key, value in self.headers.items():
            if key.lower() == name.lower():
                return value
        return default

    @property
    def route(self) -> str:
        """The path without the query string."""
        return urlsplit(self.path).path

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


FaultHook = Callable[[RecordedRequest, int], tuple[int, dict[str, str], Any] | None]


@dataclass
class Token:
    """An access token known to the server."""

    token: str
    login: str
    scopes: str | None
    expires_at: str | None
    fine_grained: bool
    reset: int
    remaining: int = RATE_LIMIT
    installation: int | None = None  # a GitHub App installation token: only its repositories are seen
    repos: frozenset[str] | None = None  # lower-case full names; None: every repository of the server
    expires_epoch: float | None = None  # after this the server answers 401 Bad credentials

    def sees(self, repo: Repo) -> bool:
        return self.repos is None or repo.full_name.lower() in self.repos

    def expired(self) -> bool:
        return self.expires_epoch is not None and time.time() >= self.expires_epoch


@dataclass
class App:
    """A GitHub App: its id, slug, public key (PEM) and what it asks of its installations."""

    id: int
    slug: str
    name: str
    public_key: bytes
    permissions: dict[str, str]
    events: list[str]
    owner: str


@dataclass
class Installation:
    """An app installed on an account: every repository of it (``repos`` None) or the selected ones."""

    id: int
    app_id: int
    account: str
    permissions: dict[str, str]
    repos: frozenset[str] | None
    suspended: bool = False
    issued: list[str] = field(default_factory=list)  # the access tokens minted for it, in order


@dataclass
class Label:
    """A repository label."""

    id: int
    name: str
    color: str
    description: str | None = None
    default: bool = False


@dataclass
class Event:
    """An issue timeline event (labeled, unlabeled, closed, reopened)."""

    id: int
    event: str
    actor: str
    created_at: str
    label_name: str | None = None
    label_color: str | None = None
    rename: tuple[str, str] | None = None  # (from, to) of a ``renamed`` event


@dataclass(frozen=True)
class Edit:
    """One saved revision of an issue's or comment's text (GraphQL ``userContentEdits``)."""

    editor: str
    edited_at: str


@dataclass
class Comment:
    """An issue / pull request conversation comment."""

    id: int
    issue_number: int
    body: str
    user: str
    created_at: str
    updated_at: str
    edits: list[Edit] = field(default_factory=list)  # newest last; the first is the original text


@dataclass
class CheckRun:
    """A check run on a commit, set up by a test (the scripted CI's runs are not stored)."""

    id: int
    sha: str
    name: str
    status: str  # queued | in_progress | completed
    conclusion: str | None
    started_at: str
    completed_at: str | None
    title: str | None = None
    summary: str | None = None
    text: str | None = None
    annotations: list[dict[str, Any]] = field(default_factory=list)  # GitHub's annotation objects
    app: str = "github-actions"  # the app slug; Actions runs share their id with a job (and its log)


@dataclass
class ReviewComment:
    """A pull request review comment: on a line of the diff, or a reply in its thread."""

    id: int
    pull_number: int
    user: str
    body: str
    path: str
    line: int | None
    diff_hunk: str
    commit_id: str
    created_at: str
    in_reply_to_id: int | None = None


@dataclass
class CommitStatus:
    """A commit status (``POST /statuses/{sha}`` or a test's set-up); GitHub keeps every one."""

    id: int
    sha: str
    context: str
    state: str  # pending | success | failure | error
    creator: str
    created_at: str
    description: str | None = None
    target_url: str | None = None


@dataclass
class Review:
    """A pull request review."""

    id: int
    user: str
    state: str  # APPROVED | CHANGES_REQUESTED | COMMENTED | PENDING
    commit_id: str
    body: str
    submitted_at: str


@dataclass(frozen=True)
class Protection:
    """Branch protection: required approving reviews, required check / status names, enforce_admins."""

    required_reviews: int = 0
    required_checks: tuple[str, ...] = ()
    enforce_admins: bool = False


@dataclass(frozen=True)
class CiScript:
    """Scripted CI of a repository, see ``FakeGitHub.set_ci``."""

    steps: tuple[str, ...]
    check_name: str
    via: str  # check_run | status


@dataclass
class PullInfo:
    """Pull-request specific data of an :class:`Issue`."""

    head: str
    base: str
    head_owner: str
    head_sha: str
    base_sha: str
    draft: bool = False
    merged: bool = False
    merged_at: str | None = None
    maintainer_can_modify: bool = True
    merged_by: str | None = None
    merge_commit_sha: str | None = None
    merge_method: str | None = None
    reviews: list[Review] = field(default_factory=list)
    mergeable_for: tuple[str, str] | None = None  # (head sha, base sha) the computation was started for
    conflicts: bool | None = None  # result of that computation


@dataclass
class Issue:
    """An issue or, when ``pull`` is set, a pull request (they share GitHub's number sequence)."""

    id: int
    number: int
    title: str
    body: str
    user: str
    created_at: str
    updated_at: str
    state: str = "open"
    state_reason: str | None = None
    closed_at: str | None = None
    locked: bool = False
    labels: list[str] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    pull: PullInfo | None = None
    edits: list[Edit] = field(default_factory=list)  # body revisions, newest last; the first is the original


@dataclass
class Repo:
    """A repository: metadata plus the path of its real bare git repository."""

    id: int
    owner: str
    name: str
    path: Path
    default_branch: str
    private: bool
    created_at: str
    labels: dict[str, Label] = field(default_factory=dict)  # keyed by lower-cased name
    issues: dict[int, Issue] = field(default_factory=dict)
    comments: dict[int, Comment] = field(default_factory=dict)
    permissions: dict[str, str] = field(default_factory=dict)  # lower-cased login -> level
    next_number: int = 1
    check_runs: list[CheckRun] = field(default_factory=list)
    statuses: list[CommitStatus] = field(default_factory=list)
    protection: dict[str, Protection] = field(default_factory=dict)  # branch -> rules
    ci: CiScript | None = None
    ci_position: dict[str, int] = field(default_factory=dict)  # sha -> reads of the script's kind
    check_reads: dict[tuple[str, str], int] = field(default_factory=dict)  # (sha, kind) -> reads
    review_comments: dict[int, ReviewComment] = field(default_factory=dict)
    job_logs: dict[int, bytes] = field(default_factory=dict)  # Actions job (= check run) id -> its log

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.name}"


class State:
    """Everything the fake GitHub knows, guarded by one re-entrant lock."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.lock = threading.RLock()
        self.api_url = ""
        self.base_http = ""
        self.tokens: dict[str, Token] = {}
        self.repos: dict[tuple[str, str], Repo] = {}
        self.apps: dict[int, App] = {}
        self.installations: dict[int, Installation] = {}
        self.app_token_lifetime_s = 3600.0
        self.rejected_jwts: list[str] = []  # why each refused app JWT was refused
        self._ids = itertools.count(1001)
        self._user_ids: dict[str, int] = {}

    # -- identities -------------------------------------------------------------------------------
    def next_id(self) -> int:
        with self.lock:
            return next(self._ids)

    def user_id(self, login: str) -> int:
        with self.lock:
            return self._user_ids.setdefault(login.lower(), 501 + len(self._user_ids))

    def find_repo(self, owner: str, name: str) -> Repo | None:
        return self.repos.get((owner.lower(), name.lower()))

    def repo(self, owner: str, name: str) -> Repo:
        found = self.find_repo(owner, name)
        if found is None:
            raise KeyError(f"no repository {owner}/{name}")
        return found

    def issue(self, owner: str, name: str, number: int) -> tuple[Repo, Issue]:
        repo = self.repo(owner, name)
        if number not in repo.issues:
            raise KeyError(f"no issue #{number} in {owner}/{name}")
        return repo, repo.issues[number]

    def permission(self, repo: Repo, login: str) -> str:
        """Permission level of ``login`` on ``repo`` (owner -> admin, explicit, else DEFAULT_PERMISSION)."""
        if login.lower() == repo.owner.lower():
            return "admin"
        return repo.permissions.get(login.lower(), DEFAULT_PERMISSION)

    def has_permission(self, repo: Repo, login: str, needed: str) -> bool:
        level = self.permission(repo, login)
        return PERMISSION_LEVELS.index(level) >= PERMISSION_LEVELS.index(needed)

    # -- labels -----------------------------------------------------------------------------------
    def ensure_label(
        self, repo: Repo, name: str, color: str | None = None, description: str | None = None
    ) -> Label:
        """Return the repo label called ``name`` (case-insensitive), creating it like GitHub does."""
        key = name.lower()
        if key not in repo.labels:
            repo.labels[key] = Label(self.next_id(), name, color or AUTO_LABEL_COLOR, description)
        return repo.labels[key]

    def add_labels(self, repo: Repo, issue: Issue, names: Iterable[str], actor: str) -> None:
        """Add labels (auto-creating them), recording a ``labeled`` event for each new one."""
        current = {name.lower() for name in issue.labels}
        for name in names:
            label = self.ensure_label(repo, name)
            if label.name.lower() in current:
                continue
            current.add(label.name.lower())
            issue.labels.append(label.name)
            issue.events.append(Event(self.next_id(), "labeled", actor, now_iso(), label.name, label.color))
        issue.updated_at = now_iso()

    def remove_label(self, repo: Repo, issue: Issue, name: str, actor: str) -> bool:
        """Remove a label from an issue; False when the issue does not carry it."""
        for existing in issue.labels:
            if existing.lower() == name.lower():
                issue.labels.remove(existing)
                label = repo.labels.get(existing.lower())
                color = label.color if label else AUTO_LABEL_COLOR
                issue.events.append(Event(self.next_id(), "unlabeled", actor, now_iso(), existing, color))
                issue.updated_at = now_iso()
                return True
        return False

    def set_labels(self, repo: Repo, issue: Issue, names: Iterable[str], actor: str) -> None:
        wanted = list(names)
        wanted_lower = {name.lower() for name in wanted}
        for existing in list(issue.labels):
            if existing.lower() not in wanted_lower:
                self.remove_label(repo, issue, existing, actor)
        self.add_labels(repo, issue, wanted, actor)

    # -- issues, pulls, comments ------------------------------------------------------------------
    def new_issue(self, repo: Repo, title: str, body: str, user: str, pull: PullInfo | None = None) -> Issue:
        stamp = now_iso()
        issue = Issue(self.next_id(), repo.next_number, title, body, user, stamp, stamp, pull=pull)
        repo.issues[issue.number] = issue
        repo.next_number += 1
        return issue

    def set_state(self, issue: Issue, state: str, actor: str, reason: str | None = None) -> None:
        """Open or close an issue / pull request, recording a ``closed`` / ``reopened`` event."""
        if state == issue.state:
            return
        stamp = now_iso()
        issue.state = state
        issue.updated_at = stamp
        if state == "closed":
            issue.closed_at = stamp
            issue.state_reason = None if issue.pull else (reason or "completed")
            issue.events.append(Event(self.next_id(), "closed", actor, stamp))
        else:
            issue.closed_at = None
            issue.state_reason = None if issue.pull else "reopened"
            issue.events.append(Event(self.next_id(), "reopened", actor, stamp))

    def add_comment(self, repo: Repo, issue: Issue, body: str, user: str) -> Comment:
        stamp = now_iso()
        comment = Comment(self.next_id(), issue.number, body, user, stamp, stamp)
        repo.comments[comment.id] = comment
        issue.updated_at = stamp
        return comment

    def edit_text(self, target: Issue | Comment, body: str, editor: str) -> None:
        """Change a body as GitHub does: the first edit also saves the original text as a revision."""
        stamp = now_iso()
        if not target.edits:
            target.edits.append(Edit(target.user, target.created_at))
        target.edits.append(Edit(editor, stamp))
        target.body = body
        target.updated_at = stamp

    def rename(self, issue: Issue, title: str, actor: str) -> None:
        """Change a title, recording a ``renamed`` event like GitHub's timeline."""
        if title != issue.title:
            stamp = now_iso()
            issue.events.append(Event(self.next_id(), "renamed", actor, stamp, rename=(issue.title, title)))
            issue.title, issue.updated_at = title, stamp

    def issue_comments(self, repo: Repo, number: int) -> list[Comment]:
        return sorted((c for c in repo.comments.values() if c.issue_number == number), key=lambda c: c.id)
