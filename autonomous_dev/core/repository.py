"""Everything the daemon works with on one repository: its API, mirror, issue thread and steps."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from autonomous_dev.core.attempt import Attempt
from autonomous_dev.core.issue_thread import IssueThread
from autonomous_dev.core.landing import Landing
from autonomous_dev.core.update import BranchUpdate
from autonomous_dev.ports import GitHubRepo, Workspaces

if TYPE_CHECKING:
    from autonomous_dev.core.mentions import MentionWatch
    from autonomous_dev.intake.discover import Discovery


@dataclass(frozen=True)
class RepoWork:
    repo: GitHubRepo
    workspaces: Workspaces
    thread: IssueThread
    attempt: Attempt
    landing: Landing | None = None  # None: auto-merge is off, PRs wait for people
    update: BranchUpdate | None = None
    discovery: Discovery | None = None  # files issues from a reading of the code when there is nothing to do
    max_open_issues: int = 0
    mentions: MentionWatch | None = None  # trigger.mentionEnabled: comments naming the tool's handle

    @property
    def name(self) -> str:
        return self.repo.full_name
