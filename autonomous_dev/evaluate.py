"""The build and test gate, run in the task's worktree: a change is proposed only when it is proven."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from .procs import CommandResult

# Names of failing tests as the common runners print them.
FAILING_PATTERNS = (
    re.compile(r"^(?:FAILED|ERROR) (\S+::\S+)", re.M),  # pytest -rfE summary
    re.compile(r"^--- FAIL: (\S+)", re.M),  # go test
    re.compile(r"^test (\S+) \.\.\. FAILED$", re.M),  # cargo test
)
PYTEST_COUNTS = re.compile(r"(\d+) (passed|failed|error|errors)\b")


class Runner(Protocol):
    """Runs one command line; `timeout_s` may only shorten the configured timeout (a task's time budget)."""

    def __call__(self, line: str, timeout_s: float = ..., /) -> CommandResult: ...


@dataclass(frozen=True)
class Commands:
    build: str
    test: str
    note: str  # how they were chosen, for the evidence


def detect_commands(root: Path, build: str = "", test: str = "") -> Commands:
    """The configured commands, else sensible defaults for the project's kind; says which were chosen."""
    if build or test:
        return Commands(build, test, "configured (evaluation.buildCommand / evaluation.testCommand)")
    if (root / "pyproject.toml").is_file() or (root / "setup.py").is_file() or any(root.glob("test_*.py")):
        return Commands(
            "", "python -m pytest -q -rfE -p no:cacheprovider", "detected a Python project: pytest"
        )
    package = root / "package.json"
    if package.is_file():
        scripts = json.loads(package.read_text(encoding="utf-8") or "{}").get("scripts", {})
        return Commands(
            "npm run --silent build" if "build" in scripts else "",
            "npm test --silent" if "test" in scripts else "",
            "detected package.json scripts",
        )
    if (root / "go.mod").is_file():
        return Commands("go build ./...", "go test ./...", "detected a Go module")
    if (root / "Cargo.toml").is_file():
        return Commands("cargo build --quiet", "cargo test --quiet", "detected a Cargo project")
    if (root / "Makefile").is_file() and re.search(r"^test:", (root / "Makefile").read_text(), re.M):
        return Commands("", "make test", "detected a Makefile test target")
    return Commands("", "", "no build or test command found; set evaluation.testCommand")


@dataclass(frozen=True)
class Run:
    """One command's result with the failing tests it named."""

    result: CommandResult
    failing: frozenset[str] = frozenset()

    @property
    def ok(self) -> bool:
        return self.result.exit_code == 0

    @property
    def counts(self) -> str:
        found = dict((kind, int(n)) for n, kind in PYTEST_COUNTS.findall(self.result.output))
        return ", ".join(f"{n} {kind}" for kind, n in found.items()) or ("passed" if self.ok else "failed")


def failing_tests(result: CommandResult) -> frozenset[str]:
    """Failing test names; when a failed run names none, the command itself stands for them."""
    names = {name for pattern in FAILING_PATTERNS for name in pattern.findall(result.output)}
    if result.exit_code != 0 and not names:
        names.add(f"<{result.command}>")
    return frozenset(names)


@dataclass(frozen=True)
class Verdict:
    ok: bool
    reason: str
    build: Run | None
    tests: Run | None
    new_failures: tuple[str, ...] = ()
    pre_existing: tuple[str, ...] = ()
    notes: tuple[str, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class Gate:
    commands: Commands
    require_build: bool = True
    require_tests: bool = True

    def run(self, runner: Runner) -> tuple[Run | None, Run | None]:
        build = Run(runner(self.commands.build)) if self.commands.build else None
        if build is not None and not build.ok:
            return build, None
        if not self.commands.test:
            return build, None
        tests = runner(self.commands.test)
        return build, Run(tests, failing_tests(tests))

    def verdict(self, build: Run | None, tests: Run | None, baseline: frozenset[str]) -> Verdict:
        """Build passes, and no test that passed on the base commit fails now."""
        if build is not None and not build.ok and self.require_build:
            return Verdict(False, "the build fails", build, tests)
        if tests is None:
            return Verdict(True, "no test command" if not self.commands.test else "not run", build, tests)
        new = tuple(sorted(tests.failing - baseline))
        old = tuple(sorted(tests.failing & baseline))
        if new and self.require_tests:
            return Verdict(False, f"{len(new)} test(s) fail that passed before", build, tests, new, old)
        return Verdict(True, "checks pass" if not old else "checks pass (failures were there before)",
                       build, tests, new, old)  # fmt: skip


OUTPUT_FOR_MODEL = 12_000


def command_report(result: CommandResult, limit: int = OUTPUT_FOR_MODEL) -> str:
    """One command's result as the model (or a reader) sees it: command, status, duration, output tail."""
    status = "timed out" if result.timed_out else f"exit code {result.exit_code}"
    output = result.output if len(result.output) <= limit else "[...]\n" + result.output[-limit:]
    return f"$ {result.command}\n{status} after {result.duration_s:.1f} s\n{output}"


def repair_message(verdict: Verdict) -> str:
    """What goes back to the model when the checks fail after its change."""
    failed = verdict.tests if verdict.build is None or verdict.build.ok else verdict.build
    lines = [f"The checks failed after your change: {verdict.reason}."]
    if verdict.new_failures:
        lines.append("Tests that passed before and fail now: " + ", ".join(verdict.new_failures[:30]))
    if failed is not None:
        lines += ["", command_report(failed.result)]
    lines += ["", "Fix the change (not the tests, unless they are wrong), then reply with a short summary."]
    return "\n".join(lines)


def evidence(verdict: Verdict, rounds: int, note: str, tokens: int, cost_usd: float) -> str:
    """The PR body's evidence section: commands, exit codes, durations, baseline vs after, spend."""
    rows = ["| check | command | result | duration |", "| --- | --- | --- | --- |"]
    for name, run in (("build", verdict.build), ("tests", verdict.tests)):
        if run is not None:
            code = "timed out" if run.result.timed_out else f"exit {run.result.exit_code}"
            rows.append(
                f"| {name} | `{run.result.command}` | {code}, {run.counts} | {run.result.duration_s:.1f} s |"
            )
    if len(rows) == 2:
        rows.append(f"| - | - | not run: {note} | - |")
    lines = [f"**{'✅' if verdict.ok else '❌'} {verdict.reason}** ({note})", "", *rows, ""]
    if verdict.new_failures:
        lines.append("Failing now, passing before: " + ", ".join(f"`{t}`" for t in verdict.new_failures[:30]))
    if verdict.pre_existing:
        lines.append(
            "Failing before the change too (pre-existing): "
            + ", ".join(f"`{t}`" for t in verdict.pre_existing[:30])
        )
    lines.append(f"Repair rounds used: {rounds}. Tokens: {tokens}. Estimated cost: ${cost_usd:.4f}.")
    return "\n".join(lines)
