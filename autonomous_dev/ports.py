"""Protocols the core depends on: the seams that tests fake and adapters implement."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Protocol

from autonomous_dev.errors import Cause
from autonomous_dev.models import (
    Change,
    CheckSummary,
    Comment,
    FailedCheck,
    Issue,
    IssueEvent,
    MentionState,
    ModelTurn,
    PostedComment,
    PullRequest,
    PullStatus,
    PushedBlob,
    Review,
    ReviewComment,
    ThreadHistory,
)
from autonomous_dev.store.records import TaskRecord, TaskState, Transition, UsageDelta


class TokenSource(Protocol):
    """A GitHub token that changes while the process runs (a GitHub App's installation token): REST and
    git ask for the current value before each use, and report the value GitHub refused (401)."""

    def token(self) -> str: ...

    def renew(self, stale: str) -> None: ...


class GitHubRepo(Protocol):
    """One repository on GitHub, as the pipeline sees it."""

    @property
    def full_name(self) -> str: ...

    @property
    def clone_url(self) -> str: ...

    @property
    def default_branch(self) -> str: ...

    @property
    def private(self) -> bool: ...

    def events(self, number: int) -> list[IssueEvent]:
        """The issue's timeline events, oldest first (labels applied and removed, title changes)."""
        ...

    def edit_history(self, number: int) -> ThreadHistory:
        """Who changed the text of the issue and of its comments, and when (GitHub's GraphQL API)."""
        ...

    def permission(self, login: str) -> str:
        """The user's permission on the repository: admin, write, read or none (revalidated by ETag)."""
        ...

    def own_logins(self) -> frozenset[str]:
        """The tool's own logins, lower-case: whatever they wrote is the tool's (markers count only there)."""
        ...

    def issue(self, number: int) -> Issue | None:
        """One issue, open or closed; None when there is none by that number (or it is a pull request)."""
        ...

    def labelled_issues(self, label: str) -> list[Issue]:
        """Open issues (not pull requests) carrying the label, all pages."""
        ...

    def open_pulls(self) -> list[PullRequest]: ...

    def list_issues(self, state: str = "open", since: datetime | None = None) -> list[Issue]:
        """Issues (not pull requests) in `state` (open, closed, all), updated since `since` when given."""
        ...

    def create_issue(self, title: str, body: str, labels: list[str]) -> Issue: ...

    def add_label(self, number: int, label: str) -> None: ...

    def remove_label(self, number: int, label: str) -> None:
        """Remove the label; absent labels are fine."""
        ...

    def comments(self, number: int) -> list[Comment]:
        """An issue's comments, or a PR's conversation comments (not its review comments), oldest first."""
        ...

    def add_comment(self, number: int, body: str) -> Comment: ...

    def comments_since(self, since: datetime) -> list[PostedComment]:
        """Issue and PR conversation comments of the whole repository updated at or after `since`, oldest
        update first; a conditional GET per page (an unchanged list costs no rate limit)."""
        ...

    def edit_comment(self, comment_id: int, body: str) -> Comment:
        """Replace the text of one of the tool's issue comments (safe to repeat)."""
        ...

    def create_pull(self, title: str, body: str, head: str, base: str, draft: bool = False) -> PullRequest:
        """Open a PR, or return the open one from the same head if GitHub says it already exists."""
        ...

    def pull_status(self, number: int) -> PullStatus: ...

    def checks(self, sha: str) -> CheckSummary:
        """The commit's check runs and commit statuses (the latest of each name); `sha` may also be a
        branch as `heads/<name>`."""
        ...

    def failed_checks(self, sha: str) -> list[FailedCheck]:
        """The commit's failed check runs (output, annotations, the Actions job's log tail; bounded) and
        failed commit statuses."""
        ...

    def review_threads(self, pr_number: int, since_id: int = 0) -> list[ReviewComment]:
        """The PR's review comments (on lines of its diff) with ids above `since_id`, oldest first."""
        ...

    def reviews(self, pr_number: int) -> list[Review]:
        """The PR's submitted reviews, oldest first."""
        ...

    def reply_to_review_comment(self, pr_number: int, comment_id: int, body: str) -> Comment:
        """One reply in the thread of review comment `comment_id`. Not repeated after a 5xx (it may have
        landed): callers look for their marker in `review_threads` first."""
        ...

    def merge_pull(self, number: int, method: str, sha: str) -> None:
        """Merge if the head is still `sha`; GitHubError 405 (not mergeable) or 409 (head moved) otherwise."""
        ...

    def delete_branch(self, branch: str) -> None:
        """Delete one of our branches; an absent branch is fine."""
        ...

    def close_issue(self, number: int) -> None: ...


class Claude(Protocol):
    """One model reply per call."""

    def complete(
        self,
        system: str,
        messages: list[dict[str, object]],
        tools: list[dict[str, object]],
    ) -> ModelTurn: ...


class Workspace(Protocol):
    """An isolated working copy of the base branch on the task's own branch."""

    @property
    def path(self) -> Path: ...

    def has_changes(self) -> bool: ...

    def commit(self, message: str) -> Change:
        """Stage everything (workflow files only when allowed) and commit it."""
        ...

    def discard_untracked(self) -> None:
        """Remove untracked files that are not ignored (what a check run may leave behind)."""
        ...

    def base_sha(self) -> str:
        """The commit the task started from."""
        ...

    def pushed_blobs(self, max_bytes: int) -> list[PushedBlob]:
        """Every file version the branch adds on top of the base, in any commit (for the secret check)."""
        ...

    def file_at(self, commit: str, path: str, max_bytes: int) -> tuple[int, bytes] | None:
        """A regular file's size and its first `max_bytes` bytes as committed in `commit` (not as the
        worktree has it now); None when the commit has no regular file at `path`."""
        ...

    def push(self, fast_forward_only: bool = False) -> None:
        """Push the task's branch. It may replace what an earlier attempt pushed (a lease on the branch as
        last fetched guards against overwriting someone else's push); `fast_forward_only`: a plain push,
        which the server refuses unless it only adds commits (a round on an open PR never rewrites it)."""
        ...

    def integrate(self, strategy: str) -> list[str]:
        """Bring the task's pushed branch up to date with the base (`rebase` or `merge`); conflicted paths."""
        ...

    def continue_pushed(self) -> None:
        """Put the task's branch as last fetched in the worktree, to add a commit on top of it."""
        ...

    def messages(self) -> list[str]:
        """The messages of the commits the worktree's HEAD has on top of the base, newest first."""
        ...

    def conclude(self) -> list[str]:
        """Commit the resolved conflicts and go on; paths of the next conflict (rebase), else empty."""
        ...

    def close(self) -> None: ...


class Workspaces(Protocol):
    def sync(self) -> None:
        """Bring the local mirror up to date; once per cycle."""
        ...

    def open(self, branch: str, base: str) -> Workspace: ...


class Store(Protocol):
    """Durable task state shared by every worker thread and process; times are tz-aware UTC."""

    def migrate(self) -> None:
        """Create or upgrade the tables; idempotent and safe when several processes start at once."""
        ...

    def observe(self, repo: str, issue: int, fingerprint: str) -> TaskRecord:
        """Ensure the task exists; an edit (new fingerprint) requeues a failed or needs-human task."""
        ...

    def reset(self, repo: str, issue: int) -> None:
        """Requeue the task with zero attempts and no backoff or error; the claim is left alone."""
        ...

    def claim(
        self, repo: str, candidates: Sequence[int], owner: str, lease_s: float, now: datetime | None = None
    ) -> TaskRecord | None:
        """Atomically claim the first claimable candidate and start its step (an attempt is counted);
        None if there is none."""
        ...

    def heartbeat(self, repo: str, issue: int, owner: str, lease_s: float) -> bool:
        """Extend the lease; False if `owner` no longer holds the claim."""
        ...

    def add_usage(self, repo: str, issue: int, delta: UsageDelta) -> None: ...

    def transition(self, repo: str, issue: int, owner: str, to: Transition) -> None:
        """End the step: the next state in one write, the claim released; ClaimLost if `owner` lost it."""
        ...

    def release(self, repo: str, issue: int, owner: str, cause: Cause | None = None) -> None:
        """Give the claim back uncounted (a stop, an outage: `cause` says which); a no-op if `owner` does not
        hold it."""
        ...

    def recover(self, record: TaskRecord, error: str, now: datetime | None = None) -> bool:
        """Take back a crashed worker's claim whose lease ran out; False if someone else did already."""
        ...

    def adopt(
        self,
        repo: str,
        issue: int,
        state: TaskState,
        pr_number: int,
        pr_url: str,
        deadline_at: datetime | None,
    ) -> bool:
        """Record the PR an attempt opened but did not record (its worker stopped); False if the task is
        claimed or past its attempt."""
        ...

    def pending_steps(self, repo: str) -> list[TaskRecord]:
        """The repository's tasks waiting to land or be updated, due or not."""
        ...

    def expired_claims(self, now: datetime | None = None) -> list[TaskRecord]: ...

    def unshown(self, now: datetime | None = None) -> list[TaskRecord]:
        """Tasks whose tracking comment is behind their record (an edit failed, a crash), not claimed."""
        ...

    def mark_shown(self, record: TaskRecord) -> bool:
        """The comment shows `record`; False (nothing marked) if the task changed since it was read."""
        ...

    def keep_progress(self, repo: str, issue: int, owner: str, progress: str) -> None:
        """Keep what the tracking comment shows of a running step (no-op if `owner` lost the claim)."""
        ...

    def get(self, repo: str, issue: int) -> TaskRecord | None: ...

    def tasks(self, repo: str | None = None, limit: int = 1000) -> list[TaskRecord]:
        """Tasks, most recently updated first."""
        ...

    def cost_since(self, since: datetime) -> float:
        """Dollars spent (usage recorded) at or after `since`."""
        ...

    def get_meta(self, key: str) -> str | None: ...

    def record_delivery(self, delivery_id: str, event: str, now: datetime | None = None) -> bool:
        """Remember a webhook delivery; False when it was recorded before (a redelivery). Ids older than
        a week are forgotten."""
        ...

    def make_due(self, repo: str, numbers: Sequence[int] | None, now: datetime | None = None) -> list[int]:
        """Make the repository's PR steps that wait (landing, out of date; unclaimed) due now: those whose
        issue or PR has one of `numbers`, or all of them when None. The issues made due."""
        ...

    def record_mention(self, repo: str, mention: PostedComment, state: MentionState, note: str = "") -> bool:
        """Remember a mention and what was decided; False when the comment was recorded before (then the
        record is left as it was)."""
        ...

    def known_mentions(self, repo: str, comment_ids: Sequence[int]) -> set[int]:
        """Which of these comments were recorded as mentions."""
        ...

    def open_mentions(self, repo: str) -> list[tuple[PostedComment, MentionState]]:
        """The repository's mentions still to handle (new or admitted), oldest first."""
        ...

    def mark_mention(self, repo: str, comment_id: int, state: MentionState, note: str = "") -> None: ...

    def set_meta(self, key: str, value: str) -> None: ...

    def close(self) -> None: ...
