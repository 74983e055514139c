"""`discover` (issues from a reading of the code) and `report` (an error report becomes an issue)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich.text import Text

from autonomous_dev import logs
from autonomous_dev.errors import ConfigError

from .app import AppContext, cli
from .build import (
    claude_client,
    connect_repo,
    make_agent,
    make_discovery,
    open_state,
    process_caches,
)
from .github_auth import github_auth
from .run import flags_from

if TYPE_CHECKING:
    from autonomous_dev.git.workspace import GitWorkspaces
    from autonomous_dev.github.client import GitHubRepoClient
    from autonomous_dev.intake.discover import Filed
    from autonomous_dev.intake.report import ReportResult
    from autonomous_dev.settings.credentials import Credentials
    from autonomous_dev.settings.model import Settings


def _prepare(
    app: AppContext, repo_flag: str | None, count: int | None = None
) -> tuple[Settings, Credentials, str]:
    """Settings, logging and credentials for a one-repository command; the repository it works on."""
    flags = flags_from(repo=repo_flag)
    if count is not None:
        flags["discovery"] = {"tasks_per_cycle": count}
    settings = app.settings(flags)
    for custom in settings.security.redact_patterns:
        app.redactor.add_pattern(custom.name, custom.pattern)
    logs.configure(app.redactor, settings.logging.level, settings.logging.format, file=settings.logging.file)
    credentials = app.credentials()
    names = settings.repo.all_full_names()
    if len(names) != 1:
        found = ", ".join(names) or "none"
        raise ConfigError(
            f"this command works on one repository; configured: {found}", "pass --repo owner/name"
        )
    return settings, credentials, names[0]


def _connect(
    app: AppContext, settings: Settings, credentials: Credentials, name: str
) -> tuple[GitHubRepoClient, GitWorkspaces]:
    from autonomous_dev.git.work_dir import hold_work_dir

    auth = github_auth(settings, credentials, app.redactor)
    app.work_dir_lock = hold_work_dir(settings.execution.work_dir)
    return connect_repo(settings, name, auth(name), app.redactor)


@cli.command()
@click.option("--repo", help="owner/name of the repository (REPO_OWNER, REPO_NAME).")
@click.option("--count", type=click.IntRange(1, 50), help="Most issues to file (discovery.tasksPerCycle).")
@click.option(
    "--create-issues", is_flag=True, help="File the new tasks as issues (otherwise only list them)."
)
@click.option("--dry-run", is_flag=True, help="Analyse and list; file nothing and remember nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
@click.pass_obj
def discover(
    app: AppContext, repo: str | None, count: int | None, create_issues: bool, dry_run: bool, as_json: bool
) -> None:
    """Let Claude read the code (read-only) and propose tasks; file the new ones as labelled issues."""
    from autonomous_dev.intake.discover import summary_rows

    settings, credentials, name = _prepare(app, repo, count)
    github_repo, workspaces = _connect(app, settings, credentials, name)
    claude = claude_client(settings, credentials, app.redactor)
    store = open_state(settings, credentials, dry_run)
    caches = process_caches(settings)
    try:
        parts = (github_repo, workspaces, claude, store, app.redactor)
        discovery = make_discovery(settings, *parts, caches.symbols)
        analysis = discovery.analyse(remember=not dry_run)
        filed = discovery.file(analysis, dry_run=dry_run or not create_issues)
    finally:
        store.close()
        caches.close()
    if as_json:
        click.echo(json.dumps({"sha": analysis.sha, "cached": analysis.cached, "tasks": summary_rows(filed)}))
        return
    _print_filed(app, filed, analysis.cached, filing=create_issues and not dry_run)


def _print_filed(app: AppContext, filed: list[Filed], cached: bool, filing: bool) -> None:
    if cached:
        app.console.print("This commit was analysed before: no model call, the earlier answer is used.")
    from rich.table import Table

    table = Table("priority", "type", "title", "paths", "issue", title="discovered tasks")
    for item in filed:
        where = (
            item.issue.url
            if item.issue
            else (f"skipped: {item.duplicate_reason}" if item.duplicate_reason else "-")
        )
        table.add_row(item.task.priority, item.task.category, Text(item.task.title),
                      Text(", ".join(item.task.affected_paths)), Text(where))  # fmt: skip
    app.console.print(table)
    if not filing:
        app.console.print("Nothing filed: pass --create-issues to open these as issues.")


@cli.command()
@click.argument("source", required=False, default="-", type=click.Path(allow_dash=True, path_type=Path))
@click.option("--repo", help="owner/name of the repository (REPO_OWNER, REPO_NAME).")
@click.option("--autofix", is_flag=True, help="Also add the trigger label, so the tool works on the issue.")
@click.option("--dry-run", is_flag=True, help="Analyse and show the issue; create or comment nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
@click.pass_obj
def report(
    app: AppContext, source: Path, repo: str | None, autofix: bool, dry_run: bool, as_json: bool
) -> None:
    """Turn an error report (FILE, or - for stdin) into an issue, or a comment on the issue it repeats."""
    from autonomous_dev.core.prompts import REPORT_SYSTEM_PROMPT
    from autonomous_dev.intake.report import Intake

    text = _read_report(source)
    settings, credentials, name = _prepare(app, repo)
    github_repo, workspaces = _connect(app, settings, credentials, name)
    claude = claude_client(settings, credentials, app.redactor)
    base_branch = settings.repo.base_branch or github_repo.default_branch
    labels = [settings.report.label, *([settings.discovery.issue_label] if autofix else [])]
    agent = make_agent(settings, claude, REPORT_SYSTEM_PROMPT)
    intake = Intake(github_repo, workspaces, agent, app.redactor, base_branch, labels)
    result = intake.report(text, dry_run=dry_run)
    _print_report(app, result, as_json)


def _read_report(source: Path) -> str:
    if str(source) == "-":
        return sys.stdin.read()
    try:
        return source.read_text(errors="replace")
    except OSError as exc:
        raise ConfigError(
            f"cannot read {source}: {exc.strerror}", "give a readable file, or - for stdin"
        ) from None


def _print_report(app: AppContext, result: ReportResult, as_json: bool) -> None:
    issue = result.issue
    doc: dict[str, Any] = {
        "action": result.action,
        "signature": result.signature,
        "language": result.error.language,
        "error": f"{result.error.error_type}: {result.error.message}",
        "issue": issue.url or None if issue else None,
    }
    if as_json:
        click.echo(json.dumps(doc))
        return
    said = {
        "created": f"Opened {issue.url if issue else ''}",
        "commented": f"Same error as {issue.url if issue else ''}: added this occurrence",
        "known": f"Already reported in {issue.url if issue else ''}: nothing to add",
        "dry-run": "Dry run: nothing created or commented",
    }[result.action]
    app.console.print(Text(f"{said} ({doc['language']} {doc['error']}, signature {result.signature})"))
    if result.action == "dry-run" and issue is not None and not issue.url:
        app.console.print(Text(issue.body))
