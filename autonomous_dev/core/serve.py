"""`serve`: cycles until a stop (the daemon), or until a run's tasks have gone as far as they go."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from autonomous_dev.core import outages
from autonomous_dev.core.control import StopControl
from autonomous_dev.core.cycle import Cycle
from autonomous_dev.core.observe import CycleObserver
from autonomous_dev.errors import InfrastructureError
from autonomous_dev.models import Outcome

log = logging.getLogger(__name__)


def serve(
    make_cycle: Callable[[], Cycle],
    once: bool,
    interval_s: float,
    control: StopControl,
    observer: CycleObserver | None = None,
) -> list[Outcome]:
    """Run cycles until a stop is requested; a stop or reload request ends the wait at once.

    `once` (the `run` command) goes on only while PRs it follows have a step due within their checks'
    time (auto-merge), waiting for the next one, so one run takes its issues as far as they go.
    After an authentication failure the daemon stays up but claims nothing until a reload (SIGHUP).
    An outage never ends the daemon: it logs one line per cycle and backs off (30 s doubling to 10 min,
    or what the service asked for); a single run raises it for the CLI to report.
    """
    cycle: Cycle | None = None
    latest: dict[int, Outcome] = {}
    failures = 0
    while control.warm_at is None and not control.cold:
        try:
            cycle = cycle or make_cycle()
            if not once:
                latest = {}  # a daemon reports its last cycle; a run, each task's latest step
            if not control.auth_failed:
                latest.update((outcome.issue, outcome) for outcome in cycle.run())
            outage = cycle.outage
        except InfrastructureError as exc:  # building the cycle or scanning met it, before any claim
            outage = exc
        failures = failures + 1 if outage is not None else 0
        wait = interval_s if outage is None or once else outages.wait_s(outage, failures, interval_s)
        _report_outage(outage, None if once else wait, observer)
        if outage is not None and once:
            _settle(cycle)
            raise outage
        if once:
            due = cycle.next_step_in() if cycle is not None and not control.auth_failed else None
            if due is None:
                break
            wait = due
        control.wake.wait(wait)
        control.wake.clear()
        if control.reload:
            log.info("reloading the configuration")
            _settle(cycle)  # the new cycle vacates the worktrees where the old one's baselines still run
            cycle = make_cycle()  # reads control.reload to know it must reread the settings
            control.reload, control.auth_failed = False, False
    _settle(cycle)
    return list(latest.values())


def _settle(cycle: Cycle | None) -> None:
    """Wait for background work no task waits for any more (baseline runs) before the process ends."""
    for work in cycle.repos.values() if cycle is not None else ():
        work.attempt.context.settle()


def _report_outage(
    error: InfrastructureError | None, wait: float | None, observer: CycleObserver | None
) -> None:
    """One line per cycle that met an outage (no traceback); the observers show and record it."""
    retry_at = None if error is None or wait is None else datetime.now(UTC) + timedelta(seconds=wait)
    if error is not None and retry_at is not None:
        note = outages.Outage.of(error, retry_at).note()
        log.error("%s; %s (%s)", note, error.message, error.hint)
    if observer is not None:
        observer.outage(error, retry_at)
