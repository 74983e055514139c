"""The landing step's decisions, one look at a time, on in-memory fakes: wait, merge, refuse, update,
hand over."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

import pytest

from autonomous_dev.core.issue_thread import IssueThread
from autonomous_dev.core.landing import Landing, Readiness, assess
from autonomous_dev.errors import GitHubError
from autonomous_dev.models import CheckSummary, Issue, Outcome, OutcomeKind, PullRequest, PullStatus
from autonomous_dev.security.trust import TrustGate
from autonomous_dev.settings.sections import DiscoverySettings, MergeSettings
from autonomous_dev.settings.services import SecuritySettings
from autonomous_dev.store.records import TaskRecord, TaskState
from tests.core_helpers import Clock
from tests.fakes import FakeRepo

REPO = "acme/widgets"
T0 = Clock().now

ISSUE = Issue(7, "Fix add", "")
PULL = PullRequest(12, "https://example.invalid/pull/12", "auto/7-fix-add", "main")
PASSED = CheckSummary(passed=("ci",))
PENDING = CheckSummary(pending=("ci",))
FAILED = CheckSummary(passed=("lint",), failed=("ci",))
NONE = CheckSummary()


def status(
    mergeable: bool | None = True,
    state: str = "clean",
    merged: bool = False,
    head: str = "a1",
    open_: bool = True,
) -> PullStatus:
    return PullStatus(
        12, "open" if open_ else "closed", merged, False, head, mergeable, state, "auto/7-fix-add", "main"
    )


def record(
    updates: int = 0, deadline_at: datetime | None = None, state: TaskState = TaskState.LANDING
) -> TaskRecord:
    return TaskRecord(REPO, 7, state, 1, None, 12, PULL.url, "fp", None, "owner", None, 0, 0, 0, 0, 0.0,
                      T0, T0, updates=updates, deadline_at=deadline_at)  # fmt: skip


def landing(repo: FakeRepo, clock: Clock, **merge: object) -> tuple[Landing, list[tuple[int, str]]]:
    settings = MergeSettings.model_validate({"checks_timeout_minutes": 10, "poll_seconds": 10, **merge})
    thread = IssueThread(
        repo, DiscoverySettings(), TrustGate(repo, "autonomous-dev", SecuritySettings()), 20_000
    )
    return Landing(repo, thread, settings, clock), repo.posted.setdefault(7, [])  # type: ignore[return-value]


def drive(step: Landing, clock: Clock, updates: list[str | None] | None = None) -> tuple[Outcome, int]:
    """What the cycle does with one task: look, wait until the look is due again, update when out of date
    (each update's result from `updates`), until the task leaves the landing states. Returns the last
    outcome and the number of looks."""
    results = list(updates or [])
    task = record(deadline_at=step.opened(PULL).deadline_at)
    looks = 0
    while True:
        looks += 1
        result = step.look(ISSUE, task)
        to = result.transition
        if to.state is TaskState.LANDING:
            assert to.next_attempt_at is not None and to.next_attempt_at > clock.now  # never a busy loop
            clock.now = to.next_attempt_at
        elif to.state is TaskState.OUT_OF_DATE:
            failure = results.pop(0)
            if failure is not None:
                return step.hand_over(ISSUE, PULL, failure).outcome, looks
            to = step.updated()
        else:
            return result.outcome, looks
        task = replace(
            task, state=TaskState.LANDING, deadline_at=to.deadline_at, updates=task.updates + to.updates
        )


@pytest.mark.parametrize(
    ("pull", "checks", "readiness"),
    [
        (status(merged=True, mergeable=None), None, Readiness.MERGED),
        (status(open_=False), None, Readiness.CLOSED),
        (status(mergeable=None, state="unknown"), None, Readiness.WAIT),
        (status(mergeable=False, state="dirty"), None, Readiness.OUT_OF_DATE),
        (status(state="behind"), PASSED, Readiness.OUT_OF_DATE),
        (status(state="unstable"), FAILED, Readiness.FAILED),
        (status(state="unstable"), PENDING, Readiness.WAIT),
        (status(), NONE, Readiness.WAIT),
        (status(state="blocked"), PASSED, Readiness.BLOCKED),
        (status(), PASSED, Readiness.READY),
        (status(state="has_hooks"), PASSED, Readiness.READY),
    ],
)
def test_assess(pull: PullStatus, checks: CheckSummary | None, readiness: Readiness) -> None:
    assert assess(pull, checks, require_checks=True).readiness is readiness


def test_no_checks_at_all_is_ready_when_checks_are_not_required() -> None:
    assert assess(status(), NONE, require_checks=False).readiness is Readiness.READY


def test_waits_one_look_at_a_time_while_checks_run_then_merges_closes_and_reports() -> None:
    repo = FakeRepo(statuses=[status()], check_results=[PENDING, PENDING, PENDING, PASSED])
    clock = Clock()
    step, reports = landing(repo, clock, merge_method="rebase")
    outcome, looks = drive(step, clock)
    assert outcome.kind is OutcomeKind.MERGED and looks == 4
    assert repo.merges == [(12, "rebase", "a1")]
    assert clock.now - T0 == timedelta(seconds=30)  # a look every pollSeconds; no worker waited
    assert repo.deleted == ["auto/7-fix-add"] and repo.closed == [7]
    assert len(reports) == 1 and "(rebase)" in reports[0].body


def test_failing_checks_are_refused_and_reported_without_merging() -> None:
    repo = FakeRepo(statuses=[status(state="unstable")], check_results=[FAILED])
    step, reports = landing(repo, Clock())
    result = step.look(ISSUE, record())
    assert result.transition.state is TaskState.PR_OPENED
    assert result.outcome.kind is OutcomeKind.PR_OPENED and "checks failed: ci" in result.outcome.detail
    assert repo.merges == [] and repo.closed == [] and repo.deleted == []
    assert "merge-refused" in reports[0].body and "checks failed: ci" in reports[0].body


def test_protection_is_reported_and_merge_never_attempted() -> None:
    repo = FakeRepo(statuses=[status(state="blocked")], check_results=[PASSED])
    step, reports = landing(repo, Clock())
    assert step.look(ISSUE, record()).outcome.kind is OutcomeKind.PR_OPENED
    assert repo.merges == []  # an admin token would bypass protection: never try
    assert "branch protection" in reports[0].body


def test_gives_up_waiting_at_the_deadline() -> None:
    repo = FakeRepo(statuses=[status()], check_results=[PENDING])
    clock = Clock()
    step, _ = landing(repo, clock, checks_timeout_minutes=2)
    outcome, looks = drive(step, clock)
    assert outcome.kind is OutcomeKind.PR_OPENED and "after 2 minutes" in outcome.detail
    assert clock.now - T0 == timedelta(minutes=2) and looks == 13 and repo.merges == []


def test_manual_strategy_hands_a_conflict_to_a_human() -> None:
    repo = FakeRepo(statuses=[status(mergeable=False, state="dirty")])
    step, reports = landing(repo, Clock(), conflict_strategy="manual")
    result = step.look(ISSUE, record())
    assert result.outcome.kind is OutcomeKind.NEEDS_HUMAN and not result.outcome.ok
    assert result.transition.state is TaskState.NEEDS_HUMAN
    assert ("add", 7, "needs-human") in repo.label_log
    assert "merge-conflict" in reports[0].body and "conflicts with its base" in reports[0].body


def test_rebase_strategy_updates_the_branch_then_merges_the_new_head() -> None:
    repo = FakeRepo(
        statuses=[status(mergeable=False, state="dirty"), status(head="b2")], check_results=[PASSED]
    )
    clock = Clock()
    step, reports = landing(repo, clock)
    outcome, _ = drive(step, clock, updates=[None])
    assert outcome.kind is OutcomeKind.MERGED and repo.merges == [(12, "squash", "b2")]
    assert "1 time(s)" in reports[0].body


def test_rounds_of_updating_are_limited() -> None:
    repo = FakeRepo(statuses=[status(mergeable=False, state="dirty")])
    clock = Clock()
    step, _ = landing(repo, clock, max_retries=2)
    outcome, _ = drive(step, clock, updates=[None, None])
    assert outcome.kind is OutcomeKind.NEEDS_HUMAN and "after 2 round(s)" in outcome.detail


def test_a_failed_update_goes_to_a_human_with_the_reason() -> None:
    repo = FakeRepo(statuses=[status(mergeable=False, state="dirty")])
    clock = Clock()
    step, reports = landing(repo, clock)
    outcome, _ = drive(step, clock, updates=["the checks fail on the updated branch"])
    assert outcome.kind is OutcomeKind.NEEDS_HUMAN and "the checks fail" in reports[0].body


def test_head_moved_during_merge_looks_again() -> None:
    repo = FakeRepo(
        statuses=[status(), status(head="c3")],
        check_results=[PASSED],
        merge_errors=[GitHubError("Head branch was modified", status=409)],
    )
    clock = Clock()
    step, _ = landing(repo, clock)
    assert drive(step, clock)[0].kind is OutcomeKind.MERGED
    assert repo.merges == [(12, "squash", "c3")]


def test_a_merge_github_refuses_is_reported() -> None:
    refusal = GitHubError("Squash merges are not allowed on this repository.", status=405)
    repo = FakeRepo(statuses=[status()], check_results=[PASSED], merge_errors=[refusal])
    step, reports = landing(repo, Clock())
    assert step.look(ISSUE, record()).outcome.kind is OutcomeKind.PR_OPENED
    assert "Squash merges are not allowed" in reports[0].body


def test_a_draft_pr_waits_for_people_and_a_ready_one_lands_within_the_checks_time() -> None:
    step, _ = landing(FakeRepo(), Clock())
    assert step.opened(replace(PULL, draft=True)).state is TaskState.PR_OPENED
    ready = step.opened(PULL)
    assert ready.state is TaskState.LANDING and ready.deadline_at == T0 + timedelta(minutes=10)


def test_a_merge_refused_because_another_pr_merged_first_updates_the_branch() -> None:
    refusal = GitHubError("Pull Request is not mergeable", status=405)
    repo = FakeRepo(
        statuses=[status(), status(mergeable=False, state="dirty")],
        check_results=[PASSED],
        merge_errors=[refusal],
    )
    step, reports = landing(repo, Clock())
    result = step.look(ISSUE, record())
    assert result.transition.state is TaskState.OUT_OF_DATE and reports == []
