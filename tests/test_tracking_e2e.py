"""The tracking comment and the failure causes end to end: the CLI, real PyGithub, the stand-ins."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from tests.conftest import NAME, OWNER, Stage
from tests.daemon_helpers import status_json
from tests.helpers import run_cli
from tests.standins.anthropic_server import Script, text_block, text_editor
from tests.standins.github_state import RecordedRequest

FIX = text_editor("str_replace", path="calc.py", old_str="return a - b", new_str="return a + b")
LOOK = text_editor("view", path="calc.py")
MARKER = "<!-- autonomous-dev:kind=tracking issue={n} -->"


def an_issue(stage: Stage, steps: list[list[dict[str, object]]]) -> int:
    number = stage.github.add_issue(
        OWNER, NAME, "add() subtracts", "add(2, 3) is -1.", labels=["autonomous-dev"]
    )
    stage.claude.scripts[:] = [Script(steps, match=f'<issue number="{number}">')]
    return number


def comment_writes(stage: Stage, method: str) -> list[RecordedRequest]:
    return [r for r in stage.github.requests if r.method == method and "/comments" in r.route]


def active_line(body: str) -> str:
    found = re.search(r"^- \[ \] ⏳ (.+)$", body, re.M)
    return found.group(1) if found else ""


def test_the_tracking_comment_is_one_comment_edited_through_the_phases(stage: Stage) -> None:
    number = an_issue(stage, [[LOOK], [FIX], [text_block("add() adds now.")]])
    result = run_cli(["run"], cwd=stage.cwd, env=stage.env(TRACKING_EDIT_SECONDS="0"))
    assert result.returncode == 0, result.stderr[-3000:]

    [comment] = stage.github.comments(OWNER, NAME, number)
    assert MARKER.format(n=number) in comment["body"]
    [created] = comment_writes(stage, "POST")
    edits = comment_writes(stage, "PATCH")
    assert {r.route.rsplit("/", 1)[1] for r in edits} == {str(comment["id"])}  # edited in place, never again
    bodies = [created.json()["body"], *(r.json()["body"] for r in edits)]
    assert len(set(bodies)) == len(bodies)  # every edit changed something
    seen = [active_line(body).split(" (")[0] for body in bodies]
    phases = ["Worktree from the base branch", "The model changes the code", "Build and tests pass",
              "Pull request opened"]  # fmt: skip
    assert [phase for phase in phases if phase in seen] == phases, seen
    assert "⏳ working on this issue (attempt 1 of 3)" in bodies[0]
    final = comment["body"]
    assert final == bodies[-1] and "✅ pull request opened" in final and "⏳" not in final
    [pull] = stage.github.pulls(OWNER, NAME)
    assert f"/pull/{pull['number']}" in final
    tokens = int(re.search(r"tokens: ([\d,]+)", final).group(1).replace(",", ""))  # type: ignore[union-attr]
    assert tokens > 0 and "estimated cost: $" in final and "repair rounds: 0 of 2" in final
    assert "in-progress" not in {label for r in stage.github.requests for label in str(r.body).split('"')}


def test_a_failed_attempt_shows_its_reason_retry_time_and_cause_then_a_success_clears_the_label(
    stage: Stage,
) -> None:
    number = an_issue(stage, [[LOOK], [LOOK], [LOOK]])  # still reading when its two turns are spent
    env = stage.env(MAX_TURNS="2", BACKOFF_MINUTES="0")
    first = run_cli(["run"], cwd=stage.cwd, env=env)
    assert first.returncode == 1, first.stderr[-3000:]

    [comment] = stage.github.comments(OWNER, NAME, number)
    body = comment["body"]
    assert "⚠️ attempt 1 of 3 failed" in body and "`autonomous-dev:cause/budget-turns`" in body
    assert "the model used up its turns (execution.maxTurns)" in body and "turn budget spent" in body
    task = status_json(stage, env)[number]
    retry_at = datetime.fromisoformat(task["next_attempt_at"]).astimezone(UTC)
    assert f"**Next:** attempt 2 of 3 at {retry_at:%Y-%m-%d %H:%M} UTC." in body
    assert "- [ ] ❌ The model changes the code" in body
    assert "autonomous-dev:cause/budget-turns" in stage.github.issue(OWNER, NAME, number)["labels"]
    assert task["cause"] == "budget-turns" and task["state"] == "failed"
    document = run_cli(["status", "--json"], cwd=stage.cwd, env=env)
    assert '"budget-turns": 1' in document.stdout

    stage.claude.scripts[:] = [
        Script([[FIX], [text_block("add() adds now.")]], match=f'<issue number="{number}">')
    ]
    second = run_cli(["run"], cwd=stage.cwd, env=env)
    assert second.returncode == 0, second.stderr[-3000:]
    [comment] = stage.github.comments(OWNER, NAME, number)  # the same comment, edited
    assert "✅ pull request opened" in comment["body"] and "**Why:**" not in comment["body"]
    assert "- attempt 1: budget-turns: `turn budget spent" in comment["body"]
    assert not any(
        label.startswith("autonomous-dev:cause/")
        for label in stage.github.issue(OWNER, NAME, number)["labels"]
    )
    assert status_json(stage, env)[number]["cause"] is None


def test_github_failing_while_the_comment_is_edited_loses_no_outcome_and_the_comment_catches_up(
    stage: Stage,
) -> None:
    number = an_issue(stage, [[FIX], [text_block("add() adds now.")]])

    def no_edits(request: RecordedRequest, sequence: int) -> tuple[int, dict[str, str], object] | None:
        if request.method == "PATCH" and "/issues/comments/" in request.route:
            return 502, {}, {"message": "Server Error"}
        return None

    stage.github.fault = no_edits
    env = stage.env()
    result = run_cli(["run"], cwd=stage.cwd, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    [pull] = stage.github.pulls(OWNER, NAME)
    task = status_json(stage, env)[number]
    assert (task["state"], task["attempts"], task["pr_number"], task["cause"]) == (
        "pr_opened",
        1,
        pull["number"],
        None,
    )
    assert task["progress_shown"] is False
    assert "the tracking comment could not be updated" in result.stderr
    [comment] = stage.github.comments(OWNER, NAME, number)
    assert "⏳ working on this issue" in comment["body"]  # what the claim showed; the end could not be

    stage.github.fault = None
    again = run_cli(["run"], cwd=stage.cwd, env=env)
    assert again.returncode == 0, again.stderr[-3000:]
    [comment] = stage.github.comments(OWNER, NAME, number)
    assert "✅ pull request opened" in comment["body"] and f"/pull/{pull['number']}" in comment["body"]
    assert status_json(stage, env)[number]["progress_shown"] is True
    assert len(stage.github.pulls(OWNER, NAME)) == 1
