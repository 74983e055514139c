"""The outage the daemon is backing off from: how long it waits, and the note kept for `status`."""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Protocol

from autonomous_dev.errors import InfrastructureError

log = logging.getLogger(__name__)

META_KEY = "outage"
FIRST_WAIT_S = 30.0  # doubled after every cycle that meets the outage again ...
LONGEST_WAIT_S = 600.0  # ... up to this
SHOWN_AS = {"Anthropic": "Claude", "OAuth": "the Claude OAuth endpoint"}


class MetaStore(Protocol):
    def get_meta(self, key: str) -> str | None: ...

    def set_meta(self, key: str, value: str) -> None: ...


@dataclass(frozen=True)
class Outage:
    service: str
    message: str
    hint: str
    seen_at: datetime
    retry_at: datetime | None  # None after a one-shot `run`: the next run tries again

    @classmethod
    def of(cls, error: InfrastructureError, retry_at: datetime | None) -> Outage:
        return cls(error.service, error.message, error.hint, datetime.now(UTC), retry_at)

    def note(self) -> str:
        """The line `status` shows, in local time: Claude unreachable, retrying at 14:05:30."""
        if self.retry_at is None:
            return f"{unreachable(self.service)} at {self.seen_at.astimezone():%H:%M}"
        return f"{unreachable(self.service)}, retrying at {self.retry_at.astimezone():%H:%M:%S}"


def unreachable(service: str) -> str:
    return f"{SHOWN_AS.get(service, service)} unreachable"


def wait_s(error: InfrastructureError, failures: int, interval_s: float) -> float:
    """How long to wait after the `failures`-th cycle in a row that met an outage."""
    if error.retry_after_s is not None:  # the service said when
        return max(interval_s, error.retry_after_s)
    return float(min(LONGEST_WAIT_S, max(interval_s, FIRST_WAIT_S * 2 ** (failures - 1))))


def record(store: MetaStore, outage: Outage | None) -> None:
    """Keep the outage for `status`, or clear it; a store that is itself down keeps nothing."""
    try:
        if outage is not None:
            store.set_meta(META_KEY, json.dumps(asdict(outage), default=str))
        elif store.get_meta(META_KEY):
            store.set_meta(META_KEY, "")
    except InfrastructureError as exc:
        log.debug("cannot record the outage in the state store: %s", exc)


def recorded(store: MetaStore) -> Outage | None:
    raw = store.get_meta(META_KEY)
    if not raw:
        return None
    data = json.loads(raw)
    retry_at = data.get("retry_at")
    return Outage(
        service=data["service"],
        message=data["message"],
        hint=data.get("hint", ""),
        seen_at=datetime.fromisoformat(data["seen_at"]),
        retry_at=datetime.fromisoformat(retry_at) if retry_at else None,
    )
