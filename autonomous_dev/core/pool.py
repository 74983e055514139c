"""The cycle's threads: workers that are supervised (a dead one is reported and replaced), a heartbeat
that extends the leases held, and what a stop does to the claims in flight."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from autonomous_dev.core.control import StopControl
from autonomous_dev.errors import AutonomousDevError, InfrastructureError
from autonomous_dev.ports import Store

log = logging.getLogger(__name__)
LABEL_RELEASE_S = 1.0  # a cold stop waits this long for GitHub to take the in-progress labels off
MAX_REPLACEMENTS = 3  # dead workers replaced per cycle; more means a bug, and the next cycle starts afresh

Key = tuple[str, int]  # (repository, issue)


@dataclass
class Pool:
    store: Store
    owner: str
    lease_s: float
    control: StopControl
    hide_claim: Callable[[Key], None]  # takes the in-progress label off
    in_flight: set[Key] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)
    workers: list[threading.Thread] = field(default_factory=list)  # grows when a dead one is replaced
    beats: list[threading.Thread] = field(default_factory=list)
    died: set[str] = field(default_factory=set)  # names of threads that ended with an exception
    replaced: int = 0
    finished: threading.Event = field(default_factory=threading.Event)  # the cycle is over: no more beats

    def start(self, count: int, work: Callable[[], None]) -> None:
        for i in range(count):
            self.workers.append(self._spawn(f"worker-{i}", work))
        self.beats.append(self._spawn("heartbeat", self._heartbeat))

    def wait(self, work: Callable[[], None], work_left: Callable[[], bool], grace_s: float) -> None:
        """Join the workers; on a cold stop, or when a warm stop's grace is over, release the claims held."""
        try:
            while any(w.is_alive() for w in self.workers) or self._supervise(work, work_left):
                for worker in list(self.workers):
                    worker.join(timeout=0.2)
                self._supervise(work, work_left)
                if self._should_abandon(grace_s):
                    self.release_in_flight()
                    return
        finally:
            self.stop_heartbeats()

    def _spawn(self, name: str, target: Callable[[], None]) -> threading.Thread:
        """A thread whose death is reported (with its traceback, event `thread_died`), never silent."""

        def supervised() -> None:
            try:
                target()
            except Exception:
                with self.lock:
                    self.died.add(name)
                log.exception("thread %s died; the daemon replaces it", name, extra={"event": "thread_died"})

        thread = threading.Thread(target=supervised, name=name, daemon=True)
        thread.start()
        return thread

    def _supervise(self, work: Callable[[], None], work_left: Callable[[], bool]) -> bool:
        """Replace dead threads: the heartbeat while workers run, a worker while work is left (bounded).
        True when a worker was started."""
        if any(w.is_alive() for w in self.workers) and not any(b.is_alive() for b in self.beats):
            self.beats.append(self._spawn(f"heartbeat-{len(self.beats)}", self._heartbeat))
        with self.lock:
            dead = sum(1 for w in self.workers if w.name in self.died)
        wanted = dead > self.replaced and work_left() and not self.control.claiming_stopped
        if wanted and self.replaced < MAX_REPLACEMENTS:
            self.replaced += 1
            log.warning("starting worker-r%d in place of a dead worker", self.replaced)
            self.workers.append(self._spawn(f"worker-r{self.replaced}", work))
            return True
        return False

    def _heartbeat(self) -> None:
        """Extend the leases held; while the store is down the leases may lapse, and that is safe."""
        while any(w.is_alive() for w in self.workers):
            if self.finished.wait(min(self.lease_s / 3, 5.0)):
                return
            with self.lock:
                held = list(self.in_flight)
            for name, number in held:
                try:
                    kept = self.store.heartbeat(name, number, self.owner, self.lease_s)
                except InfrastructureError as exc:  # the store is down: the task's own writes will say so
                    log.debug("%s#%d: heartbeat failed: %s", name, number, exc)
                    continue
                except AutonomousDevError as exc:
                    log.warning("%s#%d: the lease could not be extended: %s", name, number, exc)
                    continue
                holder = None if kept else self._holder(name, number)
                if holder not in (None, self.owner):
                    log.warning("%s#%d: lease lost to %s", name, number, holder)

    def _holder(self, name: str, number: int) -> str | None:
        """Who holds a lease that was not extended. None: nobody, as when our own step has just ended and
        given it back (no loss); a lease that ran out makes the step's own write fail and say so."""
        try:
            record = self.store.get(name, number)
        except AutonomousDevError:
            return None
        return record.claim_owner if record is not None else None

    def stop_heartbeats(self) -> None:
        """No heartbeat may outlive its cycle: one still writing while the store closes (or the process
        exits) would use a closed connection."""
        self.finished.set()
        for beat in self.beats:
            if beat is not threading.current_thread():
                beat.join(timeout=2.0)

    def _should_abandon(self, grace_s: float) -> bool:
        if self.control.cold:
            return True
        warm_at = self.control.warm_at
        return warm_at is not None and time.monotonic() - warm_at > grace_s

    def release_in_flight(self) -> None:
        """Give the claims back in the store at once; the labels only if GitHub answers quickly, else the
        next cycle's admission removes them (a label without a live claim is stale)."""
        with self.lock:
            held = list(self.in_flight)
            self.in_flight.clear()
        for name, number in held:
            log.warning("%s#%d: stopping; releasing the claim", name, number)
            self.store.release(name, number, self.owner)
        labels = threading.Thread(target=self._drop_labels, args=(held,), name="release", daemon=True)
        labels.start()
        labels.join(LABEL_RELEASE_S if self.control.cold else None)

    def _drop_labels(self, held: list[Key]) -> None:
        for key in held:
            try:
                self.hide_claim(key)
            except AutonomousDevError as exc:
                log.warning("%s#%d: the in-progress label stays until the next cycle: %s", *key, exc)
