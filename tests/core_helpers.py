"""The core wired around the in-memory fakes: one repository's steps, a real SQLite store, a test clock."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from autonomous_dev.core.agent import Agent, Budget
from autonomous_dev.core.attempt import Attempt
from autonomous_dev.core.context import TaskContext
from autonomous_dev.core.control import StopControl
from autonomous_dev.core.cycle import Cycle, Policy
from autonomous_dev.core.follow import Follow
from autonomous_dev.core.issue_thread import IssueThread
from autonomous_dev.core.landing import Landing
from autonomous_dev.core.lifecycle import FailurePolicy
from autonomous_dev.core.observe import CycleObserver
from autonomous_dev.core.pr_round import PullRound
from autonomous_dev.core.repair import RepairRound
from autonomous_dev.core.repository import RepoWork
from autonomous_dev.core.review import ReviewRound
from autonomous_dev.core.review_input import ReviewReader
from autonomous_dev.core.update import BranchUpdate
from autonomous_dev.models import Outcome, PullRequest
from autonomous_dev.sandbox.backends import sandbox_from_settings
from autonomous_dev.security.redact import Redactor
from autonomous_dev.security.trust import TrustGate
from autonomous_dev.settings.rounds import CISettings, ReviewSettings
from autonomous_dev.settings.sections import (
    AgentSettings,
    DiscoverySettings,
    EvaluationSettings,
    MergeSettings,
)
from autonomous_dev.settings.services import SandboxSettings, SecuritySettings
from autonomous_dev.store.backends import SqliteStore, Store
from autonomous_dev.store.records import TaskState, Transition
from tests.fakes import FakeRepo, FakeWorkspaces, ScriptedClaude, make_template

LABEL = "autonomous-dev"
CALC = {"calc.py": "def add(a, b):\n    return a - b\n"}


class Clock:
    """A clock the test moves; starts at a fixed moment."""

    def __init__(self, start: datetime = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


def repo_work(
    tmp_path: Path,
    repo: FakeRepo,
    claude: ScriptedClaude,
    *,
    dry_run: bool = False,
    merge: MergeSettings | None = None,
    clock: Clock | None = None,
    files: dict[str, str] | None = None,
    max_turns: int = 5,
    evaluation: EvaluationSettings | None = None,
    instruction_files: tuple[str, ...] = tuple(AgentSettings().instruction_files),
    follow: tuple[ReviewSettings, CISettings] | None = None,  # PRs followed: review and CI-repair rounds
    budget: Budget | None = None,
) -> RepoWork:
    template = make_template(tmp_path / "template", files or CALC)
    workspaces = FakeWorkspaces(template, tmp_path)
    agent = Agent(claude, "system", budget or Budget(max_turns=max_turns, max_tokens=10_000))
    redactor = Redactor()
    trust = TrustGate(repo, LABEL, SecuritySettings())
    thread = IssueThread(repo, DiscoverySettings(), trust, 20_000, dry_run)
    evaluation = evaluation or EvaluationSettings()
    sandbox = sandbox_from_settings(SandboxSettings())
    context = TaskContext(
        evaluation, sandbox, redactor, repo_map_chars=0, instruction_files=instruction_files
    )
    attempt = Attempt(repo, workspaces, agent, context, thread, evaluation, "main", redactor, dry_run)
    following = review = repair = None
    if follow is not None:
        reader = ReviewReader(repo, trust, follow[0].allow_bots, 20_000)
        following = Follow(repo, thread, reader, *follow)
    landing = update = None
    if merge is not None:
        landing = Landing(repo, thread, merge, clock or Clock(), following)
        update = BranchUpdate(repo, workspaces, agent, context, thread, merge.conflict_strategy, redactor)
    if following is not None:
        rounds = PullRound(repo, workspaces, agent, context, redactor, evaluation)
        after = _after(landing)
        review = ReviewRound(repo, thread, following.reader, rounds, following.review, after)
        repair = RepairRound(repo, thread, rounds, following.ci, redactor, after)
    return RepoWork(repo, workspaces, thread, attempt, landing, update, None, 0, following, review, repair)


def _after(landing: Landing | None) -> Callable[[PullRequest], Transition]:
    def after(pull: PullRequest) -> Transition:
        return landing.opened(pull) if landing is not None else Transition(TaskState.PR_OPENED)

    return after


def open_test_store(tmp_path: Path) -> SqliteStore:
    store = SqliteStore(tmp_path / "state.db")
    store.migrate()
    return store


def cycle(
    works: list[RepoWork],
    store: Store,
    *,
    workers: int = 1,
    max_attempts: int = 3,
    backoff_s: tuple[float, ...] = (0.0,),
    clock: Clock | None = None,
    control: StopControl | None = None,
    only: frozenset[int] | None = None,
    pull: int | None = None,
    observer: CycleObserver | None = None,
    per_repo_workers: int = 0,
) -> Cycle:
    policy = Policy(
        workers=workers,
        lease_s=30,
        failures=FailurePolicy(max_attempts, backoff_s),
        max_cost_per_day=100,
        per_repo_workers=per_repo_workers,
        grace_s=60,
    )
    return Cycle(
        works,
        store,
        policy,
        "test-owner",
        control or StopControl(),
        observer,
        clock or Clock(),
        only=only,
        pull=pull,
    )


def run_cycle(work: RepoWork, tmp_path: Path, workers: int = 1) -> list[Outcome]:
    """One cycle with a real SQLite store in the test's directory."""
    return cycle([work], open_test_store(tmp_path), workers=workers).run()
