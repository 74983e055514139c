"""GitHub's pacing per token: one request at a time, writes spaced apart, for every client of the process."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import math
import threading
import time
from collections.abc import Callable, Iterator

from autonomous_dev.github.ratelimit import RateGate
from autonomous_dev.settings.services import GitHubSettings

log = logging.getLogger(__name__)


class TokenPacer:
    """The requests of one token, as GitHub asks integrations to make them.

    Serial: one request in flight at a time, whichever worker, cycle or repository it is for. Writes
    (POST, PATCH, PUT, DELETE) start `seconds_between_writes` after the previous write ended; a write
    waiting for its turn holds only the write queue, so reads go on meanwhile. Reads are not spaced
    (unless `seconds_between_requests` asks for it): they wait only when GitHub says so, at the gate.
    A call may make several requests (pages, a retry after a limit) and holds its turn throughout;
    calls must not nest.
    """

    def __init__(
        self, clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep
    ) -> None:
        self.gate = RateGate(clock, sleep)
        self._clock = clock
        self._sleep = sleep
        self._serial = threading.Lock()  # one request at a time
        self._writes = threading.Lock()  # the write queue: the next write waits for its gap here
        self._last_request = -math.inf  # when the latest request ended
        self._last_write = -math.inf

    @contextlib.contextmanager
    def turn(self, settings: GitHubSettings, write: bool) -> Iterator[None]:
        """Hold the token's turn for one call: a write after its gap, any call after the gate opens."""
        with self._writes if write else contextlib.nullcontext():
            if write:
                self._pause_until(self._last_write + settings.seconds_between_writes, "write")
            with self._serial:
                self._pause_until(self._last_request + settings.seconds_between_requests, "request")
                self.gate.wait()
                try:
                    yield
                finally:
                    self._last_request = self._clock()
                    if write:
                        self._last_write = self._last_request

    def _pause_until(self, moment: float, kind: str) -> None:
        pause = moment - self._clock()
        if pause > 0:
            log.debug("pacing: the next GitHub %s waits %.2f s", kind, pause)
            self._sleep(pause)


_pacers: dict[str, TokenPacer] = {}
_pacers_lock = threading.Lock()


def pacer_for(api_url: str, token: str) -> TokenPacer:
    """The process's pacer of `token` at `api_url`: every client built from that token shares it."""
    key = hashlib.sha256(f"{api_url.rstrip('/')}\n{token}".encode()).hexdigest()
    with _pacers_lock:
        if key not in _pacers:
            _pacers[key] = TokenPacer()
        return _pacers[key]
