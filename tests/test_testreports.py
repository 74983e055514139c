"""Reading which tests failed: JUnit XML reports, and runners' output with colour codes in it."""

from __future__ import annotations

import os
from pathlib import Path

from autonomous_dev.core.testreports import (
    MAX_REPORT_BYTES,
    Counts,
    read_junit,
    readable,
    strip_ansi,
    summarise,
)

RED, BOLD, RESET = "\x1b[31m", "\x1b[1m", "\x1b[0m"
COLOURED_PYTEST = (
    f"{RED}FAILED{RESET} tests/test_a.py::TestC::test_size[32.0 MB] - AssertionError: assert [1] - [2]\n"
    f"{RED}ERROR{RESET} tests/test_b.py\n"
    f"{RED}ERROR{RESET} tests/test_a.py::test_td - RuntimeError: teardown\n"
    f"{RED}{BOLD}1 failed{RESET}, {BOLD}3 passed{RESET}, {RED}2 errors{RESET}{RED} in 0.06s{RESET}\n"
)

JUNIT = """<?xml version="1.0" encoding="utf-8"?><testsuites name="pytest tests">
<testsuite name="pytest" errors="1" failures="1" skipped="1" tests="5">
<testcase classname="" name="tests.test_b" file="tests/test_b.py"><error message="collection"/></testcase>
<testcase classname="tests.test_a.TestC" name="test_size[32.0 MB]" file="tests/test_a.py"><failure/>
</testcase>
<testcase classname="tests.test_a.TestC" name="test_size[1 MB]" file="tests/test_a.py"/>
<testcase classname="tests.test_a" name="test_ok" file="tests/test_a.py"/>
<testcase classname="tests.test_a" name="test_later" file="tests/test_a.py"><skipped/></testcase>
</testsuite></testsuites>"""


def test_colour_codes_do_not_hide_failing_tests() -> None:
    assert strip_ansi(f"{RED}{BOLD}FAILED{RESET} x\x1b]8;;http://e\x07link\x1b]8;;\x07") == "FAILED xlink"
    suite = summarise(COLOURED_PYTEST, 1)
    assert suite.failing == {
        "tests/test_a.py::TestC::test_size[32.0 MB]",  # a parametrised id with spaces, whole
        "tests/test_b.py",  # a collection error fails the run like a test
        "tests/test_a.py::test_td",
    }
    assert suite.counts == Counts(passed=3, failed=1, errors=2) and suite.certain


def test_an_id_with_the_separator_inside_its_brackets_is_read_whole() -> None:
    output = "FAILED t.py::test_x[1 - 2] x] - assert 1\n1 failed in 0.1s\n"
    assert summarise(output, 1).failing == {"t.py::test_x[1 - 2] x]"}


def test_a_failed_run_whose_failures_cannot_all_be_named_is_uncertain() -> None:
    unnamed = "some failure\n2 failed, 1 passed in 0.2s\n"  # -rN: no short summary
    fewer = "FAILED t.py::test_a - x\n2 failed, 1 passed in 0.2s\n"
    interrupted = "ERROR t.py\n!!!!!!! Interrupted: 1 error during collection !!!!!!!\n1 error in 0.1s\n"
    stopped = "FAILED t.py::test_a\n!!!!!! stopping after 1 failures !!!!!!\n1 failed, 1 passed in 0.1s\n"
    for output in (unnamed, fewer, interrupted, stopped, "npm ERR! Test failed.\n"):
        assert not summarise(output, 1).certain, output
    assert not summarise("FAILED t.py::test_a\n1 failed in 0.1s\n", None).certain  # timed out
    assert summarise("whatever\n", 0).certain  # a passing run fails nothing


def test_no_tests_collected() -> None:
    suite = summarise("no tests ran in 0.01s\n", 5)
    assert suite.ran_none and not suite.certain


def test_junit_report_names_tests_as_pytest_does(tmp_path: Path) -> None:
    report = tmp_path / "junit.xml"
    report.write_text(JUNIT)
    suite = summarise("garbage without a summary", 1, report)
    assert suite.source == "JUnit XML report" and suite.certain
    assert suite.failing == {"tests/test_b.py", "tests/test_a.py::TestC::test_size[32.0 MB]"}
    assert suite.passed == {"tests/test_a.py::TestC::test_size[1 MB]", "tests/test_a.py::test_ok"}
    assert suite.counts == Counts(passed=2, failed=1, errors=1, skipped=1)


def test_a_missing_report_falls_back_to_the_output(tmp_path: Path) -> None:
    suite = summarise(COLOURED_PYTEST, 1, tmp_path / "absent.xml")
    assert suite.source == "pytest output" and len(suite.failing) == 3


def test_an_untrusted_report_is_read_with_bounds(tmp_path: Path) -> None:
    big = tmp_path / "big.xml"
    big.write_bytes(b" " * (MAX_REPORT_BYTES + 1))
    assert read_junit(big) is None
    link = tmp_path / "link.xml"
    link.symlink_to(tmp_path / "elsewhere.xml")
    (tmp_path / "elsewhere.xml").write_text(JUNIT)
    assert read_junit(link) is None  # a link planted by repository code is not followed
    fifo = tmp_path / "fifo.xml"
    os.mkfifo(fifo)
    assert read_junit(fifo) is None  # and a pipe does not block the gate
    bomb = tmp_path / "bomb.xml"
    bomb.write_text('<!DOCTYPE x [<!ENTITY a "aaaa">]><testsuites>&a;</testsuites>')
    broken = tmp_path / "broken.xml"
    broken.write_text("<testsuites><testsuite")
    for path in (bomb, broken):
        found = read_junit(path)
        assert found is not None and not found.certain
        assert not summarise("", 1, path).certain


def test_go_test_output() -> None:
    output = (
        "--- FAIL: TestTwo (0.00s)\n    --- FAIL: TestTwo/case_1 (0.00s)\n"
        "FAIL\nFAIL\texample.com/m/a\t0.01s\n"
        "ok  \texample.com/m/b\t0.01s\n# example.com/m/c\nc.go:3: undefined: x\n"
        "FAIL\texample.com/m/c [build failed]\n"
    )
    suite = summarise(output, 1)
    assert suite.failing == {"TestTwo", "TestTwo/case_1", "example.com/m/c [package]"} and suite.certain
    assert not summarise("--- FAIL: TestTwo (0.00s)\nok  \tx\t0.1s\n--- FAIL: TestCut", 1).certain


GO_JSON = """\
{"Action":"start","Package":"example.com/m/a"}
{"Action":"run","Package":"example.com/m/a","Test":"TestOne"}
{"Action":"output","Package":"example.com/m/a","Test":"TestOne","Output":"--- PASS: TestOne (0.00s)\\n"}
{"Action":"pass","Package":"example.com/m/a","Test":"TestOne","Elapsed":0}
{"Action":"run","Package":"example.com/m/a","Test":"TestParse/1.5"}
{"Action":"output","Package":"example.com/m/a","Test":"TestParse/1.5","Output":"    a_test.go:9: got 2\\n"}
{"Action":"fail","Package":"example.com/m/a","Test":"TestParse/1.5","Elapsed":0}
{"Action":"fail","Package":"example.com/m/a","Test":"TestParse","Elapsed":0}
{"Action":"output","Package":"example.com/m/a","Output":"FAIL\\n"}
{"Action":"fail","Package":"example.com/m/a","Elapsed":0.01}
{"Action":"skip","Package":"example.com/m/b","Test":"TestLater","Elapsed":0}
{"Action":"pass","Package":"example.com/m/b","Elapsed":0.01}
{"ImportPath":"example.com/m/c [example.com/m/c.test]","Action":"build-fail"}
{"Action":"fail","Package":"example.com/m/c","Elapsed":0,"FailedBuild":"m/c [m/c.test]"}
# example.com/m/d
d.go:3:1: syntax error
FAIL\texample.com/m/d [build failed]
"""


def test_go_test_json_output() -> None:
    suite = summarise(GO_JSON, 1)
    assert suite.source == "go test -json output" and suite.certain
    assert suite.failing == {
        "example.com/m/a.TestParse/1.5",
        "example.com/m/a.TestParse",
        "example.com/m/c [package]",  # a build failure, as newer Go reports it
        "example.com/m/d [package]",  # and as older Go prints it
    }
    assert suite.passed == {"example.com/m/a.TestOne"}
    assert suite.counts == Counts(passed=1, failed=4, skipped=1)
    assert not summarise(GO_JSON, 1, truncated=True).certain
    assert readable(GO_JSON).startswith("--- PASS: TestOne (0.00s)\n    a_test.go:9: got 2\nFAIL\n")


CARGO_NO_FAIL_FAST = """
running 2 tests
tests::two --- FAILED
.
failures:

---- tests::two stdout ----

thread 'tests::two' (19648) panicked at src/lib.rs:6:24:
assertion `left == right` failed


failures:
    tests::two

test result: FAILED. 1 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.00s

error: test failed, to rerun pass `--lib`

running 2 tests
test three ... FAILED
test four ... ok

failures:

---- three stdout ----

failures:
    three

test result: FAILED. 1 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.00s

error: test failed, to rerun pass `--test it`

error: 2 targets failed:
    `--lib`
    `--test it`
"""


def test_cargo_test_output() -> None:
    suite = summarise(CARGO_NO_FAIL_FAST, 101)  # cargo 1.9x, --quiet for the library, not for the test
    assert suite.failing == {"tests::two", "three"} and suite.certain
    assert suite.counts == Counts(passed=2, failed=2)
    assert not summarise(CARGO_NO_FAIL_FAST, 101, truncated=True).certain  # a binary may be in the gap
    assert summarise(COLOURED_PYTEST, 1, truncated=True).certain  # pytest's names and count end it
    fail_fast = CARGO_NO_FAIL_FAST[: CARGO_NO_FAIL_FAST.index("\nrunning 2 tests\ntest three")]
    assert not summarise(fail_fast, 101).certain  # it stopped at the first failing test binary
