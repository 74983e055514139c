"""Auto-merge end to end: the CLI against the GitHub stand-in's CI, mergeability, protection and merges."""

from __future__ import annotations

import pytest

from tests.conftest import OWNER, Stage
from tests.helpers import run_cli
from tests.standins.anthropic_server import Script, Step, text_block, text_editor

REPO = "merging"
GREETING = 'GREETING = "hello"\n'
GREETING_TEST = "from greeting import GREETING\n\n\ndef test_greeting():\n    assert GREETING\n"
MERGE_ENV = {
    "REPO_NAME": REPO,
    "AUTO_MERGE": "true",
    "MERGE_POLL_SECONDS": "0.2",
    "MERGE_CHECKS_TIMEOUT_MINUTES": "1",
    "PARALLEL_WORKERS": "1",
}


@pytest.fixture
def merging(stage: Stage) -> Stage:
    """A repository whose one test passes, so every change below is ready to merge."""
    stage.publish(REPO, {"greeting.py": GREETING, "test_greeting.py": GREETING_TEST})
    return stage


def greet(to: str) -> Step:
    return [text_editor("str_replace", path="greeting.py", old_str='"hello"', new_str=f'"{to}"')]


def issue_with(stage: Stage, title: str, edit: Step) -> int:
    number = stage.github.add_issue(
        OWNER, REPO, title, "Please change the greeting.", labels=["autonomous-dev"]
    )
    stage.claude.scripts.append(
        Script([edit, [text_block("Changed the greeting.")]], match=f'<issue number="{number}">')
    )
    return number


def pull_for(stage: Stage, issue: int) -> dict[str, object]:
    [pull] = [p for p in stage.github.pulls(OWNER, REPO) if str(p["head"]).startswith(f"auto/{issue}-")]
    return pull


def request_index(stage: Stage, method: str, suffix: str) -> list[int]:
    return [i for i, r in enumerate(stage.github.requests) if r.method == method and r.route.endswith(suffix)]


def test_waits_for_pending_checks_then_merges_with_the_configured_method(merging: Stage) -> None:
    number = issue_with(merging, "Greet the world", greet("hello, world"))
    merging.github.set_ci(OWNER, REPO, ["queued", "in_progress", "in_progress", "success"])
    result = run_cli(["run"], cwd=merging.cwd, env=merging.env(**MERGE_ENV, MERGE_METHOD="rebase"))
    assert result.returncode == 0, result.stderr[-3000:]
    pull = pull_for(merging, number)
    assert pull["merged"] is True and pull["state"] == "closed"
    assert merging.github.merge_method(OWNER, REPO, int(str(pull["number"]))) == "rebase"
    check_reads = request_index(merging, "GET", "/check-runs")
    [merge] = request_index(merging, "PUT", "/merge")
    assert len([i for i in check_reads if i < merge]) >= 4  # it waited through queued and in_progress
    assert merging.github.file_at(OWNER, REPO, "main", "greeting.py") == 'GREETING = "hello, world"\n'
    assert not any(b.startswith("auto/") for b in merging.github.branches(OWNER, REPO))
    assert merging.github.issue(OWNER, REPO, number)["state"] == "closed"
    assert any("was merged (rebase)" in c["body"] for c in merging.github.comments(OWNER, REPO, number))


def test_failing_checks_keep_the_pr_open_and_say_why(merging: Stage) -> None:
    number = issue_with(merging, "Greet the world", greet("hello, world"))
    merging.github.set_ci(OWNER, REPO, ["in_progress", "failure"])
    no_repair = merging.env(**MERGE_ENV, CI_MAX_REPAIR_ROUNDS="0")  # tests/test_rounds_e2e.py repairs
    result = run_cli(["run"], cwd=merging.cwd, env=no_repair)
    assert result.returncode == 0, result.stderr[-3000:]
    pull = pull_for(merging, number)
    assert pull["merged"] is False and pull["state"] == "open"
    assert request_index(merging, "PUT", "/merge") == []
    assert merging.github.issue(OWNER, REPO, number)["state"] == "open"
    assert any("checks failed: ci" in c["body"] for c in merging.github.comments(OWNER, REPO, number))


def test_branch_protection_is_reported_not_bypassed_even_with_an_admin_token(merging: Stage) -> None:
    number = issue_with(merging, "Greet the world", greet("hello, world"))
    merging.github.set_ci(OWNER, REPO, ["success"])
    merging.github.set_permission(OWNER, REPO, "octobot", "admin")  # GitHub lets admins merge past rules
    merging.github.protect_branch(OWNER, REPO, "main", required_reviews=1)
    result = run_cli(["run"], cwd=merging.cwd, env=merging.env(**MERGE_ENV))
    assert result.returncode == 0, result.stderr[-3000:]
    assert pull_for(merging, number)["merged"] is False
    assert request_index(merging, "PUT", "/merge") == []
    assert any("branch protection" in c["body"] for c in merging.github.comments(OWNER, REPO, number))


def conflicting_issues(stage: Stage) -> tuple[int, int]:
    """Two issues changing the same line; resolving the conflict keeps both intents."""
    first = issue_with(stage, "Greet the world", greet("hello, world"))
    second = issue_with(stage, "Greet warmly", greet("hi there"))
    resolved = text_editor("create", path="greeting.py", file_text='GREETING = "hi there, world"\n')
    resolution = Script([[resolved], [text_block("Kept both changes.")]], match="stopped on conflicts in")
    stage.claude.scripts.insert(0, resolution)  # the first matching script answers
    stage.github.set_ci(OWNER, REPO, ["success"])
    return first, second


def test_rebase_makes_the_second_of_two_conflicting_prs_mergeable(merging: Stage) -> None:
    first, second = conflicting_issues(merging)
    result = run_cli(["run"], cwd=merging.cwd, env=merging.env(**MERGE_ENV, CONFLICT_STRATEGY="rebase"))
    assert result.returncode == 0, result.stderr[-3000:]
    assert pull_for(merging, first)["merged"] is True
    second_pull = pull_for(merging, second)
    assert second_pull["merged"] is True
    assert merging.github.file_at(OWNER, REPO, "main", "greeting.py") == 'GREETING = "hi there, world"\n'
    assert len(request_index(merging, "PUT", "/merge")) == 2
    conflict_requests = [r for r in merging.claude.message_requests() if "stopped on conflicts in" in str(r)]
    assert conflict_requests, "the model was asked to resolve the conflict"
    comments = merging.github.comments(OWNER, REPO, second)
    assert any("up to date with the base 1 time(s)" in c["body"] for c in comments)
    assert merging.github.issue(OWNER, REPO, second)["state"] == "closed"


def test_manual_strategy_labels_the_conflicting_pr_for_a_human(merging: Stage) -> None:
    first, second = conflicting_issues(merging)
    result = run_cli(["run"], cwd=merging.cwd, env=merging.env(**MERGE_ENV, CONFLICT_STRATEGY="manual"))
    assert result.returncode == 1  # a task needs a human
    assert pull_for(merging, first)["merged"] is True
    assert pull_for(merging, second)["merged"] is False
    issue = merging.github.issue(OWNER, REPO, second)
    assert "needs-human" in issue["labels"] and issue["state"] == "open"
    assert any("conflicts with its base" in c["body"] for c in merging.github.comments(OWNER, REPO, second))
