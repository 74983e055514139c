"""Which tests a run failed and passed, from a machine-readable report or, failing that, its output."""

from __future__ import annotations

import contextlib
import json
import os
import re
import stat

# ElementTree for its types and ParseError only; parsing goes through defusedxml
import xml.etree.ElementTree as ElementTree  # nosec B405
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import defusedxml.ElementTree as defused
from defusedxml import DefusedXmlException

# CSI sequences (colours, cursor moves), OSC sequences (titles, links) and the two-byte escapes.
ANSI = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)|[@-Z\\-_])")
MAX_REPORT_BYTES = 20_000_000  # the report is written by repository code: read no more than this

PYTEST_SUMMARY = re.compile(r"^=*\s*((?:\d+ [a-z]+(?:, )?)+|no tests ran) in \d+(?:\.\d+)?s\b", re.M)
PYTEST_FAILED = re.compile(r"^(?:FAILED|ERROR) (\S+?::[^\s\[]+(?:\[.*?\])?|\S+?)(?: - .*)?$", re.M)
# "!!! Interrupted: 1 error during collection !!!", "!!! stopping after 1 failures !!!": a partial run.
PYTEST_INTERRUPTED = re.compile(r"^!{3,} .*(?:Interrupted|stopping after).* !{3,}$", re.M)
GO_FAILED_TEST = re.compile(r"^\s*--- FAIL: (\S+)")
GO_PACKAGE = re.compile(r"^(ok|FAIL)\s+(\S+)(?:\s|$)")
CARGO_FAILED = re.compile(r"^test (.+) \.\.\. FAILED$", re.M)
CARGO_FAILURES = re.compile(r"^failures:\n((?:    .+\n)+)\ntest result:", re.M)  # the list before each result
CARGO_RESULT = re.compile(r"^test result: \w+\. (\d+) passed; (\d+) failed; (\d+) ignored", re.M)
CARGO_FAILED_TARGET = "error: test failed, to rerun pass"
CARGO_NO_FAIL_FAST = re.compile(r"^error: \d+ targets? failed:$", re.M)  # all test binaries ran
# Signs that a run says nothing about the code because its environment is broken.
MISSING_RUNNER = re.compile(r"No module named '?(pytest|nose2?|tox)'?|(\S+): (?:command )?not found$", re.M)
IMPORT_ERROR = re.compile(r"^(?:E\s+|ERROR .* - )?((?:ModuleNotFoundError|ImportError): .+)$", re.M)
ALL_FAILING_FROM = 3  # fewer tests than this may all fail for one ordinary bug


@dataclass(frozen=True)
class Counts:
    passed: int = 0
    failed: int = 0
    errors: int = 0
    skipped: int = 0

    @property
    def total(self) -> int:
        return self.passed + self.failed + self.errors + self.skipped

    @property
    def failures(self) -> int:
        return self.failed + self.errors

    def __str__(self) -> str:
        parts = (f"{n} {kind}" for kind, n in vars(self).items() if n)
        return ", ".join(parts) or "no tests ran"


@dataclass(frozen=True)
class SuiteResult:
    """What one run of the test command says about individual tests.

    `certain` is True only when every failure of the run is named in `failing`: the report was read whole,
    the run was not cut short, and the names agree with the runner's own count.
    """

    failing: frozenset[str] = frozenset()
    passed: frozenset[str] = frozenset()  # named only by machine-readable reports
    counts: Counts | None = None
    certain: bool = False
    source: str = "output"

    @property
    def failures(self) -> int:
        return self.counts.failures if self.counts is not None else len(self.failing)

    @property
    def ran_none(self) -> bool:
        return self.counts is not None and self.counts.total == 0 and not self.failing


def strip_ansi(text: str) -> str:
    return ANSI.sub("", text)


def summarise(
    output: str, exit_code: int | None, junit: Path | None = None, truncated: bool = False
) -> SuiteResult:
    """The tests of a run, from the JUnit XML report at `junit` when there is one, else from the output.

    `truncated`: the middle of the output was dropped. Only pytest prints all its failures and its count
    together at the end; any other runner's names and counts may have been in the part that is gone.
    """
    text = strip_ansi(output)
    found = read_junit(junit) if junit is not None else None
    sessions = len(PYTEST_SUMMARY.findall(text))
    if found is None or sessions > 1:  # the report holds the last pytest session only
        found = parse_output(text)
        if truncated and not (found.source == "pytest output" and sessions == 1):
            found = replace(found, certain=False)
    if exit_code == 0:  # the command says the tests pass: nothing failed, whatever the report holds
        return SuiteResult(frozenset(), found.passed, found.counts, True, found.source)
    complete = exit_code is not None and not PYTEST_INTERRUPTED.search(text)
    certain = found.certain and complete and bool(found.failing)  # a failed run naming no test is unknown
    return SuiteResult(found.failing, found.passed, found.counts, certain, found.source)


def read_junit(path: Path) -> SuiteResult | None:
    """A JUnit XML report (pytest's, node --test's, ...), or None when there is none."""
    data = _read_bounded(path)
    if data is None:
        return None
    try:
        # defusedxml: the report is written by repository code; it refuses DTDs and entities (which can
        # explode or reach out), and the size was bounded on reading
        root = defused.fromstring(data, forbid_dtd=True)
    except (ElementTree.ParseError, DefusedXmlException):
        return SuiteResult(source="an unreadable JUnit XML report")
    failing: set[str] = set()
    passed: set[str] = set()
    kinds: list[str] = []  # one per test case: two cases of one name are counted twice
    for case, suites in _cases(root, ()):
        tags = {child.tag for child in case}
        kind = next((tag for tag in ("failure", "error", "skipped") if tag in tags), "passed")
        kinds.append(kind)
        if kind in ("failure", "error"):
            failing.add(_case_id(case, suites))
        elif kind == "passed":
            passed.add(_case_id(case, suites))
    counts = Counts(*(kinds.count(kind) for kind in ("passed", "failure", "error", "skipped")))
    certain = root.tag in ("testsuites", "testsuite")
    return SuiteResult(frozenset(failing), frozenset(passed), counts, certain, "JUnit XML report")


def _cases(
    element: ElementTree.Element, suites: tuple[str, ...]
) -> Iterator[tuple[ElementTree.Element, tuple[str, ...]]]:
    """Every test case with the names of the test suites around it."""
    for child in element:
        if child.tag == "testcase":
            yield child, suites
        elif child.tag == "testsuite":
            yield from _cases(child, (*suites, child.get("name", "")))


def _read_bounded(path: Path) -> bytes | None:
    """The file's bytes, or None when it is missing, not a regular file, a symbolic link or too large."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    with contextlib.closing(os.fdopen(fd, "rb")) as file:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        data = file.read(MAX_REPORT_BYTES + 1)
    return data if len(data) <= MAX_REPORT_BYTES else None


def _case_id(case: ElementTree.Element, suites: tuple[str, ...]) -> str:
    """pytest's node id (`tests/test_x.py::TestC::test_y[a b]`) back from a test case of pytest's xunit1
    report (it carries the file); for other runners the names of the suites, class and test."""
    file, classname, name = case.get("file", ""), case.get("classname", ""), case.get("name", "")
    if not file:
        return " > ".join(part for part in (*suites, classname, name) if part)
    if not classname:  # a collection error: the module itself failed
        return file
    module = file.removesuffix(".py").replace("/", ".")
    classes = classname.removeprefix(module).split(".")  # "" when the test is a module-level function
    return "::".join(part for part in (file, *classes, name) if part)


def parse_output(text: str) -> SuiteResult:
    """Failing tests as pytest, go test or cargo test print them; uncertain for any other runner."""
    if PYTEST_SUMMARY.search(text):
        return _pytest_output(text)
    if CARGO_RESULT.search(text):
        return _cargo_output(text)
    if any(_go_event(line) for line in text.splitlines()):
        return _go_json(text)
    if any(GO_PACKAGE.match(line) for line in text.splitlines()):
        return _go_output(text)
    return SuiteResult(source="output of an unknown test runner")


def _pytest_output(text: str) -> SuiteResult:
    found: dict[str, int] = {}
    for summary in PYTEST_SUMMARY.findall(text):  # one per pytest session the command ran
        for n, kind in re.findall(r"(\d+) ([a-z]+)", summary):
            found[kind] = found.get(kind, 0) + int(n)
    counts = Counts(
        found.get("passed", 0) + found.get("xpassed", 0),
        found.get("failed", 0),
        found.get("error", 0) + found.get("errors", 0),
        found.get("skipped", 0) + found.get("xfailed", 0),
    )
    failing = frozenset(PYTEST_FAILED.findall(text))
    return SuiteResult(
        failing, counts=counts, certain=len(failing) == counts.failures, source="pytest output"
    )


def _cargo_output(text: str) -> SuiteResult:
    results = [tuple(map(int, found)) for found in CARGO_RESULT.findall(text)]
    counts = Counts(sum(r[0] for r in results), sum(r[1] for r in results), 0, sum(r[2] for r in results))
    listed = {name.strip() for block in CARGO_FAILURES.findall(text) for name in block.splitlines()}
    failing = frozenset(listed | set(CARGO_FAILED.findall(text)))
    # Without --no-fail-fast cargo stops at the first failing test binary: the others never ran.
    stopped = CARGO_FAILED_TARGET in text and not CARGO_NO_FAIL_FAST.search(text)
    certain = len(failing) == counts.failed and not stopped
    return SuiteResult(failing, counts=counts, certain=certain, source="cargo test output")


def _go_output(text: str) -> SuiteResult:
    """`--- FAIL: TestX` lines precede their package's `FAIL pkg` line; a package failing without a failed
    test (a build failure, a panic in TestMain) is itself the failing item."""
    failing: set[str] = set()
    pending: set[str] = set()
    certain = True
    for line in text.splitlines():
        if test := GO_FAILED_TEST.match(line):
            pending.add(test.group(1))
        elif (package := GO_PACKAGE.match(line)) and package.group(1) == "FAIL":
            failing |= pending or {f"{package.group(2)} [package]"}
            pending = set()
    if pending:  # failed tests with no package line after them: the output was cut
        certain = False
        failing |= pending
    return SuiteResult(frozenset(failing), certain=certain, source="go test output")


def _go_event(line: str) -> dict[str, object] | None:
    """One `go test -json` event, or None for any other line."""
    if not line.startswith("{") or '"Action"' not in line:
        return None
    with contextlib.suppress(ValueError):
        event = json.loads(line)
        if isinstance(event, dict) and isinstance(event.get("Action"), str):
            return event
    return None


def _go_json(text: str) -> SuiteResult:
    """`go test -json`: each test's last pass/fail/skip; a failed package with no failed test is itself
    the failing item (older Go versions print a build failure as a plain `FAIL pkg [build failed]`)."""
    tests: dict[tuple[str, str], str] = {}  # (package, test) -> its last pass, fail or skip
    failed_packages: set[str] = set()
    for line in text.splitlines():
        event = _go_event(line)
        if event is None:
            if (plain := GO_PACKAGE.match(line)) and plain.group(1) == "FAIL":
                failed_packages.add(plain.group(2))
            continue
        action, pkg, test = event["Action"], str(event.get("Package", "")), event.get("Test")
        if action in ("pass", "fail", "skip"):
            if isinstance(test, str):
                tests[pkg, test] = str(action)
            elif action == "fail":
                failed_packages.add(pkg)
    named = {f"{pkg}.{test}": action for (pkg, test), action in tests.items()}
    failing = {name for name, action in named.items() if action == "fail"}
    failed_packages -= {pkg for (pkg, _), action in tests.items() if action == "fail"}
    failing |= {f"{pkg} [package]" for pkg in failed_packages}
    actions = list(named.values())
    counts = Counts(actions.count("pass"), len(failing), 0, actions.count("skip"))
    passed = frozenset(name for name, action in named.items() if action == "pass")
    return SuiteResult(frozenset(failing), passed, counts, True, "go test -json output")


def environment_problem(output: str, exit_code: int | None, suite: SuiteResult) -> str:
    """Why a test run shows a broken environment rather than the code's behaviour ("" when it does not):
    the command or the runner is missing, a test module cannot import what it needs, every test fails."""
    if exit_code == 0:
        return ""
    text = strip_ansi(output)
    missing = MISSING_RUNNER.search(text)
    if missing is not None or exit_code in (126, 127):
        said = missing.group(0) if missing is not None else (text.strip().splitlines() or [""])[-1]
        return f"the test command could not run (exit {exit_code}: {said[:200]})"
    if imported := IMPORT_ERROR.search(text):
        return f"the tests cannot import what they need ({imported.group(1)[:200]})"
    counts = suite.counts
    if counts is not None and counts.passed == 0 and counts.failures >= ALL_FAILING_FROM:
        return f"every test fails ({counts})"
    return ""


def readable(output: str) -> str:
    """The output as a person would read it: `go test -json` events become the text they carry."""
    lines = output.splitlines(keepends=True)
    if not any(_go_event(line) for line in lines[:50]):
        return output
    parts = []
    for line in lines:
        event = _go_event(line)
        parts.append(line if event is None else str(event.get("Output", "")))
    return "".join(parts)
