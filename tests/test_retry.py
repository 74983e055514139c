"""A 403 is retried only when GitHub says it is a rate limit; one look-then-retry helper for writes."""

from __future__ import annotations

import socket
import ssl
from typing import Any

import pytest

from autonomous_dev.core.comments import Commenter
from autonomous_dev.errors import GitHubError, InfrastructureError, network_reason
from autonomous_dev.github.client import GitHubRepoClient
from autonomous_dev.github.session import connect
from autonomous_dev.retry import retry_write
from autonomous_dev.security.redact import Redactor
from autonomous_dev.settings.services import GitHubSettings
from tests.conftest import GITHUB_TOKEN, NAME, OWNER
from tests.standins.github_server import FakeGitHub, RecordedRequest


def client(github: FakeGitHub) -> GitHubRepoClient:
    settings = GitHubSettings(api_url=github.api_url, seconds_between_writes=0)
    return GitHubRepoClient(connect(GITHUB_TOKEN, settings), f"{OWNER}/{NAME}", Redactor())


def label_posts(github: FakeGitHub, number: int) -> int:
    return sum(1 for r in github.requests if r.method == "POST" and r.route.endswith(f"/{number}/labels"))


def test_a_permission_403_is_not_retried(github: FakeGitHub) -> None:
    number = github.add_issue(OWNER, NAME, "Fix add")
    repo = client(github)

    def refuse(request: RecordedRequest, sequence: int) -> Any:
        if request.method == "POST":
            return 403, {}, {"message": "Resource not accessible by integration"}
        return None

    github.fault = refuse
    with pytest.raises(GitHubError) as caught:
        repo.add_label(number, "in-progress")
    assert caught.value.status == 403 and not caught.value.transient
    assert label_posts(github, number) == 1


def test_a_secondary_rate_limit_403_is_retried(github: FakeGitHub) -> None:
    number = github.add_issue(OWNER, NAME, "Fix add")
    repo = client(github)
    limited = [True]

    def limit_once(request: RecordedRequest, sequence: int) -> Any:
        if request.method == "POST" and limited:
            limited.clear()
            return 403, {"Retry-After": "0"}, {"message": "You have exceeded a secondary rate limit."}
        return None

    github.fault = limit_once
    repo.add_label(number, "in-progress")
    assert "in-progress" in github.issue(OWNER, NAME, number)["labels"]
    assert label_posts(github, number) == 2


def test_transient_means_a_server_error_or_a_rate_limit() -> None:
    assert GitHubError("boom", status=502).transient
    assert GitHubError("slow down", status=429).transient
    assert GitHubError("limited", status=403, rate_limited=True).transient
    assert not GitHubError("no permission", status=403).transient
    assert not GitHubError("missing", status=404).transient


def test_a_comment_whose_post_failed_but_landed_is_not_posted_twice(github: FakeGitHub) -> None:
    number = github.add_issue(OWNER, NAME, "Fix add")
    repo = client(github)

    def applied_then_502(request: RecordedRequest, sequence: int) -> Any:
        if request.method == "POST" and request.route.endswith("/comments"):
            github.fault = None
            github.add_comment(OWNER, NAME, number, request.json()["body"], user="octobot")
            return 502, {}, {"message": "Server Error"}
        return None

    github.fault = applied_then_502
    Commenter(repo).post_once(number, "Done.\n<!-- autonomous-dev:pr-link issue=1 -->", "pr-link")
    assert len(github.comments(OWNER, NAME, number)) == 1


def test_retry_write_looks_before_every_attempt_and_gives_up_on_a_refusal() -> None:
    calls: list[str] = []

    def look() -> str | None:
        calls.append("look")
        return None

    def write() -> str:
        calls.append("write")
        if calls.count("write") == 1:
            raise InfrastructureError("GitHub", "GitHub answered 502")
        raise GitHubError("unprocessable", status=422)

    with pytest.raises(GitHubError):
        retry_write("writing", write, look=look)
    assert calls == ["look", "write", "look", "write"]
    assert retry_write("writing", lambda: "new", look=lambda: "there already") == "there already"


def refused() -> BaseException:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    try:
        socket.create_connection(("127.0.0.1", port), timeout=5)
    except OSError as exc:
        return exc
    raise AssertionError("the port answered")


def wrapped(inner: BaseException) -> BaseException:
    """How HTTP clients report a failure: their own exception, caused by the socket's."""
    try:
        try:
            raise inner
        except BaseException as exc:
            raise RuntimeError("Max retries exceeded") from exc
    except RuntimeError as outer:
        return outer


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (refused(), "connection refused"),
        (socket.gaierror(-2, "Name or service not known"), "does not resolve (DNS)"),
        (ssl.SSLCertVerificationError("certificate verify failed"), "TLS error"),
        (TimeoutError("timed out"), "timed out"),
    ],
)
def test_network_reason_names_what_failed(error: BaseException, reason: str) -> None:
    assert reason in network_reason(error)
    assert reason in network_reason(wrapped(error))
