"""Plain frozen dataclasses passed between the core and the adapters."""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field
from datetime import datetime

SLUG_MAX = 40
BRANCH_PREFIX = "auto/"  # the tool works only on branches it named; it never pushes any other


@dataclass(frozen=True)
class Issue:
    number: int
    title: str
    body: str
    labels: tuple[str, ...] = ()
    author: str = ""
    url: str = ""
    state: str = "open"
    request: PostedComment | None = None  # the trusted mention that asked for the work, if one did
    thread: ThreadRead | None = None  # its comments as the claim of an attempt read them

    @property
    def branch(self) -> str:
        return f"{BRANCH_PREFIX}{self.number}-{slugify(self.title)}"


@dataclass(frozen=True)
class PullRequest:
    number: int
    url: str
    head: str
    base: str
    draft: bool = False
    author: str = ""  # who opened it: only the tool's own PRs are its tasks
    from_fork: bool = False  # its head branch lives in another repository (a fork): never one of ours


def is_bot(login: str, author_type: str) -> bool:
    """GitHub marks apps' accounts `type: Bot`; their logins end in `[bot]` too."""
    return author_type == "Bot" or login.lower().endswith("[bot]")


class _Authored:
    """Something written by a GitHub account: `by_bot` tells whether an app wrote it."""

    author: str
    author_type: str

    @property
    def by_bot(self) -> bool:
        return is_bot(self.author, self.author_type)


@dataclass(frozen=True)
class Comment(_Authored):
    """An issue's (or a PR's conversation) comment, or a reply in a review thread."""

    id: int
    body: str
    author: str = ""
    author_type: str = "User"  # User, Bot or Organization, as GitHub says


@dataclass(frozen=True)
class ThreadRead:
    """An issue's thread as the claim of an attempt read it, once for the whole attempt: when the
    issue was vouched for (its trigger label applied, or the request written), then its comments."""

    vouched_at: datetime
    comments: tuple[Comment, ...]


@dataclass(frozen=True)
class PostedComment:
    """A comment in an issue's or a PR's conversation (`on_pull`), as the repository's list of recent
    comments shows it; as a mention that was trusted, its text is the one read then."""

    number: int  # the issue or pull request it is on
    on_pull: bool
    comment: Comment
    created_at: datetime
    updated_at: datetime


class MentionState(enum.StrEnum):
    """Where a mention of the tool's handle is: waiting (`new`), its task queued for it (`admitted`),
    handled (`done`: the attempt ended, the round started, or admission said why not), or not trusted."""

    NEW = "new"
    ADMITTED = "admitted"
    DONE = "done"
    REJECTED = "rejected"


@dataclass(frozen=True)
class ReviewComment(_Authored):
    """A comment on a line of a PR's diff; replies name the thread's first comment in `in_reply_to_id`."""

    id: int
    author: str
    author_type: str
    body: str
    path: str
    line: int | None  # None: the line is gone from the current diff (an outdated comment)
    diff_hunk: str
    in_reply_to_id: int | None
    created_at: datetime


@dataclass(frozen=True)
class Review(_Authored):
    """A submitted review: APPROVED, CHANGES_REQUESTED, COMMENTED or DISMISSED, on commit `commit_id`."""

    id: int
    author: str
    author_type: str
    state: str
    body: str
    submitted_at: datetime | None
    commit_id: str


@dataclass(frozen=True)
class IssueEvent:
    """One event of an issue's timeline: `labeled` (with the label), `renamed`, `closed`, ..."""

    event: str
    actor: str | None  # None: a deleted account
    at: datetime
    label: str | None = None


@dataclass(frozen=True)
class Revision:
    """One saved version of an issue's or comment's text: who wrote it (None: unknown) and when."""

    editor: str | None
    at: datetime


@dataclass(frozen=True)
class TextHistory:
    """The revisions of one text; `complete` is False when GitHub holds more than were read."""

    created_at: datetime
    revisions: tuple[Revision, ...] = ()
    complete: bool = True


@dataclass(frozen=True)
class ThreadHistory:
    """Edit histories of an issue's body and of its comments (by comment id; missing: unknown)."""

    body: TextHistory
    comments: dict[int, TextHistory] = field(default_factory=dict)


@dataclass(frozen=True)
class TokenReport:
    """What GitHub says about the token: who it is, its classic scopes (None if fine-grained), expiry."""

    login: str
    scopes: tuple[str, ...] | None
    expires_at: datetime | None


@dataclass(frozen=True)
class RepoAccess:
    """What the token may do in the configured repository."""

    full_name: str
    private: bool
    push: bool
    admin: bool
    can_read_issues: bool
    can_read_pulls: bool


@dataclass(frozen=True)
class AppReport:
    """The GitHub App the credentials belong to (`GET /app` with its JWT)."""

    id: int
    slug: str
    name: str
    permissions: dict[str, str]  # what the app asks of each installation
    events: tuple[str, ...]

    @property
    def bot_login(self) -> str:
        """The login its installation tokens act as: comments, labels and PRs are by this user."""
        return f"{self.slug}[bot]"


@dataclass(frozen=True)
class InstallationReport:
    """One installation of the app: on which account, for which repositories, with which permissions."""

    id: int
    account: str
    repository_selection: str  # "all" or "selected"
    permissions: dict[str, str]
    suspended: bool = False


@dataclass(frozen=True)
class PostgresReport:
    """What `config --validate` needs to know about the credential store."""

    host: str
    ssl: bool
    ssl_warning: str | None
    row_found: bool
    superuser: bool
    extra_privileges: tuple[str, ...]
    can_update_claude_auth: bool


@dataclass(frozen=True)
class Change:
    """A commit the tool made: its diff and the files it touched."""

    diff: str
    files: tuple[str, ...]
    dropped: tuple[str, ...] = ()  # workflow files left out of the commit


@dataclass(frozen=True)
class PushedBlob:
    """A file version a push would send, beside the version of the same path it replaced (b"" if none).

    `data` is empty when `size` is over the limit the caller asked for: too large to read, never skipped.
    """

    path: str
    size: int
    data: bytes
    before: bytes = b""


@dataclass(frozen=True)
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0
    cache_creation_input_tokens: int = 0
    cache_read_input_tokens: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.input_tokens + other.input_tokens,
            self.output_tokens + other.output_tokens,
            self.cache_creation_input_tokens + other.cache_creation_input_tokens,
            self.cache_read_input_tokens + other.cache_read_input_tokens,
        )

    @property
    def total_tokens(self) -> int:
        return (
            self.input_tokens
            + self.output_tokens
            + self.cache_creation_input_tokens
            + self.cache_read_input_tokens
        )


@dataclass(frozen=True)
class ToolCall:
    id: str
    name: str
    input: dict[str, object]


@dataclass(frozen=True)
class ToolResult:
    tool_use_id: str
    content: str
    is_error: bool = False


@dataclass(frozen=True)
class ModelTurn:
    """One reply of the model: its text, the tools it wants run, why it stopped, what it cost."""

    text: str
    tool_calls: tuple[ToolCall, ...]
    stop_reason: str
    usage: Usage
    raw_content: tuple[dict[str, object], ...] = ()


@dataclass(frozen=True)
class PullStatus:
    """A pull request as the merge step sees it; `mergeable` is None while GitHub is still computing it."""

    number: int
    state: str
    merged: bool
    draft: bool
    head_sha: str
    mergeable: bool | None
    mergeable_state: str
    head: str = ""  # the branch names
    base: str = ""


@dataclass(frozen=True)
class CheckSummary:
    """The check runs and commit statuses of one commit, by name."""

    passed: tuple[str, ...] = ()
    pending: tuple[str, ...] = ()
    failed: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        return not (self.passed or self.pending or self.failed)


@dataclass(frozen=True)
class Annotation:
    """A check run's note on a line: level is notice, warning or failure."""

    path: str
    start_line: int
    message: str
    level: str


@dataclass(frozen=True)
class FailedCheck:
    """A failed check run (`kind` check_run) or commit status (`kind` status) of one commit.

    Texts are cut to bounds with their tails kept (where test runners print what failed); `log` is the
    tail of the GitHub Actions job's log, empty for other apps or when the log cannot be had.
    """

    kind: str
    name: str  # the check run's name or the status's context
    conclusion: str  # failure, timed_out, cancelled, ... (a status: failure or error)
    title: str = ""
    summary: str = ""  # a status: its description
    text: str = ""
    annotations: tuple[Annotation, ...] = ()
    app: str = ""  # the check run's app slug, `github-actions` for Actions jobs
    url: str = ""  # details_url or target_url
    log: str = ""


class OutcomeKind(enum.StrEnum):
    PR_OPENED = "pr_opened"
    MERGED = "merged"
    NEEDS_HUMAN = "needs_human"
    WAITING = "waiting"  # a PR of ours is looked at again later (checks running, an update or a round due)
    UNCHANGED = "unchanged"  # a PR of ours was looked at and nothing on it called for anything: not reported
    NO_CHANGES = "no_changes"
    DRY_RUN = "dry_run"
    FAILED = "failed"
    SKIPPED = "skipped"
    REFUSED = "refused"  # an issue named with `run --issue` that the admission rules do not let in


@dataclass(frozen=True)
class Outcome:
    issue: int
    kind: OutcomeKind
    detail: str = ""
    pr: PullRequest | None = None
    usage: Usage = field(default_factory=Usage)
    diff: str = ""
    cause: str | None = None  # an errors.Cause: why the step ended without a ready PR

    @property
    def ok(self) -> bool:
        return self.kind not in (OutcomeKind.FAILED, OutcomeKind.NEEDS_HUMAN, OutcomeKind.REFUSED)


def issue_of_branch(branch: str) -> int | None:
    """`auto/12-fix-it` -> 12; None for branches that are not ours."""
    if not branch.startswith(BRANCH_PREFIX):
        return None
    number = branch[len(BRANCH_PREFIX) :].split("-", 1)[0]
    return int(number) if number.isdigit() else None


def slugify(title: str) -> str:
    """Lower-case the title, turn runs of non-alphanumerics into '-', cut at SLUG_MAX characters."""
    slug = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")
    return slug[:SLUG_MAX].rstrip("-") or "issue"
