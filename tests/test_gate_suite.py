"""The gate on a real-world-shaped pytest suite: colour forced on, ids with spaces, collection errors.

Real pytest runs in subprocesses, once through the gate directly and once end to end through the CLI.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

from autonomous_dev.core.evaluate import Gate, Status, Verdict, detect_commands
from autonomous_dev.sandbox.procs import run_command, scrubbed_env
from tests.conftest import OWNER, Stage
from tests.helpers import run_cli
from tests.standins.anthropic_server import Script, text_block, text_editor

PYPROJECT = """\
[project]
name = "sizes"
version = "0.1"

[tool.pytest.ini_options]
addopts = "--color=yes -ra"
testpaths = ["tests"]
"""
SIZES = """\
UNITS = ["B", "KB", "MB", "GB"]


def human(n):
    for unit in UNITS:
        if n < 1024 or unit == UNITS[-1]:
            return f"{n:.1f} {unit}"
        n /= 1024


def parse(text):
    number, unit = text.split()
    return float(number) * 1000 ** UNITS.index(unit)
"""
TEST_SIZES = """\
import pytest

from sizes import human, parse

CASES = [(512, "512.0 B"), (2048, "2.0 KB"), (32 * 1024**2, "32.0 MB")]


@pytest.mark.parametrize("n, text", CASES, ids=[text for _, text in CASES])
def test_human(n, text):
    assert human(n) == text


@pytest.mark.parametrize("text, n", [("2.0 KB", 2048), ("1.0 MB", 1024**2)])
def test_parse(text, n):
    assert parse(text) == n
"""
TEST_UNITS = 'from sizes import UNITS\n\n\ndef test_units():\n    assert UNITS[0] == "B"\n'
PROJECT = {
    "pyproject.toml": PYPROJECT,
    "sizes.py": SIZES,
    "tests/test_sizes.py": TEST_SIZES,
    "tests/test_units.py": TEST_UNITS,
}
# Each change as (file, old text, new text).
BREAK = ("sizes.py", 'f"{n:.1f} {unit}"', 'f"{n:.2f} {unit}"')  # every test_human case fails
RENAME = ("tests/test_units.py", "import UNITS", "import SUFFIXES")  # the module cannot be collected
FIX = ("sizes.py", "* 1000 **", "* 1024 **")  # the two test_parse cases pass
BROKEN_HUMAN = [f"tests/test_sizes.py::test_human[{text}]" for text in ("2.0 KB", "32.0 MB", "512.0 B")]
PARSE = ["tests/test_sizes.py::test_parse[1.0 MB-1048576]", "tests/test_sizes.py::test_parse[2.0 KB-2048]"]


def write(root: Path, files: dict[str, str]) -> None:
    for path, text in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text)


def change(root: Path, edit: tuple[str, str, str]) -> None:
    path, old, new = edit
    text = (root / path).read_text()
    assert old in text
    (root / path).write_text(text.replace(old, new))


def gate_on(root: Path, *edits: tuple[str, str, str], test: str = "") -> Verdict:
    """The gate's verdict on `edits` to the project at `root`, with real pytest runs before and after."""
    gate = Gate(detect_commands(root, test=test), reports=root.parent / "reports")
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', os.defpath)}"
    env = scrubbed_env(root.parent / "home", source={"PATH": path}) | gate.env()

    def runner(line: str) -> object:
        return run_command(line, root, env, 120)

    _, baseline = gate.run(runner)  # type: ignore[arg-type]
    for edit in edits:
        change(root, edit)
    return gate.verdict(*gate.run(runner), baseline)  # type: ignore[arg-type]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "sizes"
    write(root, PROJECT)
    return root


def test_breaking_tests_with_colour_forced_on_fails_the_gate(project: Path) -> None:
    verdict = gate_on(project, BREAK)
    assert verdict.status is Status.FAILED and not verdict.ok
    assert list(verdict.new_failures) == BROKEN_HUMAN  # parametrised ids with spaces, whole
    assert list(verdict.pre_existing) == PARSE


def test_a_collection_error_fails_the_gate(project: Path) -> None:
    verdict = gate_on(project, RENAME)
    assert not verdict.ok and verdict.new_failures == ("tests/test_units.py",)


def test_an_import_error_on_the_base_means_the_environment_is_not_ready(project: Path) -> None:
    write(project, {"tests/test_old.py": "import not_installed_anywhere\n"})
    verdict = gate_on(project, BREAK)
    assert not verdict.ok and verdict.reason.startswith("environment not ready: the tests cannot import")
    assert "not_installed_anywhere" in verdict.environment and not verdict.repairable
    assert verdict.pre_existing == ()  # never called pre-existing
    assert list(verdict.new_failures) == BROKEN_HUMAN  # what broke is still named
    fixed = gate_on(project, FIX)  # even a change that makes every test pass proves nothing
    assert not fixed.ok and fixed.environment


def test_a_fix_shows_the_tests_that_failed_before_and_pass_now(project: Path) -> None:
    verdict = gate_on(project, FIX)
    assert verdict.status is Status.PROVEN and list(verdict.fixed) == PARSE
    assert verdict.baseline is not None and verdict.tests is not None
    assert verdict.baseline.summary == "exit 1, 4 passed, 2 failed"
    assert verdict.tests.summary == "exit 0, 6 passed"


def test_without_the_report_the_coloured_output_is_still_read(project: Path, tmp_path: Path) -> None:
    # The command line's own options win over the gate's: colour on, the report written elsewhere.
    command = f"python -m pytest --color=yes --junitxml={tmp_path / 'own.xml'}"
    verdict = gate_on(project, BREAK, test=command)
    assert verdict.tests is not None and verdict.tests.suite.source == "pytest output"
    assert "\x1b[" in verdict.tests.result.output
    assert not verdict.ok and list(verdict.new_failures) == BROKEN_HUMAN


def test_a_failing_command_that_names_no_test_is_not_proven(project: Path) -> None:
    verdict = gate_on(project, BREAK, test="echo 3 tests failed; exit 1")  # no runner the gate reads
    assert verdict.status is Status.FAILED and verdict.reason.startswith("not proven")


def test_several_pytest_sessions_in_one_command_are_all_read(project: Path) -> None:
    # The report holds only the last session, whose failures are pre-existing; the first one's are new.
    verdict = gate_on(project, BREAK, test="python -m pytest -k human; python -m pytest -k parse")
    assert not verdict.ok and list(verdict.new_failures) == BROKEN_HUMAN


ORDERED_X = "python -m pytest -x tests/test_sizes.py::test_parse tests/test_sizes.py::test_human"


def test_a_run_cut_short_by_maxfail_on_the_command_line_is_not_proven(project: Path) -> None:
    # -x stops at the first failure, a pre-existing one before and after: the broken tests never ran.
    verdict = gate_on(project, BREAK, test=ORDERED_X)
    assert not verdict.ok


NODE_TESTS = """\
const test = require("node:test");
const assert = require("node:assert");
const { human } = require("../sizes.js");

test("human [2 KB]", () => assert.strictEqual(human(2048), "2.0 KB"));
test.describe("parse", () => {
  test.it("knows MB", () => assert.strictEqual(1000, 1024));
});
"""
NODE_REPORTED = (  # the gate says where; the spec reporter keeps the output readable
    "node --test --test-reporter=spec --test-reporter-destination=stdout"
    ' --test-reporter=junit --test-reporter-destination="$JUNIT_XML_REPORT"'
)


def test_a_node_test_run_is_read_from_its_junit_report(tmp_path: Path) -> None:
    if shutil.which("node") is None:
        pytest.skip("node is not installed here")
    root = tmp_path / "node"
    sizes = 'exports.human = (n) => (n / 1024).toFixed(1) + " KB";\n'
    write(root, {"sizes.js": sizes, "test/sizes.test.js": NODE_TESTS})
    verdict = gate_on(root, ("sizes.js", "toFixed(1)", "toFixed(2)"), test=NODE_REPORTED)
    assert verdict.tests is not None and verdict.tests.suite.source == "JUnit XML report"
    assert verdict.new_failures == ("test > human [2 KB]",)
    assert verdict.pre_existing == ("parse > test > knows MB",)
    unread = gate_on(root, ("sizes.js", "toFixed(2)", "toFixed(3)"), test="node --test")
    assert unread.reason.startswith("not proven")  # the spec reporter's text is not read


HOST_PYTEST = "none"  # no set-up: the tests run with the pytest on the PATH


def issue_with(stage: Stage, steps: list[list[dict[str, object]]]) -> int:
    number = stage.github.add_issue(OWNER, "sizes", "Change sizes", "Please.", labels=["autonomous-dev"])
    stage.claude.scripts.append(Script(steps, match=f'<issue number="{number}">'))
    return number


def edit_step(edit: tuple[str, str, str]) -> dict[str, object]:
    path, old, new = edit
    return text_editor("str_replace", path=path, old_str=old, new_str=new)


@pytest.mark.parametrize("edit", [BREAK, RENAME], ids=["breaks tests", "collection error"])
def test_a_change_that_breaks_tests_never_gets_a_ready_pr(stage: Stage, edit: tuple[str, str, str]) -> None:
    stage.publish("sizes", PROJECT)
    issue_with(stage, [[edit_step(edit)], [text_block("Changed it.")]])
    env = stage.env(REPO_NAME="sizes", MAX_REPAIR_ROUNDS="0", SETUP_COMMAND=HOST_PYTEST)
    result = run_cli(["run"], cwd=stage.cwd, env=env)
    assert result.returncode == 1, result.stderr[-2000:]
    [pull] = stage.github.pulls(OWNER, "sizes")
    assert pull["draft"] is True
    assert "✅" not in pull["body"] and "❌" in pull["body"]
    new = BROKEN_HUMAN if edit is BREAK else ["tests/test_units.py"]
    assert f"New failures (passed before, fail now) ({len(new)}): " in pull["body"]
    assert all(f"`{name}`" in pull["body"] for name in new)


def test_a_fix_opens_a_ready_pr_showing_what_it_fixed(stage: Stage) -> None:
    stage.publish("sizes", PROJECT)
    issue_with(stage, [[edit_step(FIX)], [text_block("Fixed parse.")]])
    result = run_cli(["run"], cwd=stage.cwd, env=stage.env(REPO_NAME="sizes", SETUP_COMMAND=HOST_PYTEST))
    assert result.returncode == 0, result.stderr[-2000:]
    [pull] = stage.github.pulls(OWNER, "sizes")
    assert pull["draft"] is False and "✅ checks pass: 2 failed before, pass now" in pull["body"]
    assert "Failed before, passes now (2): " + ", ".join(f"`{name}`" for name in PARSE) in pull["body"]
    assert "| tests on the base commit |" in pull["body"] and "exit 1, 4 passed, 2 failed" in pull["body"]
    assert "| tests after the change |" in pull["body"] and "exit 0, 6 passed" in pull["body"]
