"""`run` (one cycle) and `start` (cycles until stopped)."""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

from autonomous_dev import logs
from autonomous_dev.config import Settings
from autonomous_dev.errors import ConfigError, ExitStatus
from autonomous_dev.models import Outcome, OutcomeKind

from .app import AppContext, cli
from .build import build_cycle

log = logging.getLogger(__name__)

FLAG_PLACES = {
    "label": ("discovery", "issue_label"),
    "base_branch": ("repo", "base_branch"),
    "workers": ("execution", "parallel_workers"),
    "work_dir": ("execution", "work_dir"),
    "log_level": ("logging", "level"),
    "log_format": ("logging", "format"),
}


def run_options(func: Callable[..., Any]) -> Callable[..., Any]:
    options = [
        click.option("--repo", help="owner/name of the repository (REPO_OWNER, REPO_NAME)."),
        click.option("--label", help="Trigger label (ISSUE_LABEL)."),
        click.option("--base-branch", help="Branch PRs target (REPO_BASE_BRANCH)."),
        click.option("--workers", type=int, help="Issues worked on at once (PARALLEL_WORKERS)."),
        click.option("--work-dir", help="Where mirrors and worktrees live (WORK_DIR)."),
        click.option("--log-level", help="DEBUG, INFO, WARNING or ERROR (LOG_LEVEL)."),
        click.option("--log-format", help="text or json (LOG_FORMAT)."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def flags_from(**values: Any) -> dict[str, dict[str, Any]]:
    """Command-line values, in settings shape; options that were not given are left out."""
    flags: dict[str, dict[str, Any]] = {}
    repo = values.pop("repo", None)
    if repo:
        owner, _, name = repo.partition("/")
        if not owner or not name or "/" in name:
            raise ConfigError(f"--repo {repo!r} is not owner/name", "write it like octocat/hello-world")
        flags["repo"] = {"owner": owner, "name": name}
    for key, value in values.items():
        if value is not None and key in FLAG_PLACES:
            section, field = FLAG_PLACES[key]
            flags.setdefault(section, {})[field] = value
    return flags


def _prepare(
    app: AppContext, options: dict[str, Any], dry_run: bool
) -> tuple[Settings, Callable[[], list[Outcome]]]:
    settings = app.settings(flags_from(**options))
    credentials = app.credentials()
    logs.configure(app.redactor, settings.logging.level, settings.logging.format)
    return settings, build_cycle(settings, credentials, app.redactor, dry_run)


@cli.command()
@run_options
@click.option(
    "--dry-run", is_flag=True, help="Work locally; push nothing, write nothing to GitHub; print diffs."
)
@click.pass_obj
def run(app: AppContext, /, dry_run: bool, **options: Any) -> None:
    """Work through the eligible issues once, then exit."""
    _settings, cycle = _prepare(app, options, dry_run)
    outcomes = cycle()
    _print_outcomes(app.console, outcomes)
    if any(o.kind is OutcomeKind.FAILED for o in outcomes):
        raise SystemExit(ExitStatus.TASK_FAILED)


@cli.command()
@run_options
@click.option("--verbose", is_flag=True, help="Log at DEBUG level.")
@click.pass_obj
def start(app: AppContext, /, verbose: bool, **options: Any) -> None:
    """Run cycles every loopIntervalMs until stopped (SIGINT/SIGTERM)."""
    from autonomous_dev.daemon import serve

    if verbose:
        options["log_level"] = "DEBUG"
    settings, cycle = _prepare(app, options, dry_run=False)
    stop = threading.Event()

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        log.info("received %s: stopping after the current cycle", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    serve(cycle, once=False, interval_s=settings.daemon.loop_interval_ms / 1000, stop=stop)


def _print_outcomes(console: Console, outcomes: list[Outcome]) -> None:
    if not outcomes:
        console.print("Nothing to do: no eligible issues.")
        return
    table = Table("issue", "outcome", "detail", "tokens", title="autonomous-dev run")
    for outcome in outcomes:
        detail = outcome.pr.url if outcome.pr else outcome.detail
        table.add_row(f"#{outcome.issue}", outcome.kind.value, Text(detail), str(outcome.usage.total_tokens))
    console.print(table)
    for outcome in outcomes:
        if outcome.diff:
            console.rule(f"diff for #{outcome.issue}")
            console.print(outcome.diff, markup=False, highlight=False)
