"""`run` (one cycle) and `start` (cycles until stopped)."""

from __future__ import annotations

import contextlib
import logging
import signal
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import FrameType
from typing import TYPE_CHECKING, Any

import click
from rich.console import Console

from autonomous_dev import loading, logs
from autonomous_dev.errors import ConfigError, ExitStatus, UsageError
from autonomous_dev.models import Outcome
from autonomous_dev.sandbox import procs

from .app import AppContext, cli
from .build import build_cycle, open_state, process_caches
from .webhook import Webhooks, start_webhooks

if TYPE_CHECKING:
    from autonomous_dev.core.control import StopControl
    from autonomous_dev.core.cycle import Cycle
    from autonomous_dev.metrics import Metrics
    from autonomous_dev.settings.model import Settings

    from .progress import Tracker

log = logging.getLogger(__name__)
REPEAT_SIGNAL_S = 1.0
WARM_STOP_LINE = "stopping after the current step (Ctrl-C again to stop now)"

FLAG_PLACES = {
    "label": ("discovery", "issue_label"),
    "base_branch": ("repo", "base_branch"),
    "workers": ("execution", "parallel_workers"),
    "work_dir": ("execution", "work_dir"),
    "log_level": ("logging", "level"),
    "log_format": ("logging", "format"),
    "webhook_port": ("webhook", "port"),
}


def run_options(func: Callable[..., Any]) -> Callable[..., Any]:
    options = [
        click.option("--repo", help="owner/name of the repository (REPO_OWNER, REPO_NAME)."),
        click.option("--label", help="Trigger label (ISSUE_LABEL)."),
        click.option("--base-branch", help="Branch PRs target (REPO_BASE_BRANCH)."),
        # Checked with the settings, like PARALLEL_WORKERS: "abc" and "-1" fail alike (exit 3).
        click.option("--workers", help="Issues worked on at once (PARALLEL_WORKERS)."),
        click.option("--work-dir", help="Where mirrors and worktrees live (WORK_DIR)."),
        click.option("--log-level", help="DEBUG, INFO, WARNING or ERROR (LOG_LEVEL)."),
        click.option("--log-format", help="text or json (LOG_FORMAT)."),
        click.option("--quiet", is_flag=True, help="No live table, only warnings and the summary."),
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


@dataclass(frozen=True)
class Served:
    control: StopControl
    outcomes: list[Outcome]
    tracker: Tracker
    log_format: str


def _serve(
    app: AppContext,
    options: dict[str, Any],
    dry_run: bool,
    once: bool,
    metrics_port: int | None = None,
    only: frozenset[int] | None = None,
    pull: int | None = None,
) -> Served:
    """Build everything from settings and credentials, then run one cycle or cycles until stopped.
    `only`: the issues `run --issue` names, `pull`: the PR `run --pr` names, in the one repository
    configured or picked with --repo."""
    from autonomous_dev.core.control import Interrupted, StopControl
    from autonomous_dev.core.serve import serve
    from autonomous_dev.git.work_dir import fresh_scratch, hold_work_dir
    from autonomous_dev.sandbox.backends import refuse_unsandboxed

    from .progress import Fanout, LiveProgress, OutageRecorder, Tracker

    quiet = bool(options.pop("quiet", False))
    flags = flags_from(**options)
    named = "--issue" if only is not None else "--pr" if pull is not None else None
    if named and "repo" in flags:
        flags["repo"]["repos"] = []  # --repo picks the repository the issue is in from those configured
    if quiet:
        flags.setdefault("logging", {})["level"] = "WARNING"
    settings = app.settings(flags)
    if named and len(settings.repo.all_full_names()) > 1:
        raise UsageError(f"{named} names an issue or PR of one repository, and several are configured",
                         "pick it with --repo owner/name")  # fmt: skip
    learn_patterns = _pattern_learner(app)
    learn_patterns(settings)
    terminal = Console(stderr=True)
    live = terminal.is_terminal and settings.logging.format == "text" and not quiet
    # Logging first, so credential_loaded events reach every handler; the redactor learns each secret
    # as it is loaded, before anything can print it. On a terminal, log lines go above the live table.
    logs.configure(app.redactor, settings.logging.level, settings.logging.format, file=settings.logging.file,
                   console=terminal if live else None)  # fmt: skip
    refuse_unsandboxed(settings.sandbox, daemon=not once)
    credentials = app.credentials()
    control = StopControl()
    work_dir_lock = hold_work_dir(settings.execution.work_dir)  # noqa: F841 - held until the process exits
    # Temporary directories (the checks' HOME, a dry run's store) under WORK_DIR, where a killed process's
    # are found and removed by the next start, not in the system temp dir where they would pile up.
    tempfile.tempdir = str(fresh_scratch(settings.execution.work_dir))
    store = open_state(settings, credentials, dry_run)
    state: dict[str, Any] = {"settings": settings, "credentials": credentials}
    tracker = Tracker(interval_s=settings.daemon.loop_interval_ms / 1000, polls=not once)
    webhook = not once and settings.webhook.port is not None
    metrics = _metrics(settings, metrics_port, webhook)
    observer = Fanout(tracker, metrics, OutageRecorder(store))
    # Across cycles and runs: an idle cycle's polls answer 304. A dry run keeps nothing.
    caches = process_caches(settings, None if dry_run else credentials.github_cache_key())

    def make_cycle() -> Cycle:
        if control.reload:
            state["settings"] = app.settings(flags)
            learn_patterns(state["settings"])  # before anything below can print a newly covered secret
            reloaded = state["settings"].logging
            logs.configure(app.redactor, reloaded.level, reloaded.format, file=reloaded.file,
                           console=terminal if live else None)  # fmt: skip
            state["credentials"] = app.credentials()  # a rotated token is picked up without a restart
        current, creds = state["settings"], state["credentials"]
        cycle = build_cycle(
            current, creds, app.redactor, store, control, dry_run, observer, caches, only, pull
        )
        loading.end()  # everything a cycle needs is loaded (but the SDK, loaded with work)
        return cycle

    install_signal_handlers(control)
    outcomes: list[Outcome] = []
    webhooks: Webhooks | None = None
    try:
        if webhook:  # /healthz and /metrics on the webhook port too, unless they have their own
            webhooks = start_webhooks(
                state, store, control.wake.set, metrics if metrics_port is None else None
            )
        with LiveProgress(tracker, terminal) if live else contextlib.nullcontext():
            outcomes = serve(make_cycle, once, settings.daemon.loop_interval_ms / 1000, control, observer)
    except Interrupted:
        log.warning("stopped: claims in flight released; the next run takes the work up again")
    finally:
        if webhooks is not None:
            webhooks.close(wait=not control.cold)
        procs.kill_all()  # the tests and builds of abandoned tasks must not outlive us
        store.close()
        caches.close()
    return Served(control, outcomes, tracker, settings.logging.format)


def _pattern_learner(app: AppContext) -> Callable[[Settings], None]:
    """Teaches the redactor the `security.redactPatterns` it does not know yet (at start and on SIGHUP).

    A pattern removed from the config keeps redacting until a restart: redacting too much is harmless.
    """
    known: set[tuple[str, str]] = set()

    def learn(settings: Settings) -> None:
        for custom in settings.security.redact_patterns:
            if (custom.name, custom.pattern) not in known:
                known.add((custom.name, custom.pattern))
                app.redactor.add_pattern(custom.name, custom.pattern)

    return learn


def _metrics(settings: Settings, port: int | None, webhook: bool) -> Metrics | None:
    """The metrics, served on `port` when given, else by the webhook port when there is one."""
    if port is None and not webhook:
        return None
    from autonomous_dev.metrics import Metrics

    # Healthy while cycles keep finishing: a cycle may take as long as its slowest task.
    patience = 3 * settings.daemon.loop_interval_ms / 1000 + settings.execution.timeout_minutes * 60
    metrics = Metrics(healthy_within_s=patience)
    if port is not None:
        server = metrics.serve(port)
        log.info("metrics on http://127.0.0.1:%d/metrics, health on /healthz", server.server_port)
    return metrics


def install_signal_handlers(control: StopControl) -> None:
    """SIGINT/SIGTERM: warm stop, then cold; a repeat within 1 s (terminal and supervisor) counts once.

    The cold stop raises `Interrupted` here, in the main thread, so whatever blocks it (a retry sleep, a
    rate-limit wait, a socket read, a git command, joining the workers) ends at once.
    """
    from autonomous_dev.core.control import Interrupted

    last = [0.0]

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        now = time.monotonic()
        if now - last[0] < REPEAT_SIGNAL_S:
            return
        last[0] = now
        log.debug("received %s", signal.Signals(signum).name)
        warm = control.warm_at is None and not control.cold
        control.request_stop()
        if warm:
            log.warning(WARM_STOP_LINE)
            return
        raise Interrupted

    def request_reload(_signum: int, _frame: FrameType | None) -> None:
        log.warning("received SIGHUP: reloading the configuration after this cycle")
        control.reload = True
        control.wake.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGHUP, request_reload)


@cli.command()
@run_options
@click.option(
    "--dry-run", is_flag=True, help="Work locally; push nothing, write nothing to GitHub; print diffs."
)
@click.option(
    "--issue",
    type=click.IntRange(min=1),
    help="Handle only this issue (it still needs the trigger label, applied by a user with write access).",
)
@click.option(
    "--pr",
    "pull",
    type=click.IntRange(min=1),
    help="Handle only this PR of the tool's: its pending review and CI-repair rounds (and landing).",
)
@click.pass_obj
def run(app: AppContext, /, dry_run: bool, issue: int | None, pull: int | None, **options: Any) -> ExitStatus:
    """Work through the eligible issues once (or only --issue N, or only PR --pr N), then exit."""
    if issue and pull:
        raise UsageError("--issue and --pr name different work", "give one of them")
    if pull and dry_run:
        raise UsageError(
            "--pr follows a PR on GitHub, which a dry run does not write to", "leave out --dry-run"
        )
    served = _serve(app, options, dry_run, once=True, only=frozenset({issue}) if issue else None, pull=pull)
    _print_outcomes(app.console, served)
    return _exit_status(served.control, served.outcomes)


@cli.command()
@run_options
@click.option("--verbose", is_flag=True, help="Log at DEBUG level (libraries too with --debug).")
@click.option(
    "--metrics-port", type=click.IntRange(0, 65535), help="Serve /metrics and /healthz on 127.0.0.1."
)
@click.option(
    "--webhook-port",
    type=click.IntRange(0, 65535),
    help="Take GitHub webhook deliveries on this port (WEBHOOK_PORT; needs WEBHOOK_SECRET).",
)
@click.pass_obj
def start(app: AppContext, /, verbose: bool, metrics_port: int | None, **options: Any) -> ExitStatus:
    """Run cycles every loopIntervalMs until stopped (SIGINT/SIGTERM; SIGHUP reloads the config)."""
    if verbose:
        # The tool's own DEBUG lines; the libraries' (every git command, every request) only with --debug.
        logging.getLogger("autonomous_dev").setLevel(logging.DEBUG)
        if app.debug:
            options["log_level"] = "DEBUG"
    served = _serve(app, options, dry_run=False, once=False, metrics_port=metrics_port)
    return ExitStatus.INTERRUPTED if served.control.cold else ExitStatus.OK


def _exit_status(control: StopControl, outcomes: list[Outcome]) -> ExitStatus:
    if control.cold:
        return ExitStatus.INTERRUPTED
    if control.auth_failed:
        return ExitStatus.AUTH
    if not all(o.ok for o in outcomes):
        return ExitStatus.TASK_FAILED
    return ExitStatus.OK


def _print_outcomes(console: Console, served: Served) -> None:
    from .progress import summary_json, summary_table

    outcomes = served.outcomes
    if served.log_format == "json":
        click.echo(summary_json(outcomes, served.tracker))
        return
    if served.control.cold:
        return  # stopped in the middle: there is no summary to give, and "nothing to do" would be false
    if not outcomes:
        stopped = served.control.warm_at is not None
        console.print(
            "Stopped before any issue was worked on." if stopped else "Nothing to do: no eligible issues."
        )
        return
    console.print(summary_table(outcomes, served.tracker))
    for outcome in outcomes:
        if outcome.diff:
            console.rule(f"diff for #{outcome.issue}")
            console.print(outcome.diff, markup=False, highlight=False)
