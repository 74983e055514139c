"""End to end: the CLI, the real PyGithub/anthropic/git clients, and the two stand-ins."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.conftest import GITHUB_TOKEN, NAME, OWNER, Stage
from tests.helpers import run_cli
from tests.standins.anthropic_server import Script, text_block, text_editor
from tests.standins.github_state import RecordedRequest, run_git

FIXED = "return a + b"
BRANCH = "auto/1-add-subtracts-instead-of-adding"


def seed(stage: Stage) -> None:
    gh = stage.github
    gh.add_issue(
        OWNER, NAME, "add() subtracts instead of adding", "add(2, 3) returns -1.", labels=["autonomous-dev"]
    )
    gh.add_issue(OWNER, NAME, "Unlabelled idea", "Please do not touch.", labels=["enhancement"])
    gh.add_issue(OWNER, NAME, "What licence is this?", "Just a question.", labels=["autonomous-dev"])
    stage.claude.scripts[:] = [
        Script(
            [
                [text_block("Let me look at the code."), text_editor("view", path="calc.py")],
                [text_editor("str_replace", path="calc.py", old_str="return a - b", new_str=FIXED)],
                [text_block("add() now adds its arguments.")],
            ],
            match='<issue number="1">',
        ),
        Script(
            [[text_block("This is a question about licensing; no code change is needed.")]],
            match='<issue number="3">',
        ),
    ]


def pieces(secret: str, size: int = 8) -> list[str]:
    return [secret[i : i + size] for i in range(len(secret) - size + 1)]


def test_labelled_issue_becomes_one_pull_request(stage: Stage) -> None:
    seed(stage)
    result = run_cli(["run"], cwd=stage.cwd, env=stage.env())
    assert result.returncode == 0, result.stderr

    pulls = stage.github.pulls(OWNER, NAME)
    assert len(pulls) == 1
    pull = pulls[0]
    assert (pull["head"], pull["base"], pull["state"]) == (BRANCH, "main", "open")
    assert "Closes #1" in pull["body"]
    assert FIXED in stage.github.file_at(OWNER, NAME, BRANCH, "calc.py")
    assert "return a - b" in stage.github.file_at(OWNER, NAME, "main", "calc.py")

    [tracking] = stage.github.comments(OWNER, NAME, 1)  # the PR's `Closes #1` links it on the issue
    assert "<!-- autonomous-dev:kind=tracking issue=1 -->" in tracking["body"]
    assert "✅ pull request opened" in tracking["body"] and f"/pull/{pull['number']}" in tracking["body"]
    writes = writes_for_issue_1(stage)  # the tracking comment displaying the claim, the PR, the comment
    # edited to show it: 3 writes
    assert writes == [
        f"POST /api/v3/repos/{OWNER}/{NAME}/issues/1/comments",
        f"POST /api/v3/repos/{OWNER}/{NAME}/pulls",
        f"PATCH /api/v3/repos/{OWNER}/{NAME}/issues/comments/{tracking['id']}",
    ]
    assert stage.github.issue(OWNER, NAME, 1)["labels"] == ["autonomous-dev"]  # no in-progress label
    issue_1 = f"/api/v3/repos/{OWNER}/{NAME}/issues/1/"
    reads = [r.route[len(issue_1) :] for r in stage.github.requests if r.route.startswith(issue_1)
             and r.method == "GET"]  # fmt: skip
    # admission reads who labelled it; the claim asks again, then reads the comments once for the whole
    # attempt (the once-only markers, the tracking comment, the maintainers' comments in the prompt)
    assert reads == ["events", "events", "comments"]


def test_with_the_tracking_comment_off_the_label_displays_the_claim(stage: Stage) -> None:
    seed(stage)
    result = run_cli(["run"], cwd=stage.cwd, env=stage.env(TRACKING_COMMENT="false"))
    assert result.returncode == 0, result.stderr
    assert stage.github.comments(OWNER, NAME, 1) == []
    writes = writes_for_issue_1(stage)  # the label displaying the claim, the PR, the label off again:
    assert writes == [
        f"POST /api/v3/repos/{OWNER}/{NAME}/issues/1/labels",
        f"POST /api/v3/repos/{OWNER}/{NAME}/pulls",
        f"DELETE /api/v3/repos/{OWNER}/{NAME}/issues/1/labels/in-progress",
    ]
    assert "in-progress" not in stage.github.issue(OWNER, NAME, 1)["labels"]
    assert "autonomous-dev" in stage.github.issue(OWNER, NAME, 1)["labels"]


def writes_for_issue_1(stage: Stage) -> list[str]:
    """The API writes of the run but those about issue 3 (answered without a change)."""
    other = [f"/issues/comments/{c['id']}" for c in stage.github.comments(OWNER, NAME, 3)] + ["/issues/3"]
    return [
        f"{r.method} {r.path.split('?')[0]}"
        for r in stage.github.requests
        if r.method != "GET" and "/repos/" in r.path and not any(part in r.path for part in other)
    ]


def test_unlabelled_issue_untouched_and_unchanged_issue_gets_comment(stage: Stage) -> None:
    seed(stage)
    assert run_cli(["run"], cwd=stage.cwd, env=stage.env()).returncode == 0

    assert stage.github.comments(OWNER, NAME, 2) == []
    assert stage.github.issue(OWNER, NAME, 2)["labels"] == ["enhancement"]
    touched = [r for r in stage.github.requests if "/issues/2" in r.path and r.method != "GET"]
    assert touched == []
    assert not any('<issue number="2">' in str(b["messages"][0]) for b in stage.claude.message_requests())

    tracking, note = stage.github.comments(
        OWNER, NAME, 3
    )  # the tracking comment (made at the claim), the answer
    assert "no change" in note["body"] and "licensing" in note["body"]
    assert "kind=tracking" in tracking["body"] and "no change was made" in tracking["body"]
    assert "autonomous-dev:cause/model-gave-up" in stage.github.issue(OWNER, NAME, 3)["labels"]
    assert all(p["head"] != "auto/3-what-licence-is-this" for p in stage.github.pulls(OWNER, NAME))
    assert "in-progress" not in stage.github.issue(OWNER, NAME, 3)["labels"]


def test_second_run_opens_no_second_pr_and_posts_no_second_comment(stage: Stage) -> None:
    seed(stage)
    assert run_cli(["run"], cwd=stage.cwd, env=stage.env()).returncode == 0
    sessions = len(stage.claude.message_requests())
    comments = {n: len(stage.github.comments(OWNER, NAME, n)) for n in (1, 3)}

    again = run_cli(["run"], cwd=stage.cwd, env=stage.env())
    assert again.returncode == 0, again.stderr
    assert len(stage.github.pulls(OWNER, NAME)) == 1
    assert {n: len(stage.github.comments(OWNER, NAME, n)) for n in (1, 3)} == comments
    assert len(stage.claude.message_requests()) == sessions


def test_token_never_reaches_git_config_remote_or_logs(stage: Stage) -> None:
    seed(stage)
    result = run_cli(["run"], cwd=stage.cwd, env=stage.env())
    assert result.returncode == 0, result.stderr
    assert "DEBUG" in result.stderr  # the log really was verbose: urllib3, httpx, git lines included

    output = result.stdout + result.stderr
    mirror = stage.work_dir / "mirrors" / OWNER / f"{NAME}.git"
    remotes = subprocess.run(["git", "remote", "-v"], cwd=mirror, capture_output=True, text=True).stdout
    assert f"/git/{OWNER}/{NAME}.git" in remotes
    stored = "".join(
        p.read_text(errors="replace")
        for p in stage.work_dir.rglob("*")
        if p.is_file() and p.stat().st_size < 1_000_000
    )
    for piece in pieces(GITHUB_TOKEN):
        assert piece not in output
        assert piece not in remotes
        assert piece not in stored
    git_requests = [r for r in stage.github.requests if r.path.startswith("/git/")]
    assert git_requests and all(GITHUB_TOKEN not in r.path for r in git_requests)
    assert any(
        r.header("authorization").startswith("Basic ") for r in git_requests if r.header("authorization")
    )


def test_dry_run_pushes_nothing_and_prints_the_diff(stage: Stage) -> None:
    seed(stage)
    result = run_cli(["run", "--dry-run"], cwd=stage.cwd, env=stage.env())
    assert result.returncode == 0, result.stderr
    assert "+    return a + b" in result.stdout
    assert stage.github.pulls(OWNER, NAME) == []
    assert set(stage.github.branches(OWNER, NAME)) == {"main"}
    writes = [
        r
        for r in stage.github.requests
        if r.method in ("POST", "PATCH", "PUT", "DELETE") and r.path.startswith("/api/") and not _query(r)
    ]
    assert writes == []


def _query(request: RecordedRequest) -> bool:
    """A GraphQL query is a read, though sent as POST (a mutation would be a write)."""
    return request.route == "/api/graphql" and str(request.json()["query"]).lstrip().startswith("query")


def test_work_dir_keeps_the_mirror_and_clean_detached_slots(stage: Stage) -> None:
    seed(stage)
    assert run_cli(["run"], cwd=stage.cwd, env=stage.env()).returncode == 0
    mirror = stage.work_dir / "mirrors" / OWNER / f"{NAME}.git"
    assert (mirror / "HEAD").is_file()
    assert run_git("for-each-ref", "refs/heads/", cwd=mirror).stdout == ""  # no task branch is kept
    slots = list((stage.work_dir / "worktrees" / OWNER / NAME).iterdir())
    assert slots
    for slot in slots:
        assert run_git("status", "--porcelain", "--ignored", cwd=slot).stdout == ""
        assert run_git("rev-parse", "--abbrev-ref", "HEAD", cwd=slot).stdout.strip() == "HEAD"  # detached


def test_main_is_never_pushed(stage: Stage, tmp_path: Path) -> None:
    seed(stage)
    before = stage.github.branches(OWNER, NAME)["main"]
    assert run_cli(["run"], cwd=stage.cwd, env=stage.env()).returncode == 0
    assert stage.github.branches(OWNER, NAME)["main"] == before
