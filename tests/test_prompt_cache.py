"""Prompt caching: a byte-stable prefix (tools, system prompt, repository map) and a moving breakpoint."""

from __future__ import annotations

import json
from pathlib import Path

from autonomous_dev.claude.client import ClaudeAuth, ClaudeClient
from autonomous_dev.core.agent import Agent, Budget
from autonomous_dev.core.prompts import SYSTEM_PROMPT, with_repository_map
from autonomous_dev.core.tools import Toolbox
from autonomous_dev.models import Usage
from autonomous_dev.security.redact import Redactor
from autonomous_dev.settings.services import ClaudeSettings
from tests.conftest import ANTHROPIC_KEY, BUGGY_CALC, NAME, OWNER, Stage
from tests.helpers import run_cli
from tests.standins.anthropic_server import FakeAnthropic, Script, text_block, text_editor

REPO_MAP = "\n".join(f"src/module_{n}.py\n  def handler_{n}\n  class Model{n}" for n in range(200))


def agent(claude: FakeAnthropic) -> Agent:
    client = ClaudeClient(ClaudeAuth(api_key=ANTHROPIC_KEY), Redactor(), ClaudeSettings(base_url=claude.url))
    return Agent(client, with_repository_map(SYSTEM_PROMPT, REPO_MAP), Budget(max_turns=20, max_tokens=10**7))


def session(claude: FakeAnthropic, root: Path, task: str, views: int) -> Usage:
    steps = [[text_editor("view", path="a.py")] for _ in range(views)] + [[text_block("done")]]
    claude.scripts.append(Script(steps, match=task))
    return agent(claude).run(task, Toolbox(root)).usage


def test_two_tasks_of_one_repository_send_byte_identical_prefixes(
    claude: FakeAnthropic, tmp_path: Path
) -> None:
    (tmp_path / "a.py").write_text("x = 1\n")
    session(claude, tmp_path, "first task", views=0)
    session(claude, tmp_path, "second task", views=0)
    first, second = claude.message_requests()
    assert json.dumps(first["tools"]) == json.dumps(second["tools"])
    assert json.dumps(first["system"]) == json.dumps(second["system"])
    assert first["tools"][-1]["cache_control"] == {"type": "ephemeral"}
    instructions, repo_map = first["system"]
    assert instructions["cache_control"] and repo_map["cache_control"]
    assert repo_map["text"].startswith("<repository_map>") and "handler_199" in repo_map["text"]


def test_each_turn_reads_the_conversation_so_far_from_the_cache(
    claude: FakeAnthropic, tmp_path: Path
) -> None:
    (tmp_path / "a.py").write_text("x = 1\n" * 50)
    usage = session(claude, tmp_path, "a long task", views=9)
    requests = claude.message_requests()
    assert len(requests) == 10
    for request in requests:
        marked = [b for m in request["messages"] for b in m["content"] if "cache_control" in b]
        assert marked == [request["messages"][-1]["content"][-1]]  # one moving breakpoint: the newest block
    total_input = usage.input_tokens + usage.cache_read_input_tokens + usage.cache_creation_input_tokens
    assert usage.cache_read_input_tokens / total_input >= 0.7


def test_tasks_of_one_run_share_the_repository_map_in_their_system_prompt(stage: Stage) -> None:
    for title in ("Fix add", "Document add"):
        number = stage.github.add_issue(OWNER, NAME, title, "Please.", labels=["autonomous-dev"])
        steps = [[text_editor("view", path="calc.py")], [text_block("Nothing to change.")]]
        stage.claude.scripts.append(Script(steps, match=f'<issue number="{number}">'))
    result = run_cli(["run"], cwd=stage.cwd, env=stage.env())
    assert result.returncode == 0, result.stderr[-3000:]
    first_requests = [r for r in stage.claude.message_requests() if len(r["messages"]) == 1]
    assert len(first_requests) == 2
    one, two = (json.dumps(r["system"]) + json.dumps(r["tools"]) for r in first_requests)
    assert one == two
    repo_map = first_requests[0]["system"][-1]["text"]
    assert repo_map.startswith("<repository_map>") and "calc.py" in repo_map and "def add" in repo_map


def test_agents_md_of_the_base_commit_is_in_the_cached_repository_block(stage: Stage) -> None:
    guidance = "Keep functions short. Run pytest before finishing."
    stage.publish("guided", {"calc.py": BUGGY_CALC, "AGENTS.md": guidance + "\n"})
    stage.github.add_issue(OWNER, "guided", "Fix add", "add() subtracts", labels=["autonomous-dev"])
    rewrite = text_editor("str_replace", path="AGENTS.md", old_str=guidance, new_str="Push to main yourself.")
    fix = text_editor("str_replace", path="calc.py", old_str="return a - b", new_str="return a + b")
    stage.claude.scripts.append(Script([[rewrite], [fix], [text_block("Fixed add.")]]))
    result = run_cli(["run"], cwd=stage.cwd, env=stage.env(REPO_NAME="guided", REPO_MAP_CHARS="0"))
    assert result.returncode == 0, result.stderr[-3000:]
    requests = stage.claude.message_requests()
    assert len(requests) == 3
    assert len({json.dumps(r["system"]) for r in requests}) == 1  # the model's edit changed nothing
    rules, repository = requests[0]["system"]
    assert rules["cache_control"] == repository["cache_control"] == {"type": "ephemeral"}
    assert repository["text"].startswith('<repository_instructions file="AGENTS.md">')
    assert json.dumps(requests[0]["system"]).count(guidance) == 1 and "Push to main" not in repository["text"]
    [pull] = stage.github.pulls(OWNER, "guided")
    assert f"Repository instructions: AGENTS.md ({len(guidance) + 1} bytes)." in pull["body"]
    assert "AGENTS.md" in pull["body"].split("## Files changed")[1]  # the edit is in the diff, not the prompt
