"""The build and test gate against the stand-ins: baseline, repair rounds, evidence, drafts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from autonomous_dev.evaluate import Gate, Run, detect_commands, failing_tests
from autonomous_dev.procs import CommandResult
from tests.conftest import OWNER, Stage
from tests.helpers import run_cli
from tests.standins.anthropic_server import Script, text_block, text_editor

CALC = "def add(a, b):\n    return a + b\n\n\ndef div(a, b):\n    return a * b\n"
TESTS = (
    "from calc import add, div\n\n\ndef test_add():\n    assert add(2, 3) == 5\n\n\n"
    "def test_div():\n    assert div(6, 3) == 2\n"
)
BREAK = text_editor("str_replace", path="calc.py", old_str="return a + b", new_str="return a - b")
MEND = text_editor("str_replace", path="calc.py", old_str="return a - b", new_str="return a + b  # mended")
NOTE = text_editor("create", path="NOTES.md", file_text="notes\n")


@pytest.fixture
def checked(stage: Stage) -> Stage:
    """A repository whose test_add passes and whose test_div already fails on the base commit."""
    stage.publish("checked", {"calc.py": CALC, "test_calc.py": TESTS})
    return stage


def issue_with(stage: Stage, steps: list[list[dict[str, object]]]) -> int:
    number = stage.github.add_issue(
        OWNER, "checked", "Change calc", "Please change calc.", labels=["autonomous-dev"]
    )
    stage.claude.scripts.append(Script(steps, match=f'<issue number="{number}">'))
    return number


def test_breaking_a_passing_test_gives_a_draft_pr_with_the_failure(checked: Stage) -> None:
    issue_with(checked, [[BREAK], [text_block("Changed add.")]])
    result = run_cli(["run"], cwd=checked.cwd, env=checked.env(REPO_NAME="checked", MAX_REPAIR_ROUNDS="0"))
    assert result.returncode == 1  # the failure policy applies
    [pull] = checked.github.pulls(OWNER, "checked")
    assert pull["draft"] is True
    assert "test_calc.py::test_add" in pull["body"] and "❌" in pull["body"]


def test_on_failure_comment_opens_no_pr(checked: Stage) -> None:
    number = issue_with(checked, [[BREAK], [text_block("Changed add.")]])
    env = checked.env(REPO_NAME="checked", MAX_REPAIR_ROUNDS="0", ON_FAILURE="comment")
    assert run_cli(["run"], cwd=checked.cwd, env=env).returncode == 1
    assert checked.github.pulls(OWNER, "checked") == []
    [comment] = checked.github.comments(OWNER, "checked", number)
    assert "test_calc.py::test_add" in comment["body"] and "opened no pull request" in comment["body"]


def test_pre_existing_failures_do_not_block(checked: Stage) -> None:
    issue_with(checked, [[NOTE], [text_block("Added notes.")]])
    result = run_cli(["run"], cwd=checked.cwd, env=checked.env(REPO_NAME="checked"))
    assert result.returncode == 0, result.stderr[-2000:]
    [pull] = checked.github.pulls(OWNER, "checked")
    assert pull["draft"] is False
    assert (
        "✅" in pull["body"] and "pre-existing" in pull["body"] and "test_calc.py::test_div" in pull["body"]
    )
    assert "python -m pytest" in pull["body"] and "exit 1" in pull["body"]


def test_workers_on_one_base_commit_share_one_baseline_run(checked: Stage, tmp_path: Path) -> None:
    runs = tmp_path / "test-runs.log"
    for _ in range(3):
        issue_with(checked, [[NOTE], [text_block("Added notes.")]])
    command = f"echo run >> {runs} && sleep 1 && python -m pytest -q"  # slow: the workers overlap
    env = checked.env(REPO_NAME="checked", PARALLEL_WORKERS="3", TEST_COMMAND=command)
    result = run_cli(["run"], cwd=checked.cwd, env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    assert len(checked.github.pulls(OWNER, "checked")) == 3
    assert runs.read_text().count("run") == 1 + 3  # one baseline, then each change's own run


def test_repair_round_fixes_what_round_one_broke(checked: Stage) -> None:
    issue_with(checked, [[BREAK], [text_block("Changed add.")], [MEND, NOTE], [text_block("Mended add.")]])
    result = run_cli(["run"], cwd=checked.cwd, env=checked.env(REPO_NAME="checked"))
    assert result.returncode == 0, result.stderr[-2000:]
    [pull] = checked.github.pulls(OWNER, "checked")
    assert pull["draft"] is False and "Repair rounds used: 1." in pull["body"]
    assert "# mended" in checked.github.file_at(OWNER, "checked", pull["head"], "calc.py")
    repair = json.dumps(checked.claude.message_requests()[2]["messages"][-1])
    assert "Tests that passed before and fail now: test_calc.py::test_add" in repair


def test_command_detection(tmp_path: Path) -> None:
    assert detect_commands(tmp_path).test == ""
    (tmp_path / "go.mod").write_text("module x\n")
    assert detect_commands(tmp_path).test == "go test ./..."
    assert detect_commands(tmp_path, test="make check").note.startswith("configured")


def test_failing_test_names_from_several_runners() -> None:
    output = "FAILED tests/test_a.py::test_one - assert 1\n--- FAIL: TestTwo (0.00s)\ntest three ... FAILED\n"
    result = CommandResult("t", 1, output, 0.1, False, False)
    assert failing_tests(result) == {"tests/test_a.py::test_one", "TestTwo", "three"}
    assert failing_tests(CommandResult("make test", 2, "boom", 0.1, False, False)) == {"<make test>"}


def test_build_failure_blocks_only_when_required(tmp_path: Path) -> None:
    broken = Run(CommandResult("make", 2, "error", 0.1, False, False))
    assert not Gate(detect_commands(tmp_path, build="make")).verdict(broken, None, frozenset()).ok
    assert (
        Gate(detect_commands(tmp_path, build="make"), require_build=False)
        .verdict(broken, None, frozenset())
        .ok
    )
