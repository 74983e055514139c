"""A delivery's way in: its signature checked and its few fields read in the request, then queued; one
thread records it (once per delivery id), makes the PR steps it names due now and wakes the cycle."""

from __future__ import annotations

import contextlib
import logging
import queue
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from autonomous_dev.errors import AutonomousDevError
from autonomous_dev.ports import Store
from autonomous_dev.webhook import signature
from autonomous_dev.webhook.events import EVENT_NAME, RELEVANT, Nudge, PayloadError, nudge_of, payload_of

log = logging.getLogger(__name__)

DELIVERY_ID = re.compile(r"^[A-Za-z0-9-]{1,64}$")
QUEUE_SIZE = 1000  # deliveries waiting for the store; each holds a few numbers, never the body
STOP_WAIT_S = 1.0


@dataclass(frozen=True)
class Answer:
    status: int
    text: str


@dataclass(frozen=True)
class Delivery:
    id: str
    nudge: Nudge


class Receiver:
    """Answers each delivery at once and does its work on its own thread, so GitHub never waits on the
    store; `secrets` and `serves` are asked each time, so a reload (SIGHUP) applies to the next one."""

    def __init__(
        self,
        secrets: Callable[[], Sequence[str]],
        serves: Callable[[str], bool],
        store: Store,
        wake: Callable[[], None],
    ) -> None:
        self.secrets = secrets
        self.serves = serves
        self.store = store
        self.wake = wake
        self.queue: queue.Queue[Delivery | None] = queue.Queue(QUEUE_SIZE)
        self.thread = threading.Thread(target=self._work, name="webhook-deliveries", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def close(self) -> None:
        """Stop after the delivery in hand; those still queued are dropped (the next poll finds the work)."""
        with contextlib.suppress(queue.Full):
            self.queue.put(None, timeout=STOP_WAIT_S)
        self.thread.join(STOP_WAIT_S)

    def accept(self, headers: Mapping[str, str], body: bytes | memoryview, content_type: str) -> Answer:
        """Check one delivery and queue it; the answer says what happens to it (GitHub shows it)."""
        if not signature.verify(self.secrets(), body, headers.get("X-Hub-Signature-256")):
            log.warning("webhook: refused a delivery whose signature does not match WEBHOOK_SECRET")
            return Answer(401, "the X-Hub-Signature-256 signature does not match the secret")
        event = headers.get("X-GitHub-Event") or ""
        delivery_id = headers.get("X-GitHub-Delivery") or ""
        if not EVENT_NAME.match(event) or not DELIVERY_ID.match(delivery_id):
            return Answer(400, "X-GitHub-Event or X-GitHub-Delivery is missing or malformed")
        if event == "ping":
            log.info("webhook: ping from GitHub (delivery %s)", delivery_id)
            return Answer(200, "pong")
        if event not in RELEVANT:
            return Answer(204, "")
        try:
            nudge = nudge_of(event, payload_of(bytes(body), content_type))
        except PayloadError as exc:
            log.warning("webhook: delivery %s (%s) refused: %s", delivery_id, event, exc)
            return Answer(400, str(exc))
        if nudge is None:
            return Answer(200, f"nothing to do for this {event} delivery")
        if not self.serves(nudge.repo):
            log.info("webhook: %s for %s ignored: not a repository this daemon serves (delivery %s)",
                     nudge.event, nudge.repo, delivery_id)  # fmt: skip
            return Answer(200, f"ignored: {nudge.repo} is not served here")
        try:
            self.queue.put_nowait(Delivery(delivery_id, nudge))
        except queue.Full:
            log.warning("webhook: %d deliveries wait already; refusing delivery %s", QUEUE_SIZE, delivery_id)
            return Answer(503, "busy: redeliver later")
        return Answer(202, f"queued: {nudge.event} for {nudge.repo}")

    def _work(self) -> None:
        while True:
            delivery = self.queue.get()
            try:
                if delivery is None:
                    return
                self.process(delivery)
            except Exception:  # like the pool's supervised threads: one delivery's bug must not end them all
                log.exception("webhook: delivery %s failed", delivery.id if delivery else "?")
            finally:
                self.queue.task_done()

    def process(self, delivery: Delivery) -> None:
        """Record the delivery; the first time, make what it names due and wake the cycle. A store that
        fails still lets the cycle wake: it reads GitHub itself, so a lost record costs a look at most."""
        nudge = delivery.nudge
        try:
            if not self.store.record_delivery(delivery.id, nudge.event):
                log.info("webhook: delivery %s was processed before; ignored", delivery.id)
                return
            made_due = self.store.make_due(nudge.repo, nudge.numbers)
        except AutonomousDevError as exc:
            log.warning("webhook: delivery %s not recorded: %s; waking the cycle anyway", delivery.id, exc)
            made_due = []
        numbers = "every PR" if nudge.numbers is None else ", ".join(f"#{n}" for n in nudge.numbers)
        log.info("webhook: %s for %s (%s, delivery %s): %d waiting step(s) due now; waking the cycle",
                 nudge.event, nudge.repo, numbers, delivery.id, len(made_due))  # fmt: skip
        self.wake()
