"""The pipeline and the agent loop against in-memory fakes of the ports."""

from __future__ import annotations

from pathlib import Path

import pytest

from autonomous_dev.core.agent import Agent, Budget
from autonomous_dev.core.daemon import Cycle, Policy, RepoWork, StopControl
from autonomous_dev.core.pipeline import Pipeline, PipelineOptions
from autonomous_dev.core.tools import EDITOR_NAME, Toolbox
from autonomous_dev.errors import BudgetExceeded
from autonomous_dev.models import Issue, Outcome, OutcomeKind, PullRequest, slugify
from autonomous_dev.store.backends import SqliteStore
from tests.fakes import FakeRepo, FakeWorkspaces, ScriptedClaude, make_template

FIX = [(EDITOR_NAME, {"command": "str_replace", "path": "calc.py", "old_str": "a - b", "new_str": "a + b"})]
LABEL = "autonomous-dev"


def build(tmp_path: Path, repo: FakeRepo, claude: ScriptedClaude, dry_run: bool = False) -> Pipeline:
    template = make_template(tmp_path / "template", {"calc.py": "def add(a, b):\n    return a - b\n"})
    workspaces = FakeWorkspaces(template, tmp_path)
    agent = Agent(claude, "system", Budget(max_turns=5, max_tokens=10_000))
    return Pipeline(repo, workspaces, agent, PipelineOptions(LABEL, "in-progress", "main", dry_run))


def run_cycle(pipeline: Pipeline, workers: int = 1) -> list[Outcome]:
    """One cycle with a real SQLite store next to the pipeline's scratch directory."""
    store = SqliteStore(pipeline.workspaces.root / "state.db")  # type: ignore[attr-defined]
    store.migrate()
    policy = Policy(workers=workers, lease_s=30, max_attempts=3, backoff_s=(0.0,), max_cost_per_day=100)
    cycle = Cycle([RepoWork(pipeline, pipeline.workspaces)], store, policy, "test-owner", StopControl())
    return cycle.run()


def test_slug_rules() -> None:
    assert slugify("Fix: Crash on `None` input!!") == "fix-crash-on-none-input"
    assert len(slugify("x" * 100)) == 40
    assert slugify("é?") == "issue"
    assert Issue(7, "Add CSV export", "").branch == "auto/7-add-csv-export"


def test_issue_becomes_pull_request_with_closing_keyword(tmp_path: Path) -> None:
    repo = FakeRepo(issues=[Issue(1, "Add is wrong", "add() subtracts", (LABEL,))])
    pipeline = build(tmp_path, repo, ScriptedClaude([FIX, "Fixed the sign."]))
    outcomes = run_cycle(pipeline, workers=2)
    assert [o.kind for o in outcomes] == [OutcomeKind.PR_OPENED]
    assert repo.pulls[0].head == "auto/1-add-is-wrong"
    assert ("add", 1, "in-progress") in repo.label_log and ("remove", 1, "in-progress") in repo.label_log
    assert repo.pulls[0].url in repo.posted[1][0].body
    workspace = pipeline.workspaces.opened[0]  # type: ignore[attr-defined]
    assert workspace.pushed and workspace.closed


def test_issues_with_open_pr_or_in_progress_are_skipped(tmp_path: Path) -> None:
    repo = FakeRepo(
        issues=[Issue(1, "a", "", (LABEL,)), Issue(2, "b", "", (LABEL, "in-progress")), Issue(3, "c", "")],
        pulls=[PullRequest(9, "u", "auto/1-a", "main", author="bot")],
    )
    pipeline = build(tmp_path, repo, ScriptedClaude(["nothing"]))
    assert [i.number for i in pipeline.eligible()] == [2]
    assert run_cycle(pipeline) == []  # #2 carries in-progress and no claim of ours stands behind it


def test_no_change_gets_one_comment_and_is_not_retried_until_edited(tmp_path: Path) -> None:
    repo = FakeRepo(issues=[Issue(4, "Question", "Why?", (LABEL,))])
    claude = ScriptedClaude(["This is a question, not a bug."])
    pipeline = build(tmp_path, repo, claude)
    first = run_cycle(pipeline)
    second = run_cycle(pipeline)
    assert first[0].kind is OutcomeKind.NO_CHANGES
    assert second == []
    assert len(repo.posted[4]) == 1 and "not a bug" in repo.posted[4][0].body
    assert repo.pulls == [] and len(claude.requests) == 1
    repo.issues[0] = Issue(4, "Question", "Why? Edited with detail.", (LABEL,))
    assert run_cycle(pipeline)[0].kind is OutcomeKind.NO_CHANGES


def test_failure_releases_the_claim_and_other_issues_go_on(tmp_path: Path) -> None:
    repo = FakeRepo(issues=[Issue(1, "loops", "", (LABEL,)), Issue(2, "fine", "", (LABEL,))])
    endless = [(EDITOR_NAME, {"command": "view", "path": "calc.py"})]

    class PerIssue(ScriptedClaude):
        def complete(self, system, messages, tools):  # type: ignore[no-untyped-def]
            first = str(messages[0]["content"])
            self.turns = [endless] if 'number="1"' in first else [FIX, "done"]
            return super().complete(system, messages, tools)

    pipeline = build(tmp_path, repo, PerIssue([]))
    outcomes = {o.issue: o for o in run_cycle(pipeline, workers=2)}
    assert outcomes[1].kind is OutcomeKind.FAILED and "turn budget" in outcomes[1].detail
    assert outcomes[2].kind is OutcomeKind.PR_OPENED
    assert repo.labels[1] == set()


def test_dry_run_writes_nothing_to_github_and_returns_the_diff(tmp_path: Path) -> None:
    repo = FakeRepo(issues=[Issue(1, "Add is wrong", "", (LABEL,))])
    pipeline = build(tmp_path, repo, ScriptedClaude([FIX, "done"]), dry_run=True)
    [outcome] = run_cycle(pipeline)
    assert outcome.kind is OutcomeKind.DRY_RUN
    assert "+    return a + b" in outcome.diff
    assert repo.label_log == [] and repo.posted == {} and repo.pulls == []
    assert not pipeline.workspaces.opened[0].pushed  # type: ignore[attr-defined]


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
    pipeline = build(tmp_path, repo, claude)
    store = SqliteStore(tmp_path / "state.db")
    store.migrate()
    policy = Policy(workers=1, lease_s=30, max_attempts=1, backoff_s=(0.0,), max_cost_per_day=100)

    def cycle() -> list[Outcome]:
        return Cycle([RepoWork(pipeline, pipeline.workspaces)], store, policy, "owner", StopControl()).run()

    assert [o.kind for o in cycle()] == [OutcomeKind.FAILED]
    assert "needs-human" in repo.labels[1]
    assert cycle() == []  # waits for a human
    repo.remove_label(1, "needs-human")
    assert [o.kind for o in cycle()] == [OutcomeKind.FAILED]  # tried again


def test_no_heartbeat_outlives_its_cycle(tmp_path: Path) -> None:
    """A heartbeat still running after the cycle could write through a store the caller has closed."""
    import threading

    repo = FakeRepo(issues=[Issue(1, "Add is wrong", "add() subtracts", (LABEL,))])
    pipeline = build(tmp_path, repo, ScriptedClaude([FIX, "Fixed the sign."]))
    run_cycle(pipeline)
    assert not [t for t in threading.enumerate() if t.name.startswith("heartbeat") and t.is_alive()]
