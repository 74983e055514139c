"""The cycle runner: eligible issues on a worker pool, one catch-all per issue; `serve` repeats cycles."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from .errors import AutonomousDevError, CredentialError
from .models import Issue, Outcome, OutcomeKind
from .pipeline import Pipeline
from .ports import Workspaces

log = logging.getLogger(__name__)


def run_cycle(pipeline: Pipeline, workspaces: Workspaces, workers: int) -> list[Outcome]:
    """One cycle: find eligible issues, bring the mirror up to date, work on them in parallel."""
    issues = pipeline.eligible()
    if not issues:
        log.info("%s: no eligible issues", pipeline.repo.full_name)
        return []
    workspaces.sync()
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="worker") as pool:
        return list(pool.map(lambda issue: _process_safely(pipeline, issue), issues))


def _process_safely(pipeline: Pipeline, issue: Issue) -> Outcome:
    context = {"repo": pipeline.repo.full_name, "issue": issue.number}
    try:
        return pipeline.process(issue)
    except CredentialError:
        raise  # every other task would fail the same way: stop the cycle
    except AutonomousDevError as exc:
        log.warning("%s#%d failed: %s", context["repo"], issue.number, exc, extra=context)
        return Outcome(issue.number, OutcomeKind.FAILED, str(exc))
    except Exception as exc:  # the one catch-all per issue: record it and go on with the others
        log.exception("%s#%d failed unexpectedly", context["repo"], issue.number, extra=context)
        return Outcome(issue.number, OutcomeKind.FAILED, f"unexpected error: {type(exc).__name__}: {exc}")


def serve(
    cycle: Callable[[], list[Outcome]],
    once: bool,
    interval_s: float,
    stop: threading.Event,
) -> list[Outcome]:
    """Run cycles until `stop` is set (or once); the wait between cycles ends as soon as a stop is asked."""
    outcomes: list[Outcome] = []
    while not stop.is_set():
        outcomes = cycle()
        if once or stop.wait(interval_s):
            break
    return outcomes
