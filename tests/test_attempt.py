"""The attempt step, the cycle around it, and the agent loop, against in-memory fakes of the ports."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from autonomous_dev.core.agent import Agent, Budget
from autonomous_dev.core.control import StopControl
from autonomous_dev.core.cycle import Cycle
from autonomous_dev.core.serve import serve
from autonomous_dev.core.tools import EDITOR_NAME, Toolbox
from autonomous_dev.errors import BudgetExceeded
from autonomous_dev.models import Issue, OutcomeKind, PullRequest, slugify
from autonomous_dev.settings.sections import EvaluationSettings
from tests.core_helpers import LABEL, cycle, open_test_store, repo_work, run_cycle
from tests.fakes import FakeRepo, ScriptedClaude

FIX = [(EDITOR_NAME, {"command": "str_replace", "path": "calc.py", "old_str": "a - b", "new_str": "a + b"})]


def test_slug_rules() -> None:
    assert slugify("Fix: Crash on `None` input!!") == "fix-crash-on-none-input"
    assert len(slugify("x" * 100)) == 40
    assert slugify("é?") == "issue"
    assert Issue(7, "Add CSV export", "").branch == "auto/7-add-csv-export"


def test_issue_becomes_pull_request_with_closing_keyword(tmp_path: Path) -> None:
    repo = FakeRepo(issues=[Issue(1, "Add is wrong", "add() subtracts", (LABEL,))])
    work = repo_work(tmp_path, repo, ScriptedClaude([FIX, "Fixed the sign."]))
    outcomes = run_cycle(work, tmp_path, workers=2)
    assert [o.kind for o in outcomes] == [OutcomeKind.PR_OPENED]
    assert repo.pulls[0].head == "auto/1-add-is-wrong"
    assert repo.label_log == [("add", 1, "in-progress"), ("remove", 1, "in-progress")]
    [link] = repo.posted[1]  # nothing proved the change (no checks found): the issue is told
    assert repo.pulls[0].head in link.body and "not verified" in link.body
    workspace = work.workspaces.opened[0]  # type: ignore[attr-defined]
    assert workspace.pushed and workspace.closed


def test_a_verified_change_takes_three_github_writes(tmp_path: Path) -> None:
    """The label that displays the claim, the PR (its `Closes #n` links the issue), the label off again."""
    repo = FakeRepo(issues=[Issue(1, "Add is wrong", "add() subtracts", (LABEL,))])
    checks = EvaluationSettings(build_command="true", test_command="true")
    work = repo_work(tmp_path, repo, ScriptedClaude([FIX, "Fixed the sign."]), evaluation=checks)
    assert [o.kind for o in run_cycle(work, tmp_path)] == [OutcomeKind.PR_OPENED]
    assert repo.label_log == [("add", 1, "in-progress"), ("remove", 1, "in-progress")]
    assert len(repo.pulls) == 1 and repo.posted == {}


def test_issues_with_an_open_pr_or_unlabelled_are_left_and_a_stale_claim_label_is_repaired(
    tmp_path: Path,
) -> None:
    """The lease in the store is the claim: an in-progress label with no live lease behind it (a crashed
    worker's) is only a stale display, taken off, and the issue is worked on."""
    repo = FakeRepo(
        issues=[Issue(1, "a", "", (LABEL,)), Issue(2, "b", "", (LABEL, "in-progress")), Issue(3, "c", "")],
        pulls=[PullRequest(9, "u", "auto/1-a", "main", author="bot")],
    )
    work = repo_work(tmp_path, repo, ScriptedClaude(["nothing to change"]))
    outcomes = run_cycle(work, tmp_path)
    assert [(o.issue, o.kind) for o in outcomes] == [(2, OutcomeKind.NO_CHANGES)]
    assert repo.label_log[0] == ("remove", 2, "in-progress")


def test_an_issue_claimed_by_a_live_lease_is_left_alone(tmp_path: Path) -> None:
    repo = FakeRepo(issues=[Issue(2, "b", "", (LABEL, "in-progress"))])
    work = repo_work(tmp_path, repo, ScriptedClaude(["nothing to change"]))
    store = open_test_store(tmp_path)
    store.observe(work.name, 2, "fp")
    assert store.claim(work.name, [2], "another-daemon", 600) is not None
    assert cycle([work], store).run() == []
    assert repo.label_log == []  # its label displays a live claim


def test_no_change_gets_one_comment_and_is_not_retried_until_edited(tmp_path: Path) -> None:
    repo = FakeRepo(issues=[Issue(4, "Question", "Why?", (LABEL,))])
    claude = ScriptedClaude(["This is a question, not a bug."])
    work = repo_work(tmp_path, repo, claude)
    first = run_cycle(work, tmp_path)
    second = run_cycle(work, tmp_path)
    assert first[0].kind is OutcomeKind.NO_CHANGES
    assert second == []
    assert len(repo.posted[4]) == 1 and "not a bug" in repo.posted[4][0].body
    assert repo.pulls == [] and len(claude.requests) == 1
    repo.issues[0] = Issue(4, "Question", "Why? Edited with detail.", (LABEL,))
    assert run_cycle(work, tmp_path)[0].kind is OutcomeKind.NO_CHANGES


def test_failure_releases_the_claim_and_other_issues_go_on(tmp_path: Path) -> None:
    repo = FakeRepo(issues=[Issue(1, "loops", "", (LABEL,)), Issue(2, "fine", "", (LABEL,))])
    endless = [(EDITOR_NAME, {"command": "view", "path": "calc.py"})]

    class PerIssue(ScriptedClaude):
        def complete(self, system, messages, tools):  # type: ignore[no-untyped-def]
            first = str(messages[0]["content"])
            self.turns = [endless] if 'number="1"' in first else [FIX, "done"]
            return super().complete(system, messages, tools)

    work = repo_work(tmp_path, repo, PerIssue([]))
    outcomes = {o.issue: o for o in run_cycle(work, tmp_path, workers=2)}
    assert outcomes[1].kind is OutcomeKind.FAILED and "turn budget" in outcomes[1].detail
    assert outcomes[2].kind is OutcomeKind.PR_OPENED
    assert repo.labels[1] == set()


def test_dry_run_writes_nothing_to_github_and_returns_the_diff(tmp_path: Path) -> None:
    repo = FakeRepo(issues=[Issue(1, "Add is wrong", "", (LABEL,))])
    work = repo_work(tmp_path, repo, ScriptedClaude([FIX, "done"]), dry_run=True)
    [outcome] = run_cycle(work, tmp_path)
    assert outcome.kind is OutcomeKind.DRY_RUN
    assert "+    return a + b" in outcome.diff
    assert repo.label_log == [] and repo.posted == {} and repo.pulls == []
    assert not work.workspaces.opened[0].pushed  # type: ignore[attr-defined]


def test_agent_stops_at_token_budget(tmp_path: Path) -> None:
    claude = ScriptedClaude([[(EDITOR_NAME, {"command": "view", "path": "."})]])
    agent = Agent(claude, "system", Budget(max_turns=50, max_tokens=500))
    with pytest.raises(BudgetExceeded, match="token budget"):
        agent.run("task", Toolbox(tmp_path))
    assert len(claude.requests) == 5  # 120 tokens a turn: the fifth turn crosses 500


def test_agent_feeds_tool_errors_back_instead_of_crashing(tmp_path: Path) -> None:
    claude = ScriptedClaude([[(EDITOR_NAME, {"command": "view", "path": "/etc/passwd"})], "gave up"])
    result = Agent(claude, "system", Budget(5, 10_000)).run("task", Toolbox(tmp_path))
    assert result.summary == "gave up"
    tool_result = claude.requests[1][2]["content"][0]  # type: ignore[index]
    assert tool_result["is_error"] is True and "relative to the repository root" in tool_result["content"]


def test_removing_the_needs_human_label_makes_the_issue_eligible_again(tmp_path: Path) -> None:
    repo = FakeRepo(issues=[Issue(1, "loops", "", (LABEL,))])
    claude = ScriptedClaude([[(EDITOR_NAME, {"command": "view", "path": "calc.py"})]])
    work = repo_work(tmp_path, repo, claude)
    store = open_test_store(tmp_path)

    def run() -> list[OutcomeKind]:
        return [o.kind for o in cycle([work], store, max_attempts=1).run()]

    assert run() == [OutcomeKind.FAILED]
    assert "needs-human" in repo.labels[1]
    assert run() == []  # waits for a human
    repo.remove_label(1, "needs-human")
    assert run() == [OutcomeKind.FAILED]  # tried again


def test_no_heartbeat_outlives_its_cycle(tmp_path: Path) -> None:
    """A heartbeat still running after the cycle could write through a store the caller has closed."""
    import threading

    repo = FakeRepo(issues=[Issue(1, "Add is wrong", "add() subtracts", (LABEL,))])
    work = repo_work(tmp_path, repo, ScriptedClaude([FIX, "Fixed the sign."]))
    run_cycle(work, tmp_path)
    assert not [t for t in threading.enumerate() if t.name.startswith("heartbeat") and t.is_alive()]


def test_the_base_commits_tests_run_in_a_checkout_of_their_own_while_the_agent_works(tmp_path: Path) -> None:
    import time

    seen: list[bool] = []

    class Watching(ScriptedClaude):
        def complete(self, system, messages, tools):  # type: ignore[no-untyped-def]
            if not seen:  # the first model turn: has the baseline's own checkout been opened meanwhile?
                deadline = time.monotonic() + 10
                while not aside() and time.monotonic() < deadline:
                    time.sleep(0.01)
                seen.append(aside())
            return super().complete(system, messages, tools)

    def aside() -> bool:
        return any(ws.branch.startswith("auto/0-baseline-") for ws in work.workspaces.opened)  # type: ignore[attr-defined]

    repo = FakeRepo(issues=[Issue(1, "Add is wrong", "add() subtracts", (LABEL,))])
    checks = EvaluationSettings(test_command="true")
    work = repo_work(tmp_path, repo, Watching([FIX, "Fixed the sign."]), evaluation=checks)
    assert [o.kind for o in run_cycle(work, tmp_path)] == [OutcomeKind.PR_OPENED]
    assert seen == [True]
    baseline = next(ws for ws in work.workspaces.opened if ws.branch.startswith("auto/0-baseline-"))  # type: ignore[attr-defined]
    assert baseline.closed and not baseline.pushed


def test_a_run_ends_only_after_a_baseline_no_task_waited_for(tmp_path: Path) -> None:
    """An attempt answered without a change while its baseline still ran: `serve` (the end of a run or
    of the daemon) waits for that run, so the process never ends in the middle of its checkout."""
    repo = FakeRepo(issues=[Issue(1, "Question", "Is add() right?", (LABEL,))])
    checks = EvaluationSettings(test_command="sleep 1")
    work = repo_work(tmp_path, repo, ScriptedClaude(["It is right; no change needed."]), evaluation=checks)
    store = open_test_store(tmp_path)
    [answered] = serve(lambda: cycle([work], store), once=True, interval_s=0, control=StopControl())
    assert answered.kind is OutcomeKind.NO_CHANGES
    assert not [t.name for t in threading.enumerate() if t.name.startswith("baseline-")]
    baseline = next(ws for ws in work.workspaces.opened if ws.branch.startswith("auto/0-baseline-"))  # type: ignore[attr-defined]
    assert baseline.closed


def test_a_reload_builds_its_cycle_only_after_the_old_cycles_baselines_end(tmp_path: Path) -> None:
    """A SIGHUP while a baseline runs in the background: the reloaded cycle's workspaces vacate every
    worktree slot, so the old run must have ended first (else a new task's worktree is the one it cleans)."""
    repo = FakeRepo(issues=[Issue(1, "Question", "Is add() right?", (LABEL,))])
    checks = EvaluationSettings(test_command="sleep 1")
    work = repo_work(tmp_path, repo, ScriptedClaude(["It is right; no change needed."]), evaluation=checks)
    store = open_test_store(tmp_path)
    control = StopControl()
    running_at_build: list[list[str]] = []

    def make_cycle() -> Cycle:
        running_at_build.append([t.name for t in threading.enumerate() if t.name.startswith("baseline-")])
        if len(running_at_build) == 1:
            control.reload = True  # requested while the first cycle runs
        else:
            control.request_stop()
        return cycle([work], store)

    serve(make_cycle, once=False, interval_s=0.01, control=control)
    assert running_at_build == [[], []]
