"""The text editor and search tools work inside the worktree and refuse every way out of it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from autonomous_dev.models import ToolCall
from autonomous_dev.tools import EDITOR_NAME, SEARCH_NAME, Toolbox


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
    assert error and "unsupported command" in message
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
