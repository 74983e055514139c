"""End to end as a GitHub App: `run` with only the app's credentials opens the PR as `<slug>[bot]`, its
installation tokens replaced when GitHub ends them, and no token in any URL, argument, config or log."""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
from pathlib import Path

from tests.app_helpers import BOT, add_app, app_env, issued_tokens, key_pair
from tests.conftest import NAME, OWNER, Stage
from tests.helpers import run_cli
from tests.standins.github_state import RecordedRequest
from tests.test_e2e import BRANCH, FIXED, pieces, seed


def git_shim(tmp_path: Path) -> tuple[dict[str, str], Path]:
    """PATH with a `git` first that records each command line, then runs the real git."""
    shim_dir, argv_log = tmp_path / "shim", tmp_path / "git-argv.log"
    shim_dir.mkdir()
    real = shutil.which("git")
    assert real is not None
    shim = shim_dir / "git"
    shim.write_text(f'#!/bin/sh\nprintf "%s\\n" "$*" >> "{argv_log}"\nexec "{real}" "$@"\n')
    shim.chmod(0o755)
    return {"PATH": f"{shim_dir}{os.pathsep}{os.environ['PATH']}"}, argv_log


def test_only_app_credentials_open_a_pr_as_the_bot_without_the_token_anywhere(
    stage: Stage, tmp_path: Path
) -> None:
    installation = add_app(stage.github)
    seed(stage)
    path, argv_log = git_shim(tmp_path)
    result = run_cli(["run"], cwd=stage.cwd, env=app_env(stage, **path))
    output = result.stdout + result.stderr
    assert result.returncode == 0, output

    [pull] = stage.github.pulls(OWNER, NAME)
    assert (pull["head"], pull["user"]) == (BRANCH, BOT)
    assert FIXED in stage.github.file_at(OWNER, NAME, BRANCH, "calc.py")
    author = subprocess.run(
        ["git", "log", "-1", "--format=%an <%ae>", BRANCH],
        cwd=stage.github.root / OWNER / f"{NAME}.git", capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    assert author == f"{BOT} <{stage.github.state.user_id(BOT)}+{BOT}@users.noreply.github.com>"
    notes = stage.github.comments(OWNER, NAME, 3)  # the tracking comment and the no-change answer
    assert len(notes) == 2 and {note["user"] for note in notes} == {BOT}

    tokens = stage.github.app_tokens(installation)
    git_requests = [r for r in stage.github.requests if r.route.startswith("/git/")]
    basic = {_basic(r) for r in git_requests if r.header("Authorization")}
    assert basic and basic <= {f"x-access-token:{token}" for token in tokens}  # through askpass
    assert any("receive-pack" in r.path for r in git_requests if r.header("Authorization"))  # the push

    argv = argv_log.read_text()
    assert "push" in argv and "fetch" in argv
    mirror = stage.work_dir / "mirrors" / OWNER / f"{NAME}.git"
    stored = "".join(
        p.read_text(errors="replace")
        for p in stage.work_dir.rglob("*")
        if p.is_file() and p.stat().st_size < 1_000_000
    )
    assert "AUTONOMOUS_DEV_GIT_PASSWORD" in (stage.work_dir / "git-askpass.sh").read_text()
    for token in tokens:
        assert all(token not in r.path for r in stage.github.requests)  # no URL
        for piece in pieces(token):
            assert piece not in output  # no log line (LOG_LEVEL=DEBUG)
            assert piece not in argv  # no git argument
            assert piece not in stored  # no git config, askpass script or cache in WORK_DIR
    assert "x-access-token" not in (mirror / "config").read_text()
    assert "BEGIN" not in output and key_pair().private_pem.splitlines()[1] not in output


def _basic(request: RecordedRequest) -> str:
    return base64.b64decode(request.header("Authorization", "").split(" ", 1)[1]).decode()


def test_tokens_github_ends_mid_run_are_replaced_for_rest_and_for_git(stage: Stage) -> None:
    installation = add_app(stage.github)
    seed(stage)
    ended: set[str] = set()

    def end_tokens(request: RecordedRequest, sequence: int) -> None:
        """GitHub ends the installation's token just as the push starts, and again as the PR is opened."""
        moment = (
            "push"
            if "git-receive-pack" in request.path
            else "pr"
            if request.route.endswith("/pulls") and request.method == "POST"
            else ""
        )
        if moment and moment not in ended:
            ended.add(moment)
            stage.github.expire_app_tokens()
        return None

    stage.github.fault = end_tokens
    result = run_cli(["run"], cwd=stage.cwd, env=app_env(stage))
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert ended == {"push", "pr"}
    [pull] = stage.github.pulls(OWNER, NAME)
    assert pull["head"] == BRANCH and pull["user"] == BOT
    assert len(stage.github.app_tokens(installation)) >= 3  # the first, then one after each end
    assert "trying once with a new one" in output
    for token in issued_tokens(stage.github):
        assert token[4:12] not in output


def test_without_any_github_credential_run_names_both_ways_and_exits_4(stage: Stage) -> None:
    result = run_cli(["run"], cwd=stage.cwd, env=stage.env(GITHUB_TOKEN=""))
    assert result.returncode == 4
    assert "GITHUB_TOKEN" in result.stderr and "GITHUB_APP_ID" in result.stderr


def test_run_on_a_repository_without_the_app_exits_4_with_the_install_hint(stage: Stage) -> None:
    stage.github.add_app(4242, "autodev-test", key_pair().public_pem)  # created, installed nowhere
    result = run_cli(["run"], cwd=stage.cwd, env=app_env(stage))
    assert result.returncode == 4, result.stderr
    assert f"not installed on {OWNER}/{NAME}" in result.stderr and "Install App" in result.stderr


def test_an_unparsable_key_exits_4_without_printing_it(stage: Stage) -> None:
    add_app(stage.github)
    garbage = "-----BEGIN RSA PRIVATE KEY-----\\nNotAKeyAtAll0123456789\\n-----END RSA PRIVATE KEY-----"
    result = run_cli(["run"], cwd=stage.cwd, env=app_env(stage, GITHUB_APP_PRIVATE_KEY=garbage))
    assert result.returncode == 4
    assert "not a PEM private key" in result.stderr and "NotAKeyAtAll" not in result.stdout + result.stderr


def test_a_github_that_is_down_is_an_outage_exit_5(stage: Stage, unused_port: int) -> None:
    add_app(stage.github)
    env = app_env(stage, GITHUB_API_URL=f"http://127.0.0.1:{unused_port}/api/v3")
    result = run_cli(["run"], cwd=stage.cwd, env=env)
    assert result.returncode == 5, result.stderr
    assert f"127.0.0.1:{unused_port}" in result.stderr and "Traceback" not in result.stderr
