"""Protocols the core depends on: the seams that tests fake and adapters implement."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Protocol

from autonomous_dev.models import (
    Change,
    CheckSummary,
    Comment,
    Issue,
    IssueEvent,
    ModelTurn,
    PullRequest,
    PullStatus,
    PushedBlob,
    ThreadHistory,
)


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

    def comments(self, number: int) -> list[Comment]: ...

    def add_comment(self, number: int, body: str) -> Comment: ...

    def create_pull(self, title: str, body: str, head: str, base: str, draft: bool = False) -> PullRequest:
        """Open a PR, or return the open one from the same head if GitHub says it already exists."""
        ...

    def pull_status(self, number: int) -> PullStatus: ...

    def checks(self, sha: str) -> CheckSummary:
        """The commit's check runs and commit statuses (the latest of each name)."""
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

    def push(self) -> None: ...

    def integrate(self, strategy: str) -> list[str]:
        """Bring the task's pushed branch up to date with the base (`rebase` or `merge`); conflicted paths."""
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
