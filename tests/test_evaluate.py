"""The build and test gate against the stand-ins: baseline, repair rounds, evidence, drafts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from autonomous_dev.core.evaluate import Gate, Run, Status, compare, detect_commands, evidence
from autonomous_dev.core.testreports import Counts, SuiteResult
from autonomous_dev.sandbox.procs import CommandResult
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
    tracking, comment = checked.github.comments(OWNER, "checked", number)  # the evidence has its own
    assert "test_calc.py::test_add" in comment["body"] and "opened no pull request" in comment["body"]
    assert "`autonomous-dev:cause/checks-failed`" in tracking["body"]


def test_pre_existing_failures_do_not_block(checked: Stage) -> None:
    issue_with(checked, [[NOTE], [text_block("Added notes.")]])
    result = run_cli(["run"], cwd=checked.cwd, env=checked.env(REPO_NAME="checked"))
    assert result.returncode == 0, result.stderr[-2000:]
    [pull] = checked.github.pulls(OWNER, "checked")
    assert pull["draft"] is False
    assert "✅ checks pass: no new failures (1 failed before too)" in pull["body"]
    assert "Failing before and after (pre-existing) (1): `test_calc.py::test_div`" in pull["body"]
    assert "python -m pytest" in pull["body"] and "exit 1" in pull["body"]


def test_workers_on_one_base_commit_share_one_baseline_run(checked: Stage, tmp_path: Path) -> None:
    runs = tmp_path / "test-runs.log"
    for _ in range(3):
        issue_with(checked, [[NOTE], [text_block("Added notes.")]])
    command = f"echo run >> {runs} && sleep 1 && python -m pytest -q"  # slow: the workers overlap
    # Unsandboxed: the runs are counted in a file outside the worktree, which a sandbox never lets them write.
    env = checked.env(REPO_NAME="checked", PARALLEL_WORKERS="3", TEST_COMMAND=command, SANDBOX_BACKEND="none")
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


def test_a_change_nothing_checked_is_marked_not_verified(stage: Stage) -> None:
    stage.publish("plain", {"README.md": "# plain\n"})
    number = stage.github.add_issue(OWNER, "plain", "Notes", "Add notes.", labels=["autonomous-dev"])
    stage.claude.scripts.append(Script([[NOTE], [text_block("Added notes.")]]))
    result = run_cli(["run"], cwd=stage.cwd, env=stage.env(REPO_NAME="plain"))
    assert result.returncode == 0, result.stderr[-2000:]
    [pull] = stage.github.pulls(OWNER, "plain")
    assert "✅" not in pull["body"] and "**⚠️ not verified: no build or tests ran**" in pull["body"]
    [comment] = stage.github.comments(OWNER, "plain", number)  # the tracking comment holds the warning
    assert "**not verified**: `no build or tests ran`" in comment["body"]


def test_a_python_project_without_tests_is_not_verified(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'x'\nversion = '0'\n")
    gate = Gate(detect_commands(tmp_path))
    empty = Run(CommandResult(gate.commands.test, 5, "", 0.1, False, False), SuiteResult(counts=Counts()))
    verdict = gate.verdict(None, empty, empty)
    assert verdict.status is Status.NOT_VERIFIED and verdict.ok
    assert "✅" not in evidence(verdict, 0, gate.commands.note, 10, 0.0)


@pytest.mark.parametrize(
    "files",
    [
        {"tests/test_x.py": ""},
        {"tests/unit/test_x.py": ""},
        {"test/conftest.py": ""},
        {"pytest.ini": "[pytest]\n"},
        {"tox.ini": "[tox]\nenvlist = py3\n"},
        {"setup.cfg": "[metadata]\nname = x\n\n[tool:pytest]\ntestpaths = t\n"},
        {"pyproject.toml": "[tool.pytest.ini_options]\naddopts = '-ra'\n"},
        {"x_test.py": ""},
    ],
    ids=lambda files: next(iter(files)),
)
def test_python_projects_are_detected_by_their_tests_or_pytest_configuration(
    tmp_path: Path, files: dict[str, str]
) -> None:
    for path, text in files.items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(text)
    assert "pytest" in detect_commands(tmp_path).test


def test_javascript_tests_in_a_tests_folder_are_not_python(tmp_path: Path) -> None:
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "a.test.js").write_text("")
    (tmp_path / "setup.cfg").write_text("[flake8]\n")  # no [tool:pytest] section
    assert detect_commands(tmp_path).test == ""


def test_command_detection(tmp_path: Path) -> None:
    assert detect_commands(tmp_path).test == ""
    (tmp_path / "go.mod").write_text("module x\n")
    assert detect_commands(tmp_path).test == "go test -json ./..."
    assert detect_commands(tmp_path, test="make check").note.startswith("configured")


def run_of(code: int, suite: SuiteResult) -> Run:
    return Run(CommandResult("pytest", code, "", 0.1, False, False), suite)


def test_more_failures_than_before_are_never_no_new_failures() -> None:
    named = frozenset({"t.py::a"})
    before = run_of(1, SuiteResult(named, counts=Counts(failed=6), certain=True))
    after = run_of(1, SuiteResult(named, counts=Counts(failed=15), certain=True))
    verdict = compare(after, before)
    assert verdict.status is Status.FAILED and "15 failures now, 6 before" in verdict.reason


def test_failures_on_an_unreadable_base_cannot_be_told_apart() -> None:
    before = run_of(1, SuiteResult(source="output of an unknown test runner"))
    after = run_of(1, SuiteResult(frozenset({"t.py::a"}), counts=Counts(failed=1), certain=True))
    assert compare(after, before).reason.startswith("not proven")
    assert compare(after, run_of(0, SuiteResult(certain=True))).new_failures == ("t.py::a",)


def test_no_tests_after_the_change_when_tests_ran_before_fails() -> None:
    before = run_of(0, SuiteResult(counts=Counts(passed=3), certain=True))
    assert compare(run_of(5, SuiteResult(counts=Counts())), before).status is Status.FAILED


def test_evidence_shows_before_and_after_and_never_a_check_mark_for_unproven_changes() -> None:
    before = run_of(1, SuiteResult(frozenset({"t.py::old", "t.py::gone"}), counts=Counts(3, 2), certain=True))
    after = run_of(
        1,
        SuiteResult(
            frozenset({"t.py::old", "t.py::new[a b]"}), frozenset({"t.py::gone"}), Counts(3, 2), certain=True
        ),
    )
    text = evidence(compare(after, before), 1, "detected", 10, 0.0)
    assert text.startswith("**❌ 1 test(s) fail that passed before**") and "✅" not in text
    assert "Failed before, passes now (1): `t.py::gone`" in text
    assert "New failures (passed before, fail now) (1): `t.py::new[a b]`" in text
    assert "Failing before and after (pre-existing) (1): `t.py::old`" in text
    assert "| tests on the base commit | `pytest` | exit 1, 3 passed, 2 failed | 0.1 s |" in text
    unnamed = run_of(1, SuiteResult(source="output of an unknown test runner"))
    text = evidence(compare(unnamed, before), 0, "detected", 10, 0.0)
    assert "✅" not in text and "not proven" in text


def test_build_failure_blocks_only_when_required(tmp_path: Path) -> None:
    broken = Run(CommandResult("make", 2, "error", 0.1, False, False))
    assert not Gate(detect_commands(tmp_path, build="make")).verdict(broken, None, None).ok
    lenient = Gate(detect_commands(tmp_path, build="make"), require_build=False).verdict(broken, None, None)
    assert lenient.ok and lenient.status is Status.NOT_VERIFIED
