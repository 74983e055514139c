"""Conditional polling: the second poll sends If-None-Match, a 304 costs nothing and triggers nothing."""

from __future__ import annotations

from pathlib import Path

from autonomous_dev.github.client import GitHubRepoClient
from autonomous_dev.github.session import connect
from autonomous_dev.security.redact import Redactor
from autonomous_dev.settings.services import GitHubSettings
from tests.conftest import GITHUB_TOKEN, NAME, OWNER, Stage
from tests.daemon_helpers import start_cli, stop, wait_for
from tests.helpers import run_cli
from tests.standins.github_server import FakeGitHub


def client(github: FakeGitHub) -> GitHubRepoClient:
    session = connect(GITHUB_TOKEN, GitHubSettings(api_url=github.api_url, seconds_between_writes=0))
    return GitHubRepoClient(session, f"{OWNER}/{NAME}", Redactor())


def remaining(github: FakeGitHub) -> int:
    with github.state.lock:
        return github.state.tokens[GITHUB_TOKEN].remaining


def test_an_unchanged_list_answers_304_and_costs_nothing(github: FakeGitHub) -> None:
    github.add_issue(OWNER, NAME, "Fix add", labels=["autonomous-dev"])
    repo = client(github)
    first = repo.labelled_issues("autonomous-dev")
    before, points = len(github.requests), remaining(github)
    second = repo.labelled_issues("autonomous-dev")
    assert second == first and [i.title for i in second] == ["Fix add"]
    [poll] = github.requests[before:]  # exactly one request: no follow-up after the 304
    assert poll.header("If-None-Match", "").startswith('W/"')
    assert remaining(github) == points


def test_a_changed_list_is_fetched_again(github: FakeGitHub) -> None:
    repo = client(github)
    assert repo.labelled_issues("autonomous-dev") == []
    github.add_issue(OWNER, NAME, "Fix add", labels=["autonomous-dev"])
    assert [i.title for i in repo.labelled_issues("autonomous-dev")] == ["Fix add"]


def test_every_page_is_conditional(github: FakeGitHub) -> None:
    for n in range(150):  # two pages of 100
        github.add_issue(OWNER, NAME, f"Issue {n}", labels=["autonomous-dev"])
    repo = client(github)
    assert len(repo.labelled_issues("autonomous-dev")) == 150
    before, points = len(github.requests), remaining(github)
    assert len(repo.labelled_issues("autonomous-dev")) == 150
    polls = github.requests[before:]
    assert len(polls) == 2 and all(p.header("If-None-Match") for p in polls)
    assert remaining(github) == points


def test_an_idle_daemon_cycle_spends_no_rate_limit(stage: Stage, tmp_path: Path) -> None:
    env = stage.env(LOOP_INTERVAL_MS="200", STATE_BACKEND="sqlite")
    daemon = start_cli(["start"], stage.cwd, env, tmp_path / "daemon.log")
    try:
        wait_for(lambda: len(stage.github.requests) >= 3, 30, "the first cycle")
        wait_for(lambda: _polls(stage.github) >= 2, 30, "a second cycle")
        points = remaining(stage.github)
        polls = _polls(stage.github)
        wait_for(lambda: _polls(stage.github) >= polls + 3, 30, "three more idle cycles")
        assert remaining(stage.github) == points
    finally:
        stop(daemon)
        daemon.wait(timeout=30)


def _polls(github: FakeGitHub) -> int:
    return sum(1 for r in list(github.requests) if r.route.endswith(f"/repos/{OWNER}/{NAME}/issues"))


def test_an_idle_run_after_a_run_spends_no_rate_limit(stage: Stage) -> None:
    env = stage.env()
    assert run_cli(["run"], cwd=stage.cwd, env=env).returncode == 0
    points = remaining(stage.github)
    before = len(stage.github.requests)
    again = run_cli(["run"], cwd=stage.cwd, env=env)
    assert again.returncode == 0, again.stderr[-3000:]
    assert remaining(stage.github) == points  # the ETags were kept in WORK_DIR
    assert all(r.header("If-None-Match") for r in stage.github.requests[before:])
    [etags] = stage.work_dir.glob("github-etags-*.json")
    assert GITHUB_TOKEN not in etags.read_text() and oct(etags.stat().st_mode & 0o777) == "0o600"


def test_one_issue_is_read_open_or_closed_and_none_when_missing(github: FakeGitHub) -> None:
    number = github.add_issue(OWNER, NAME, "Fix add", "Please.", labels=["autonomous-dev"])
    repo = client(github)
    issue = repo.issue(number)
    assert issue is not None and (issue.title, issue.state) == ("Fix add", "open")
    assert issue.labels == ("autonomous-dev",)
    assert repo.issue(number) == issue  # the second read is a conditional GET (a 304)
    assert github.requests[-1].header("If-None-Match", "").startswith('W/"')
    repo.close_issue(number)
    closed = repo.issue(number)
    assert closed is not None and closed.state == "closed"
    assert repo.issue(999) is None
