"""Helpers shared by the tests: running the CLI as users do, in a clean environment."""

from __future__ import annotations

import compileall
import os
import subprocess
import sys
from pathlib import Path

from autonomous_dev.core import evaluate

# The fixture repositories' tests run (in the sandbox) on an interpreter that has the suite's own pytest
# plugins installed; loading them (hypothesis's above all) makes every `pytest` of a check cost 2.2 s of CPU
# instead of 0.4 s. So a fixture repository with Python tests declares the plugins it does without, as a
# project would.
PYTEST_INI = "[pytest]\naddopts = " + " ".join(
    f"-p no:{plugin}"
    for plugin in ("hypothesispytest", "xdist", "xdist.looponfail", "anyio", "timeout", "platformdirs")
)
# The files pytest reads its configuration from, as the tool itself looks for them.
PYTEST_CONFIGS = tuple(name for name, _ in evaluate.PYTEST_CONFIGS)

# Variables a developer's shell may carry that would change what the tool does under test.
LEAKY_PREFIXES = ("GITHUB_", "ANTHROPIC_", "CLAUDE_", "REPO_", "GIT_", "AUTONOMOUS_DEV_")


def clean_env(extra: dict[str, str]) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(LEAKY_PREFIXES)}
    base.pop("DATABASE_URL", None)
    # PYTHONFAULTHANDLER: a crash of the CLI (a signal, not an exception) leaves its thread stacks in stderr
    base.update({"NO_COLOR": "1", "COLUMNS": "200", "PYTHONUNBUFFERED": "1", "PYTHONFAULTHANDLER": "1"})
    base.update(extra)
    return base


def compile_package() -> None:
    """Write the package's bytecode once. Where PYTHONDONTWRITEBYTECODE is set (as on some CI machines) and
    the package is installed in editable mode, every CLI start would otherwise compile it again (0.3 s of
    CPU), which a user's installed copy never does."""
    compileall.compile_dir(Path(evaluate.__file__).resolve().parents[1], quiet=1)


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


def with_pytest_ini(files: dict[str, str]) -> dict[str, str]:
    """`files` (path -> text) plus PYTEST_INI when they hold Python tests and no pytest configuration."""
    tests = any(Path(name).name.startswith("test_") and name.endswith(".py") for name in files)
    if not tests or any(name in PYTEST_CONFIGS for name in files):
        return files
    return {**files, "pytest.ini": PYTEST_INI + "\n"}


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
