"""What `run` shows: a live table on a terminal, plain lines without one, JSON lines in JSON format."""

from __future__ import annotations

import json
import os
import pty
import re
import select
import subprocess
import sys
import time

from tests.conftest import NAME, OWNER, Stage
from tests.helpers import clean_env, run_cli
from tests.standins.anthropic_server import Script, text_block, text_editor

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def one_issue(stage: Stage, turns: int = 2) -> int:
    number = stage.github.add_issue(OWNER, NAME, "Fix add", "add subtracts", labels=["autonomous-dev"])
    steps = [[text_editor("view", path="calc.py")] for _ in range(turns - 1)]
    edit = text_editor("str_replace", path="calc.py", old_str="return a - b", new_str="return a + b")
    stage.claude.scripts.append(Script([*steps, [edit], [text_block("Fixed add.")]], match="<issue"))
    return number


def run_in_terminal(stage: Stage, *args: str, timeout: float = 120) -> str:
    """Run the CLI with stdin, stdout and stderr on a pseudo-terminal; everything it drew, as text."""
    controller, terminal = pty.openpty()
    env = clean_env(stage.env(COLUMNS="160", LINES="40", TERM="xterm-256color"))
    env.pop("NO_COLOR")
    process = subprocess.Popen(
        [sys.executable, "-m", "autonomous_dev", *args],
        cwd=stage.cwd, env=env, stdin=terminal, stdout=terminal, stderr=terminal, close_fds=True,
    )  # fmt: skip
    os.close(terminal)
    chunks, deadline = [], time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([controller], [], [], 0.2)
        if ready:
            try:
                data = os.read(controller, 65536)
            except OSError:  # the terminal closed: the process is gone
                break
            if not data:
                break
            chunks.append(data)
        elif process.poll() is not None:
            break
    process.wait(timeout=10)
    os.close(controller)
    assert process.returncode == 0, b"".join(chunks).decode(errors="replace")[-3000:]
    return ANSI.sub("", b"".join(chunks).decode(errors="replace"))


def test_a_terminal_shows_the_live_table_then_the_summary(stage: Stage) -> None:
    number = one_issue(stage, turns=3)
    stage.claude.latency_s = 0.4  # a few refreshes of the live table while the model "thinks"
    screen = run_in_terminal(stage, "run")
    assert f"{OWNER}/{NAME}#{number}" in screen
    assert "agent turn" in screen and "working" in screen  # a worker row mid-task, and the footer
    assert "autonomous-dev run" in screen and "pr_opened" in screen  # the summary table
    assert "duration" in screen and "cost" in screen


def test_without_a_terminal_output_is_plain_lines(stage: Stage) -> None:
    one_issue(stage)
    result = run_cli(["run"], cwd=stage.cwd, env=stage.env(LOG_LEVEL="INFO"))
    assert result.returncode == 0, result.stderr[-3000:]
    assert not ANSI.search(result.stdout + result.stderr)
    assert "agent turn" not in result.stderr  # no live table
    log_lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert all(re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", line) for line in log_lines)
    assert "pr_opened" in result.stdout


def test_json_log_format_makes_every_line_json(stage: Stage) -> None:
    one_issue(stage)
    result = run_cli(["run", "--log-format", "json"], cwd=stage.cwd, env=stage.env(LOG_LEVEL="INFO"))
    assert result.returncode == 0, result.stderr[-3000:]
    lines = [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]
    assert lines and all(isinstance(json.loads(line), dict) for line in lines)
    [summary] = [json.loads(line) for line in result.stdout.splitlines()]
    assert summary["event"] == "run_summary" and summary["outcomes"][0]["outcome"] == "pr_opened"
    assert summary["outcomes"][0]["seconds"] > 0 and summary["outcomes"][0]["pr"]


def test_quiet_prints_only_warnings_and_the_summary(stage: Stage) -> None:
    one_issue(stage)
    result = run_cli(["run", "--quiet"], cwd=stage.cwd, env=stage.env(LOG_LEVEL="DEBUG"))
    assert result.returncode == 0, result.stderr[-3000:]
    assert " INFO " not in result.stderr and " DEBUG " not in result.stderr
    assert "pr_opened" in result.stdout


def test_the_live_view_shows_an_outage_and_when_it_is_tried_again() -> None:
    from datetime import UTC, datetime, timedelta

    from rich.console import Console

    from autonomous_dev.cli.progress import Tracker, live_view
    from autonomous_dev.errors import InfrastructureError

    tracker = Tracker(interval_s=60)
    retry_at = datetime.now(UTC) + timedelta(minutes=2)
    tracker.outage(InfrastructureError("Anthropic", "cannot reach the Claude API"), retry_at)
    console = Console(record=True, width=160)
    console.print(live_view(tracker))
    assert f"Claude unreachable, retrying at {retry_at.astimezone():%H:%M:%S}" in console.export_text()
    tracker.outage(None, None)
    console.print(live_view(tracker))
    assert "unreachable" not in console.export_text()
