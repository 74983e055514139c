"""Tests proving the local GitHub stand-in works with the real PyGithub client and the real git."""

from __future__ import annotations

import base64
import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import git
import github
import pytest
import requests

from tests.standins.github_server import FakeGitHub, RecordedRequest

TOKEN = "ghp_standin_good_token"
OWNER, NAME = "acme", "widgets"
IDENTITY = {
    "GIT_AUTHOR_NAME": "Stand In",
    "GIT_AUTHOR_EMAIL": "standin@example.invalid",
    "GIT_COMMITTER_NAME": "Stand In",
    "GIT_COMMITTER_EMAIL": "standin@example.invalid",
}


@dataclass
class Stand:
    """A running fake GitHub with one repository ``acme/widgets`` seeded from a local source repo."""

    server: FakeGitHub
    tmp: Path

    def gh(self, token: str = TOKEN, per_page: int = 30) -> github.Github:
        return github.Github(
            auth=github.Auth.Token(token),
            base_url=self.server.api_url,
            per_page=per_page,
            retry=None,
            seconds_between_requests=None,
            seconds_between_writes=None,
        )

    def repo(self) -> github.Repository.Repository:
        return self.gh().get_repo(f"{OWNER}/{NAME}")

    def git_env(self, token: str = TOKEN) -> dict[str, str]:
        askpass = self.tmp / "askpass.sh"
        if not askpass.exists():
            askpass.write_text('#!/bin/sh\nprintf "%s\\n" "$STANDIN_GIT_TOKEN"\n')
            askpass.chmod(0o755)
        env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
        return (
            env
            | IDENTITY
            | {
                "GIT_ASKPASS": str(askpass),
                "STANDIN_GIT_TOKEN": token,
                "GIT_TERMINAL_PROMPT": "0",
                "GIT_CONFIG_NOSYSTEM": "1",
                "GIT_CONFIG_GLOBAL": os.devnull,
            }
        )

    def clone(self, dest: str, token: str = TOKEN) -> git.Repo:
        url = f"{self.server.base_http}/git/{OWNER}/{NAME}.git"
        repo = git.Repo.clone_from(url, self.tmp / dest, env=self.git_env(token))
        repo.git.update_environment(**self.git_env(token))
        return repo


def commit_file(repo: git.Repo, name: str, content: str, message: str) -> str:
    Path(repo.working_dir, name).write_text(content)
    repo.git.add(name)
    repo.git.commit("-m", message)
    return repo.head.commit.hexsha


def api_requests(server: FakeGitHub, suffix: str) -> list[RecordedRequest]:
    return [r for r in server.requests if r.route.startswith("/api/v3") and r.route.endswith(suffix)]


@pytest.fixture
def stand(tmp_path: Path) -> Iterator[Stand]:
    source = tmp_path / "source"
    source_repo = git.Repo.init(source, initial_branch="main")
    source_repo.git.update_environment(**IDENTITY)
    commit_file(source_repo, "README.md", "# widgets\n", "Initial commit")
    with FakeGitHub(tmp_path / "github") as server:
        server.add_token(
            TOKEN, login="octobot", scopes="repo, workflow", expires_at="2026-12-01 10:00:00 UTC"
        )
        server.create_repo(OWNER, NAME, source=source)
        yield Stand(server, tmp_path)
        assert server.errors == []


def test_clone_push_branch_and_open_pull_request(stand: Stand) -> None:
    server = stand.server
    issue_number = server.add_issue(OWNER, NAME, "Add a widget", labels=["autodev"])
    assert server.file_at(OWNER, NAME, "main", "README.md") == "# widgets\n"

    clone = stand.clone("work")
    clone.git.checkout("-b", "autodev/issue-1")
    sha = commit_file(clone, "widget.py", "WIDGET = 1\n", "Add widget")
    clone.git.push("origin", "autodev/issue-1")

    assert server.branches(OWNER, NAME)["autodev/issue-1"] == sha
    assert server.file_at(OWNER, NAME, "autodev/issue-1", "widget.py") == "WIDGET = 1\n"
    git_calls = [r for r in server.requests if r.route.startswith("/git/")]
    assert any(r.route.endswith("/git-receive-pack") for r in git_calls)
    authorized = [auth for r in git_calls if (auth := r.header("Authorization"))]
    assert authorized
    assert all(base64.b64decode(a.split()[1]).decode().endswith(f":{TOKEN}") for a in authorized)

    repo = stand.repo()
    assert repo.get_branch("autodev/issue-1").commit.sha == sha
    assert repo.get_git_ref("heads/autodev/issue-1").object.sha == sha
    pull = repo.create_pull(
        title="Add a widget", body=f"Fixes #{issue_number}", head="autodev/issue-1", base="main", draft=True
    )
    assert pull.number == issue_number + 1  # numbers are shared with issues
    assert pull.html_url == f"{server.base_http}/{OWNER}/{NAME}/pull/{pull.number}"
    assert (pull.head.ref, pull.head.sha, pull.base.ref, pull.draft) == ("autodev/issue-1", sha, "main", True)
    stored = server.pulls(OWNER, NAME)
    assert [(p["number"], p["head"], p["base"], p["state"], p["draft"]) for p in stored] == [
        (pull.number, "autodev/issue-1", "main", "open", True)
    ]

    listed = list(repo.get_issues())
    assert [(i.number, i.pull_request is not None) for i in listed] == [
        (pull.number, True),
        (issue_number, False),
    ]
    assert [p.number for p in repo.get_pulls(head=f"{OWNER}:autodev/issue-1")] == [pull.number]
    assert list(repo.get_pulls(head=f"{OWNER}:other")) == []

    with pytest.raises(github.GithubException) as duplicate:
        repo.create_pull(title="Again", body="", head="autodev/issue-1", base="main")
    assert duplicate.value.status == 422
    assert "A pull request already exists for acme:autodev/issue-1." in str(duplicate.value.data)


def test_pull_request_validation(stand: Stand) -> None:
    repo = stand.repo()
    with pytest.raises(github.GithubException) as missing_head:
        repo.create_pull(title="Nope", body="", head="no-such-branch", base="main")
    assert missing_head.value.status == 422
    assert missing_head.value.data["errors"] == [
        {"resource": "PullRequest", "field": "head", "code": "invalid"}
    ]

    repo.create_git_ref("refs/heads/same-as-main", stand.server.branches(OWNER, NAME)["main"])
    with pytest.raises(github.GithubException) as no_commits:
        repo.create_pull(title="Empty", body="", head="same-as-main", base="main")
    assert no_commits.value.status == 422
    repo.get_git_ref("heads/same-as-main").delete()
    assert "same-as-main" not in stand.server.branches(OWNER, NAME)


def test_issue_listing_paginates_and_filters(stand: Stand) -> None:
    server = stand.server
    for index in range(1, 26):
        labels = ["autodev"] + (["bug"] if index % 2 else []) if index % 3 == 0 else []
        server.add_issue(OWNER, NAME, f"Issue {index}", labels=labels)
    repo = stand.gh(per_page=10).get_repo(f"{OWNER}/{NAME}")

    all_open = repo.get_issues()
    assert [i.number for i in all_open] == list(range(25, 0, -1))
    assert len(api_requests(server, "/issues")) == 3
    assert all_open.totalCount == 25
    assert [i.number for i in repo.get_issues(labels=["autodev"])] == [24, 21, 18, 15, 12, 9, 6, 3]
    assert [i.number for i in repo.get_issues(labels=["autodev", "BUG"], direction="asc")] == [3, 9, 15, 21]

    repo.get_issue(3).edit(state="closed")
    assert server.issue(OWNER, NAME, 3)["state"] == "closed"
    assert [i.number for i in repo.get_issues(state="closed")] == [3]
    assert 3 not in [i.number for i in repo.get_issues(labels=["autodev"])]

    url = f"{server.api_url}/repos/{OWNER}/{NAME}/issues"
    headers = {"Authorization": f"Bearer {TOKEN}"}
    first = requests.get(url, params={"per_page": "10", "state": "all"}, headers=headers, timeout=5)
    assert first.links["next"]["url"] == f"{url}?per_page=10&state=all&page=2"
    assert first.links["last"]["url"] == f"{url}?per_page=10&state=all&page=3"
    assert "prev" not in first.links and "first" not in first.links
    second = requests.get(first.links["next"]["url"], headers=headers, timeout=5)
    assert {rel for rel in second.links} == {"prev", "next", "last", "first"}
    last = requests.get(first.links["last"]["url"], headers=headers, timeout=5)
    assert len(last.json()) == 5 and "next" not in last.links


def test_labels_events_and_permissions(stand: Stand) -> None:
    server = stand.server
    number = server.add_issue(OWNER, NAME, "Labelled", labels=["autodev"], labeled_by="maintainer")
    issue = stand.repo().get_issue(number)

    issue.add_to_labels("autodev: in progress")
    issue.remove_from_labels("autodev")
    assert server.issue(OWNER, NAME, number)["labels"] == ["autodev: in progress"]
    events = [(e.event, e.actor.login, e.label.name) for e in issue.get_events()]
    assert events == [
        ("labeled", "maintainer", "autodev"),
        ("labeled", "octobot", "autodev: in progress"),
        ("unlabeled", "octobot", "autodev"),
    ]
    with pytest.raises(github.GithubException) as absent:
        issue.remove_from_labels("autodev")
    assert absent.value.status == 404 and absent.value.data["message"] == "Label does not exist"
    assert {label.name for label in stand.repo().get_labels()} == {"autodev", "autodev: in progress"}

    assert stand.repo().permissions.push is True
    server.set_permission(OWNER, NAME, "octobot", "read")
    repo = stand.repo()
    assert (repo.permissions.push, repo.permissions.pull) == (False, True)
    assert repo.get_collaborator_permission("octobot") == "read"
    with pytest.raises(github.GithubException) as forbidden:
        repo.get_issue(number).add_to_labels("nope")
    assert forbidden.value.status == 403


def test_comments_round_trip(stand: Stand) -> None:
    server = stand.server
    number = server.add_issue(OWNER, NAME, "Talk")
    server.add_comment(OWNER, NAME, number, "Please also update the docs", user="alice")
    issue = stand.repo().get_issue(number)

    created = issue.create_comment("On it!")
    assert created.user.login == "octobot"
    assert created.html_url.startswith(f"{server.base_http}/{OWNER}/{NAME}/issues/{number}#issuecomment-")
    assert [(c.user.login, c.body) for c in issue.get_comments()] == [
        ("alice", "Please also update the docs"),
        ("octobot", "On it!"),
    ]
    created.edit("Done.")
    assert [(c["user"], c["body"]) for c in server.comments(OWNER, NAME, number)] == [
        ("alice", "Please also update the docs"),
        ("octobot", "Done."),
    ]
    created.delete()
    assert [c["user"] for c in server.comments(OWNER, NAME, number)] == ["alice"]
    assert stand.repo().get_issue(number).comments == 1


def test_authentication_and_rate_limit_headers(stand: Stand) -> None:
    with pytest.raises(github.BadCredentialsException) as bad:
        stand.gh("not-a-token").get_repo(f"{OWNER}/{NAME}")
    assert bad.value.status == 401 and bad.value.data["message"] == "Bad credentials"

    client = stand.gh()
    assert client.get_user().login == "octobot"
    assert client.oauth_scopes == ["repo", "workflow"]
    remaining_before = client.rate_limiting[0]
    client.get_repo(f"{OWNER}/{NAME}")
    assert client.rate_limiting == (remaining_before - 1, 5000)

    response = requests.get(
        f"{stand.server.api_url}/user", headers={"Authorization": f"token {TOKEN}"}, timeout=5
    )
    assert response.headers["github-authentication-token-expiration"] == "2026-12-01 10:00:00 UTC"
    assert response.headers["X-RateLimit-Resource"] == "core" and response.headers["X-GitHub-Request-Id"]
    assert (
        requests.get(
            f"{stand.server.api_url}/nowhere", headers={"Authorization": f"token {TOKEN}"}, timeout=5
        ).json()["message"]
        == "Not Found"
    )

    stand.server.add_token("github_pat_fine", login="finebot", fine_grained=True)
    fine = requests.get(
        f"{stand.server.api_url}/user", headers={"Authorization": "Bearer github_pat_fine"}, timeout=5
    )
    assert fine.json()["login"] == "finebot" and "X-OAuth-Scopes" not in fine.headers


def test_git_push_with_wrong_password_is_refused(stand: Stand) -> None:
    with pytest.raises(git.GitCommandError):
        stand.clone("anonymous", token="wrong-token")

    clone = stand.clone("work")
    clone.git.checkout("-b", "sneaky")
    commit_file(clone, "evil.txt", "x\n", "Sneak in")
    clone.git.update_environment(**stand.git_env("wrong-token"))
    with pytest.raises(git.GitCommandError) as refused:
        clone.git.push("origin", "sneaky")
    assert "Authentication failed" in refused.value.stderr or "401" in refused.value.stderr
    assert "sneaky" not in stand.server.branches(OWNER, NAME)

    stand.server.set_permission(OWNER, NAME, "octobot", "read")
    clone.git.update_environment(**stand.git_env(TOKEN))
    with pytest.raises(git.GitCommandError):
        clone.git.push("origin", "sneaky")
    assert "sneaky" not in stand.server.branches(OWNER, NAME)


def test_large_push_uses_chunked_request_body(stand: Stand) -> None:
    clone = stand.clone("work")
    clone.git.checkout("-b", "big")
    content = "\n".join(secrets.token_hex(32) for _ in range(40_000)) + "\n"  # ~2.6 MB, poorly compressible
    sha = commit_file(clone, "big.txt", content, "Big file")
    clone.git.push("origin", "big")

    assert stand.server.branches(OWNER, NAME)["big"] == sha
    assert stand.server.file_at(OWNER, NAME, "big", "big.txt") == content
    packs = [r for r in stand.server.requests if r.route.endswith("/git-receive-pack") and len(r.body) > 4]
    assert any((r.header("Transfer-Encoding") or "").lower() == "chunked" for r in packs)


def test_fault_hook_replaces_responses(stand: Stand) -> None:
    faulted: list[int] = []

    def fault(request: RecordedRequest, sequence: int) -> tuple[int, dict[str, str], dict[str, str]] | None:
        if request.route.endswith("/issues") and not faulted:
            faulted.append(sequence)
            return 502, {"X-Stand-In": "fault"}, {"message": "Server Error"}
        return None

    repo = stand.repo()
    stand.server.fault = fault
    with pytest.raises(github.GithubException) as failure:
        list(repo.get_issues())
    assert failure.value.status == 502
    assert (failure.value.headers or {}).get("x-stand-in") == "fault"
    assert stand.server.requests[faulted[0] - 1].route == f"/api/v3/repos/{OWNER}/{NAME}/issues"
    assert list(repo.get_issues()) == []
