"""Protocols the core depends on: the seams that tests fake and adapters implement."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from .models import Change, Comment, Issue, ModelTurn, PullRequest


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

    def label_actor(self, number: int, label: str) -> str | None:
        """Who applied the label most recently (from the issue's events); None if nobody did."""
        ...

    def permission(self, login: str) -> str:
        """The user's permission on the repository: admin, write, read or none."""
        ...

    def labelled_issues(self, label: str) -> list[Issue]:
        """Open issues (not pull requests) carrying the label, all pages."""
        ...

    def open_pulls(self) -> list[PullRequest]: ...

    def add_label(self, number: int, label: str) -> None: ...

    def remove_label(self, number: int, label: str) -> None:
        """Remove the label; absent labels are fine."""
        ...

    def comments(self, number: int) -> list[Comment]: ...

    def add_comment(self, number: int, body: str) -> Comment: ...

    def create_pull(self, title: str, body: str, head: str, base: str, draft: bool = False) -> PullRequest:
        """Open a PR, or return the open one from the same head if GitHub says it already exists."""
        ...


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

    def base_text(self, path: str) -> str:
        """The file as it is on the base commit; empty when it did not exist."""
        ...

    def push(self) -> None: ...

    def close(self) -> None: ...


class Workspaces(Protocol):
    def sync(self) -> None:
        """Bring the local mirror up to date; once per cycle."""
        ...

    def open(self, branch: str, base: str) -> Workspace: ...
