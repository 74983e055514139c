"""An honest baseline: a broken environment is said out loud and never proves a change or hides failures."""

from __future__ import annotations

from pathlib import Path

from autonomous_dev.core.evaluate import Commands, Gate, Run, Status, evidence
from autonomous_dev.core.testreports import Counts, SuiteResult, environment_problem, summarise
from autonomous_dev.sandbox.environments import SetupStep
from autonomous_dev.sandbox.procs import CommandResult

COMMANDS = Commands("", "python -m pytest", "detected")
COLLECTION_ERROR = """\
==================================== ERRORS ====================================
_______________________ ERROR collecting test_calc.py __________________________
ImportError while importing test module '/w/test_calc.py'.
E   ModuleNotFoundError: No module named 'tinydep'
=========================== short test summary info ============================
ERROR test_calc.py
1 error in 0.05s
"""


def run(code: int | None, output: str) -> Run:
    return Run(CommandResult("python -m pytest", code, output, 0.1, False, False), summarise(output, code))


def test_signs_of_a_broken_environment() -> None:
    not_found = environment_problem("sh: 1: pytest: not found", 127, SuiteResult())
    assert "could not run (exit 127: pytest: not found)" in not_found
    missing = "/venv/bin/python: No module named pytest\n"
    assert "No module named pytest" in environment_problem(missing, 1, SuiteResult())
    assert "No module named 'tinydep'" in environment_problem(COLLECTION_ERROR, 2, SuiteResult())
    every = SuiteResult(counts=Counts(failed=4))
    assert environment_problem("", 1, every) == "every test fails (4 failed)"
    one_bug = SuiteResult(counts=Counts(failed=1))  # one failing test is an ordinary bug
    assert environment_problem("", 1, one_bug) == ""
    assert environment_problem("", 1, SuiteResult(counts=Counts(passed=1, failed=5))) == ""
    assert environment_problem(missing, 0, SuiteResult()) == ""  # a passing run is believed


def test_a_broken_environment_never_proves_a_change_nor_calls_failures_pre_existing() -> None:
    baseline = run(2, COLLECTION_ERROR)
    after = run(0, "1 passed in 0.01s\n")  # green after the change: proves nothing here
    verdict = Gate(COMMANDS).verdict(None, after, baseline)
    assert verdict.status is Status.FAILED and not verdict.ok and not verdict.repairable
    assert verdict.reason == "environment not ready: the tests cannot import what they need " \
                             "(ModuleNotFoundError: No module named 'tinydep')"  # fmt: skip
    assert verdict.caveat.startswith("environment not ready") and verdict.pre_existing == ()
    text = evidence(verdict, 0, "detected", 10, 0.0)
    assert text.startswith("**❌ environment not ready") and "✅" not in text and "pre-existing" not in text
    lenient = Gate(COMMANDS, require_tests=False).verdict(None, after, baseline)
    assert lenient.status is Status.NOT_VERIFIED and lenient.ok  # a ready PR, marked not verified
    assert "⚠️ environment not ready" in evidence(lenient, 0, "detected", 10, 0.0)


def test_a_failed_set_up_is_an_environment_not_ready_and_the_evidence_names_the_step(tmp_path: Path) -> None:
    result = CommandResult("pip install -e .", 1, "ERROR: No matching distribution", 3.2, False, False)
    failed = SetupStep("pip install -e .", "detected", tmp_path / "venv", False, 3.2, result, "the set-up "
                       "failed (exit 1)")  # fmt: skip
    verdict = Gate(COMMANDS, setup=failed).verdict(None, run(0, "1 passed in 0.01s\n"), run(0, "1 passed\n"))
    assert not verdict.ok and verdict.environment == "the set-up failed (exit 1)"
    text = evidence(verdict, 0, "detected", 10, 0.0)
    assert "| set-up | `pip install -e .` | the set-up failed (exit 1) | 3.2 s |" in text
    cached = SetupStep("pip install -e .", "detected", tmp_path / "venv", True, 0.004)
    good = Gate(COMMANDS, setup=cached).verdict(None, run(0, "1 passed in 0.01s\n"), run(0, "1 passed\n"))
    assert good.status is Status.PROVEN and good.caveat == ""
    assert f"| set-up | `pip install -e .` | from the cache: {tmp_path / 'venv'} | 0.0 s |" in evidence(
        good, 0, "detected", 10, 0.0
    )
