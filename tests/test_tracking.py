"""The tracking comment and failure causes in the core, around the in-memory fakes and a real SQLite store."""

from __future__ import annotations

import functools
import json
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from autonomous_dev.core.agent import Budget
from autonomous_dev.core.progress import Progress
from autonomous_dev.core.progress_text import Limits, render
from autonomous_dev.core.repository import RepoWork
from autonomous_dev.core.tracking import Tracker
from autonomous_dev.errors import Cause, InfrastructureError
from autonomous_dev.metrics import Metrics
from autonomous_dev.models import Comment, Issue
from autonomous_dev.settings.sections import EvaluationSettings
from autonomous_dev.store.backends import SqliteStore
from autonomous_dev.store.records import TaskRecord, TaskState
from tests.core_helpers import LABEL, Clock, cycle, open_test_store, repo_work
from tests.fakes import FakeRepo, ScriptedClaude
from tests.helpers import run_cli

REPO = "acme/widgets"
LIMITS = Limits(max_attempts=3, max_repair_rounds=2, needs_human_label="needs-human")
FIX: list[tuple[str, dict[str, object]]] = [
    ("str_replace_based_edit_tool",
     {"command": "str_replace", "path": "calc.py", "old_str": "return a - b", "new_str": "return a + b"}),
]  # fmt: skip
LOOK: list[tuple[str, dict[str, object]]] = [
    ("str_replace_based_edit_tool", {"command": "view", "path": "calc.py"})
]


def issue(number: int = 1) -> Issue:
    return Issue(number, "add() subtracts", "add(2, 3) is -1", (LABEL,))


def tracked(work: RepoWork, repo: FakeRepo, **options: object) -> RepoWork:
    """The same steps with the tracking comment and cause labels on, as the CLI builds them."""
    tracker = Tracker(repo, LIMITS, comment=True, cause_labels=True, **options)  # type: ignore[arg-type]
    work.thread.tracker = tracker
    return work


def tracking_comments(repo: FakeRepo, number: int = 1) -> list[Comment]:
    return [c for c in repo.posted.get(number, []) if "kind=tracking" in c.body]


def test_a_crash_between_creating_the_comment_and_recording_anything_leaves_one_comment(
    tmp_path: Path,
) -> None:
    repo = FakeRepo(issues=[issue()])
    store = open_test_store(tmp_path)
    clock = Clock()
    work = tracked(repo_work(tmp_path, repo, ScriptedClaude([FIX, "add() adds now."])), repo)
    store.observe(REPO, 1, "fp")
    claimed = store.claim(REPO, [1], "dead-worker", 30, now=clock())
    assert claimed is not None
    work.thread.tracker.open(issue(), claimed).begin()  # the comment is created ... and the worker dies
    assert len(tracking_comments(repo)) == 1

    clock.advance(seconds=60)  # its lease runs out; a new process (nothing in memory) goes on
    work = tracked(repo_work(tmp_path / "again", repo, ScriptedClaude([FIX, "add() adds now."])), repo)
    cycle([work], store, clock=clock).run()

    [comment] = tracking_comments(repo)  # found again by its marker, and edited
    assert "✅ pull request opened" in comment.body and len(repo.pulls) == 1
    assert "- attempt 1: worker-lost:" in comment.body
    assert len(repo.posted[1]) == 1 and repo.edits and all(edit[0] == comment.id for edit in repo.edits)


def test_a_crash_after_the_warning_and_the_pr_loses_neither_in_the_comment(tmp_path: Path) -> None:
    repo = FakeRepo(issues=[issue()])
    store = open_test_store(tmp_path)
    clock = Clock()
    work = tracked(repo_work(tmp_path, repo, ScriptedClaude(["unused"])), repo)
    store.observe(REPO, 1, "fp")
    claimed = store.claim(REPO, [1], "dead-worker", 30, now=clock())
    assert claimed is not None
    keep = functools.partial(store.keep_progress, REPO, 1, "dead-worker")
    report = work.thread.tracker.open(issue(), claimed, keep)
    report.begin()
    work.thread.warn_unverified(1, work.attempt.branch(issue()), "the build passes but no tests ran")
    repo.create_pull("Fix #1", "Closes #1", work.attempt.branch(issue()), "main")  # ... and the worker dies

    clock.advance(seconds=60)
    work = tracked(repo_work(tmp_path / "again", repo, ScriptedClaude(["unused"])), repo)
    cycle([work], store, clock=clock).run()  # crash recovery, the PR adopted, the comment brought up to date

    [comment] = repo.posted[1]
    assert "✅ pull request opened" in comment.body and "https://example.invalid/pull/0" in comment.body
    assert "**not verified**: `the build passes but no tests ran`" in comment.body
    task = store.get(REPO, 1)
    assert task is not None and task.state is TaskState.PR_OPENED and task.progress_shown


def test_a_post_that_landed_but_failed_is_found_by_its_marker_not_posted_again(tmp_path: Path) -> None:
    class LostAnswer(FakeRepo):
        def add_comment(self, number: int, body: str) -> Comment:
            made = super().add_comment(number, body)
            if len(self.posted[number]) == 1:
                raise InfrastructureError("GitHub", "502 after the comment was made")
            return made

    repo = LostAnswer(issues=[issue()])
    tracker = Tracker(repo, LIMITS, comment=True)
    store = open_test_store(tmp_path)
    store.observe(REPO, 1, "fp")
    claimed = store.claim(REPO, [1], "w", 30)
    assert claimed is not None
    tracker.open(issue(), claimed).begin()
    assert len(repo.posted[1]) == 1 and "working on this issue" in repo.posted[1][0].body


PROVES_THE_FIX = EvaluationSettings(
    test_command="python -c 'import calc, sys; sys.exit(calc.add(2, 3) != 5)'"
)


def test_phase_edits_are_coalesced_and_a_steps_start_and_end_always_shown(tmp_path: Path) -> None:
    repo = FakeRepo(issues=[issue()])
    claude = ScriptedClaude([LOOK, FIX, "add() adds now."])
    work = tracked(repo_work(tmp_path, repo, claude, evaluation=PROVES_THE_FIX), repo)
    store = open_test_store(tmp_path)
    [outcome] = cycle([work], store).run()
    assert outcome.pr is not None
    [comment] = tracking_comments(repo)
    assert len(repo.edits) == 1  # created at the claim, edited once at the end: the phases came too fast
    assert "✅ pull request opened" in comment.body

    repo, ticks = FakeRepo(issues=[issue()]), iter(range(0, 10_000, 100))
    claude = ScriptedClaude([LOOK, FIX, "add() adds now."])
    work = tracked(repo_work(tmp_path / "slow", repo, claude, evaluation=PROVES_THE_FIX), repo,
                   ticks=lambda: float(next(ticks)))  # fmt: skip
    cycle([work], open_test_store(tmp_path / "slow")).run()
    assert len(repo.edits) >= 5  # 100 s between phases: each shown


def test_the_comment_holds_the_not_verified_warning_and_the_needs_human_text(tmp_path: Path) -> None:
    repo = FakeRepo(issues=[issue()])
    nothing = EvaluationSettings(build_command="true")  # nothing proves a change: the PR is not verified
    work = tracked(
        repo_work(tmp_path, repo, ScriptedClaude([FIX, "add() adds now."]), evaluation=nothing), repo
    )
    cycle([work], open_test_store(tmp_path)).run()
    [comment] = repo.posted[1]  # one comment: no separate pr-link warning
    assert "⚠️ The change is **not verified**: `the build passes but no tests ran`" in comment.body

    repo = FakeRepo(issues=[issue()])
    work = tracked(repo_work(tmp_path / "t", repo, ScriptedClaude([LOOK]), max_turns=1), repo)
    store = open_test_store(tmp_path / "t")
    for _ in range(3):
        cycle([work], store, backoff_s=(0.0,)).run()
    [comment] = repo.posted[1]  # one comment: the hand-over is in it, not in a needs-human comment
    assert "🙋 handed over to a human after 3 attempts (labelled `needs-human`)" in comment.body
    assert "Edit the issue, or remove the `needs-human` label" in comment.body
    assert "- attempt 1: budget-turns" in comment.body and "- attempt 2: budget-turns" in comment.body
    assert {"needs-human", "autonomous-dev:cause/budget-turns"} <= repo.labels[1]


def test_github_failing_at_the_end_of_a_step_loses_nothing_and_burns_no_attempt(tmp_path: Path) -> None:
    class Down(FakeRepo):
        down = False

        def edit_comment(self, comment_id: int, body: str) -> Comment:
            if self.down:
                raise InfrastructureError("GitHub", "GitHub answered 502")
            return super().edit_comment(comment_id, body)

        def create_pull(self, title: str, body: str, head: str, base: str, draft: bool = False):  # type: ignore[no-untyped-def]
            self.down = True  # GitHub goes down right after the PR is opened
            return super().create_pull(title, body, head, base, draft)

    repo = Down(issues=[issue()])
    work = tracked(repo_work(tmp_path, repo, ScriptedClaude([FIX, "add() adds now."])), repo)
    store = open_test_store(tmp_path)
    [outcome] = cycle([work], store).run()
    task = store.get(REPO, 1)
    assert task is not None and outcome.pr is not None
    assert (task.state, task.attempts, task.pr_number, task.progress_shown) == (
        TaskState.PR_OPENED,
        1,
        100,
        False,
    )

    repo.down = False
    cycle([work], store).run()  # the next cycle brings the comment up to date
    [comment] = tracking_comments(repo)
    assert "✅ pull request opened" in comment.body
    shown = store.get(REPO, 1)
    assert shown is not None and shown.progress_shown and shown.attempts == 1


# Budgets the model's first turn (a look at a file, 120 tokens) leaves spent: the attempt stops right after it
# with that budget's cause.
SPENT_BUDGETS = {
    "budget-tokens": Budget(max_turns=5, max_tokens=100),
    "budget-cost": Budget(
        max_turns=5, max_tokens=10_000, max_cost_usd=0.01, cost_of=lambda usage: usage.total_tokens / 10_000
    ),
    "budget-time": Budget(max_turns=5, max_tokens=10_000, max_seconds=0),
}


def scenario(name: str, tmp_path: Path) -> tuple[FakeRepo, RepoWork]:
    """An issue whose attempt ends with the named cause."""
    repo = FakeRepo(issues=[issue()])
    check = "python -c 'import calc, sys; sys.exit(calc.add(2, 3) != -1)'"  # passes on the base commit only
    if name == "model-gave-up":
        return repo, repo_work(tmp_path, repo, ScriptedClaude(["It works as documented; nothing to change."]))
    if name == "budget-turns":
        return repo, repo_work(tmp_path, repo, ScriptedClaude([LOOK]), max_turns=2)
    if name in SPENT_BUDGETS:
        return repo, repo_work(tmp_path, repo, ScriptedClaude([LOOK]), budget=SPENT_BUDGETS[name])
    if name == "checks-failed":
        evaluation = EvaluationSettings(test_command=check, max_repair_rounds=2)
    else:  # baseline-red: the tests fail on the base commit already, in a way nobody can name
        evaluation = EvaluationSettings(test_command="python -c 'raise SystemExit(3)'", max_repair_rounds=0)
    return repo, repo_work(tmp_path, repo, ScriptedClaude([FIX, "add() adds now."]), evaluation=evaluation)


CAUSES = ["model-gave-up", "budget-turns", *SPENT_BUDGETS, "checks-failed", "baseline-red"]


@pytest.mark.parametrize("name", CAUSES)
def test_each_cause_reaches_the_label_the_store_status_and_metrics(name: str, tmp_path: Path) -> None:
    repo, work = scenario(name, tmp_path)
    work = tracked(work, repo)
    store = SqliteStore(tmp_path / "state.db")
    store.migrate()
    metrics = Metrics(healthy_within_s=60)
    [outcome] = cycle([work], store, observer=metrics).run()

    assert outcome.cause == name
    task = store.get(REPO, 1)
    assert task is not None and task.cause == Cause(name)
    assert f"autonomous-dev:cause/{name}" in repo.labels[1]
    [comment] = tracking_comments(repo)
    assert f"`autonomous-dev:cause/{name}`" in comment.body
    if name == "checks-failed":  # the why names the rounds made
        assert "`the checks still fail after 2 repair round(s): " in comment.body
        assert "repair rounds: 2 of 2" in comment.body
        assert "- [ ] ❌ Build and tests pass" in comment.body  # not ticked when they fail
        assert "- [x] Pull request opened (a draft: the checks fail)" in comment.body
    registry: CollectorRegistry = metrics.registry
    assert registry.get_sample_value("autonomous_dev_task_causes_total", {"repo": REPO, "cause": name}) == 1
    env = {"STATE_SQLITE_PATH": str(tmp_path / "state.db"), "REPO_OWNER": "acme", "REPO_NAME": "widgets"}
    status = run_cli(["status", "--json"], cwd=tmp_path, env=env)
    assert status.returncode == 0, status.stderr
    document = json.loads(status.stdout)
    assert [task["cause"] for task in document["tasks"]] == [name]
    assert document["totals"]["causes"] == {name: 1}


def test_a_later_success_removes_the_cause_label(tmp_path: Path) -> None:
    repo = FakeRepo(issues=[issue()])
    work = tracked(repo_work(tmp_path, repo, ScriptedClaude([LOOK]), max_turns=1), repo)
    store = open_test_store(tmp_path)
    cycle([work], store).run()
    assert "autonomous-dev:cause/budget-turns" in repo.labels[1]
    work.attempt.agent.claude = ScriptedClaude([FIX, "add() adds now."])  # type: ignore[attr-defined]
    work.attempt.agent.budget = replace(work.attempt.agent.budget, max_turns=5)
    cycle([work], store).run()
    assert not any(label.startswith("autonomous-dev:cause/") for label in repo.labels[1])
    task = store.get(REPO, 1)
    assert task is not None and task.cause is None and task.state is TaskState.PR_OPENED


def test_outside_text_in_the_comment_is_inert() -> None:
    now = Clock()()
    error = "boom <!-- autonomous-dev:kind=no-changes issue=1 --> @admin [x](http://e) `"
    record = TaskRecord(REPO, 1, TaskState.FAILED, 1, error, None, None, None, now + timedelta(minutes=5),
                        None, None, 0, 0, 0, 0, 0.0, now, now, cause=Cause.CHECKS_FAILED)  # fmt: skip
    body = render(Progress.new(False), record, LIMITS)
    assert body.count("<!-- autonomous-dev:") == 1  # only the tracking marker: a forged one is broken
    assert "`boom <!- - autonomous-dev:kind=no-changes issue=1 --> @admin [x](http://e) '`" in body
    assert "**Next:** attempt 2 of 3 at 2026-12-04 12:05 UTC." in body


def test_a_worker_lost_in_the_last_attempt_is_shown_as_no_attempt_left_not_a_fourth() -> None:
    now = Clock()()
    record = TaskRecord(REPO, 1, TaskState.QUEUED, 3, "lost", None, None, None, None, None, None, 0, 0, 0,
                        0, 0.0, now, now, cause=Cause.WORKER_LOST)  # fmt: skip
    body = render(Progress.new(False), record, LIMITS)
    assert "attempt 3 of 3 stopped" in body and "4 of 3" not in body
    assert "**Next:** none: every attempt is used, and at its next claim a human takes it over." in body
    handed = render(Progress.new(False), replace(record, state=TaskState.NEEDS_HUMAN, attempts=4), LIMITS)
    assert "handed over to a human after 3 attempts" in handed


def test_a_rate_limit_pauses_the_task_uncounted_says_so_and_labels_nothing(tmp_path: Path) -> None:
    class Limited(ScriptedClaude):
        def complete(self, system: str, messages: list[dict[str, object]], tools: list[dict[str, object]]):  # type: ignore[no-untyped-def]
            raise InfrastructureError(
                "Anthropic", "the Claude API answered 429", retry_after_s=30, rate_limited=True
            )

    repo = FakeRepo(issues=[issue()])
    work = tracked(repo_work(tmp_path, repo, Limited([])), repo)
    store, metrics = open_test_store(tmp_path), Metrics(healthy_within_s=60)
    [outcome] = cycle([work], store, observer=metrics).run()
    assert outcome.cause == "rate-limited"
    task = store.get(REPO, 1)
    assert task is not None and (task.state, task.attempts, task.cause) == (
        TaskState.QUEUED,
        0,
        Cause.RATE_LIMITED,
    )
    [comment] = tracking_comments(repo)
    assert (
        "⏸️ paused; it goes on by itself" in comment.body
        and "`autonomous-dev:cause/rate-limited`" in comment.body
    )
    assert "the same attempt again once the service answers" in comment.body
    assert not any(label.startswith("autonomous-dev:cause/") for label in repo.labels.get(1, set()))
    assert (
        metrics.registry.get_sample_value(
            "autonomous_dev_task_causes_total", {"repo": REPO, "cause": "rate-limited"}
        )
        == 1
    )
