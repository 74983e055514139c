"""GitHub's pacing: reads go at once, writes of one token are spaced across threads, limits make all wait."""

from __future__ import annotations

import itertools
import logging
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from autonomous_dev.github.client import GitHubRepoClient
from autonomous_dev.github.pacing import TokenPacer, pacer_for
from autonomous_dev.github.session import connect
from autonomous_dev.security.redact import Redactor
from autonomous_dev.settings.services import GitHubSettings
from tests.conftest import GITHUB_TOKEN, NAME, OWNER, Stage
from tests.daemon_helpers import seed_issues, start_cli, wait_for
from tests.standins.github_server import FakeGitHub, RecordedRequest
from tests.test_interrupts import double_interrupt

SECONDARY = "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."


class FakeClock:
    """Time that passes only when someone sleeps; every sleep is recorded."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []
        self._lock = threading.Lock()

    def time(self) -> float:
        with self._lock:
            return self.now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.sleeps.append(seconds)
            self.now += seconds


def paced_client(
    github: FakeGitHub, clock: FakeClock, pacer: TokenPacer | None = None, write_gap: float = 1.0
) -> GitHubRepoClient:
    settings = GitHubSettings(api_url=github.api_url, seconds_between_writes=write_gap)
    session = connect(GITHUB_TOKEN, settings, pacer=pacer or TokenPacer(clock.time, clock.sleep))
    return GitHubRepoClient(session, f"{OWNER}/{NAME}", Redactor())


def arrivals(github: FakeGitHub, clock: FakeClock, method: str, suffix: str) -> list[float]:
    """The fake time at which each `method` request to a route ending in `suffix` reached the stand-in."""
    seen: list[float] = []

    def record(request: RecordedRequest, _sequence: int) -> None:
        if request.method == method and request.route.endswith(suffix):
            seen.append(clock.time())

    github.fault = record
    return seen


def test_reads_are_not_delayed_and_writes_wait_their_gap(
    github: FakeGitHub, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="github")  # PyGithub says when its own throttle sleeps
    number = github.add_issue(OWNER, NAME, "Fix add", labels=["autonomous-dev"])
    clock = FakeClock()
    repo = paced_client(github, clock)
    repo.add_label(number, "in-progress")
    repo.comments(number)
    repo.events(number)
    repo.labelled_issues("autonomous-dev")
    repo.edit_history(number)  # a GraphQL query is sent as POST, yet it changes nothing
    repo.permission("alice")
    assert clock.sleeps == []
    repo.add_comment(number, "working on it")
    assert clock.sleeps == [1.0]
    assert not [r.message for r in caplog.records if r.name.startswith("github") and "sleeping" in r.message]


def test_two_threads_writing_with_one_token_are_spaced_by_the_gap(github: FakeGitHub) -> None:
    """Two clients (two workers, or two repositories) of one token share its write queue."""
    numbers = [github.add_issue(OWNER, NAME, f"Issue {i}") for i in range(2)]
    clock = FakeClock()
    pacer = TokenPacer(clock.time, clock.sleep)
    clients = [paced_client(github, clock, pacer, write_gap=1.5) for _ in numbers]
    posts = arrivals(github, clock, "POST", "/comments")
    start = threading.Barrier(2)

    def comment(repo: GitHubRepoClient, number: int) -> None:
        start.wait()
        for index in range(3):
            repo.add_comment(number, f"note {index}")

    threads = [threading.Thread(target=comment, args=pair) for pair in zip(clients, numbers, strict=True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(posts) == 6
    assert all(later - earlier >= 1.5 for earlier, later in itertools.pairwise(posts)), posts


@pytest.mark.parametrize(
    ("status", "retry_after", "wait"),
    [(403, "30", 30.0), (429, "30", 30.0), (403, None, 60.0), (429, None, 60.0)],
)
def test_a_secondary_limit_makes_the_next_request_wait_as_github_says(
    github: FakeGitHub, status: int, retry_after: str | None, wait: float
) -> None:
    """Retry-After when GitHub gives it, else at least a minute; the wait is the gate's, for every worker."""
    number = github.add_issue(OWNER, NAME, "Fix add")
    clock = FakeClock()
    repo = paced_client(github, clock)
    seen: list[float] = []

    def limit_once(request: RecordedRequest, _sequence: int) -> Any:
        if request.method == "GET" and request.route.endswith("/comments"):
            seen.append(clock.time())
            if len(seen) == 1:
                return status, {"Retry-After": retry_after} if retry_after else {}, {"message": SECONDARY}
        return None

    github.fault = limit_once
    repo.comments(number)
    assert seen == [0.0, wait]
    assert sum(clock.sleeps) == wait


def test_no_requests_left_waits_until_the_reset(github: FakeGitHub) -> None:
    number = github.add_issue(OWNER, NAME, "Fix add")
    clock = FakeClock()
    repo = paced_client(github, clock)
    with github.state.lock:
        token = github.state.tokens[GITHUB_TOKEN]
        token.remaining, token.reset = 1, int(time.time()) + 120
    repo.comments(number)  # answered with X-RateLimit-Remaining: 0
    assert clock.sleeps == []
    repo.events(number)
    assert 115 < sum(clock.sleeps) <= 122  # until the reset, plus a second


def test_every_client_of_a_token_shares_one_pacer_and_other_tokens_have_their_own() -> None:
    url = "https://github.example.com/api/v3"
    settings = GitHubSettings(api_url=url)
    shared = pacer_for(url, "token-a")
    assert connect("token-a", settings).pacer is shared
    assert connect("token-a", settings).pacer is shared
    assert pacer_for(url + "/", "token-a") is shared
    assert pacer_for(url, "token-b") is not shared
    assert pacer_for("https://api.github.com", "token-a") is not shared


def test_double_ctrl_c_during_a_pacing_wait_stops_at_once(stage: Stage, tmp_path: Path) -> None:
    seed_issues(stage, 1)
    log = tmp_path / "run.log"
    env = stage.env(LOG_LEVEL="DEBUG", GITHUB_SECONDS_BETWEEN_WRITES="60")
    process = start_cli(["run"], stage.cwd, env, log)
    wait_for(lambda: "the next GitHub write waits" in log.read_text(), 60, "a pacing wait")
    double_interrupt(process, log)
