"""The click group, the context every command shares, and the one place where exit codes are decided."""

from __future__ import annotations

import gc
import logging
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, NoReturn

import click
from rich.console import Console
from rich.markup import escape

from autonomous_dev import logs
from autonomous_dev.errors import AutonomousDevError, ConfigError, ExitStatus
from autonomous_dev.security.redact import Redactor
from autonomous_dev.settings.credentials import Credentials, env_file_for, load_credentials

if TYPE_CHECKING:  # the settings model pulls in pydantic: loaded when a command needs it, not for --help
    from autonomous_dev.settings.model import LoadedSettings, Settings

log = logging.getLogger(__name__)


@dataclass
class AppContext:
    """What every command shares; `main` creates it so errors can be redacted on the way out."""

    redactor: Redactor = field(default_factory=Redactor)
    config_path: Path | None = None
    env_name: str | None = None
    env_file: Path | None = None
    console: Console = field(default_factory=Console)
    work_dir_lock: IO[str] | None = None  # held while a command uses WORK_DIR
    debug: bool = False  # --debug, before or after the command

    @property
    def selected_env_file(self) -> Path:
        return env_file_for(Path.cwd(), os.environ, self.env_name, self.env_file)

    @property
    def config_file(self) -> Path:
        from autonomous_dev.settings.sections import DEFAULT_CONFIG_FILE

        return self.config_path or Path.cwd() / DEFAULT_CONFIG_FILE

    def load(self, flags: dict[str, dict[str, Any]] | None = None) -> LoadedSettings:
        if self.config_path and not self.config_path.is_file():
            raise ConfigError(f"config file {self.config_path} does not exist", "check the --config path")
        if self.env_file and not self.env_file.is_file():
            raise ConfigError(f"env file {self.env_file} does not exist", "check the --env-file path")
        if self.env_name and not self.env_file and not self.selected_env_file.is_file():
            raise ConfigError(
                f"env file {self.selected_env_file} (--env {self.env_name}) does not exist",
                "check the --env name: it reads .env.NAME in the current directory",
            )
        from autonomous_dev.settings.model import SourcePaths, load_settings

        paths = SourcePaths(config_file=self.config_file, env_file=self.selected_env_file)
        return load_settings(flags=flags, paths=paths)

    def credentials(self, store_may_be_down: bool = False) -> Credentials:
        """Load credentials and teach the redactor every secret before anything can print one."""
        found = load_credentials(os.environ, self.selected_env_file, store_may_be_down)
        for secret in found.secrets():
            self.redactor.add_secret(secret)
        for credential in found.found.values():
            logs.audit(log, "credential_loaded", "%s loaded from %s", credential.name, credential.source,
                       source=credential.source)  # fmt: skip
        return found

    def settings(self, flags: dict[str, dict[str, Any]] | None = None) -> Settings:
        return self.load(flags).settings


def _set_debug(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if value:
        ctx.ensure_object(AppContext).debug = True


DEBUG_HELP = "Show tracebacks for errors (before or after the command)."


class Commands(click.Group):
    """The command group: every command also takes --debug, so `run --debug` works like `--debug run`."""

    def add_command(self, cmd: click.Command, name: str | None = None) -> None:
        cmd.params.append(
            click.Option(["--debug"], is_flag=True, expose_value=False, callback=_set_debug, help=DEBUG_HELP)
        )
        super().add_command(cmd, name)


@click.group(cls=Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="autonomous-dev")
@click.option("--config", "config_path", type=click.Path(path_type=Path), help="JSON config file.")
@click.option("--env", "env_name", help="Read .env.NAME instead of .env (AUTONOMOUS_DEV_ENV).")
@click.option("--env-file", type=click.Path(path_type=Path), help="Read variables from this file.")
@click.option("--debug", is_flag=True, callback=_set_debug, help=DEBUG_HELP)
@click.pass_context
def cli(
    ctx: click.Context, config_path: Path | None, env_name: str | None, env_file: Path | None, debug: bool
) -> None:
    """Turn labelled GitHub issues into tested pull requests with Claude."""
    app = ctx.ensure_object(AppContext)
    app.config_path, app.env_name, app.env_file = config_path, env_name, env_file
    # Until a command configures logging from settings, warnings still go through the redactor.
    logs.configure(app.redactor, "WARNING", "text")


def main(argv: list[str] | None = None) -> NoReturn:
    """Entry point: the one place where a command's result or error becomes the process's exit code."""
    args = sys.argv[1:] if argv is None else argv
    sys.exit(exit_status(args, AppContext()))


def exit_status(args: list[str], app: AppContext) -> int:
    """Run the command: what it returned (an ExitStatus; None is success), or the status its error maps to."""
    try:
        result = cli.main(args=args, prog_name="autonomous-dev", standalone_mode=False, obj=app)
    except click.exceptions.Abort:
        return ExitStatus.INTERRUPTED
    except click.ClickException as exc:
        exc.show()
        return ExitStatus.USAGE
    except AutonomousDevError as exc:
        if "--debug" in args:
            raise
        message = app.redactor.redact(_one_error(exc))
        Console(stderr=True, soft_wrap=True).print(f"[red]error:[/red] {message}", highlight=False)
        return exc.exit_status
    except KeyboardInterrupt:
        return ExitStatus.INTERRUPTED
    return result if isinstance(result, int) else ExitStatus.OK  # click's own exits (--help) give an int


def entry_point() -> None:
    """The program (`autonomous-dev`, `python -m autonomous_dev`): `main`, then a quick exit.

    Freezing the garbage collector's objects first lets the interpreter's shutdown skip its cyclic
    collections over every loaded module (about 0.25 s with the SDKs loaded); everything is still
    flushed and closed, and the process ends right after, so nothing is left uncollected for long.
    """
    try:
        main()
    finally:
        gc.freeze()


def _one_error(exc: AutonomousDevError) -> str:
    text = escape(exc.message)
    return f"{text}\n  hint: {escape(exc.hint)}" if exc.hint else text
