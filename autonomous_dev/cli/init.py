"""`init`: a wizard that writes autonomous-dev.config.json (never a secret) and, if asked, a .env skeleton."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import click

from autonomous_dev.errors import ConfigError

from .app import AppContext, cli

EXAMPLE_FILE = "autonomous-dev.config.example.json"
ENV_SKELETON = """\
# Credentials for autonomous-dev. Keep this file private (mode 600) and out of git.
GITHUB_TOKEN=
ANTHROPIC_API_KEY=
# CLAUDE_ACCESS_TOKEN=
# DATABASE_URL=postgresql://USER@HOST/DB?sslmode=verify-full
# USER_EMAIL=
"""


def _ask(value: Any, text: str, default: Any, assume_defaults: bool, kind: Any = str) -> Any:
    if value is not None:
        return value
    if assume_defaults:
        return default
    return click.prompt(text, default=default, type=kind)


@cli.command()
@click.option("--owner", help="Repository owner.")
@click.option("--name", "repo_name", help="Repository name.")
@click.option("--base-branch", help="Branch PRs target (empty: the repository's default).")
@click.option("--label", help="Trigger label.")
@click.option("--workers", type=click.IntRange(1, 32), help="Issues worked on at once.")
@click.option("--env-skeleton/--no-env-skeleton", default=None, help="Also write a .env skeleton (mode 600).")
@click.option("--example", is_flag=True, help=f"Write {EXAMPLE_FILE} instead of the real config file.")
@click.option("--force", is_flag=True, help="Overwrite an existing config file.")
@click.option(
    "--yes", "-y", "assume_defaults", is_flag=True, help="Take the default for every question not given."
)
@click.pass_obj
def init(
    app: AppContext,
    owner: str | None,
    repo_name: str | None,
    base_branch: str | None,
    label: str | None,
    workers: int | None,
    env_skeleton: bool | None,
    example: bool,
    force: bool,
    assume_defaults: bool,
) -> None:
    """Create autonomous-dev.config.json interactively; every question has a default and a flag."""
    assume = assume_defaults or example
    from autonomous_dev.settings_sections import DEFAULT_CONFIG_FILE

    target = Path.cwd() / (EXAMPLE_FILE if example else DEFAULT_CONFIG_FILE)
    if target.exists() and not force:
        raise ConfigError(f"{target.name} already exists", "pass --force to overwrite it")
    config = {
        "repo": {
            "owner": _ask(owner, "Repository owner", "your-org", assume),
            "name": _ask(repo_name, "Repository name", "your-repo", assume),
            "baseBranch": _ask(base_branch, "Base branch (empty: repository default)", "", assume),
        },
        "discovery": {"issueLabel": _ask(label, "Trigger label", "autonomous-dev", assume)},
        "execution": {"parallelWorkers": _ask(workers, "Parallel workers", 2, assume, click.IntRange(1, 32))},
    }
    text = json.dumps(config, indent=2) + "\n"
    _check(text, target)
    target.write_text(text)
    app.console.print(f"wrote {target.name}")
    if not example and _ask(env_skeleton, "Write a .env skeleton for credentials?", True, assume, bool):
        _write_env_skeleton(app, Path.cwd() / ".env")


def _check(text: str, target: Path) -> None:
    """Validate what we are about to write with the same loader the tool uses."""
    scratch = target.with_name(f".{target.name}.tmp")
    scratch.write_text(text)
    try:
        from autonomous_dev.config import SourcePaths, load_settings

        load_settings(environ={}, paths=SourcePaths(config_file=scratch))
    finally:
        scratch.unlink()


def _write_env_skeleton(app: AppContext, path: Path) -> None:
    if path.exists():
        app.console.print(f"{path.name} exists; left as it is")
        return
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(ENV_SKELETON)
    app.console.print(f"wrote {path.name} (mode 600): fill in GITHUB_TOKEN and ANTHROPIC_API_KEY")
