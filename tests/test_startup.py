"""Fast start: heavy SDKs load only when a command needs them (functional checks, no timings)."""

from __future__ import annotations

import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from autonomous_dev.claude.oauth import ClaudeAuth
from autonomous_dev.cli.build import DeferredClaude, claude_client
from autonomous_dev.errors import CredentialError
from autonomous_dev.security.redact import Redactor
from autonomous_dev.settings.credentials import Credentials
from autonomous_dev.settings.model import load_settings
from tests.conftest import ANTHROPIC_KEY, NAME, OWNER, Stage
from tests.helpers import run_cli
from tests.standins.anthropic_server import FakeAnthropic, Script, default_models, text_block

HEAVY = ("anthropic", "github", "git", "psycopg", "rich.table", "tree_sitter")


def imported(stderr: str) -> set[str]:
    """Top-level package names (and rich.table) from `-X importtime` lines."""
    names = re.findall(r"^import time:\s+\d+ \|\s+\d+ \|\s*(\S+)$", stderr, re.M)
    return {name if name == "rich.table" else name.split(".")[0] for name in names}


def test_help_loads_no_sdk(tmp_path: Path) -> None:
    result = run_cli(["--help"], cwd=tmp_path, env={"PYTHONPROFILEIMPORTTIME": "1"})
    assert result.returncode == 0, result.stderr
    assert imported(result.stderr).isdisjoint(HEAVY)


def test_idle_run_never_loads_the_anthropic_sdk(stage: Stage) -> None:
    result = run_cli(["run"], cwd=stage.cwd, env=stage.env(PYTHONPROFILEIMPORTTIME="1"))
    assert result.returncode == 0, result.stderr
    loaded = imported(result.stderr)
    assert "github" in loaded  # it did poll
    assert "anthropic" not in loaded


def test_a_run_with_work_loads_the_sdk_and_opens_the_pr(stage: Stage) -> None:
    stage.github.add_issue(OWNER, NAME, "Say hi", "Add hi.txt.", labels=["autonomous-dev"])
    stage.claude.scripts[:] = [Script([[text_block("Nothing to change.")]])]
    result = run_cli(["run"], cwd=stage.cwd, env=stage.env(PYTHONPROFILEIMPORTTIME="1"))
    assert result.returncode == 0, result.stderr
    assert "anthropic" in imported(result.stderr)
    assert len(stage.claude.message_requests()) == 1


def test_the_sdk_starts_loading_as_soon_as_labelled_issues_are_listed(stage: Stage) -> None:
    """Before the issues' trust checks and claims, so the import overlaps them."""
    stage.github.add_issue(OWNER, NAME, "Say hi", "Add hi.txt.", labels=["autonomous-dev"])
    stage.claude.scripts[:] = [Script([[text_block("Nothing to change.")]])]
    result = run_cli(["run"], cwd=stage.cwd, env=stage.env())
    assert result.returncode == 0, result.stderr
    preload = result.stderr.index("loading the Claude client in the background")
    assert preload < result.stderr.index("/issues/1/events")
    assert preload < result.stderr.index("#1: preparing worktree")


def deferred(base_url: str, model: str = "") -> DeferredClaude:
    environ = {"ANTHROPIC_BASE_URL": base_url, "CLAUDE_MODEL": model, "CLAUDE_MAX_RETRIES": "0"}
    settings = load_settings(environ=environ).settings
    return DeferredClaude(settings, ClaudeAuth(api_key=ANTHROPIC_KEY), Redactor())


def test_deferred_client_is_built_once_by_preload_or_first_use(claude: FakeAnthropic) -> None:
    model = default_models()[0]
    client = deferred(claude.url, model=model)
    assert client.model == model  # known from the settings: nothing built
    assert client._client is None
    client.preload()
    deadline = time.monotonic() + 30
    while client._client is None and time.monotonic() < deadline:
        time.sleep(0.01)
    built = client._client
    assert built is not None
    claude.scripts[:] = [Script([[text_block("hello")]])]
    turn = client.complete("system", [{"role": "user", "content": "hi"}], [])
    assert turn.text == "hello"
    assert client._client is built


def test_parallel_first_calls_share_one_client(claude: FakeAnthropic) -> None:
    client = deferred(claude.url)
    built: list[object] = []
    threads = [threading.Thread(target=lambda: built.append(client.client())) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({id(item) for item in built}) == 1
    assert "sonnet" in client.model  # the SDK's default, once the SDK is loaded


def test_a_missing_claude_credential_fails_before_the_sdk_loads() -> None:
    settings = load_settings(environ={}).settings
    with pytest.raises(CredentialError):
        claude_client(settings, Credentials(), Redactor())


def test_the_program_freezes_the_gc_before_the_interpreter_shuts_down(tmp_path: Path) -> None:
    """The shutdown then skips cyclic collections over the SDKs' objects; atexit handlers still run."""
    code = (
        "import atexit, gc, sys\n"
        "atexit.register(lambda: print('frozen at exit:', gc.get_freeze_count() > 0))\n"
        "from autonomous_dev.cli import entry_point\n"
        "sys.argv = ['autonomous-dev', '--version']\n"
        "entry_point()\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert "frozen at exit: True" in result.stdout
