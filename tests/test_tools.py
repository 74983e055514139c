"""The text editor and search tools work inside the worktree and refuse every way out of it."""

from __future__ import annotations

import os
import random
import re
import string
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

import autonomous_dev
from autonomous_dev.core.tool_schema import COMMAND_NAME
from autonomous_dev.core.tools import EDITOR_NAME, SEARCH_NAME, TESTS_NAME, ExtraTool, Toolbox, command_tool
from autonomous_dev.errors import ToolError
from autonomous_dev.intake.discover import Proposal, propose_tool
from autonomous_dev.intake.report import ErrorAnalysis, analysis_tool
from autonomous_dev.models import ToolCall
from autonomous_dev.sandbox.procs import CommandResult
from autonomous_dev.security.redact import Redactor


@pytest.fixture
def worktree(tmp_path: Path) -> Path:
    root = tmp_path / "wt"
    (root / "src").mkdir(parents=True)
    (root / "src" / "app.py").write_text("def add(a, b):\n    return a - b\n")
    (root / ".git").mkdir()
    (root / ".git" / "config").write_text("[core]\n")
    (root / ".env").write_text("TOKEN=x\n")
    (tmp_path / "outside.txt").write_text("secret outside\n")
    return root


def edit(box: Toolbox, **args: object) -> tuple[str, bool]:
    result = box.run(ToolCall("toolu_1", EDITOR_NAME, dict(args)))
    return result.content, result.is_error


def test_view_file_shows_numbered_lines(worktree: Path) -> None:
    output, error = edit(Toolbox(worktree), command="view", path="src/app.py")
    assert not error
    assert output.splitlines()[1] == "     2\t    return a - b"


def test_view_range_and_directory_listing(worktree: Path) -> None:
    box = Toolbox(worktree)
    output, _ = edit(box, command="view", path="src/app.py", view_range=[2, -1])
    assert output == "     2\t    return a - b\n     3\t"
    listing, error = edit(box, command="view", path=".")
    assert not error
    assert "src/app.py" in listing.splitlines()
    assert ".git" not in listing and ".env" not in listing


def test_str_replace_edits_exactly_one_occurrence(worktree: Path) -> None:
    box = Toolbox(worktree)
    _, error = edit(box, command="str_replace", path="src/app.py", old_str="a - b", new_str="a + b")
    assert not error
    assert "return a + b" in (worktree / "src/app.py").read_text()
    message, error = edit(box, command="str_replace", path="src/app.py", old_str="missing", new_str="x")
    assert error and "not found" in message


def test_str_replace_refuses_ambiguous_match(worktree: Path) -> None:
    (worktree / "dup.txt").write_text("x\nx\n")
    message, error = edit(Toolbox(worktree), command="str_replace", path="dup.txt", old_str="x", new_str="y")
    assert error and "2 times" in message
    assert (worktree / "dup.txt").read_text() == "x\nx\n"


@pytest.mark.parametrize("key", ["insert_text", "new_str"])
def test_insert_accepts_both_input_names(worktree: Path, key: str) -> None:
    _, error = edit(
        Toolbox(worktree), command="insert", path="src/app.py", insert_line=0, **{key: "# header"}
    )
    assert not error
    assert (worktree / "src/app.py").read_text().startswith("# header\ndef add")


def test_create_makes_parent_directories(worktree: Path) -> None:
    _, error = edit(Toolbox(worktree), command="create", path="tests/test_new.py", file_text="x = 1\n")
    assert not error
    assert (worktree / "tests/test_new.py").read_text() == "x = 1\n"


ESCAPES = [
    "/etc/passwd",
    "../outside.txt",
    "src/../../outside.txt",
    ".git/config",
    "src/../.git/config",
    ".env",
    "~/.bashrc",
]


@pytest.mark.parametrize("path", ESCAPES)
@pytest.mark.parametrize("command", ["view", "create", "str_replace", "insert"])
def test_every_command_refuses_escapes(worktree: Path, path: str, command: str) -> None:
    args = {
        "view": {},
        "create": {"file_text": "pwned"},
        "str_replace": {"old_str": "secret", "new_str": "x"},
        "insert": {"insert_line": 0, "insert_text": "pwned"},
    }[command]
    message, error = edit(Toolbox(worktree), command=command, path=path, **args)
    assert error, message
    assert message.startswith("Error: ")
    assert (worktree.parent / "outside.txt").read_text() == "secret outside\n"
    assert (worktree / ".git" / "config").read_text() == "[core]\n"


def test_symlinks_leaving_the_worktree_are_refused(worktree: Path) -> None:
    os.symlink(worktree.parent / "outside.txt", worktree / "link.txt")
    os.symlink(worktree.parent, worktree / "up")
    box = Toolbox(worktree)
    for command, path, extra in [
        ("view", "link.txt", {}),
        ("str_replace", "link.txt", {"old_str": "secret", "new_str": "x"}),
        ("create", "up/new.txt", {"file_text": "x"}),
        ("view", "up/outside.txt", {}),
    ]:
        message, error = edit(box, command=command, path=path, **extra)
        assert error and "outside the repository" in message, (command, path, message)
    assert not (worktree.parent / "new.txt").exists()
    assert (worktree.parent / "outside.txt").read_text() == "secret outside\n"


def test_unknown_command_and_tool_are_errors_not_crashes(worktree: Path) -> None:
    box = Toolbox(worktree)
    message, error = edit(box, command="undo_edit", path="src/app.py")
    assert error and "`command` must be one of" in message
    result = box.run(ToolCall("toolu_2", "bash", {"command": "cat /etc/passwd"}))
    assert result.is_error and "unknown tool" in result.content


def test_search_finds_matches_but_not_in_git_or_env(worktree: Path) -> None:
    box = Toolbox(worktree)
    result = box.run(ToolCall("toolu_3", SEARCH_NAME, {"pattern": r"return a"}))
    assert result.content == "src/app.py:2:     return a - b"
    hidden = box.run(ToolCall("toolu_4", SEARCH_NAME, {"pattern": "TOKEN|core"}))
    assert hidden.content == "No matches."
    bad = box.run(ToolCall("toolu_5", SEARCH_NAME, {"pattern": "("}))
    assert bad.is_error and "invalid regular expression" in bad.content


# -- malformed input from the model is an error result, never an exception (issue 21, class 9) ----

MALFORMED: list[tuple[str, dict[str, object]]] = [
    (EDITOR_NAME, {"command": "view", "path": "src/app.py", "view_range": "1-5"}),
    (EDITOR_NAME, {"command": "view", "path": "src/app.py", "view_range": [1]}),
    (EDITOR_NAME, {"command": "view", "path": "src/app.py", "view_range": ["a", "b"]}),
    (EDITOR_NAME, {"command": "view", "path": "src/app.py", "view_range": [1.5, 2]}),
    (EDITOR_NAME, {"command": "view", "path": "src/app.py", "view_range": {"start": 1}}),
    (EDITOR_NAME, {"command": "create", "path": "src/app.py/child.py", "file_text": "x"}),
    (EDITOR_NAME, {"command": "create", "path": "a/" * 3000 + "x.py", "file_text": "x"}),
    (EDITOR_NAME, {"command": "view", "path": "n" * 300}),
    (EDITOR_NAME, {"command": "view", "path": "src/\0app.py"}),
    (EDITOR_NAME, {"command": "create", "path": "x.py", "file_text": "bad \ud800 surrogate"}),
    (EDITOR_NAME, {"command": "create", "path": "\udcff.py", "file_text": "x"}),
    (EDITOR_NAME, {"command": "view", "path": 7}),
    (EDITOR_NAME, {"command": "insert", "path": "src/app.py", "insert_line": "2", "insert_text": "x"}),
    (EDITOR_NAME, {"command": "insert", "path": "src/app.py", "insert_line": True, "new_str": "x"}),
    (EDITOR_NAME, {"path": "src/app.py"}),
    (SEARCH_NAME, {"pattern": "x", "path": "src\0"}),
    (SEARCH_NAME, {"pattern": ["x"]}),
    (SEARCH_NAME, {"pattern": "(?<=a)b"}),
    (SEARCH_NAME, {"pattern": "a", "glob": "a*" * 3000}),
    (TESTS_NAME, {"args": "-k 'unclosed"}),
    (TESTS_NAME, {"args": 42}),
    (TESTS_NAME, {"args": "a\0b"}),
    (COMMAND_NAME, {}),
    (COMMAND_NAME, {"command": ""}),
    (COMMAND_NAME, {"command": "   "}),
    (COMMAND_NAME, {"command": 42}),
    (COMMAND_NAME, {"command": "ls\0-la"}),
    (COMMAND_NAME, {"command": "x" * 20_000}),
    (COMMAND_NAME, {"command": "ls", "cwd": "/"}),
]


def box_with_tests(root: Path) -> Toolbox:
    return Toolbox(root, run_tests=lambda argv, within_s: f"ran {argv} within {within_s:.0f}s",
                   run_command=lambda line, within_s: f"ran {line!r} within {within_s:.0f}s")  # fmt: skip


@pytest.mark.parametrize(("name", "args"), MALFORMED, ids=lambda v: repr(v)[:40])
def test_malformed_input_is_an_error_result(worktree: Path, name: str, args: dict[str, object]) -> None:
    result = box_with_tests(worktree).run(ToolCall("toolu_m", name, args))
    assert result.is_error and result.content.startswith("Error: "), result.content
    assert (worktree / "src" / "app.py").read_text() == "def add(a, b):\n    return a - b\n"


def test_null_optional_properties_count_as_absent(worktree: Path) -> None:
    output, error = edit(Toolbox(worktree), command="view", path="src/app.py", view_range=None)
    assert not error and output.splitlines()[0] == "     1\tdef add(a, b):"


def test_a_name_too_long_for_the_filesystem_is_the_models_to_fix(worktree: Path) -> None:
    """Within our own limits but over the OS's: 250 characters of 2 bytes each."""
    message, error = edit(Toolbox(worktree), command="create", path="é" * 125 + "/x", file_text="x")
    assert not error, message  # 250 bytes: fine
    message, error = edit(Toolbox(worktree), command="view", path="é" * 200)
    assert error and "too long" in message


# -- every tool the model is offered, fed schema-shaped and malformed inputs (property test) ----

ODD_STRINGS = [
    "", ".", "src", "src/app.py", "src/app.py/x", "../x", "/etc/passwd", ".git/config", ".env", "~",
    "\0", "src/\0", "\ud800", "a" * 300, "a/" * 2100, "x" * 100_000, "(a+)+$", "(a)\\1", "*", "-k 'x",
]  # fmt: skip
# The odd strings twice: malformed paths and patterns are what this test is for.
ANY_TEXT = st.one_of(
    st.sampled_from(ODD_STRINGS), st.sampled_from(ODD_STRINGS), st.text(st.characters(exclude_categories=()))
)
ANY_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | ANY_TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(ANY_TEXT, inner, max_size=3),
    max_leaves=6,
)


def from_schema(schema: dict[str, Any]) -> st.SearchStrategy[object]:
    """Values shaped by the schema most of the time, and anything at all (wrong types, null) otherwise."""
    kind = schema.get("type")
    if "enum" in schema:
        shaped: st.SearchStrategy[object] = st.sampled_from(schema["enum"])
    elif kind == "string":
        shaped = ANY_TEXT
    elif kind == "integer":
        shaped = st.integers(-3, 12) | st.integers()
    elif kind == "array":
        shaped = st.lists(from_schema(schema.get("items", {})), max_size=4)
    elif kind == "object":
        shaped = objects(schema)
    else:
        return ANY_JSON
    return st.one_of(shaped, shaped, shaped, ANY_JSON)


def objects(schema: dict[str, Any]) -> st.SearchStrategy[object]:
    properties = schema.get("properties", {})
    required = schema.get("required", [])
    return st.fixed_dictionaries(
        {key: from_schema(properties[key]) for key in required if key in properties},
        optional={
            **{key: from_schema(sub) for key, sub in properties.items() if key not in required},
            "unexpected": ANY_JSON,
        },
    )


def offered_toolbox(root: Path) -> Toolbox:
    """Every tool any task offers: the coding task's, and discovery's and intake's read-only extras."""

    def validated_by(model: type[BaseModel]) -> Callable[[dict[str, object]], str]:
        def handle(args: dict[str, object]) -> str:  # as discover's and intake's handlers do
            try:
                model.model_validate(args)
            except ValidationError as exc:
                raise ToolError(f"invalid, nothing recorded: {exc.errors()[0]['msg']}") from None
            return "recorded"

        return handle

    extras = [
        ExtraTool(propose_tool(), validated_by(Proposal)),
        ExtraTool(analysis_tool(), validated_by(ErrorAnalysis)),
    ]
    return Toolbox(
        root, Redactor().restore, run_tests=checked_runner, extras=extras, run_command=checked_line
    )


def checked_runner(argv: list[str], within_s: float) -> str:
    assert all(isinstance(arg, str) and "\0" not in arg for arg in argv) and within_s > 0
    return "ok"


def checked_line(line: str, within_s: float) -> str:
    assert isinstance(line, str) and line.strip() and "\0" not in line and within_s > 0
    return "ok"


OFFERED = [definition["name"] for definition in offered_toolbox(Path(".")).definitions()]


def test_the_property_test_covers_every_extra_tool_in_the_package() -> None:
    """A new task-specific tool must join offered_toolbox, or the property test would not see it."""
    package = Path(autonomous_dev.__file__).parent
    # discover and intake offer their answer tools through structured.AnswerTool(definition(), ...)
    made = {m for f in package.rglob("*.py") for m in re.findall(r"AnswerTool\((\w+)\(\)", f.read_text())}
    assert made == {"propose_tool", "analysis_tool"}


@pytest.mark.parametrize("name", OFFERED)
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_no_input_raises_out_of_the_tool_layer(worktree: Path, name: str, data: st.DataObject) -> None:
    box = offered_toolbox(worktree)
    schema = box.input_schema(name)
    args = data.draw(st.one_of(objects(schema), objects(schema), ANY_JSON), label="input")
    result = box.run(ToolCall("toolu_p", name, args), deadline=time.monotonic() + 30)  # type: ignore[arg-type]
    assert isinstance(result.content, str)
    assert result.is_error == result.content.startswith("Error: ")


def test_a_spent_time_budget_stops_search_and_tests(worktree: Path) -> None:
    box = box_with_tests(worktree)
    spent = time.monotonic() - 1
    found = box.run(ToolCall("toolu_s", SEARCH_NAME, {"pattern": "return"}), deadline=spent)
    assert "time budget ran out" in found.content and "src/app.py" not in found.content
    tests = box.run(ToolCall("toolu_t", TESTS_NAME, {"args": "-x"}), deadline=spent)
    assert tests.is_error and "time budget is spent" in tests.content
    allowed = box.run(ToolCall("toolu_u", TESTS_NAME, {"args": "-x"}), deadline=time.monotonic() + 42)
    assert allowed.content in ("ran ['-x'] within 42s", "ran ['-x'] within 41s")
    command = box.run(ToolCall("toolu_c", COMMAND_NAME, {"command": "ls"}), deadline=spent)
    assert command.is_error and "time budget is spent; the command not run" in command.content
    shell = box.run(ToolCall("toolu_d", COMMAND_NAME, {"command": "ls -la"}), deadline=time.monotonic() + 42)
    assert shell.content in ("ran 'ls -la' within 42s", "ran 'ls -la' within 41s")


def test_the_shell_tools_output_is_redacted_and_bounded(worktree: Path) -> None:
    token = "ghp_" + "".join(random.choices(string.ascii_letters + string.digits, k=36))
    seen: list[tuple[str, float]] = []

    def runner(line: str, timeout_s: float = 1.0) -> CommandResult:
        seen.append((line, timeout_s))
        return CommandResult(line, 0, f"config: token={token}\n" + "x" * 100_000, 0.2, False, False)

    box = Toolbox(worktree, run_command=command_tool(runner, Redactor().redact))
    result = box.run(ToolCall("toolu_r", COMMAND_NAME, {"command": "cat cfg"}), time.monotonic() + 9)
    assert token not in result.content and "$ cat cfg\nexit code 0 after 0.2 s" in result.content
    assert len(result.content) < 13_000 and seen[0][0] == "cat cfg" and 0 < seen[0][1] <= 9
    assert COMMAND_NAME not in [d["name"] for d in Toolbox(worktree).definitions()]  # off unless given
