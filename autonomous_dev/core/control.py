"""Stopping: the stop requests a signal handler makes, read by the cycle and its workers."""

from __future__ import annotations

import threading
import time


class Interrupted(KeyboardInterrupt):
    """A cold stop, raised in the main thread by the signal handler so that whatever blocks there (a retry
    sleep, a rate-limit wait, a socket read, a git command) is abandoned at once."""


class StopControl:
    """First request: warm stop (claim nothing new, let work finish). Second: cold stop (abandon it)."""

    def __init__(self) -> None:
        self.wake = threading.Event()
        self.warm_at: float | None = None
        self.cold = False
        self.auth_failed = False
        self.reload = False

    @property
    def claiming_stopped(self) -> bool:
        return self.warm_at is not None or self.cold or self.auth_failed

    def request_stop(self) -> None:
        if self.warm_at is None:
            self.warm_at = time.monotonic()
        else:
            self.cold = True
        self.wake.set()
