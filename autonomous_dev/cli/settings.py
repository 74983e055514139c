"""`config` (effective settings and credential sources), `config --validate`, and `help-config`."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import click
from rich.text import Text

from autonomous_dev.errors import CredentialError, ExitStatus
from autonomous_dev.settings.app_credentials import GITHUB_APP_PRIVATE_KEY, GITHUB_APP_PRIVATE_KEY_FILE
from autonomous_dev.settings.credentials import (
    CREDENTIAL_VARS,
    DATABASE_URL,
    SECRET_VARS,
    USER_EMAIL,
    Credentials,
)
from autonomous_dev.settings.validate import (
    Check,
    Status,
    env_file_checks,
    exit_code,
    failed,
    gitignore_check,
    mask,
    webhook_checks,
)

from .app import AppContext, cli

if TYPE_CHECKING:
    from autonomous_dev.settings.model import LoadedSettings, SettingInfo, Settings

STATUS_MARKS = {
    Status.OK: "[green]✓[/]",
    Status.WARN: "[yellow]⚠[/]",
    Status.FAIL: "[red]✗[/]",
    Status.SKIP: "-",
}


@cli.command("config")
@click.option(
    "--validate", is_flag=True, help="Check settings, files and credentials (live unless --offline)."
)
@click.option(
    "--offline", is_flag=True, help="With --validate: skip the checks that call GitHub, Claude, Postgres."
)
@click.option("--strict", is_flag=True, help="With --validate: warnings fail too (exit 1).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def config_command(
    app: AppContext, validate: bool, offline: bool, strict: bool, as_json: bool
) -> ExitStatus | None:
    """Print the effective settings and where each value came from (secrets masked)."""
    loaded = app.load()
    credentials = app.credentials(store_may_be_down=validate)
    if validate:
        return _validate(app, loaded.settings, credentials, offline, strict, as_json)
    rows = [*_setting_rows(loaded), *_credential_rows(credentials)]
    if as_json:
        keys = ("key", "env", "value", "source")
        click.echo(json.dumps([dict(zip(keys, row, strict=True)) for row in rows], indent=2))
        return None
    from rich.table import Table

    table = Table("setting", "env", "value", "source", title="autonomous-dev settings")
    for row in rows:
        table.add_row(*(Text(cell, overflow="fold") for cell in row))
    app.console.print(table)
    return None


@cli.command("help-config")
@click.option("--markdown", is_flag=True, help="Print the reference as Markdown (docs/configuration.md).")
@click.pass_obj
def help_config(app: AppContext, markdown: bool) -> None:
    """Describe every setting: JSON key, environment variable, default, allowed values."""
    if markdown:
        from autonomous_dev.settings.model import reference_markdown

        click.echo(reference_markdown(), nl=False)
        return
    from autonomous_dev.settings.model import setting_infos

    if not app.console.is_terminal:  # a pipe or a file: a plain list reads better than a wrapped table
        click.echo("\n".join(_plain_setting(info) for info in setting_infos()), nl=False)
        return
    from rich.table import Table

    table = Table("JSON key", "env var", "default", "allowed", "description", title="autonomous-dev settings")
    for info in setting_infos():
        default = Text(str(info.default), overflow="fold")
        table.add_row(info.json_key, info.env_var, default, info.allowed, Text(info.description))
    app.console.print(table)


def _plain_setting(info: SettingInfo) -> str:
    env = f" (env {info.env_var})" if info.env_var else ""
    facts = [f"default: {info.default if info.default not in (None, '') else '(empty)'}"]
    facts += [f"allowed: {info.allowed}"] if info.allowed else []
    return f"{info.json_key}{env}\n  {'; '.join(facts)}\n  {info.description}\n"


def _setting_rows(loaded: LoadedSettings) -> Iterator[tuple[str, str, str, str]]:
    from autonomous_dev.settings.model import setting_infos

    for info in setting_infos():
        value = getattr(getattr(loaded.settings, info.section), info.field)
        source = loaded.sources.get(f"{info.section}.{info.field}", "default")
        yield info.json_key, info.env_var, str(value) if value != "" else "(empty)", source


def _credential_rows(credentials: Credentials) -> Iterator[tuple[str, str, str, str]]:
    for name in CREDENTIAL_VARS:
        value = credentials.get(name)
        yield f"credential {name}", name, _shown(name, value), credentials.source(name)


def _shown(name: str, value: str | None) -> str:
    if value is None:
        return "(not set)"
    if name == DATABASE_URL:
        parts = urlsplit(value)
        user = f"{parts.username}@" if parts.username else ""
        return f"{parts.scheme}://{user}{parts.hostname or ''}{parts.path} (password masked)"
    return mask(value) if name in SECRET_VARS else value


def _validate(
    app: AppContext, settings: Settings, credentials: Credentials, offline: bool, strict: bool, as_json: bool
) -> ExitStatus:
    from .checks import live_checks

    checks = [Check("settings", Status.OK, "valid; no credentials in the config file")]
    checks += env_file_checks(_env_files(app) + _key_files(credentials))
    checks.append(gitignore_check(Path.cwd()))
    checks += _sandbox(settings, offline)
    checks += [
        Check(f"source of {name}", Status.OK, credentials.source(name)) for name in _present(credentials)
    ]
    if credentials.store_error is not None:  # the other checks go on with what env and .env gave
        checks.append(failed("Postgres", credentials.store_error))
    checks += _missing(credentials)
    checks += webhook_checks(_webhook_url(settings), credentials.webhook_secrets)
    if not offline:
        checks += live_checks(settings, credentials, app.redactor)
    _print_checks(app, checks, as_json)
    return exit_code(checks, strict)


def _webhook_url(settings: Settings) -> str | None:
    """Where `start` would take deliveries; None when webhook.port is not set."""
    webhook = settings.webhook
    if webhook.port is None:
        return None
    host = f"[{webhook.host}]" if ":" in webhook.host else webhook.host
    return f"http://{host}:{webhook.port}{webhook.path}"


def _sandbox(settings: Settings, offline: bool) -> list[Check]:
    from autonomous_dev.sandbox.check import sandbox_checks, setup_checks

    work_dir, repos = settings.execution.work_dir, settings.repo.all_full_names()
    return sandbox_checks(settings.sandbox, work_dir, offline) + setup_checks(
        repos, work_dir, settings.evaluation, settings.sandbox, offline
    )


def _env_files(app: AppContext) -> list[Path]:
    cwd = Path.cwd()
    return sorted({app.selected_env_file, *cwd.glob(".env"), *cwd.glob(".env.*")} - {cwd / ".env.example"})


def _key_files(credentials: Credentials) -> list[Path]:
    """The GitHub App's key file, which only its owner may read, like a .env file."""
    key_file = credentials.get(GITHUB_APP_PRIVATE_KEY_FILE)
    return [Path(key_file).expanduser()] if key_file and not credentials.get(GITHUB_APP_PRIVATE_KEY) else []


def _present(credentials: Credentials) -> list[str]:
    return [name for name in CREDENTIAL_VARS if credentials.get(name) and name != USER_EMAIL]


def _missing(credentials: Credentials) -> list[Check]:
    missing = []
    for check in (credentials.require_github, credentials.require_claude):
        try:
            check()
        except CredentialError as exc:
            missing.append(Check(exc.message.split()[0], Status.FAIL, "not set", exc.hint, exc.exit_status))
    return missing


def _print_checks(app: AppContext, checks: list[Check], as_json: bool) -> None:
    if as_json:
        click.echo(app.redactor.redact(json.dumps([asdict(c) for c in checks], indent=2)))
        return
    from rich.table import Table

    table = Table("check", "", "detail", "what to do", title="autonomous-dev config --validate")
    for check in checks:
        detail, fix = app.redactor.redact(check.detail), app.redactor.redact(check.fix)
        table.add_row(check.name, STATUS_MARKS[check.status], Text(detail), Text(fix))
    app.console.print(table)
