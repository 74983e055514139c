"""`init`: a wizard that writes autonomous-dev.config.json (never a secret) and, if asked, a .env skeleton."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import click

from autonomous_dev.errors import ConfigError

from .app import AppContext, cli

EXAMPLE_FILE = "autonomous-dev.config.example.json"
ENV_SKELETON = """\
# Credentials for autonomous-dev. Keep this file private (mode 600) and out of git.
GITHUB_TOKEN=
# or a GitHub App instead of GITHUB_TOKEN: GITHUB_APP_ID= and GITHUB_APP_PRIVATE_KEY_FILE=
ANTHROPIC_API_KEY=
# CLAUDE_ACCESS_TOKEN=
# DATABASE_URL=postgresql://USER@HOST/DB?sslmode=verify-full
# USER_EMAIL=
"""


PLACEHOLDER_REPO = ("your-org", "your-repo")  # only in the example file
REMOTE_REPO = re.compile(r"[:/]([^/:]+)/([^/]+?)(?:\.git)?/?$")


def _ask(value: Any, text: str, default: Any, assume_defaults: bool, kind: Any = str) -> Any:
    if value is not None:
        return value
    if assume_defaults:
        return default
    if kind is bool:
        return click.confirm(text, default=default)  # shows [Y/n]
    return click.prompt(text, default=default, type=kind)


def _remote_repo(cwd: Path) -> tuple[str, str] | None:
    """owner and name from the `origin` remote of the git checkout in `cwd`, if there is one."""
    found = subprocess.run(
        ["git", "remote", "get-url", "origin"], cwd=cwd, capture_output=True, text=True, check=False
    )
    match = REMOTE_REPO.search(found.stdout.strip()) if found.returncode == 0 else None
    return (match.group(1), match.group(2)) if match else None


def _repository(
    repo: str | None, owner: str | None, name: str | None, example: bool, assume: bool
) -> tuple[Any, Any]:
    """owner and name: from the flags, else the git remote; a placeholder only in the example file."""
    if repo:
        owner, _, name = repo.partition("/")
        if not owner or not name or "/" in name:
            raise ConfigError(f"--repo {repo!r} is not owner/name", "write it like octocat/hello-world")
    inferred = PLACEHOLDER_REPO if example else _remote_repo(Path.cwd())
    if assume and not (owner and name) and inferred is None:
        raise ConfigError(
            "init --yes needs the repository: there is no git remote to take it from",
            "pass --repo owner/name, or run init in a clone whose origin is the repository",
        )
    default_owner, default_name = inferred or (None, None)
    return (
        _ask(owner, "Repository owner", default_owner, assume),
        _ask(name, "Repository name", default_name, assume),
    )


@cli.command()
@click.option("--repo", help="owner/name of the repository (else taken from the git remote).")
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
    repo: str | None,
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
    from autonomous_dev.settings.sections import DEFAULT_CONFIG_FILE, DiscoverySettings, ExecutionSettings

    target = Path.cwd() / (EXAMPLE_FILE if example else DEFAULT_CONFIG_FILE)
    if target.exists() and not force:
        raise ConfigError(f"{target.name} already exists", "pass --force to overwrite it")
    owner, repo_name = _repository(repo, owner, repo_name, example, assume)
    base_branch = _ask(base_branch, "Base branch (empty: repository default)", "", assume)
    label = _ask(label, "Trigger label", DiscoverySettings.model_validate({}).issue_label, assume)
    default_workers = ExecutionSettings.model_validate({}).parallel_workers
    workers = _ask(workers, "Parallel workers", default_workers, assume, click.IntRange(1, 32))
    config = {
        "repo": {"owner": owner, "name": repo_name, "baseBranch": base_branch},
        "discovery": {"issueLabel": label},
        "execution": {"parallelWorkers": workers},
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
        from autonomous_dev.settings.model import SourcePaths, load_settings

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
