"""What the core tells the outside while it works: per task (phase, model usage) and per cycle."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from autonomous_dev.errors import InfrastructureError
from autonomous_dev.models import Issue, Outcome, Usage


class TaskObserver(Protocol):
    """Told what a task is doing: its phase, the usage of every model turn, and when what is left of it
    no longer needs a worker."""

    def phase(self, issue: Issue, phase: str) -> None: ...

    def usage(self, issue: Issue, turn_usage: Usage) -> None: ...

    def publishing(self, issue: Issue) -> None:
        """The model and the checks are done; what is left (commit, push, the pull request) waits on git
        and GitHub, so the worker's place goes to the next task meanwhile."""


class CycleObserver:
    """What the daemon tells the outside (live progress, metrics); every method does nothing here."""

    def issues_listed(self, repo: str, count: int) -> None:
        """A cycle found `count` labelled issues in `repo` (before it checks and claims them)."""
        return None

    def task_started(self, repo: str, issue: Issue) -> None:
        return None

    def task_phase(self, repo: str, issue: Issue, phase: str) -> None:
        return None

    def task_usage(self, repo: str, issue: Issue, usage: Usage, cost_usd: float) -> None:
        return None

    def task_finished(self, repo: str, issue: Issue, outcome: Outcome) -> None:
        return None

    def cycle_finished(self, outcomes: list[Outcome]) -> None:
        return None

    def outage(self, error: InfrastructureError | None, retry_at: datetime | None) -> None:
        """A service is unreachable until `retry_at` (None, None: it answers again)."""
        return None
