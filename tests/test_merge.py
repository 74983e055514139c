"""The merge step's decisions, on in-memory fakes: wait, merge, refuse, update, hand over, stop."""

from __future__ import annotations

import pytest

from autonomous_dev.core.merge import Lander, MergePolicy, Verdict, assess
from autonomous_dev.errors import GitHubError
from autonomous_dev.models import CheckSummary, Issue, OutcomeKind, PullRequest, PullStatus
from tests.fakes import FakeRepo

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
    return PullStatus(12, "open" if open_ else "closed", merged, False, head, mergeable, state)


class Clock:
    """Fake time: sleeping moves it forward, so waits cost nothing and can be counted."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def lander(
    repo: FakeRepo,
    clock: Clock,
    rework_results: list[str | None] | None = None,
    stopping: list[bool] | None = None,
    **policy: object,
) -> tuple[Lander, list[tuple[int, str, str]]]:
    reports: list[tuple[int, str, str]] = []
    results = list(rework_results or [])

    def rework(issue: Issue, pull: PullRequest) -> str | None:
        return results.pop(0)

    merge_policy = MergePolicy(**{"checks_timeout_s": 600.0, "poll_s": 10.0, **policy})  # type: ignore[arg-type]
    flags = stopping if stopping is not None else [False]
    landing = Lander(
        repo,
        merge_policy,
        rework,
        lambda number, body, kind: reports.append((number, body, kind)),
        stopping=lambda: flags[0],
        clock=clock,
        sleep=clock.sleep,
    )
    return landing, reports


@pytest.mark.parametrize(
    ("pull", "checks", "verdict"),
    [
        (status(merged=True, mergeable=None), None, Verdict.MERGED),
        (status(open_=False), None, Verdict.CLOSED),
        (status(mergeable=None, state="unknown"), None, Verdict.WAIT),
        (status(mergeable=False, state="dirty"), None, Verdict.OUT_OF_DATE),
        (status(state="behind"), PASSED, Verdict.OUT_OF_DATE),
        (status(state="unstable"), FAILED, Verdict.FAILED),
        (status(state="unstable"), PENDING, Verdict.WAIT),
        (status(), NONE, Verdict.WAIT),
        (status(state="blocked"), PASSED, Verdict.BLOCKED),
        (status(), PASSED, Verdict.READY),
        (status(state="has_hooks"), PASSED, Verdict.READY),
    ],
)
def test_assess(pull: PullStatus, checks: CheckSummary | None, verdict: Verdict) -> None:
    assert assess(pull, checks, require_checks=True).verdict is verdict


def test_no_checks_at_all_is_ready_when_checks_are_not_required() -> None:
    assert assess(status(), NONE, require_checks=False).verdict is Verdict.READY


def test_waits_with_backoff_while_checks_run_then_merges_closes_and_reports() -> None:
    repo = FakeRepo(statuses=[status()], check_results=[PENDING, PENDING, PENDING, PASSED])
    clock = Clock()
    landing, reports = lander(repo, clock, method="rebase")
    outcome = landing.land(ISSUE, PULL)
    assert outcome.kind is OutcomeKind.MERGED
    assert repo.merges == [(12, "rebase", "a1")]
    assert clock.now == pytest.approx(10 + 20 + 40)  # doubling pauses
    assert repo.deleted == ["auto/7-fix-add"] and repo.closed == [7]
    assert [kind for _, _, kind in reports] == ["merged"] and "(rebase)" in reports[0][1]


def test_failing_checks_are_refused_and_reported_without_merging() -> None:
    repo = FakeRepo(statuses=[status(state="unstable")], check_results=[FAILED])
    landing, reports = lander(repo, Clock())
    outcome = landing.land(ISSUE, PULL)
    assert outcome.kind is OutcomeKind.PR_OPENED and "checks failed: ci" in outcome.detail
    assert repo.merges == [] and repo.closed == [] and repo.deleted == []
    assert reports[0][2] == "merge-refused" and "checks failed: ci" in reports[0][1]


def test_protection_is_reported_and_merge_never_attempted() -> None:
    repo = FakeRepo(statuses=[status(state="blocked")], check_results=[PASSED])
    landing, reports = lander(repo, Clock())
    outcome = landing.land(ISSUE, PULL)
    assert outcome.kind is OutcomeKind.PR_OPENED
    assert repo.merges == []  # an admin token would bypass protection: never try
    assert "branch protection" in reports[0][1]


def test_gives_up_waiting_at_the_timeout() -> None:
    repo = FakeRepo(statuses=[status()], check_results=[PENDING])
    clock = Clock()
    landing, _ = lander(repo, clock, checks_timeout_s=120.0)
    outcome = landing.land(ISSUE, PULL)
    assert outcome.kind is OutcomeKind.PR_OPENED and "after 2 minutes" in outcome.detail
    assert clock.now == pytest.approx(120) and repo.merges == []


def test_manual_strategy_hands_a_conflict_to_a_human() -> None:
    repo = FakeRepo(statuses=[status(mergeable=False, state="dirty")])
    landing, reports = lander(repo, Clock(), strategy="manual")
    outcome = landing.land(ISSUE, PULL)
    assert outcome.kind is OutcomeKind.NEEDS_HUMAN and not outcome.ok
    assert ("add", 7, "needs-human") in repo.label_log
    assert reports[0][2] == "merge-conflict" and "conflicts with its base" in reports[0][1]


def test_rebase_strategy_updates_the_branch_then_merges_the_new_head() -> None:
    repo = FakeRepo(
        statuses=[status(mergeable=False, state="dirty"), status(head="b2")], check_results=[PASSED]
    )
    landing, reports = lander(repo, Clock(), rework_results=[None])
    outcome = landing.land(ISSUE, PULL)
    assert outcome.kind is OutcomeKind.MERGED and repo.merges == [(12, "squash", "b2")]
    assert "1 time(s)" in reports[0][1]


def test_rounds_of_updating_are_limited() -> None:
    repo = FakeRepo(statuses=[status(mergeable=False, state="dirty")])
    landing, _ = lander(repo, Clock(), rework_results=[None, None], max_retries=2)
    outcome = landing.land(ISSUE, PULL)
    assert outcome.kind is OutcomeKind.NEEDS_HUMAN and "after 2 round(s)" in outcome.detail


def test_a_failed_update_goes_to_a_human_with_the_reason() -> None:
    repo = FakeRepo(statuses=[status(mergeable=False, state="dirty")])
    landing, reports = lander(repo, Clock(), rework_results=["the checks fail on the updated branch"])
    outcome = landing.land(ISSUE, PULL)
    assert outcome.kind is OutcomeKind.NEEDS_HUMAN and "the checks fail" in reports[0][1]


def test_head_moved_during_merge_looks_again() -> None:
    repo = FakeRepo(
        statuses=[status(), status(head="c3")],
        check_results=[PASSED],
        merge_errors=[GitHubError("Head branch was modified", status=409)],
    )
    landing, _ = lander(repo, Clock())
    assert landing.land(ISSUE, PULL).kind is OutcomeKind.MERGED
    assert repo.merges == [(12, "squash", "c3")]


def test_a_merge_github_refuses_is_reported() -> None:
    refusal = GitHubError("Squash merges are not allowed on this repository.", status=405)
    repo = FakeRepo(statuses=[status()], check_results=[PASSED], merge_errors=[refusal])
    landing, reports = lander(repo, Clock())
    outcome = landing.land(ISSUE, PULL)
    assert outcome.kind is OutcomeKind.PR_OPENED and "Squash merges are not allowed" in reports[0][1]


def test_a_stop_while_waiting_defers_the_merge() -> None:
    repo = FakeRepo(statuses=[status()], check_results=[PENDING])
    flags = [False]
    clock = Clock()
    landing, reports = lander(repo, clock, stopping=flags)

    def sleep(seconds: float) -> None:
        flags[0] = True  # the stop arrives during the first pause
        clock.sleep(seconds)

    landing.sleep = sleep
    outcome = landing.land(ISSUE, PULL)
    assert outcome.kind is OutcomeKind.MERGE_DEFERRED and reports == [] and repo.merges == []
    assert clock.now <= 1.0  # noticed within one slice of the pause
