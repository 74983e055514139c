"""The build and test gate, run in the task's worktree: a change is proposed only when it is proven."""

from __future__ import annotations

import enum
import json
import re
import shlex
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol

from autonomous_dev.core.testreports import SuiteResult, environment_problem, readable, strip_ansi, summarise
from autonomous_dev.errors import Cause
from autonomous_dev.sandbox.environments import SetupStep
from autonomous_dev.sandbox.procs import CommandResult

# Colour off for every runner that listens; colour codes in the output hide the names of failing tests.
NO_COLOUR_ENV = {"NO_COLOR": "1", "FORCE_COLOR": "0", "PY_COLORS": "0", "CLICOLOR": "0", "TERM": "dumb"}
# pytest appends these to the project's own addopts: a JUnit XML report with each test's file, colour
# off, every failure counted (no -x) and a collection error not stopping the other tests.
JUNIT_ENV = "JUNIT_XML_REPORT"
PYTEST_OPTIONS = "--color=no --maxfail=0 --continue-on-collection-errors -o junit_family=xunit1"


class Runner(Protocol):
    """Runs one command line; `timeout_s` may only shorten the configured timeout (a task's time budget)."""

    def __call__(self, line: str, timeout_s: float = ..., /) -> CommandResult: ...


@dataclass(frozen=True)
class Commands:
    build: str
    test: str
    note: str  # how they were chosen, for the evidence


PYTEST = "python -m pytest -q -rfE -p no:cacheprovider"
PYTEST_CONFIGS = (("pytest.ini", ""), ("tox.ini", ""), ("setup.cfg", "[tool:pytest]"),
                  ("pyproject.toml", "[tool.pytest.ini_options]"))  # fmt: skip
TEST_FOLDERS = ("tests", "test", "testing")
MAX_FILES_LOOKED_AT = 2_000  # a test folder holding no Python test file is not searched forever


def detect_commands(root: Path, build: str = "", test: str = "") -> Commands:
    """The configured commands, else sensible defaults for the project's kind; says which were chosen."""
    if build or test:
        return Commands(build, test, "configured (evaluation.buildCommand / evaluation.testCommand)")
    if python := _python_project(root):
        return Commands("", PYTEST, f"detected a Python project ({python}): pytest")
    package = root / "package.json"
    if package.is_file():
        scripts = json.loads(package.read_text(encoding="utf-8") or "{}").get("scripts", {})
        return Commands(
            "npm run --silent build" if "build" in scripts else "",
            "npm test --silent" if "test" in scripts else "",
            "detected package.json scripts",
        )
    if (root / "go.mod").is_file():
        return Commands("go build ./...", "go test -json ./...", "detected a Go module")
    if (root / "Cargo.toml").is_file():
        # --no-fail-fast: one failing test binary must not hide what the others would say.
        return Commands(
            "cargo build --quiet", "cargo test --quiet --no-fail-fast", "detected a Cargo project"
        )
    if (root / "Makefile").is_file() and re.search(r"^test:", (root / "Makefile").read_text(), re.M):
        return Commands("", "make test", "detected a Makefile test target")
    return Commands("", "", "no build or test command found; set evaluation.testCommand")


def _python_project(root: Path) -> str:
    """What marks `root` as a Python project with tests ("" when nothing does)."""
    for name, section in PYTEST_CONFIGS:
        path = root / name
        if path.is_file() and (not section or section in _head(path)):
            return name if not section else f"{name} {section}"
    for name in ("pyproject.toml", "setup.py"):
        if (root / name).is_file():
            return name
    if any(root.glob("test_*.py")) or any(root.glob("*_test.py")):
        return "test files"
    for folder in TEST_FOLDERS:
        if (root / folder).is_dir() and _holds_python_tests(root / folder):
            return f"{folder}/"
    return ""


def _head(path: Path, limit: int = 1_000_000) -> str:
    """The start of a repository file: configuration is small; a link to a huge file is read no further."""
    with path.open("rb") as file:
        return file.read(limit).decode("utf-8", errors="replace")


def _holds_python_tests(folder: Path) -> bool:
    for count, path in enumerate(folder.rglob("*.py")):
        if path.name.startswith("test_") or path.name.endswith("_test.py") or path.name == "conftest.py":
            return True
        if count >= MAX_FILES_LOOKED_AT:
            break
    return False


class Status(enum.Enum):
    PROVEN = "proven"
    NOT_VERIFIED = "not verified"  # nothing ran that could prove or disprove the change
    FAILED = "failed"  # it fails, or it cannot be proven


NOTHING_KNOWN = SuiteResult()  # a build, or a test run nobody has read
MARKS = {Status.PROVEN: "✅", Status.NOT_VERIFIED: "⚠️", Status.FAILED: "❌"}


@dataclass(frozen=True)
class Run:
    """One command's result with what it says about individual tests."""

    result: CommandResult
    suite: SuiteResult = NOTHING_KNOWN

    @property
    def ok(self) -> bool:
        return self.result.exit_code == 0

    @property
    def summary(self) -> str:
        code = "timed out" if self.result.timed_out else f"exit {self.result.exit_code}"
        counts = self.suite.counts
        code = f"{code}, {counts}" if counts is not None else code
        return f"{code} ({self.result.limit})" if self.result.limit else code


@dataclass(frozen=True)
class Verdict:
    status: Status
    reason: str
    build: Run | None
    tests: Run | None
    baseline: Run | None = None  # the same tests on the base commit
    new_failures: tuple[str, ...] = ()
    pre_existing: tuple[str, ...] = ()
    fixed: tuple[str, ...] = ()  # failed on the base commit, pass now
    setup: SetupStep | None = None
    environment: str = ""  # why the environment is not ready ("" when it is): nothing could be proven

    @property
    def ok(self) -> bool:
        """Whether the change may be proposed as a ready PR."""
        return self.status is not Status.FAILED

    @property
    def repairable(self) -> bool:
        """Whether the model could fix what fails: not a broken environment, which its change cannot fix."""
        return not self.environment

    @property
    def caveat(self) -> str:
        """What the issue comment says about a PR nothing proved ("" for a proven or failing change)."""
        if self.environment:
            return f"environment not ready: {self.environment}"
        return self.reason.removeprefix("not verified: ") if self.status is Status.NOT_VERIFIED else ""

    @property
    def mark(self) -> str:
        return MARKS[self.status]

    @property
    def cause(self) -> Cause:
        """Why a failing verdict fails: the set-up, a base commit whose tests are broken, or the change."""
        if self.setup is not None and self.setup.problem:
            return Cause.SETUP_FAILED
        base = self.baseline
        if self.environment or (base is not None and not base.ok and not base.suite.certain):
            return Cause.BASELINE_RED
        return Cause.CHECKS_FAILED


@dataclass(frozen=True)
class Gate:
    commands: Commands
    require_build: bool = True
    require_tests: bool = True
    reports: Path | None = None  # where test runs write machine-readable reports; outside the worktree
    setup: SetupStep | None = None  # the prepared environment the commands run in

    @property
    def junit(self) -> Path | None:
        return self.reports / "pytest-junit.xml" if self.reports is not None else None

    def env(self) -> dict[str, str]:
        """Environment for the repository's commands: colour off, reports where the gate reads them."""
        env = dict(NO_COLOUR_ENV)
        if self.junit is not None:
            env["PYTEST_ADDOPTS"] = f"{PYTEST_OPTIONS} --junitxml={shlex.quote(str(self.junit))}"
            env[JUNIT_ENV] = str(self.junit)  # for a test command to hand to its runner's JUnit reporter
        return env

    def run(self, runner: Runner) -> tuple[Run | None, Run | None]:
        build = Run(runner(self.commands.build)) if self.commands.build else None
        if build is not None and not build.ok:
            return build, None
        if not self.commands.test:
            return build, None
        if self.junit is not None:
            self.junit.parent.mkdir(parents=True, exist_ok=True)
            self.junit.unlink(missing_ok=True)  # a report left by an earlier run is not this run's
        tests = runner(self.commands.test)
        return build, Run(tests, summarise(tests.output, tests.exit_code, self.junit, tests.truncated))

    def verdict(self, build: Run | None, tests: Run | None, baseline: Run | None) -> Verdict:
        """Proven: the build passes, the tests ran, and every test failing now is named and failed before."""
        verdict = self._verdict(build, tests, baseline)
        problem = self.environment_problem(baseline)
        if not problem or (build is None and tests is None):  # nothing ran that the environment could spoil
            return replace(verdict, setup=self.setup)
        # What fails in a broken environment is never called pre-existing, and a pass proves nothing; the
        # tests that passed before and fail now are still named.
        status = Status.FAILED if self.require_tests else Status.NOT_VERIFIED
        reason = f"environment not ready: {problem}"
        return Verdict(status, reason, build, tests, baseline, verdict.new_failures, (), verdict.fixed,
                       self.setup, problem)  # fmt: skip

    @property
    def environment_tag(self) -> str:
        """Tells baselines apart by environment: one run where the set-up failed is no one else's."""
        return " (set-up failed)" if self.setup is not None and self.setup.problem else ""

    def environment_problem(self, baseline: Run | None) -> str:
        """Why the environment is broken: the set-up failed, or the base commit's tests say so."""
        if self.setup is not None and self.setup.problem:
            return self.setup.problem
        if baseline is None:
            return ""
        return environment_problem(baseline.result.output, baseline.result.exit_code, baseline.suite)

    def _verdict(self, build: Run | None, tests: Run | None, baseline: Run | None) -> Verdict:
        if build is not None and not build.ok and self.require_build:
            return Verdict(Status.FAILED, "the build fails", build, tests, baseline)
        if tests is None:
            ran = "no build or tests ran"
            if build is not None:
                ran = (
                    "the build passes but no tests ran"
                    if build.ok
                    else "the build fails (requireBuild is off)"
                )
            return Verdict(Status.NOT_VERIFIED, f"not verified: {ran}", build, tests, baseline)
        verdict = compare(tests, baseline, self.require_tests)
        if build is not None and not build.ok and verdict.status is Status.PROVEN:
            reason = "not verified: the build fails (evaluation.requireBuild is off)"
            return Verdict(Status.NOT_VERIFIED, reason, build, tests, baseline, fixed=verdict.fixed)
        return Verdict(verdict.status, verdict.reason, build, tests, baseline, verdict.new_failures,
                       verdict.pre_existing, verdict.fixed)  # fmt: skip


def compare(tests: Run, baseline: Run | None, require_tests: bool = True) -> Verdict:
    """The tests after the change against the same tests on the base commit; fails closed."""
    after, before = tests.suite, baseline.suite if baseline is not None else SuiteResult(certain=True)
    fixed = tuple(sorted(before.failing & after.passed))

    def verdict(status: Status, reason: str, new: tuple[str, ...] = (), old: tuple[str, ...] = ()) -> Verdict:
        return Verdict(status, reason, None, tests, baseline, new, old, fixed)

    if after.ran_none:
        ran_before = before.counts.total if before.counts is not None else 0
        if ran_before:
            return verdict(Status.FAILED, f"no tests ran after the change ({ran_before} ran before)")
        return verdict(Status.NOT_VERIFIED, "not verified: the test command found no tests")
    if tests.ok:
        return verdict(
            Status.PROVEN, "checks pass" + (f": {len(fixed)} failed before, pass now" if fixed else "")
        )
    if not after.certain:
        why = (
            "timed out"
            if tests.result.timed_out
            else f"fail and the failing tests cannot be named ({after.source})"
        )
        return verdict(Status.FAILED, f"not proven: the tests {why}")
    if baseline is not None and not baseline.ok and not before.certain:
        return verdict(Status.FAILED, "not proven: the tests fail, and the base commit's failures cannot be "
                       f"named ({before.source}) to tell them apart")  # fmt: skip
    new, old = tuple(sorted(after.failing - before.failing)), tuple(sorted(after.failing & before.failing))
    if not new and after.failures > before.failures:
        return verdict(Status.FAILED, f"not proven: {after.failures} failures now, {before.failures} before, "
                       "but the new ones cannot be named", new, old)  # fmt: skip
    if new:
        reason = f"{len(new)} test(s) fail that passed before"
        if require_tests:
            return verdict(Status.FAILED, reason, new, old)
        return verdict(
            Status.NOT_VERIFIED, f"not verified: {reason} (evaluation.requireTests is off)", new, old
        )
    return verdict(Status.PROVEN, f"checks pass: no new failures ({len(old)} failed before too)", new, old)


OUTPUT_FOR_MODEL = 12_000


def command_report(result: CommandResult, limit: int = OUTPUT_FOR_MODEL) -> str:
    """One command's result as the model (or a reader) sees it: command, status, duration, output tail."""
    status = "timed out" if result.timed_out else f"exit code {result.exit_code}"
    text = readable(strip_ansi(result.output))
    output = text if len(text) <= limit else "[...]\n" + text[-limit:]
    hit = f"\nsandbox limit: {result.limit}" if result.limit else ""
    return f"$ {result.command}\n{status} after {result.duration_s:.1f} s{hit}\n{output}"


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


MAX_NAMES_SHOWN = 30


def evidence(
    verdict: Verdict, rounds: int, note: str, tokens: int, cost_usd: float, instructions: str = ""
) -> str:
    """The PR body's evidence: verdict, commands with exit codes, tests before and after, spend, and the
    repository instructions the model was given (`AGENTS.md (1.2 KB)`)."""
    rows = ["| check | command | result | duration |", "| --- | --- | --- | --- |"]
    if (setup := verdict.setup) is not None:
        rows.append(
            f"| set-up | `{_code(setup.command)}` | {_code(setup.summary)} | {setup.duration_s:.1f} s |"
        )
    checks = (("build", verdict.build), ("tests on the base commit", verdict.baseline),
              ("tests after the change", verdict.tests))  # fmt: skip
    for name, run in checks:
        if run is not None:
            rows.append(
                f"| {name} | `{_code(run.result.command)}` | {run.summary} | {run.result.duration_s:.1f} s |"
            )
    if len(rows) == 2 + (verdict.setup is not None):
        rows.append(f"| - | - | nothing ran: {note} | - |")
    lines = [f"**{verdict.mark} {verdict.reason}** ({note})", "", *rows, ""]
    for title, names in (
        ("Failed before, passes now", verdict.fixed),
        ("New failures (passed before, fail now)", verdict.new_failures),
        ("Failing before and after (pre-existing)", verdict.pre_existing),
    ):
        if names:
            shown = ", ".join(f"`{_code(name)}`" for name in names[:MAX_NAMES_SHOWN])
            more = f" and {len(names) - MAX_NAMES_SHOWN} more" if len(names) > MAX_NAMES_SHOWN else ""
            lines.append(f"{title} ({len(names)}): {shown}{more}")
    lines.append(f"Repair rounds used: {rounds}. Tokens: {tokens}. Estimated cost: ${cost_usd:.4f}.")
    if instructions:
        lines.append(f"Repository instructions: {_code(instructions)}.")
    return "\n".join(lines)


def _code(text: str) -> str:
    """Text that stays inside one inline code span of one table cell."""
    return text.replace("`", "'").replace("|", "\\|").replace("\n", " ")
