"""What a PR's reviewers and checks say, read by the real PyGithub adapter from the GitHub stand-in."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

import pytest

from autonomous_dev.errors import InfrastructureError
from autonomous_dev.github.client import GitHubRepoClient
from autonomous_dev.github.prsignals import MAX_ANNOTATIONS, MAX_LOG_BYTES, MAX_TEXT_CHARS
from autonomous_dev.github.session import connect
from autonomous_dev.models import is_bot
from autonomous_dev.security.redact import Redactor
from autonomous_dev.settings.services import GitHubSettings
from tests.conftest import GITHUB_TOKEN, NAME, OWNER
from tests.helpers import git
from tests.standins.github_actions import BLOB_PREFIX
from tests.standins.github_server import FakeGitHub, RecordedRequest

BRANCH = "auto/1-fix-add"


def client(github: FakeGitHub, redactor: Redactor | None = None) -> GitHubRepoClient:
    session = connect(GITHUB_TOKEN, GitHubSettings(api_url=github.api_url, seconds_between_writes=0))
    return GitHubRepoClient(session, f"{OWNER}/{NAME}", redactor or Redactor())


@pytest.fixture
def pull(github: FakeGitHub, source_repo: Path) -> tuple[int, str]:
    """An open PR of ours from BRANCH: (number, head sha)."""
    git(source_repo, "checkout", "-qb", BRANCH)
    (source_repo / "calc.py").write_text("def add(a: int, b: int) -> int:\n    return a + b\n")
    git(source_repo, "commit", "-qam", "Fix add")
    with github.state.lock:
        bare = github.state.repo(OWNER, NAME).path
    git(source_repo, "push", "-q", str(bare), BRANCH)
    made = client(github).create_pull("Fix add", "Fixes #1", BRANCH, "main")
    return made.number, git(source_repo, "rev-parse", "HEAD").strip()


def requests_to(github: FakeGitHub, fragment: str) -> list[RecordedRequest]:
    return [r for r in github.requests if fragment in r.route]


# -- reviews and their comments --------------------------------------------------------------------
def test_review_comments_come_oldest_first_with_their_threads(
    github: FakeGitHub, pull: tuple[int, str]
) -> None:
    number, _ = pull
    first = github.add_review_comment(OWNER, NAME, number, "rename x to y", "calc.py", 2, user="alice")
    reply = github.add_review_comment(OWNER, NAME, number, "and z", user="alice", in_reply_to=first)
    bot = github.add_review_comment(OWNER, NAME, number, "nit", "calc.py", 1, user="linter[bot]")

    found = client(github).review_threads(number)
    assert [c.id for c in found] == [first, reply, bot]
    top = found[0]
    assert (top.author, top.author_type, top.body, top.path, top.line) == (
        "alice",
        "User",
        "rename x to y",
        "calc.py",
        2,
    )
    assert top.diff_hunk.startswith("@@") and top.in_reply_to_id is None and top.created_at.tzinfo
    assert (found[1].in_reply_to_id, found[1].path, found[1].line) == (first, "calc.py", 2)
    assert not top.by_bot and found[2].by_bot and found[2].author_type == "Bot"
    assert [c.id for c in client(github).review_threads(number, since_id=reply)] == [bot]


def test_reviews_carry_state_body_and_commit(github: FakeGitHub, pull: tuple[int, str]) -> None:
    number, head = pull
    github.submit_review(OWNER, NAME, number, "alice", "CHANGES_REQUESTED", "please rename x")
    github.submit_review(OWNER, NAME, number, "helper[bot]", "COMMENTED", "looks odd")
    found = client(github).reviews(number)
    assert [(r.author, r.state, r.body, r.commit_id) for r in found] == [
        ("alice", "CHANGES_REQUESTED", "please rename x", head),
        ("helper[bot]", "COMMENTED", "looks odd", head),
    ]
    assert found[0].submitted_at is not None and not found[0].by_bot and found[1].by_bot


def test_conversation_comments_on_a_pr_say_who_is_a_bot(github: FakeGitHub, pull: tuple[int, str]) -> None:
    number, _ = pull
    github.add_comment(OWNER, NAME, number, "please also fix sub", user="alice")
    github.add_comment(OWNER, NAME, number, "coverage -2%", user="codecov[bot]")
    found = client(github).comments(number)
    assert [(c.author, c.author_type, c.by_bot) for c in found] == [
        ("alice", "User", False),
        ("codecov[bot]", "Bot", True),
    ]


def test_a_bot_is_known_by_its_type_or_its_login() -> None:
    assert is_bot("renovate", "Bot") and is_bot("Dependabot[bot]", "User") and not is_bot("alice", "User")


def test_a_reply_lands_in_the_thread_redacted(github: FakeGitHub, pull: tuple[int, str]) -> None:
    number, _ = pull
    secret = "s3cr3t-" + secrets.token_hex(12)
    first = github.add_review_comment(OWNER, NAME, number, "rename x to y", user="alice")
    second = github.add_review_comment(OWNER, NAME, number, "please", user="alice", in_reply_to=first)

    made = client(github, Redactor([secret])).reply_to_review_comment(number, second, f"Renamed; {secret}")
    assert made.author == "octobot" and secret not in made.body and "REDACTED" in made.body
    [posted] = requests_to(github, "/replies")
    assert posted.method == "POST" and posted.route.endswith(f"/pulls/{number}/comments/{second}/replies")
    stored = github.review_comments(OWNER, NAME, number)[-1]
    assert (stored["id"], stored["in_reply_to_id"], stored["user"]) == (made.id, first, "octobot")


def test_a_reply_that_failed_with_502_is_not_posted_again(github: FakeGitHub, pull: tuple[int, str]) -> None:
    number, _ = pull
    first = github.add_review_comment(OWNER, NAME, number, "rename x to y", user="alice")
    repo = client(github)
    github.fault = lambda request, _: (502, {}, {"message": "Bad"}) if request.method == "POST" else None
    with pytest.raises(InfrastructureError, match="502"):
        repo.reply_to_review_comment(number, first, "Renamed.")
    assert len(requests_to(github, "/replies")) == 1


# -- failed checks ---------------------------------------------------------------------------------
def test_failed_checks_bring_output_annotations_log_and_statuses(
    github: FakeGitHub, pull: tuple[int, str]
) -> None:
    _, head = pull
    job = github.set_failed_run(
        OWNER, NAME, head, "tests", title="1 failed", summary="pytest", text="FAILED test_calc.py::test_add",
        annotations=[("test_calc.py", 4, "assert -1 == 3", "failure")], log=b"setup\nFAILED test_add\n",
    )  # fmt: skip
    github.set_failed_run(OWNER, NAME, head, "lint", app="other-ci", text="E501", log=None)
    github.set_check_run(OWNER, NAME, head, "docs", "success")
    github.set_status(
        OWNER, NAME, head, "deploy", "error", description="no room", target_url="http://ci.invalid/1"
    )
    github.set_status(OWNER, NAME, head, "style", "success")

    found = client(github).failed_checks(head)
    tests, lint, deploy = found
    assert (tests.kind, tests.name, tests.conclusion, tests.app) == (
        "check_run",
        "tests",
        "failure",
        "github-actions",
    )
    assert (tests.title, tests.summary, tests.text) == ("1 failed", "pytest", "FAILED test_calc.py::test_add")
    assert [(a.path, a.start_line, a.message, a.level) for a in tests.annotations] == [
        ("test_calc.py", 4, "assert -1 == 3", "failure")
    ]
    assert tests.log == "setup\nFAILED test_add\n" and tests.url.endswith(f"/job/{job}")
    assert (lint.app, lint.text, lint.log, lint.annotations) == ("other-ci", "E501", "", ())
    assert (deploy.kind, deploy.name, deploy.conclusion) == ("status", "deploy", "error")
    assert (deploy.summary, deploy.url) == ("no room", "http://ci.invalid/1")
    [lookup] = requests_to(github, "/actions/jobs/")  # only the Actions run's log is asked for
    assert lookup.route.endswith(f"/actions/jobs/{job}/logs")
    [download] = requests_to(github, BLOB_PREFIX)
    assert download.header("Authorization") is None  # the token never goes to the storage link


def test_texts_logs_and_annotations_are_bounded_keeping_the_tail(
    github: FakeGitHub, pull: tuple[int, str]
) -> None:
    _, head = pull
    log = b"".join(b"line %07d of a long build\n" % n for n in range(200_000)) + b"FAILED test_add\n"
    assert len(log) > 5_000_000
    notes = [("calc.py", n, f"note {n}", "warning") for n in range(80)]
    text = "x" * (3 * MAX_TEXT_CHARS) + "the end"
    github.set_failed_run(OWNER, NAME, head, "tests", text=text, annotations=notes, log=log)

    [tests] = client(github).failed_checks(head)
    kept = log[-MAX_LOG_BYTES:].decode()
    assert (
        tests.log.endswith("FAILED test_add\n")
        and tests.log == f"[{len(log) - MAX_LOG_BYTES} bytes cut]\n{kept}"
    )
    assert tests.text.endswith("the end") and len(tests.text) < MAX_TEXT_CHARS + 40
    assert len(tests.annotations) == MAX_ANNOTATIONS


def test_a_log_that_cannot_be_had_leaves_the_rest(github: FakeGitHub, pull: tuple[int, str]) -> None:
    _, head = pull
    github.set_failed_run(OWNER, NAME, head, "expired", text="see log")  # an Actions run whose log is gone
    gone = github.set_failed_run(OWNER, NAME, head, "forbidden", log=b"secret log")

    def forbid(request: RecordedRequest, _: int) -> Any:
        if request.route.endswith(f"/actions/jobs/{gone}/logs"):
            return 403, {}, {"message": "Resource not accessible by personal access token"}
        return None

    github.fault = forbid
    found = client(github).failed_checks(head)
    assert [(f.name, f.log) for f in found] == [("expired", ""), ("forbidden", "")]
    assert found[0].text == "see log"


def test_a_server_that_answers_with_the_log_itself_is_read_as_it_is(
    github: FakeGitHub, pull: tuple[int, str]
) -> None:
    """GitHub answers 302 to a storage link; a server (a proxy, an Enterprise install) may send the log."""
    _, head = pull
    job = github.set_failed_run(OWNER, NAME, head, "tests", log=b"never fetched")
    log = b"".join(b"line %07d\n" % n for n in range(MAX_LOG_BYTES // 8)) + b"FAILED test_add\n"

    def direct(request: RecordedRequest, _: int) -> Any:
        if request.route.endswith(f"/actions/jobs/{job}/logs"):
            return 200, {"Content-Type": "text/plain"}, log
        return None

    github.fault = direct
    [tests] = client(github).failed_checks(head)
    kept = log[-MAX_LOG_BYTES:].decode()
    assert tests.log == f"[{len(log) - MAX_LOG_BYTES} bytes cut]\n{kept}"
    assert requests_to(github, BLOB_PREFIX) == []


def test_unchanged_checks_are_revalidated_not_refetched(github: FakeGitHub, pull: tuple[int, str]) -> None:
    _, head = pull
    github.set_failed_run(OWNER, NAME, head, "tests", annotations=[("calc.py", 1, "boom", "failure")])
    repo = client(github)
    first = repo.failed_checks(head)
    before = len(github.requests)
    assert repo.failed_checks(head) == first
    polls = [
        r for r in github.requests[before:] if "/actions/jobs/" not in r.route and BLOB_PREFIX not in r.route
    ]
    assert polls and all(r.header("If-None-Match") for r in polls)


# -- outages ---------------------------------------------------------------------------------------
def test_a_502_on_reading_checks_is_retried(github: FakeGitHub, pull: tuple[int, str]) -> None:
    _, head = pull
    github.set_failed_run(OWNER, NAME, head, "tests", log=b"FAILED\n")
    repo = client(github)
    failing = {"/check-runs": 1, BLOB_PREFIX: 1}

    def once(request: RecordedRequest, _: int) -> Any:
        for fragment, left in failing.items():
            if fragment in request.route and left:
                failing[fragment] = 0
                return 502, {}, {"message": "Server Error"}
        return None

    github.fault = once
    [tests] = repo.failed_checks(head)
    assert tests.log == "FAILED\n" and failing == {"/check-runs": 0, BLOB_PREFIX: 0}


def test_a_log_storage_that_keeps_failing_is_an_outage(github: FakeGitHub, pull: tuple[int, str]) -> None:
    _, head = pull
    github.set_failed_run(OWNER, NAME, head, "tests", log=b"FAILED\n")
    repo = client(github)
    github.fault = lambda request, _: (503, {}, {"message": "busy"}) if BLOB_PREFIX in request.route else None
    with pytest.raises(InfrastructureError, match="503"):
        repo.failed_checks(head)


def test_an_unreachable_github_is_an_outage(github: FakeGitHub, pull: tuple[int, str]) -> None:
    number, head = pull
    repo = client(github)
    github.stop()
    for read in (
        lambda: repo.failed_checks(head),
        lambda: repo.review_threads(number),
        lambda: repo.reviews(number),
    ):
        with pytest.raises(InfrastructureError, match="cannot reach GitHub"):
            read()


# -- the look at a followed PR: conditional, free when nothing changed ------------------------------
def test_a_pr_and_its_checks_are_read_conditionally_and_a_branch_by_its_ref(
    github: FakeGitHub, pull: tuple[int, str]
) -> None:
    number, head = pull
    main = github.branches(OWNER, NAME)["main"]
    github.set_failed_run(OWNER, NAME, main, "lint", summary="3 problems")
    github.set_check_run(OWNER, NAME, head, "tests", "in_progress")
    github.set_status(OWNER, NAME, head, "deploy", "failure")
    repo = client(github)
    status = repo.pull_status(number)
    assert (status.head_sha, status.head, status.base, status.state) == (head, BRANCH, "main", "open")
    summary = repo.checks(head)
    assert (summary.pending, summary.failed) == (("tests",), ("deploy",))
    assert repo.checks("heads/main").failed == ("lint",)
    repo.pull_status(number)  # GitHub computes mergeability on the first GET: the second one changed
    with github.state.lock:
        points = github.state.tokens[GITHUB_TOKEN].remaining
    before = len(github.requests)
    assert repo.pull_status(number).head_sha == head and repo.checks(head) == summary
    with github.state.lock:
        assert github.state.tokens[GITHUB_TOKEN].remaining == points  # all 304s
    assert all(r.header("If-None-Match") for r in github.requests[before:])
