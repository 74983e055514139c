"""`autonomous-dev discover` against the stand-ins: a read-only model reads real files and proposes tasks."""

from __future__ import annotations

import json
from typing import Any

from tests.conftest import NAME, OWNER, Stage
from tests.helpers import run_cli
from tests.standins.anthropic_server import Script, text_block, text_editor, tool_use

ADD_BUG: dict[str, Any] = {
    "title": "calc.add subtracts instead of adding",
    "description": "calc.add returns a - b, so add(2, 3) is -1 and test_calc.py::test_add fails.",
    "priority": "high",
    "category": "bugfix",
    "complexity": "small",
    "affectedPaths": ["calc.py"],
}
README_DOCS: dict[str, Any] = {
    "title": "Document the calculator's functions in the README",
    "description": "README.md only has a heading; say what calc offers and how to run the tests.",
    "priority": "low",
    "category": "docs",
    "complexity": "small",
    "affectedPaths": ["README.md"],
}


def script(stage: Stage, *tasks: dict[str, Any]) -> None:
    steps = [
        [text_editor("view", path="calc.py")],
        [tool_use("propose_tasks", tasks=list(tasks))],
        [text_block(f"Proposed {len(tasks)} tasks.")],
    ]
    stage.claude.scripts.append(Script(steps, match="Propose up to"))


def discover(stage: Stage, *args: str) -> Any:
    return run_cli(["discover", *args], cwd=stage.cwd, env=stage.env())


def test_files_validated_tasks_then_leaves_an_unchanged_commit_alone(stage: Stage) -> None:
    script(stage, ADD_BUG, README_DOCS)
    result = discover(stage, "--create-issues")
    assert result.returncode == 0, result.stderr[-3000:]
    issues = stage.github.issues(OWNER, NAME)
    assert [i["title"] for i in issues] == [ADD_BUG["title"], README_DOCS["title"]]  # by priority
    assert set(issues[0]["labels"]) == {"autonomous-dev", "priority:high", "type:bugfix"}
    assert set(issues[1]["labels"]) == {"autonomous-dev", "priority:low", "type:docs"}
    body = issues[0]["body"]
    assert "## Affected Paths\n\n- `calc.py`" in body and ADD_BUG["description"] in body
    requests = stage.claude.message_requests()
    assert "return a - b" in json.dumps(requests[1]["messages"])  # it read the real file
    assert "calc.py" in json.dumps(requests[0]["messages"])  # the repository map came up front
    assert not any(t.get("name") == "run_tests" for t in requests[0]["tools"])

    again = discover(stage, "--create-issues")
    assert again.returncode == 0, again.stderr[-3000:]
    assert len(stage.claude.message_requests()) == len(requests)  # same HEAD: no model call
    assert len(stage.github.issues(OWNER, NAME)) == 2
    assert "analysed before" in again.stdout


def test_count_flag_beats_tasks_per_cycle(stage: Stage) -> None:
    script(stage, ADD_BUG, README_DOCS)
    env = stage.env(DISCOVERY_TASKS_PER_CYCLE="5")
    result = run_cli(["discover", "--count", "1", "--create-issues"], cwd=stage.cwd, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    [issue] = stage.github.issues(OWNER, NAME)  # the most important one
    assert issue["title"] == ADD_BUG["title"]
    assert "Propose up to 2 tasks" in json.dumps(stage.claude.message_requests()[0]["messages"])


def test_duplicates_of_open_issues_are_not_filed(stage: Stage) -> None:
    stage.github.add_issue(OWNER, NAME, "Calc.add subtracts instead of adding!", "Seen in production.")
    stage.github.add_issue(OWNER, NAME, "Improve the docs", "## Affected Paths\n\n- `README.md`\n")
    script(stage, ADD_BUG, README_DOCS)
    result = run_cli(["discover", "--create-issues", "--json"], cwd=stage.cwd, env=stage.env())
    assert result.returncode == 0, result.stderr[-3000:]
    rows = json.loads(result.stdout)["tasks"]
    assert [row["skipped"] is not None for row in rows] == [True, True]
    assert "same title as #1" in rows[0]["skipped"] and "#2" in rows[1]["skipped"]
    assert len(stage.github.issues(OWNER, NAME)) == 2  # only the two written by people


def test_without_create_issues_nothing_is_filed(stage: Stage) -> None:
    script(stage, ADD_BUG)
    result = discover(stage)
    assert result.returncode == 0, result.stderr[-3000:]
    assert stage.github.issues(OWNER, NAME) == [] and "pass --create-issues" in result.stdout


def test_an_invalid_answer_exits_1_and_files_nothing(stage: Stage) -> None:
    bad = {**ADD_BUG, "priority": "urgent"}
    steps = [[tool_use("propose_tasks", tasks=[bad])], [text_block("Done.")]]
    stage.claude.scripts.append(Script(steps, match="Propose up to"))
    result = discover(stage, "--create-issues")
    assert result.returncode == 1
    assert "no valid task list" in result.stderr and "priority" in result.stderr
    assert stage.github.issues(OWNER, NAME) == []
    told, nudged = stage.claude.message_requests()[-2:]
    assert "invalid task list" in json.dumps(told["messages"][-1])  # the model was told what was wrong
    nudge = json.dumps(nudged["messages"][-1])  # and asked once more, with the reason
    assert "Call the propose_tasks tool now" in nudge and "priority" in nudge


def test_a_task_naming_files_that_do_not_exist_is_invalid(stage: Stage) -> None:
    script(stage, {**ADD_BUG, "affectedPaths": ["src/missing.py"]})
    result = discover(stage, "--create-issues")
    assert result.returncode == 1 and "src/missing.py" in result.stderr
    assert stage.github.issues(OWNER, NAME) == []


def test_the_model_cannot_write_during_discovery(stage: Stage) -> None:
    steps = [
        [text_editor("create", path="evil.py", file_text="x = 1\n")],
        [tool_use("propose_tasks", tasks=[ADD_BUG])],
        [text_block("Done.")],
    ]
    stage.claude.scripts.append(Script(steps, match="Propose up to"))
    result = discover(stage)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "read-only" in json.dumps(stage.claude.message_requests()[1]["messages"][-1])
    assert not list(stage.work_dir.rglob("evil.py"))


def test_the_daemon_discovers_when_it_has_nothing_to_do(stage: Stage) -> None:
    script(stage, ADD_BUG, README_DOCS)
    env = stage.env(DISCOVERY_ENABLED="true", DISCOVERY_TASKS_PER_CYCLE="1")
    result = run_cli(["run"], cwd=stage.cwd, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    [issue] = stage.github.issues(OWNER, NAME)  # one per cycle, the most important first
    assert issue["title"] == ADD_BUG["title"] and "autonomous-dev" in issue["labels"]


def test_the_daemon_does_not_discover_past_max_open_issues(stage: Stage) -> None:
    script(stage, ADD_BUG)
    env = stage.env(DISCOVERY_ENABLED="true", DISCOVERY_MAX_OPEN_ISSUES="0")
    result = run_cli(["run"], cwd=stage.cwd, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    assert stage.github.issues(OWNER, NAME) == [] and stage.claude.message_requests() == []
