"""GitHub's git endpoint unreachable or failing (fetch, push): an outage (exit 5) that costs no attempt."""

from __future__ import annotations

import subprocess

import pytest

from autonomous_dev.git.gitnet import git_unreachable
from tests.conftest import NAME, OWNER, Stage
from tests.daemon_helpers import status_json
from tests.standins.anthropic_server import Script, text_block, text_editor
from tests.standins.github_server import FakeGitHub
from tests.standins.github_state import RecordedRequest
from tests.test_outages import UNAVAILABLE, assert_one_clear_line, default_env, one_issue, run_timed

pytestmark = pytest.mark.slow
FIX = text_editor("str_replace", path="calc.py", old_str="return a - b", new_str="return a + b")


def git_fails_while(outage: list[bool], service: str, status: int) -> object:
    """A fault hook: git smart-HTTP `service` (upload-pack: fetch, receive-pack: push) answers `status`."""

    def fault(request: RecordedRequest, sequence: int) -> object:
        if outage and request.path.startswith("/git/") and service in request.path:
            return status, {}, {"message": "Server Error"}
        return None

    return fault


def test_a_push_answered_502_is_an_outage_and_the_next_run_opens_the_pr(stage: Stage) -> None:
    number = one_issue(stage)
    outage = [True]
    stage.github.fault = git_fails_while(outage, "git-receive-pack", 502)  # type: ignore[assignment]
    env = default_env(stage, MAX_ATTEMPTS="1")
    code, output, _ = run_timed(stage, env)
    assert code == UNAVAILABLE, output
    assert_one_clear_line(output, "cannot reach GitHub's git at 127.0.0.1", "git push", "HTTP 502")
    task = status_json(stage, env)[number]
    assert (task["state"], task["attempts"], task["claim_owner"]) == ("queued", 0, None), task
    assert stage.github.pulls(OWNER, NAME) == []
    outage.clear()
    stage.claude.scripts.append(Script([[FIX], [text_block("Fixed add.")]], match="<issue"))  # once more
    code, output, _ = run_timed(stage, env)
    assert code == 0, output
    [pull] = stage.github.pulls(OWNER, NAME)
    assert pull["head"].startswith(f"auto/{number}"), pull


def test_a_fetch_answered_503_is_an_outage(stage: Stage) -> None:
    one_issue(stage)
    stage.github.fault = git_fails_while([True], "git-upload-pack", 503)  # type: ignore[assignment]
    code, output, _ = run_timed(stage, default_env(stage))
    assert code == UNAVAILABLE, output
    assert_one_clear_line(output, "cannot reach GitHub's git at 127.0.0.1", "git fetch", "HTTP 503")


def ls_remote(url: str, password: str = "nothing") -> str:
    """What real git prints when `git ls-remote URL` fails, with no prompt and no stored credential."""
    env = {"GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": "echo", "PATH": "/usr/bin:/bin", "HOME": "/nonexistent"}
    result = subprocess.run(
        ["git", "-c", "credential.helper=", "ls-remote", url],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0, result
    return result.stderr


def test_what_git_says_about_a_closed_port_is_an_outage_naming_the_host(unused_port: int) -> None:
    url = f"http://127.0.0.1:{unused_port}/git/acme/widgets.git"
    error = git_unreachable("ls-remote", ls_remote(url), url)
    assert error is not None and error.service == "GitHub"
    assert f"127.0.0.1:{unused_port}" in error.message and "connection refused" in error.message
    assert error.hint


def test_a_refused_login_is_not_an_outage(github: FakeGitHub) -> None:
    url = f"{github.base_http}/git/{OWNER}/{NAME}.git"
    stderr = ls_remote(url)
    assert "Authentication failed" in stderr or "could not read Username" in stderr, stderr
    assert git_unreachable("ls-remote", stderr, url) is None


@pytest.mark.parametrize(
    ("stderr", "reason"),
    [
        ("fatal: unable to access 'https://github.invalid/a.git/': Could not resolve host: github.invalid",
         "does not resolve (DNS)"),
        ("fatal: unable to access 'https://h/a.git/': SSL certificate problem: self-signed certificate",
         "TLS"),
        ("fatal: unable to access 'https://h/a.git/': Failed to connect to h port 443 after 130001 ms: "
         "Timeout was reached", "timed out"),
        ("error: RPC failed; HTTP 503 curl 22 The requested URL returned error: 503", "HTTP 503"),
    ],
)  # fmt: skip
def test_each_way_git_says_the_remote_is_down_is_named(stderr: str, reason: str) -> None:
    error = git_unreachable("fetch", stderr, "https://h/a.git")
    assert error is not None and reason in error.message, stderr


@pytest.mark.parametrize(
    "stderr",
    [
        "fatal: Authentication failed for 'https://h/a.git/'",
        "fatal: could not read Username for 'https://h': terminal prompts disabled",
        "fatal: unable to access 'https://h/a.git/': The requested URL returned error: 403",
        "remote: Repository not found.\nfatal: repository 'https://h/a.git/' not found",
    ],
)
def test_a_remote_that_answered_is_not_an_outage(stderr: str) -> None:
    assert git_unreachable("push", stderr, "https://h/a.git") is None
