"""The trust boundary: act on issues a maintainer labelled; show the model only maintainers' comments."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

from .models import Comment, Issue
from .ports import GitHubRepo
from .prompts import MARKER_PREFIX

log = logging.getLogger(__name__)

WRITE_PERMISSIONS = frozenset({"admin", "maintain", "write"})


@dataclass(frozen=True)
class TrustPolicy:
    trigger_label: str
    require_author_permission: bool = False


class TrustGate:
    """Answers who may steer the tool; permissions are looked up once per login and process."""

    def __init__(self, repo: GitHubRepo, policy: TrustPolicy) -> None:
        self.repo = repo
        self.policy = policy
        self._permissions: dict[str, str] = {}
        self._lock = threading.Lock()

    def untrusted_reason(self, issue: Issue) -> str | None:
        """Why the issue must not be acted on, or None when a user with write access asked for it."""
        label = self.policy.trigger_label
        actor = self.repo.label_actor(issue.number, label)
        if actor is None:
            return f"no record of who applied the {label!r} label"
        permission = self.permission(actor)
        if permission not in WRITE_PERMISSIONS:
            return (
                f"the {label!r} label was applied by {actor}, who has {permission} permission (write needed)"
            )
        if self.policy.require_author_permission:
            author_permission = self.permission(issue.author)
            if author_permission not in WRITE_PERMISSIONS:
                return f"the author {issue.author} has {author_permission} permission (write needed)"
        return None

    def trusted_comments(self, number: int) -> list[Comment]:
        """Comments by users with write permission, without the tool's own."""
        return [
            comment
            for comment in self.repo.comments(number)
            if MARKER_PREFIX not in comment.body and self.permission(comment.author) in WRITE_PERMISSIONS
        ]

    def permission(self, login: str) -> str:
        if not login:
            return "none"
        with self._lock:
            cached = self._permissions.get(login)
        if cached is None:
            cached = self.repo.permission(login)
            with self._lock:
                self._permissions[login] = cached
        return cached
