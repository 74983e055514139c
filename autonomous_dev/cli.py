"""Click commands; the composition root that builds real adapters and maps errors to exit codes."""

from __future__ import annotations

import json
import logging
import signal
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

from . import logs
from .config import (
    LoadedSettings,
    Settings,
    SourcePaths,
    default_config_path,
    load_settings,
    reference_markdown,
    setting_infos,
)
from .errors import AutonomousDevError, ConfigError, CredentialError, ExitStatus
from .models import Outcome, OutcomeKind
from .redact import Redactor

log = logging.getLogger(__name__)


@dataclass
class AppContext:
    """What every command shares; `main` creates it so errors can be redacted on the way out."""

    redactor: Redactor = field(default_factory=Redactor)
    config_path: Path | None = None
    env_file: Path | None = None
    console: Console = field(default_factory=Console)

    def load(self, flags: dict[str, dict[str, Any]] | None = None) -> LoadedSettings:
        config_file = self.config_path or default_config_path(Path.cwd())
        if self.config_path and not self.config_path.is_file():
            raise ConfigError(f"config file {self.config_path} does not exist", "check the --config path")
        env_file = self.env_file or Path.cwd() / ".env"
        return load_settings(flags=flags, paths=SourcePaths(config_file=config_file, env_file=env_file))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="autonomous-dev")
@click.option("--config", "config_path", type=click.Path(path_type=Path), help="JSON config file.")
@click.option(
    "--env-file", type=click.Path(path_type=Path), help="Read variables from this file, not ./.env."
)
@click.option("--debug", is_flag=True, help="Show tracebacks for errors.")
@click.pass_context
def cli(ctx: click.Context, config_path: Path | None, env_file: Path | None, debug: bool) -> None:
    """Turn labelled GitHub issues into tested pull requests with Claude."""
    app = ctx.ensure_object(AppContext)
    app.config_path, app.env_file = config_path, env_file


def _run_options(func: Callable[..., Any]) -> Callable[..., Any]:
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


def _flags(**values: Any) -> dict[str, dict[str, Any]]:
    """Command-line values, in settings shape; options that were not given are left out."""
    flags: dict[str, dict[str, Any]] = {}
    places = {
        "label": ("discovery", "issue_label"),
        "base_branch": ("repo", "base_branch"),
        "workers": ("execution", "parallel_workers"),
        "work_dir": ("execution", "work_dir"),
        "log_level": ("logging", "level"),
        "log_format": ("logging", "format"),
    }
    repo = values.pop("repo", None)
    if repo:
        owner, _, name = repo.partition("/")
        if not owner or not name or "/" in name:
            raise ConfigError(f"--repo {repo!r} is not owner/name", "write it like octocat/hello-world")
        flags["repo"] = {"owner": owner, "name": name}
    for key, value in values.items():
        if value is not None and key in places:
            section, field = places[key]
            flags.setdefault(section, {})[field] = value
    return flags


@cli.command()
@_run_options
@click.option(
    "--dry-run", is_flag=True, help="Work locally, push nothing, write nothing to GitHub; print diffs."
)
@click.pass_obj
def run(app: AppContext, /, dry_run: bool, **options: Any) -> None:
    """Work through the eligible issues once, then exit."""
    settings = app.load(_flags(**options)).settings
    cycle = _build_cycle(app, settings, dry_run)
    outcomes = cycle()
    _print_outcomes(app.console, outcomes)
    if any(o.kind is OutcomeKind.FAILED for o in outcomes):
        raise SystemExit(ExitStatus.TASK_FAILED)


@cli.command()
@_run_options
@click.option("--verbose", is_flag=True, help="Log at DEBUG level.")
@click.pass_obj
def start(app: AppContext, /, verbose: bool, **options: Any) -> None:
    """Run cycles every loopIntervalMs until stopped (SIGINT/SIGTERM)."""
    from .daemon import serve

    if verbose:
        options["log_level"] = "DEBUG"
    settings = app.load(_flags(**options)).settings
    cycle = _build_cycle(app, settings, dry_run=False)
    stop = threading.Event()

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        log.info("received %s: stopping after the current cycle", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    serve(cycle, once=False, interval_s=settings.daemon.loop_interval_ms / 1000, stop=stop)


@cli.command("config")
@click.option("--validate", is_flag=True, help="Check the settings and exit 0 when they are valid.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def config_command(app: AppContext, validate: bool, as_json: bool) -> None:
    """Print the effective settings and where each value came from (secrets masked)."""
    loaded = app.load()
    rows = list(_setting_rows(loaded))
    if validate:
        message = "configuration is valid"
        app.console.print_json(json.dumps({"valid": True})) if as_json else app.console.print(f"✓ {message}")
        return
    if as_json:
        app.console.print_json(
            json.dumps([dict(zip(("key", "env", "value", "source"), r, strict=True)) for r in rows])
        )
        return
    table = Table("setting", "env", "value", "source", title="autonomous-dev settings")
    for row in rows:
        table.add_row(*(Text(cell, overflow="fold") for cell in row))
    app.console.print(table)


@cli.command("help-config")
@click.option("--markdown", is_flag=True, help="Print the reference as Markdown (docs/configuration.md).")
@click.pass_obj
def help_config(app: AppContext, markdown: bool) -> None:
    """Describe every setting: JSON key, environment variable, default."""
    if markdown:
        click.echo(reference_markdown(), nl=False)
        return
    table = Table("JSON key", "env var", "default", "allowed", "description", title="autonomous-dev settings")
    for info in setting_infos():
        default = Text(str(info.default), overflow="fold")
        table.add_row(info.json_key, info.env_var, default, info.allowed, Text(info.description))
    app.console.print(table)


def _setting_rows(loaded: LoadedSettings) -> Any:
    for info in setting_infos():
        value = getattr(getattr(loaded.settings, info.section), info.field)
        source = loaded.sources.get(f"{info.section}.{info.field}", "default")
        if info.secret:
            shown = mask(value.get_secret_value()) if value is not None else "(not set)"
        else:
            shown = str(value) if value != "" else "(empty)"
        yield info.json_key, info.env_var, shown, source


def mask(secret: str) -> str:
    """At most the first 4 characters and the length."""
    return f"{secret[:4]}… ({len(secret)} chars)" if len(secret) >= 12 else f"*** ({len(secret)} chars)"


def _build_cycle(app: AppContext, settings: Settings, dry_run: bool) -> Callable[[], list[Outcome]]:
    """Build the real adapters from settings; imports are local so `--help` stays fast."""
    from .agent import Agent, Budget
    from .claude_api import ClaudeAuth, ClaudeClient
    from .daemon import run_cycle
    from .github_api import GitHubOptions, GitHubRepoClient, connect
    from .pipeline import Pipeline, PipelineOptions
    from .prompts import SYSTEM_PROMPT
    from .workspace import GitIdentity, GitWorkspaces

    if not settings.repo.owner or not settings.repo.name:
        raise ConfigError(
            "no repository configured", "set REPO_OWNER and REPO_NAME, or pass --repo owner/name"
        )
    secrets = settings.secrets
    if secrets.github_token is None:
        raise CredentialError("GITHUB_TOKEN is not set", "export GITHUB_TOKEN or add it to .env")
    if secrets.anthropic_api_key is None and secrets.claude_access_token is None:
        raise CredentialError(
            "ANTHROPIC_API_KEY is not set", "export ANTHROPIC_API_KEY (or CLAUDE_ACCESS_TOKEN)"
        )
    token = secrets.github_token.get_secret_value()
    redactor = app.redactor
    for secret in (secrets.github_token, secrets.anthropic_api_key, secrets.claude_access_token):
        if secret is not None:
            redactor.add_secret(secret.get_secret_value())
    logs.configure(redactor, settings.logging.level, settings.logging.format)
    gh = GitHubOptions(
        settings.github.api_url,
        settings.github.seconds_between_requests,
        settings.github.seconds_between_writes,
    )
    repo = GitHubRepoClient(connect(token, gh), settings.repo.full_name, redactor)
    workspaces = GitWorkspaces(
        settings.execution.work_dir,
        repo.full_name,
        repo.clone_url,
        token,
        GitIdentity(settings.git.author_name, settings.git.author_email),
        redactor,
    )
    claude = ClaudeClient(
        ClaudeAuth(
            api_key=secrets.anthropic_api_key.get_secret_value() if secrets.anthropic_api_key else None,
            access_token=secrets.claude_access_token.get_secret_value()
            if secrets.claude_access_token
            else None,
        ),
        redactor,
        model=settings.claude.model,
        base_url=settings.claude.base_url,
        max_retries=settings.claude.max_retries,
        max_output_tokens=settings.claude.max_output_tokens,
    )
    budget = Budget(
        settings.execution.max_turns,
        settings.execution.max_tokens_per_task,
        settings.execution.timeout_minutes * 60,
    )
    options = PipelineOptions(
        settings.discovery.issue_label,
        settings.discovery.in_progress_label,
        settings.repo.base_branch or repo.default_branch,
        dry_run,
    )
    pipeline = Pipeline(repo, workspaces, Agent(claude, SYSTEM_PROMPT, budget), options)
    workers = settings.execution.parallel_workers
    return lambda: run_cycle(pipeline, workspaces, workers)


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


def main(argv: list[str] | None = None) -> None:
    """Entry point: the single place where exceptions become exit codes."""
    debug = "--debug" in (argv if argv is not None else sys.argv[1:])
    app = AppContext()
    try:
        cli.main(args=argv, prog_name="autonomous-dev", standalone_mode=False, obj=app)
    except click.exceptions.Abort:
        sys.exit(ExitStatus.INTERRUPTED)
    except click.ClickException as exc:
        exc.show()
        sys.exit(ExitStatus.USAGE)
    except AutonomousDevError as exc:
        if debug:
            raise
        message = app.redactor.redact(_one_error(exc))
        Console(stderr=True, soft_wrap=True).print(f"[red]error:[/red] {message}", highlight=False)
        sys.exit(exc.exit_status)
    except KeyboardInterrupt:
        sys.exit(ExitStatus.INTERRUPTED)


def _one_error(exc: AutonomousDevError) -> str:
    from rich.markup import escape

    text = escape(exc.message)
    return f"{text}\n  hint: {escape(exc.hint)}" if exc.hint else text
