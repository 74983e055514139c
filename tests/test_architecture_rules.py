"""Design rules read from the code's syntax trees: one place decides exit codes, and the core never prints."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "autonomous_dev"
# The one function that ends the process with an exit code (docs/troubleshooting.md lists the codes).
EXIT_PLACE = ("autonomous_dev/cli/app.py", "main")
# Packages that return data and log, but never write to the terminal: only cli/ does.
QUIET_PACKAGES = ("core", "store", "github", "claude", "git", "sandbox", "security", "intake", "settings")
# As ruff's banned-api (TID251) in pyproject.toml: only cli/ uses click, only cli/ and logs.py use rich.
TERMINAL_LIBRARIES = ("click", "rich")


def _modules(*packages: str) -> Iterator[tuple[str, ast.Module]]:
    folders = [PACKAGE / package for package in packages] or [PACKAGE]
    for folder in folders:
        for path in sorted(folder.rglob("*.py")):
            yield path.relative_to(ROOT).as_posix(), ast.parse(path.read_text(), filename=str(path))


def _functions(tree: ast.Module) -> dict[ast.AST, str]:
    """Every node, mapped to the name of the innermost function around it ("" at module level)."""
    owner: dict[ast.AST, str] = {}

    def visit(node: ast.AST, function: str) -> None:
        owner[node] = function
        name = node.name if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) else function
        for child in ast.iter_child_nodes(node):
            visit(child, name)

    visit(tree, "")
    return owner


def exits(tree: ast.Module) -> Iterator[tuple[ast.AST, str]]:
    """Places that end the process: SystemExit, sys.exit, os._exit, ctx.exit, click's Exit, exit(), quit()."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id in ("SystemExit", "Exit"):
            yield node, node.id
        elif isinstance(node, ast.Attribute) and node.attr in ("SystemExit", "Exit"):
            yield node, node.attr
        elif isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Attribute) and func.attr in ("exit", "_exit"):
                yield node, f".{func.attr}()"
            elif isinstance(func, ast.Name) and func.id in ("exit", "quit"):
                yield node, f"{func.id}()"


def terminal_writes(tree: ast.Module) -> Iterator[tuple[ast.AST, str]]:
    """print(), sys.stdout / sys.stderr, and imports of click or rich."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "print":
            yield node, "print()"
        elif isinstance(node, ast.Attribute) and node.attr in ("stdout", "stderr"):
            if isinstance(node.value, ast.Name) and node.value.id == "sys":
                yield node, f"sys.{node.attr}"
        elif isinstance(node, ast.Import | ast.ImportFrom):
            names = [alias.name for alias in node.names] if isinstance(node, ast.Import) else [node.module]
            for name in names:
                if name and name.split(".")[0] in TERMINAL_LIBRARIES:
                    yield node, f"import {name}"


def test_exit_codes_are_decided_in_one_place() -> None:
    """Commands return an ExitStatus or raise an AutonomousDevError; only cli/app.py's `main` exits."""
    found = []
    for path, tree in _modules():
        owner = _functions(tree)
        for node, what in exits(tree):
            if (path, owner[node]) != EXIT_PLACE:
                found.append(f"{path}:{getattr(node, 'lineno', '?')} {what} in {owner[node] or 'module'}")
    assert found == [], "return an ExitStatus or raise an AutonomousDevError instead:\n" + "\n".join(found)


def test_only_the_cli_writes_to_the_terminal() -> None:
    """The core returns data and logs; it never prints (the CLI owns the console)."""
    found = [
        f"{path}:{getattr(node, 'lineno', '?')} {what}"
        for path, tree in _modules(*QUIET_PACKAGES)
        for node, what in terminal_writes(tree)
    ]
    assert found == [], "return data or log instead:\n" + "\n".join(found)


def test_the_rules_see_what_they_forbid() -> None:
    """The checks above would find a violation in every spelling they claim to catch."""
    exiting = """
import os, sys
import click
def f(ctx):
    raise SystemExit(3)
def g(ctx):
    sys.exit(1); os._exit(2); ctx.exit(4); exit(5); quit(); raise click.exceptions.Exit(6)
"""
    assert sorted(what for _, what in exits(ast.parse(exiting))) == sorted(
        ["SystemExit", ".exit()", "._exit()", ".exit()", "exit()", "quit()", "Exit"]
    )
    printing = "import sys\nimport rich.table\nfrom click import echo\nprint(1)\nsys.stderr.write('x')\n"
    assert sorted(what for _, what in terminal_writes(ast.parse(printing))) == [
        "import click",
        "import rich.table",
        "print()",
        "sys.stderr",
    ]
    owner = _functions(ast.parse("def main():\n    raise SystemExit(0)\n"))
    assert {name for node, name in owner.items() if isinstance(node, ast.Raise)} == {"main"}
