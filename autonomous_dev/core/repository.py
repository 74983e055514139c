"""Everything the daemon works with on one repository: its API, mirror, issue thread and steps."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from autonomous_dev.core.attempt import Attempt
from autonomous_dev.core.follow import Follow
from autonomous_dev.core.issue_thread import IssueThread
from autonomous_dev.core.landing import Landing
from autonomous_dev.core.repair import RepairRound
from autonomous_dev.core.review import ReviewRound
from autonomous_dev.core.update import BranchUpdate
from autonomous_dev.ports import GitHubRepo, Workspaces
from autonomous_dev.store.records import Step, TaskRecord

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
    follow: Follow | None = None  # None: PRs waiting for people are not followed (a dry run)
    review: ReviewRound | None = None
    repair: RepairRound | None = None
    mentions: MentionWatch | None = None  # trigger.mentionEnabled: comments naming the tool's handle

    @property
    def name(self) -> str:
        return self.repo.full_name

    def runs(self, record: TaskRecord) -> bool:
        """Whether this run can take the task's PR step (a repository can be reconfigured without it)."""
        if record.pr_number is None:
            return False
        step = record.step
        if step in (Step.LAND, Step.UPDATE):
            return self.landing is not None
        return self.follow is not None and step in (Step.FOLLOW, Step.REVIEW, Step.REPAIR)
