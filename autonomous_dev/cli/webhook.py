"""`start --webhook-port`: the webhook port wired to the store, the daemon's wake-up and the metrics."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from autonomous_dev.errors import ConfigError, CredentialError

if TYPE_CHECKING:
    from autonomous_dev.metrics import Metrics
    from autonomous_dev.ports import Store
    from autonomous_dev.settings.credentials import Credentials
    from autonomous_dev.settings.model import Settings
    from autonomous_dev.webhook.receiver import Receiver
    from autonomous_dev.webhook.server import WebhookServer

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Webhooks:
    receiver: Receiver
    server: WebhookServer

    def close(self, wait: bool) -> None:
        """Stop taking deliveries; `wait` (not on a cold stop) lets the one being recorded finish."""
        self.server.close()
        if wait:
            self.receiver.close()


def start_webhooks(
    state: dict[str, Any], store: Store, wake: Callable[[], None], metrics: Metrics | None
) -> Webhooks | None:
    """Serve deliveries when `webhook.port` is set; `state` holds the current settings and credentials
    (a reload replaces them). `metrics`: /healthz and /metrics served on the same port."""
    from autonomous_dev.webhook.receiver import Receiver
    from autonomous_dev.webhook.server import WebhookServer

    settings: Settings = state["settings"]
    webhook = settings.webhook
    if webhook.port is None:
        return None
    initial: Credentials = state["credentials"]
    initial.webhook_secrets()  # no secret, no port: CredentialError

    def secrets() -> list[str]:
        try:
            current: Credentials = state["credentials"]
            return current.webhook_secrets()
        except CredentialError as exc:  # a reload lost the secret: every delivery is refused (401)
            log.error("%s (%s)", exc.message, exc.hint)
            return []

    def serves(repo: str) -> bool:
        current: Settings = state["settings"]
        return repo.lower() in {name.lower() for name in current.repo.all_full_names()}

    receiver = Receiver(secrets, serves, store, wake)
    pages = metrics.page if metrics is not None else None
    try:
        server = WebhookServer(webhook.host, webhook.port, webhook.path, receiver, pages)
    except OSError as exc:
        raise ConfigError(
            f"cannot listen for webhooks on {webhook.host}:{webhook.port}: {exc.strerror or exc}",
            "pick another --webhook-port (WEBHOOK_PORT) or stop what uses it",
        ) from None
    receiver.start()
    server.start()
    host, port = server.server_address[:2]
    also = ", /healthz and /metrics" if metrics is not None else ""
    log.info("webhook deliveries on http://%s:%d%s%s", host, port, webhook.path, also)
    return Webhooks(receiver, server)
