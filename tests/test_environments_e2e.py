"""Prepared environments, the honest baseline and the shell tool, end to end through the CLI and stand-ins."""

from __future__ import annotations

import json
import secrets
import string
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.conftest import OWNER, Stage
from tests.envfixtures import PROJECT, local_index, offline_pip
from tests.helpers import run_cli
from tests.standins.anthropic_server import Script, text_block, text_editor, tool_use

FIX = text_editor("str_replace", path="calc.py", old_str="double(x) + x", new_str="double(double(x))")
UNITTEST = "python -m unittest -v"  # pytest is not among the local wheels; unittest needs nothing installed


def issue(stage: Stage, name: str, steps: list[list[dict[str, object]]], title: str = "Fix quad") -> int:
    number = stage.github.add_issue(OWNER, name, title, "quad(3) should be 12.", labels=["autonomous-dev"])
    stage.claude.scripts.append(Script(steps, match=f'<issue number="{number}">'))
    return number


def test_tests_run_in_the_prepared_venv_and_the_next_task_on_the_same_lock_hash_reuses_it(
    stage: Stage, tmp_path: Path
) -> None:
    stage.publish("calc", PROJECT)
    env = stage.env(REPO_NAME="calc", TEST_COMMAND=UNITTEST, **offline_pip(local_index(tmp_path)))
    issue(stage, "calc", [[FIX], [text_block("Fixed quad.")]])
    first = run_cli(["run"], cwd=stage.cwd, env=env, timeout=300)
    assert first.returncode == 0, first.stderr[-3000:]
    issue(stage, "calc", [[FIX], [text_block("Fixed quad again.")]], title="Fix quad once more")
    second = run_cli(["run"], cwd=stage.cwd, env=env, timeout=300)
    assert second.returncode == 0, second.stderr[-3000:]
    made, reused = sorted(stage.github.pulls(OWNER, "calc"), key=lambda pull: pull["number"])
    # one environment per worktree slot: the task's, and the one its base commit's tests ran in aside
    venvs = sorted((stage.work_dir / "environments" / OWNER / "calc").glob("python-slot-*/venv"))
    assert 1 <= len(venvs) <= 2, venvs
    assert "✅ checks pass" in made["body"] and "| tests on the base commit |" in made["body"]
    assert any(f"| prepared {venv} |" in made["body"] for venv in venvs) and "-m venv" in made["body"]
    assert any(f"| from the cache: {venv} |" in reused["body"] for venv in venvs)  # nothing set up again
    assert "✅ checks pass" in reused["body"]
    assert made["draft"] is False and reused["draft"] is False


@pytest.mark.parametrize("broken", ["set-up fails", "import error"])
@pytest.mark.parametrize("require_tests", ["true", "false"])
def test_a_broken_environment_never_gets_a_ready_pr_with_green_evidence(
    stage: Stage, tmp_path: Path, broken: str, require_tests: str
) -> None:
    files = dict(PROJECT)
    if broken == "set-up fails":  # a dependency that no index (here: the local wheels) has
        files["build_backend.py"] = files["build_backend.py"].replace("tinydep", "not-on-any-index")
        extra = {"TEST_COMMAND": UNITTEST, **offline_pip(local_index(tmp_path))}
    else:  # nothing installs tinydep: the tests cannot import it
        extra = {"SETUP_COMMAND": "none"}
    stage.publish("calc", files)
    number = issue(stage, "calc", [[FIX], [text_block("Fixed quad.")]])
    env = stage.env(REPO_NAME="calc", REQUIRE_TESTS=require_tests, **extra)
    result = run_cli(["run"], cwd=stage.cwd, env=env, timeout=300)
    [pull] = stage.github.pulls(OWNER, "calc")
    assert "environment not ready" in pull["body"] and "✅" not in pull["body"], pull["body"]
    assert "pre-existing" not in pull["body"]
    [tracking] = stage.github.comments(OWNER, "calc", number)  # the warning is in the tracking comment
    assert "**not verified**: `environment not ready" in tracking["body"]
    assert len(stage.claude.message_requests()) == 2  # no repair round: the model cannot mend the host
    labels = stage.github.issue(OWNER, "calc", number)["labels"]
    cause = "setup-failed" if broken == "set-up fails" else "baseline-red"
    if require_tests == "true":  # a draft, and the task failed for a cause people can act on
        assert pull["draft"] is True and result.returncode == 1
        assert (
            f"autonomous-dev:cause/{cause}" in labels
            and f"`autonomous-dev:cause/{cause}`" in tracking["body"]
        )
        task = json.loads(run_cli(["status", "--json"], cwd=stage.cwd, env=env).stdout)["tasks"][0]
        assert task["cause"] == cause
    else:
        assert pull["draft"] is False and "⚠️ environment not ready" in pull["body"]
        assert not [label for label in labels if label.startswith("autonomous-dev:cause/")]


def a_token() -> str:
    return "ghp_" + "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(36))


def test_the_shell_tool_runs_in_the_sandbox_offline_and_its_output_is_redacted(stage: Stage) -> None:
    token = a_token()
    stage.publish(
        "shell", {"calc.py": "def add(a, b):\n    return a - b\n", "deploy.cfg": f"token={token}\n"}
    )
    port = urlsplit(stage.github.api_url).port
    connect = f"python -c 'import socket; socket.create_connection((\"127.0.0.1\", {port}), timeout=3)'"
    commands = ["ls", "grep -n 'return' calc.py", "python -c 'print(6 * 7)'", connect, "cat deploy.cfg"]
    steps = [[tool_use("run_command", command=command)] for command in commands]
    fix = text_editor("str_replace", path="calc.py", old_str="a - b", new_str="a + b")
    issue(stage, "shell", [*steps, [fix], [text_block("Fixed add.")]], title="Fix add")
    result = run_cli(["run"], cwd=stage.cwd, env=stage.env(REPO_NAME="shell"), timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    requests = stage.claude.message_requests()
    assert "run_command" in [tool["name"] for tool in requests[0]["tools"]]
    assert "run_command:" in json.dumps(requests[0]["system"])  # the system prompt tells the model
    outputs = [json.dumps(requests[index]["messages"][-1]) for index in range(1, len(commands) + 1)]
    listing, grep, python, network, secret = outputs
    assert "calc.py" in listing and "deploy.cfg" in listing and "exit code 0" in listing
    assert "2:    return a - b" in grep and "\\n42\\n" in python
    assert "exit code 1" in network and ("Connection refused" in network or "unreachable" in network)
    assert token not in secret and token not in json.dumps(requests) and "token=" in secret


def test_the_shell_tool_can_be_turned_off(stage: Stage) -> None:
    stage.publish("noshell", {"calc.py": "def add(a, b):\n    return a - b\n"})
    issue(stage, "noshell", [[text_block("Nothing to do.")]], title="Look")
    result = run_cli(["run"], cwd=stage.cwd, env=stage.env(REPO_NAME="noshell", SHELL_TOOL="false"))
    assert result.returncode == 0, result.stderr[-3000:]
    [request] = stage.claude.message_requests()
    assert "run_command" not in [tool["name"] for tool in request["tools"]]
    assert "run_command" not in json.dumps(request["system"])
