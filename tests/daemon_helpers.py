"""Shared set-up for the daemon tests: seeded issues, scripted fixes, store backends, process control."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from tests.conftest import NAME, OWNER, Stage
from tests.helpers import clean_env, run_cli
from tests.standins.anthropic_server import Script, text_block, text_editor


def seed_issues(stage: Stage, count: int, labeled_by: str | None = None) -> list[int]:
    """`count` labelled issues, each asking for its own new file, each with a script that writes it."""
    numbers = []
    for index in range(count):
        number = stage.github.add_issue(
            OWNER,
            NAME,
            f"Add note {index}",
            f"Create notes/{index}.txt",
            labels=["autonomous-dev"],
            labeled_by=labeled_by,
        )
        numbers.append(number)
        stage.claude.scripts.append(
            Script(
                [
                    [text_editor("create", path=f"notes/{index}.txt", file_text=f"note {index}\n")],
                    [text_block(f"Added notes/{index}.txt.")],
                ],
                match=f'<issue number="{number}">',
            )
        )
    return numbers


def sessions_per_issue(stage: Stage) -> dict[int, int]:
    """How many agent sessions (first turns) the Claude stand-in saw for each issue."""
    counts: dict[int, int] = {}
    for body in stage.claude.message_requests():
        if len(body["messages"]) == 1:
            text = json.dumps(body["messages"][0])
            number = int(text.split('<issue number=\\"', 1)[1].split("\\", 1)[0])
            counts[number] = counts.get(number, 0) + 1
    return counts


def tool_comments(stage: Stage, number: int) -> list[str]:
    return [
        c["body"] for c in stage.github.comments(OWNER, NAME, number) if "<!-- autonomous-dev:" in c["body"]
    ]


def status_json(stage: Stage, env: dict[str, str]) -> dict[int, dict[str, Any]]:
    result = run_cli(["status", "--json"], cwd=stage.cwd, env=env)
    assert result.returncode == 0, result.stderr
    return {task["issue"]: task for task in json.loads(result.stdout)["tasks"]}


def start_cli(args: list[str], cwd: Path, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """Start the CLI in the background, its output in `log`."""
    with open(log, "wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "autonomous_dev", *args],
            cwd=cwd,
            env=clean_env(env),
            stdout=out,
            stderr=out,
        )


def wait_for(condition: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def stop(process: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
    if process.poll() is None:
        os.kill(process.pid, sig)
