"""Helpers shared by the tests: running the CLI as users do, in a clean environment."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

# Variables a developer's shell may carry that would change what the tool does under test.
LEAKY_PREFIXES = ("GITHUB_", "ANTHROPIC_", "CLAUDE_", "REPO_", "GIT_", "AUTONOMOUS_DEV_")


def clean_env(extra: dict[str, str]) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(LEAKY_PREFIXES)}
    base.pop("DATABASE_URL", None)
    # PYTHONFAULTHANDLER: a crash of the CLI (a signal, not an exception) leaves its thread stacks in stderr
    base.update({"NO_COLOR": "1", "COLUMNS": "200", "PYTHONUNBUFFERED": "1", "PYTHONFAULTHANDLER": "1"})
    base.update(extra)
    return base


def run_cli(
    args: list[str],
    cwd: Path,
    env: dict[str, str],
    timeout: float = 120,
    stdin: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run `python -m autonomous_dev ARGS` the way a user would, capturing everything it prints."""
    return subprocess.run(
        [sys.executable, "-m", "autonomous_dev", *args],
        cwd=cwd,
        env=clean_env(env),
        capture_output=True,
        text=True,
        input=stdin,
        timeout=timeout,
        check=False,
    )


def git(path: Path, *args: str) -> str:
    """Run git in `path` as a test fixture author (not as the tool under test)."""
    return subprocess.run(
        ["git", "-c", "user.name=Seeder", "-c", "user.email=seed@example.invalid", *args],
        cwd=path,
        check=True,
        capture_output=True,
        text=True,
    ).stdout


def commit_all(path: Path) -> Path:
    """Make `path` a repository on `main` with everything in it committed."""
    git(path, "init", "-q", "-b", "main")
    git(path, "add", "--all")
    git(path, "commit", "-qm", "Initial commit")
    return path
