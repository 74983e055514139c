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


# -- check runs, statuses, mergeability, protection, merging --------------------------------------
ADMIN = "ghp_standin_admin_token"  # the repo owner's token: admin


def open_pull(
    stand: Stand, branch: str, files: dict[str, str], draft: bool = False, body: str = ""
) -> tuple[github.PullRequest.PullRequest, git.Repo]:
    """Push ``branch`` (one commit per file, on top of main) and open a pull request for it."""
    clone = stand.clone(f"work-{branch.replace('/', '-')}")
    clone.git.checkout("-b", branch)
    for name, content in files.items():
        commit_file(clone, name, content, f"Add {name}")
    clone.git.push("origin", branch)
    pull = stand.repo().create_pull(
        title=f"Work on {branch}", body=body, head=branch, base="main", draft=draft
    )
    return pull, clone


def merge_state(pull: github.PullRequest.PullRequest) -> tuple[bool | None, str]:
    """``(mergeable, mergeable_state)``: PyGithub types ``mergeable`` as bool, GitHub sends null too."""
    return pull.mergeable, pull.mergeable_state


def push_to_main(stand: Stand, name: str, content: str) -> str:
    clone = stand.clone(f"main-{name}")
    sha = commit_file(clone, name, content, f"Main: {name}")
    clone.git.push("origin", "main")
    return sha


def bare_log(stand: Stand, *args: str) -> list[str]:
    """``git log args`` in the stand-in's bare repository, one line per entry."""
    return str(git.Repo(stand.server.root / OWNER / f"{NAME}.git").git.log(*args)).splitlines()


def test_check_runs_and_commit_statuses(stand: Stand) -> None:
    server = stand.server
    sha = server.branches(OWNER, NAME)["main"]
    commit = stand.repo().get_commit(sha)
    assert commit.get_check_runs().totalCount == 0
    empty = commit.get_combined_status()
    assert (empty.state, empty.total_count, empty.statuses, empty.sha) == ("pending", 0, [], sha)

    server.set_check_run(OWNER, NAME, sha, "lint", "completed", "success")
    server.set_check_run(OWNER, NAME, "main", "tests", "in_progress")  # a branch name works too
    server.set_check_run(OWNER, NAME, sha, "tests", "failure")  # replaces; short for completed/failure
    runs = {r.name: (r.status, r.conclusion, r.head_sha) for r in commit.get_check_runs()}
    assert runs == {"lint": ("completed", "success", sha), "tests": ("completed", "failure", sha)}
    run = next(iter(stand.repo().get_commit("main").get_check_runs(check_name="lint")))
    assert (run.app.slug, run.html_url.startswith(server.base_http), run.started_at is not None) == (
        "github-actions",
        True,
        True,
    )
    for index in range(3):
        server.set_check_run(OWNER, NAME, sha, f"extra-{index}", "queued")
    paged = stand.gh(per_page=2).get_repo(f"{OWNER}/{NAME}").get_commit(sha).get_check_runs()
    assert len(list(paged)) == 5 and paged.totalCount == 5

    server.set_status(OWNER, NAME, sha, "ci/build", "success")
    server.set_status(OWNER, NAME, sha, "ci/docs", "pending")
    assert commit.get_combined_status().state == "pending"
    created = commit.create_status("failure", description="docs broke", context="ci/docs")
    assert (created.state, created.context, created.creator.login) == ("failure", "ci/docs", "octobot")
    combined = commit.get_combined_status()
    assert combined.state == "failure" and combined.total_count == 2
    assert sorted((s.context, s.state) for s in combined.statuses) == [
        ("ci/build", "success"),
        ("ci/docs", "failure"),
    ]
    assert [s.state for s in commit.get_statuses()] == ["failure", "pending", "success"]  # newest first
    assert stand.repo().get_commit(sha).commit.message == "Initial commit"

    with pytest.raises(github.GithubException) as unknown:
        stand.repo().get_commit("no-such-ref").get_combined_status()
    assert unknown.value.status == 422
    server.set_permission(OWNER, NAME, "octobot", "read")
    with pytest.raises(github.GithubException) as forbidden:
        commit.create_status("success")
    assert forbidden.value.status == 403


def test_scripted_ci_counts_reads_per_sha(stand: Stand) -> None:
    server = stand.server
    pull, clone = open_pull(stand, "auto/1-ci", {"a.txt": "a\n"})
    first = pull.head.sha
    server.set_ci(OWNER, NAME, ["queued", "in_progress", "success"])
    server.set_check_run(OWNER, NAME, first, "lint", "success")
    commit = stand.repo().get_commit(first)

    def ci_runs(c: github.Commit.Commit) -> list[tuple[str, str | None]]:
        return [(r.status, r.conclusion) for r in c.get_check_runs() if r.name == "ci"]

    assert [ci_runs(commit) for _ in range(4)] == [
        [("queued", None)],
        [("in_progress", None)],
        [("completed", "success")],
        [("completed", "success")],
    ]
    assert {r.name for r in commit.get_check_runs()} == {"ci", "lint"}  # explicit runs in addition
    assert server.check_reads(OWNER, NAME, first) == 5
    assert stand.repo().get_commit(first).get_combined_status().total_count == 0  # CI reports check runs

    second = commit_file(clone, "b.txt", "b\n", "More")
    clone.git.push("origin", "auto/1-ci")
    assert ci_runs(stand.repo().get_commit("auto/1-ci")) == [("queued", None)]  # a new sha starts over
    assert server.check_reads(OWNER, NAME, second) == 1

    server.set_ci(OWNER, NAME, ["in_progress", "failure"], check_name="build", via="status")
    states = [stand.repo().get_commit(second).get_combined_status() for _ in range(3)]
    assert [(s.state, [x.context for x in s.statuses]) for s in states] == [
        ("pending", ["build"]),
        ("failure", ["build"]),
        ("failure", ["build"]),
    ]
    assert server.check_reads(OWNER, NAME, second, via="status") == 3


def test_mergeability_is_computed_lazily(stand: Stand) -> None:
    server = stand.server
    pull, clone = open_pull(stand, "auto/2-lazy", {"lazy.txt": "one\n"})
    assert merge_state(pull) == (None, "unknown")  # the created pull request answers "unknown"
    repo = stand.repo()
    assert merge_state(repo.get_pull(pull.number)) == (None, "unknown")  # the first GET starts it
    assert merge_state(repo.get_pull(pull.number)) == (True, "clean")

    listed = next(iter(repo.get_pulls()))
    gets = len(api_requests(server, f"/pulls/{pull.number}"))
    assert listed.mergeable is True  # lists leave it out, like GitHub: reading it fetches the pull request
    assert len(api_requests(server, f"/pulls/{pull.number}")) == gets + 1

    server.set_ci(OWNER, NAME, ["failure"])
    assert repo.get_pull(pull.number).mergeable_state == "unstable"
    server.set_ci(OWNER, NAME, ["in_progress", "success"])
    assert repo.get_pull(pull.number).mergeable_state == "unstable"  # unread script: at steps[0]
    for _ in range(2):
        list(repo.get_commit(pull.head.sha).get_check_runs())
    assert repo.get_pull(pull.number).mergeable_state == "clean"  # the last reported step counts

    commit_file(clone, "lazy.txt", "two\n", "Change")
    clone.git.push("origin", "auto/2-lazy")  # new head: unknown again, then computed
    assert repo.get_pull(pull.number).mergeable_state == "unknown"
    assert repo.get_pull(pull.number).mergeable_state == "unstable"  # scripted CI: new sha is at step 0
    repo.get_pull(pull.number).edit(state="closed")
    assert merge_state(repo.get_pull(pull.number)) == (None, "unknown")

    server.clear_ci(OWNER, NAME)
    draft, _ = open_pull(stand, "auto/3-draft", {"draft.txt": "x\n"}, draft=True)
    conflict, _ = open_pull(stand, "auto/4-conflict", {"README.md": "# ours\n"})
    push_to_main(stand, "README.md", "# theirs\n")
    for number in (draft.number, conflict.number):
        assert merge_state(repo.get_pull(number)) == (None, "unknown")
    assert merge_state(repo.get_pull(draft.number)) == (True, "draft")
    assert merge_state(repo.get_pull(conflict.number)) == (False, "dirty")


@pytest.mark.parametrize("method", ["merge", "squash", "rebase"])
def test_merge_methods_move_the_base_branch(stand: Stand, method: str) -> None:
    server = stand.server
    issue = server.add_issue(OWNER, NAME, "Widgets please")
    pull, _ = open_pull(stand, "auto/1-x", {"w1.txt": "1\n", "w2.txt": "2\n"}, body=f"Closes #{issue}")
    old_main = push_to_main(stand, "main.txt", "main\n")  # diverged: no fast-forward
    head = pull.head.sha

    result = stand.repo().get_pull(pull.number).merge(merge_method=method, sha=head)
    assert (result.merged, result.message) == (True, "Pull Request successfully merged")
    new_main = server.branches(OWNER, NAME)["main"]
    assert result.sha == new_main
    for name in ("w1.txt", "w2.txt", "main.txt"):
        assert server.file_at(OWNER, NAME, "main", name)
    log = bare_log(stand, "--format=%H %P|%an|%cn <%ce>|%s", f"{old_main}..main")
    parents = [line.split("|")[0].split()[1:] for line in log]
    assert "|GitHub <noreply@github.com>|" in log[0]
    if method == "merge":
        assert parents == [[old_main, head], *parents[1:]] and len(log) == 3
        assert log[0].endswith(f"|Merge pull request #{pull.number} from {OWNER}/auto/1-x")
    elif method == "squash":
        assert parents == [[old_main]]
        assert log[0].endswith(f"|Work on auto/1-x (#{pull.number})")
    else:
        assert len(log) == 2 and parents[1] == [old_main] and new_main != head
        assert [line.split("|", 1)[1] for line in log] == [
            "Stand In|GitHub <noreply@github.com>|Add w2.txt",
            "Stand In|GitHub <noreply@github.com>|Add w1.txt",
        ]

    merged = stand.repo().get_pull(pull.number)
    assert (merged.merged, merged.state, merged.merge_commit_sha, merged.merged_by.login) == (
        True,
        "closed",
        new_main,
        "octobot",
    )
    assert (merge_state(merged), merged.head.sha) == ((None, "unknown"), head)
    snapshot = server.pulls(OWNER, NAME)[0]
    assert (snapshot["merged"], snapshot["merge_commit_sha"], snapshot["merge_method"]) == (
        True,
        new_main,
        method,
    )
    assert server.merge_method(OWNER, NAME, pull.number) == method
    assert [e["event"] for e in server.events(OWNER, NAME, pull.number)] == ["closed"]
    assert server.issue(OWNER, NAME, issue)["state"] == "open"  # closing keywords are not emulated

    stand.repo().get_git_ref("heads/auto/1-x").delete()
    assert "auto/1-x" not in server.branches(OWNER, NAME)
    with pytest.raises(github.GithubException) as again:
        stand.repo().get_pull(pull.number).merge()
    assert (again.value.status, again.value.data["message"]) == (405, "Pull Request is not mergeable")


def test_merge_refusals(stand: Stand) -> None:
    server = stand.server
    pull, clone = open_pull(stand, "auto/1-x", {"x.txt": "x\n"})
    stale = pull.head.sha
    commit_file(clone, "y.txt", "y\n", "Later")
    clone.git.push("origin", "auto/1-x")

    def refusal(number: int, **kwargs: str) -> tuple[int, str]:
        with pytest.raises(github.GithubException) as refused:
            stand.repo().get_pull(number).merge(**kwargs)  # type: ignore[arg-type]
        return refused.value.status, refused.value.data["message"]

    assert refusal(pull.number, sha=stale) == (
        409,
        "Head branch was modified. Review and try the merge again.",
    )
    assert refusal(pull.number, merge_method="octopus")[0] == 422
    draft, _ = open_pull(stand, "auto/2-draft", {"d.txt": "d\n"}, draft=True)
    assert refusal(draft.number) == (405, "Pull Request is still a draft")
    conflict, _ = open_pull(stand, "auto/3-conflict", {"README.md": "# ours\n"})
    push_to_main(stand, "README.md", "# theirs\n")
    assert refusal(conflict.number, merge_method="rebase") == (405, "Pull Request is not mergeable")
    server.set_permission(OWNER, NAME, "octobot", "read")
    assert refusal(pull.number)[0] == 403
    assert all(not p["merged"] for p in server.pulls(OWNER, NAME))


def test_branch_protection_blocks_writers_but_not_admins(stand: Stand) -> None:
    server = stand.server
    server.add_token(ADMIN, login=OWNER)
    server.protect_branch(OWNER, NAME, "main", required_reviews=1, required_checks=["ci"])
    pull, _ = open_pull(stand, "auto/1-x", {"x.txt": "x\n"})
    repo = stand.repo()
    assert repo.get_branch("main").protected is True and repo.get_branch("auto/1-x").protected is False
    repo.get_pull(pull.number)
    assert repo.get_pull(pull.number).mergeable_state == "blocked"

    def refusal() -> str:
        with pytest.raises(github.GithubException) as refused:
            stand.repo().get_pull(pull.number).merge(merge_method="squash")
        assert refused.value.status == 405
        return str(refused.value.data["message"])

    assert refusal() == "At least 1 approving review is required by reviewers with write access."
    with pytest.raises(github.GithubException) as own:
        repo.get_pull(pull.number).create_review(event="APPROVE")
    assert own.value.status == 422
    server.approve(OWNER, NAME, pull.number)
    assert [(r.user.login, r.state) for r in repo.get_pull(pull.number).get_reviews()] == [
        ("reviewer", "APPROVED")
    ]
    assert refusal() == 'Required status check "ci" is expected.'
    server.set_check_run(OWNER, NAME, pull.head.sha, "ci", "failure")
    assert refusal() == 'Required status check "ci" is failing.'

    with pytest.raises(github.GithubException) as hidden:
        repo.get_branch("main").get_protection()
    assert hidden.value.status == 404
    admin_repo = stand.gh(ADMIN).get_repo(f"{OWNER}/{NAME}")
    protection = admin_repo.get_branch("main").get_protection()
    assert protection.required_pull_request_reviews.required_approving_review_count == 1
    assert protection.required_status_checks.contexts == ["ci"] and protection.enforce_admins is False
    with pytest.raises(github.GithubException) as unprotected:
        admin_repo.get_branch("auto/1-x").get_protection()
    assert unprotected.value.data["message"] == "Branch not protected"

    server.protect_branch(OWNER, NAME, "main", required_reviews=2, enforce_admins=True)
    with pytest.raises(github.GithubException) as enforced:
        admin_repo.get_pull(pull.number).merge()
    assert enforced.value.data["message"] == (
        "At least 2 approving reviews are required by reviewers with write access."
    )
    server.protect_branch(OWNER, NAME, "main", required_reviews=2, required_checks=["ci"])
    assert admin_repo.get_pull(pull.number).merge(merge_method="squash").merged  # admins bypass
    assert server.merge_method(OWNER, NAME, pull.number) == "squash"


def test_graphql_edit_history_renames_and_collaborator_roles(stand: Stand) -> None:
    server, gh = stand.server, stand.gh()
    server.add_token("ghp_owner_token", login=OWNER)
    server.add_token("ghp_outsider_token", login="outsider")
    number = server.add_issue(OWNER, NAME, "Typo", "Fix it.", user="outsider")
    stand.gh("ghp_outsider_token").get_repo(f"{OWNER}/{NAME}").get_issue(number).edit(
        title="Typo!", body="Fix it now."
    )
    query = """query($n: Int!) { repository(owner: "acme", name: "widgets") { issue(number: $n) {
        body lastEditedAt editor { login }
        userContentEdits(first: 10) { totalCount nodes { editor { login } } }
    } } }"""
    _, data = gh.requester.graphql_query(query, {"n": number})
    found = data["data"]["repository"]["issue"]
    assert found["body"] == "Fix it now." and found["editor"] == {"login": "outsider"}
    assert found["lastEditedAt"] and found["userContentEdits"]["totalCount"] == 2  # the original and the edit
    assert [e["event"] for e in server.events(OWNER, NAME, number)] == ["renamed"]
    with pytest.raises(github.GithubException):  # a field GitHub does not have is an error, as on GitHub
        gh.requester.graphql_query(
            f'{{ repository(owner: "acme", name: "widgets") {{ issue(number: {number}) {{ nope }} }} }}', {}
        )
    admin = stand.gh("ghp_owner_token").get_repo(f"{OWNER}/{NAME}")
    admin.add_to_collaborators("carol", permission="triage")
    assert stand.repo().get_collaborator_permission("carol") == "read"  # GitHub's legacy name for triage
    admin.remove_from_collaborators("carol")
    assert stand.repo().get_collaborator_permission("carol") == "none"
    with pytest.raises(github.GithubException):  # only admins change roles
        stand.repo().add_to_collaborators("carol", permission="admin")
