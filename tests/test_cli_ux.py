"""What a new user meets on day one: flags, settings errors, `init`, and quiet, readable output."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest

from tests.conftest import NAME, OWNER, Stage
from tests.daemon_helpers import start_cli, stop, wait_for
from tests.helpers import git, run_cli
from tests.test_progress import one_issue, run_in_terminal


def test_env_name_without_its_file_exits_3_like_env_file(tmp_path: Path) -> None:
    named = run_cli(["--env", "staging", "config"], cwd=tmp_path, env={})
    assert named.returncode == 3 and ".env.staging" in named.stderr and "--env" in named.stderr
    assert run_cli(["--env-file", "missing.env", "config"], cwd=tmp_path, env={}).returncode == 3
    (tmp_path / ".env.staging").write_text("ISSUE_LABEL=staged\n")
    assert run_cli(["--env", "staging", "config"], cwd=tmp_path, env={}).returncode == 0


def test_an_unknown_key_suggests_the_closest_one_and_help_config(tmp_path: Path) -> None:
    (tmp_path / "autonomous-dev.config.json").write_text(json.dumps({"execution": {"parallelWorker": 2}}))
    result = run_cli(["config"], cwd=tmp_path, env={})
    assert result.returncode == 3
    assert "unknown setting execution.parallelWorker" in result.stderr
    assert "did you mean execution.parallelWorkers?" in result.stderr
    assert "autonomous-dev help-config" in result.stderr and "docs/" not in result.stderr


@pytest.mark.parametrize(
    ("where", "said"),
    [
        ("json", "execution.parallelWorkers (in {cwd}/autonomous-dev.config.json) = 99"),
        ("dotenv", "execution.parallelWorkers (PARALLEL_WORKERS in {cwd}/.env) = '99'"),
        ("env", "execution.parallelWorkers (env PARALLEL_WORKERS) = '99'"),
        ("flag", "execution.parallelWorkers (command-line flag) = '99'"),
    ],
)
def test_an_invalid_value_names_the_source_it_came_from(tmp_path: Path, where: str, said: str) -> None:
    env, args = {}, ["run"]
    if where == "json":
        (tmp_path / "autonomous-dev.config.json").write_text(
            json.dumps({"execution": {"parallelWorkers": 99}})
        )
    elif where == "dotenv":
        (tmp_path / ".env").write_text("PARALLEL_WORKERS=99\n")
    elif where == "env":
        env = {"PARALLEL_WORKERS": "99"}
    else:
        args = ["run", "--workers", "99"]
    result = run_cli(args, cwd=tmp_path, env=env)
    assert result.returncode == 3
    assert said.format(cwd=tmp_path) in result.stderr


def test_workers_not_a_number_and_out_of_range_exit_alike(tmp_path: Path) -> None:
    codes = {
        value: run_cli(["run", "--workers", value], cwd=tmp_path, env={}).returncode
        for value in ("abc", "-1")
    }
    assert codes == {"abc": 3, "-1": 3}


def test_debug_works_after_the_command_too(tmp_path: Path) -> None:
    before = run_cli(["--debug", "config"], cwd=tmp_path, env={"PARALLEL_WORKERS": "0"})
    after = run_cli(["config", "--debug"], cwd=tmp_path, env={"PARALLEL_WORKERS": "0"})
    for result in (before, after):
        assert "Traceback" in result.stderr and "ConfigError" in result.stderr, result.stderr[-2000:]


def test_init_yes_refuses_a_placeholder_repository(tmp_path: Path) -> None:
    result = run_cli(["init", "--yes"], cwd=tmp_path, env={})
    assert result.returncode == 3 and "--repo owner/name" in result.stderr
    assert not (tmp_path / "autonomous-dev.config.json").exists()
    assert run_cli(["init", "--yes", "--repo", "acme/widgets"], cwd=tmp_path, env={}).returncode == 0
    written = json.loads((tmp_path / "autonomous-dev.config.json").read_text())["repo"]
    assert (written["owner"], written["name"]) == ("acme", "widgets")


def test_init_takes_the_repository_from_the_git_remote(tmp_path: Path) -> None:
    git(tmp_path, "init", "-q")
    git(tmp_path, "remote", "add", "origin", "git@github.com:octo/hello-world.git")
    assert run_cli(["init", "--yes"], cwd=tmp_path, env={}).returncode == 0
    written = json.loads((tmp_path / "autonomous-dev.config.json").read_text())["repo"]
    assert (written["owner"], written["name"]) == ("octo", "hello-world")


def test_init_yes_no_questions_show_y_n(tmp_path: Path) -> None:
    answers = "octo\nhello\n\nbot\n2\n\n"  # the last answer takes the default: yes
    result = run_cli(["init"], cwd=tmp_path, env={}, stdin=answers)
    assert result.returncode == 0, result.stderr
    assert "Write a .env skeleton for credentials? [Y/n]" in result.stdout
    assert (tmp_path / ".env").exists()


def test_loaded_credentials_are_not_announced_on_every_command(stage: Stage) -> None:
    log_file = stage.cwd / "audit.jsonl"
    env = stage.env(LOG_LEVEL="INFO", LOG_FILE=str(log_file))
    result = run_cli(["run"], cwd=stage.cwd, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "loaded from" not in result.stderr
    events = [json.loads(line) for line in log_file.read_text().splitlines()]
    assert {"credential_loaded"} <= {e.get("event") for e in events}  # the audit trail keeps them
    debug = run_cli(["run"], cwd=stage.cwd, env=stage.env(LOG_LEVEL="DEBUG"))
    assert "GITHUB_TOKEN loaded from env" in debug.stderr


def test_help_config_off_a_terminal_is_a_plain_list(tmp_path: Path) -> None:
    result = run_cli(["help-config"], cwd=tmp_path, env={})
    assert result.returncode == 0
    assert "┃" not in result.stdout and "│" not in result.stdout
    assert (
        "execution.parallelWorkers (env PARALLEL_WORKERS)\n  default: 2; allowed: 1 to 32\n" in result.stdout
    )


def test_a_one_shot_run_never_mentions_a_next_poll(stage: Stage) -> None:
    screen = run_in_terminal(stage, "run")
    assert "0 working" in screen  # the live footer was drawn
    assert "next poll" not in screen


def test_start_verbose_keeps_git_command_lines_out_unless_debug(stage: Stage, tmp_path: Path) -> None:
    verbose = _start_until_a_pr(stage, tmp_path / "verbose.log", "--verbose")
    assert "DEBUG" in verbose and "autonomous_dev." in verbose  # the tool's own DEBUG lines
    assert "git.cmd" not in verbose
    assert "git.cmd" in _start_until_a_pr(stage, tmp_path / "debug.log", "--verbose", "--debug")


def _start_until_a_pr(stage: Stage, log: Path, *flags: str) -> str:
    """Run `start FLAGS` until the daemon opened a PR for a new issue; what it logged."""
    one_issue(stage)
    opened = len(stage.github.pulls(OWNER, NAME))
    env = stage.env(LOG_LEVEL="INFO", LOOP_INTERVAL_MS="600000")
    process = start_cli(["start", *flags], cwd=stage.cwd, env=env, log=log)
    try:
        wait_for(lambda: len(stage.github.pulls(OWNER, NAME)) > opened, 120, "a PR")
    finally:
        stop(process, signal.SIGTERM)
        process.wait(timeout=60)
    return log.read_text()
