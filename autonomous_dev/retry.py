"""Repeating a GitHub write that may already have been applied: look for its result, then try again."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

from autonomous_dev.errors import GitHubError, InfrastructureError

log = logging.getLogger(__name__)
T = TypeVar("T")

WRITE_ATTEMPTS = 4
WRITE_RETRY_PAUSE_S = 0.5  # times the attempt number: a 502 storm usually clears in seconds


def transient(exc: GitHubError | InfrastructureError) -> bool:
    """An outage or a rate limit passes; a refusal (404, 422, a permission 403) will not."""
    return isinstance(exc, InfrastructureError) or exc.transient


def retry_write(what: str, write: Callable[[], T], look: Callable[[], T | None] = lambda: None) -> T:
    """Run `write` unless `look` finds its result; after a transient failure, look again and retry.

    A failed POST may still have been applied, so `look` runs before every attempt (a rerun too).
    """
    for attempt in range(1, WRITE_ATTEMPTS + 1):
        found = look()
        if found is not None:
            log.info("%s: already done", what)
            return found
        try:
            return write()
        except (GitHubError, InfrastructureError) as exc:
            if not transient(exc) or attempt == WRITE_ATTEMPTS:
                raise
            log.info("%s failed (%s); checking before trying again", what, exc.message)
            time.sleep(WRITE_RETRY_PAUSE_S * attempt)
    raise AssertionError("unreachable")
