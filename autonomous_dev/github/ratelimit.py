"""A rate-limit gate shared by every worker of the process: when GitHub says slow down, everyone waits."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from autonomous_dev.logs import audit

log = logging.getLogger(__name__)

SECONDARY_MIN_WAIT_S = 60.0
SECONDARY_MAX_WAIT_S = 15 * 60.0


class RateGate:
    """Holds every request back until the latest limit GitHub announced has passed."""

    def __init__(
        self, clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep
    ) -> None:
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._open_at = 0.0
        self._strikes = 0

    def wait(self) -> None:
        """Block the calling worker while the gate is closed."""
        while True:
            with self._lock:
                remaining = self._open_at - self._clock()
            if remaining <= 0:
                return
            self._sleep(min(remaining, 5.0))

    def block_for(self, seconds: float, reason: str) -> None:
        with self._lock:
            self._open_at = max(self._open_at, self._clock() + seconds)
        audit(
            log,
            "rate_limit_hit",
            "GitHub rate limit (%s): pausing requests for %.0f s",
            reason,
            seconds,
            level=logging.WARNING,
        )

    def secondary_limit(self, retry_after: float | None) -> float:
        """A secondary limit: honour retry-after, else at least 60 s, doubling while it repeats."""
        with self._lock:
            self._strikes += 1
            strikes = self._strikes
        wait = (
            retry_after
            if retry_after is not None
            else min(SECONDARY_MIN_WAIT_S * 2 ** (strikes - 1), SECONDARY_MAX_WAIT_S)
        )
        self.block_for(wait, "secondary")
        return wait

    def succeeded(self) -> None:
        with self._lock:
            self._strikes = 0
