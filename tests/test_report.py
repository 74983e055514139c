"""`autonomous-dev report` against the stand-ins: tracebacks become redacted, deduplicated issues."""

from __future__ import annotations

import json
from typing import Any

from tests.conftest import NAME, OWNER, Stage
from tests.helpers import run_cli
from tests.standins.anthropic_server import Script, text_block, tool_use

PLANTED = "ghp_" + "Planted0Token1For2Report3Tests4Xyz56"  # a real-format token nobody loaded


DIVISION = "ZeroDivisionError: division by zero"


def python_traceback(address: str, request_id: str, error: str = DIVISION) -> str:
    return f"""\
2026-11-20 10:01:02 INFO request {request_id} started
2026-11-20 10:01:02 ERROR unhandled error (auth header: token {PLANTED})
Traceback (most recent call last):
  File "/srv/widgets/app.py", line 41, in handle
    result = add(a, b) / ratio(<Request object at {address}>, token="{PLANTED}")
  File "/srv/widgets/calc.py", line 5, in add
    return a - b
{error}
2026-11-20 10:01:03 INFO request {request_id} finished
"""


FIRST = python_traceback("0x7f3a2b1c9d10", "5f0c3a1e-8d2b-4b7e-9c1a-2e6f4d3b7a90")
AGAIN = python_traceback("0x7f00deadbeef", "9a8b7c6d-1e2f-4a3b-8c7d-6e5f4a3b2c1d")
OTHER = python_traceback("0x7f3a2b1c9d10", "1", "KeyError: 'total'")
ANALYSIS = {
    "likelyCause": "calc.add subtracts, so the ratio is computed from a wrong sum.",
    "suggestedFix": "Return a + b in calc.add and add a test for it.",
    "affectedFiles": ["calc.py"],
}


def analyse(stage: Stage, times: int = 1) -> None:
    steps = [[tool_use("submit_analysis", **ANALYSIS)], [text_block("Analysed.")]]
    for _ in range(times):
        stage.claude.scripts.append(Script(steps, match="An error was reported"))


def report(stage: Stage, text: str, *args: str) -> Any:
    return run_cli(["report", "-", *args], cwd=stage.cwd, env=stage.env(), stdin=text)


def test_a_traceback_becomes_one_redacted_issue_with_an_analysis(stage: Stage) -> None:
    analyse(stage)
    result = report(stage, FIRST)
    assert result.returncode == 0, result.stderr[-3000:]
    [issue] = stage.github.issues(OWNER, NAME)
    assert issue["title"] == "ZeroDivisionError: division by zero" and issue["labels"] == ["bug"]
    body = issue["body"]
    assert 'File "/srv/widgets/calc.py", line 5, in add' in body and ANALYSIS["likelyCause"] in body
    assert "## Suggested fix" in body and "- `calc.py`" in body
    assert PLANTED not in body and "[REDACTED:" in body and PLANTED not in result.stdout + result.stderr
    [request, *_] = stage.claude.message_requests()
    sent = json.dumps(request)
    assert PLANTED not in sent
    assert "return a - b" in sent  # the file named in the in-repo frame came along as context


def test_the_same_error_again_is_a_comment_once_per_occurrence(stage: Stage) -> None:
    analyse(stage)
    assert report(stage, FIRST).returncode == 0
    again = report(stage, AGAIN)
    assert again.returncode == 0, again.stderr[-3000:]
    assert len(stage.github.issues(OWNER, NAME)) == 1
    [comment] = stage.github.comments(OWNER, NAME, 1)
    assert "0x7f00deadbeef" in comment["body"] and "reported again" in comment["body"]
    assert report(stage, AGAIN).returncode == 0  # this very occurrence: nothing to add
    assert report(stage, FIRST).returncode == 0
    assert len(stage.github.comments(OWNER, NAME, 1)) == 1
    assert len(stage.claude.message_requests()) == 2  # one analysis (two turns) in all


def test_a_different_error_gets_its_own_issue(stage: Stage) -> None:
    analyse(stage, times=2)
    assert report(stage, FIRST).returncode == 0
    second = report(stage, OTHER, "--autofix")
    assert second.returncode == 0, second.stderr[-3000:]
    first_issue, second_issue = stage.github.issues(OWNER, NAME)
    assert second_issue["title"] == "KeyError: 'total'"
    assert set(second_issue["labels"]) == {"bug", "autonomous-dev"}
    assert "autonomous-dev" not in first_issue["labels"]


def test_text_without_a_traceback_is_refused_clearly(stage: Stage) -> None:
    result = report(stage, "everything is fine\nno errors here\n")
    assert result.returncode == 1
    assert "no traceback found" in result.stderr and stage.github.issues(OWNER, NAME) == []


def test_a_dry_run_creates_nothing(stage: Stage) -> None:
    analyse(stage)
    result = report(stage, FIRST, "--dry-run")
    assert result.returncode == 0, result.stderr[-3000:]
    assert (
        stage.github.issues(OWNER, NAME) == [] and "Dry run" in result.stdout and PLANTED not in result.stdout
    )


def test_a_model_that_never_analyses_is_nudged_once_and_the_report_is_still_filed(stage: Stage) -> None:
    silent = Script([[text_block("No idea.")]], match="An error was reported", repeat_last=True)
    stage.claude.scripts.append(silent)
    result = report(stage, FIRST)
    assert result.returncode == 0, result.stderr[-3000:]
    _, nudged = stage.claude.message_requests()
    assert "Call the submit_analysis tool now" in json.dumps(nudged["messages"][-1])
    [issue] = stage.github.issues(OWNER, NAME)
    body = issue["body"]
    assert issue["title"] == "ZeroDivisionError: division by zero"
    assert 'File "/srv/widgets/calc.py", line 5, in add' in body and "## Analysis unavailable" in body
    assert "never called submit_analysis" in body and "signature=" in body
    assert PLANTED not in body and "[REDACTED:" in body
    again = report(stage, AGAIN)
    assert again.returncode == 0, again.stderr[-3000:]
    assert len(stage.github.issues(OWNER, NAME)) == 1
    [comment] = stage.github.comments(OWNER, NAME, 1)
    assert "0x7f00deadbeef" in comment["body"] and PLANTED not in comment["body"]
    assert len(stage.claude.message_requests()) == 2  # the twin needs no model call


def test_the_nudge_gets_the_analysis_from_a_model_that_forgot_it(stage: Stage) -> None:
    steps = [[text_block("Looked.")], [tool_use("submit_analysis", **ANALYSIS)], [text_block("Done.")]]
    stage.claude.scripts.append(Script(steps, match="An error was reported"))
    result = report(stage, FIRST)
    assert result.returncode == 0, result.stderr[-3000:]
    [issue] = stage.github.issues(OWNER, NAME)
    assert ANALYSIS["likelyCause"] in issue["body"] and "Analysis unavailable" not in issue["body"]


def test_an_unreachable_claude_still_files_the_report(stage: Stage, unused_port: int) -> None:
    env = stage.env(ANTHROPIC_BASE_URL=f"http://127.0.0.1:{unused_port}")
    result = run_cli(["report", "-"], cwd=stage.cwd, env=env, stdin=FIRST)
    assert result.returncode == 0, result.stderr[-3000:]
    [issue] = stage.github.issues(OWNER, NAME)
    assert "## Analysis unavailable" in issue["body"] and "could not be made" in issue["body"]
    assert 'File "/srv/widgets/calc.py", line 5, in add' in issue["body"] and PLANTED not in issue["body"]
