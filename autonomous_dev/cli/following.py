"""Builds what follows the tool's PRs: the look once per cycle, and the review and CI-repair rounds."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from autonomous_dev.core.agent import Agent
    from autonomous_dev.core.context import TaskContext
    from autonomous_dev.core.follow import Follow
    from autonomous_dev.core.issue_thread import IssueThread
    from autonomous_dev.core.landing import Landing
    from autonomous_dev.core.repair import RepairRound
    from autonomous_dev.core.review import ReviewRound
    from autonomous_dev.git.workspace import GitWorkspaces
    from autonomous_dev.github.client import GitHubRepoClient
    from autonomous_dev.models import PullRequest
    from autonomous_dev.security.redact import Redactor
    from autonomous_dev.security.trust import TrustGate
    from autonomous_dev.settings.model import Settings
    from autonomous_dev.store.records import Transition


def follow_prs(settings: Settings, repo: GitHubRepoClient, thread: IssueThread, trust: TrustGate) -> Follow:
    """The look at a PR of ours, once per cycle: review input and failed checks (review.*, ci.*)."""
    from autonomous_dev.core.follow import Follow
    from autonomous_dev.core.review_input import ReviewReader

    reader = ReviewReader(repo, trust, settings.review.allow_bots, settings.security.max_issue_chars)
    return Follow(repo, thread, reader, settings.review, settings.ci)


def round_steps(
    settings: Settings,
    parts: tuple[GitHubRepoClient, GitWorkspaces],
    shared: tuple[Agent, TaskContext, IssueThread],
    following: Follow | None,
    redactor: Redactor,
    landing: Landing | None,
) -> tuple[ReviewRound | None, RepairRound | None]:
    """The review and CI-repair rounds (using the attempt's agent, context and issue thread); after one, a
    PR lands again (auto-merge) or waits for people."""
    from autonomous_dev.core.pr_round import PullRound
    from autonomous_dev.core.repair import RepairRound
    from autonomous_dev.core.review import ReviewRound
    from autonomous_dev.store.records import TaskState, Transition

    if following is None:
        return None, None
    (repo, workspaces), (agent, context, thread) = parts, shared
    rounds = PullRound(repo, workspaces, agent, context, redactor, settings.evaluation)

    def after(pull: PullRequest) -> Transition:
        return landing.opened(pull) if landing is not None else Transition(TaskState.PR_OPENED)

    review = ReviewRound(repo, thread, following.reader, rounds, settings.review, after)
    return review, RepairRound(repo, thread, rounds, settings.ci, redactor, after)
