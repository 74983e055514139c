"""Prometheus metrics and a health check for the daemon, served on 127.0.0.1 only."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from http import HTTPStatus
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, generate_latest

from autonomous_dev.core.observe import CycleObserver
from autonomous_dev.models import Issue, Outcome, Usage

StartResponse = Callable[[str, list[tuple[str, str]]], object]


class Metrics(CycleObserver):
    """Counters the daemon updates as it works; `serve` exposes them with /metrics and /healthz."""

    def __init__(self, healthy_within_s: float) -> None:
        self.registry = CollectorRegistry()
        self.healthy_within_s = healthy_within_s
        self.tasks = Counter(
            "autonomous_dev_tasks_finished",
            "Tasks finished, by outcome",
            ["repo", "outcome"],
            registry=self.registry,
        )
        self.causes = Counter(
            "autonomous_dev_task_causes",
            "Steps that ended without a ready PR, by cause (errors.Cause)",
            ["repo", "cause"],
            registry=self.registry,
        )
        self.in_flight = Gauge(
            "autonomous_dev_tasks_in_flight", "Tasks being worked on", registry=self.registry
        )
        self.tokens = Counter(
            "autonomous_dev_tokens", "Model tokens used, by kind", ["kind"], registry=self.registry
        )
        self.cost = Counter("autonomous_dev_cost_usd", "Estimated model cost in USD", registry=self.registry)
        self.cycles = Counter("autonomous_dev_cycles", "Cycles completed", registry=self.registry)
        self.last_cycle = Gauge(
            "autonomous_dev_last_cycle_timestamp_seconds", "When the last cycle ended", registry=self.registry
        )
        self._last_cycle_monotonic = time.monotonic()

    def task_started(self, repo: str, issue: Issue) -> None:
        self.in_flight.inc()

    def task_usage(self, repo: str, issue: Issue, usage: Usage, cost_usd: float) -> None:
        self.tokens.labels("input").inc(usage.input_tokens)
        self.tokens.labels("output").inc(usage.output_tokens)
        self.tokens.labels("cache_read").inc(usage.cache_read_input_tokens)
        self.tokens.labels("cache_write").inc(usage.cache_creation_input_tokens)
        self.cost.inc(cost_usd)

    def task_finished(self, repo: str, issue: Issue, outcome: Outcome) -> None:
        self.in_flight.dec()
        self.tasks.labels(repo, outcome.kind.value).inc()
        if outcome.cause is not None:
            self.causes.labels(repo, outcome.cause).inc()

    def cycle_finished(self, outcomes: list[Outcome]) -> None:
        self.cycles.inc()
        self.last_cycle.set_to_current_time()
        self._last_cycle_monotonic = time.monotonic()

    def healthy(self) -> bool:
        return time.monotonic() - self._last_cycle_monotonic < self.healthy_within_s

    def page(self, path: str) -> tuple[int, str, bytes] | None:
        """/healthz or /metrics as (status, content type, body); None for any other path. The webhook
        port serves them too when there is no metrics port."""
        if path == "/healthz":
            if self.healthy():
                return 200, "text/plain", b"ok\n"
            return 503, "text/plain", b"no cycle finished recently\n"
        if path == "/metrics":
            return 200, CONTENT_TYPE_LATEST, generate_latest(self.registry)
        return None

    def app(self, environ: dict[str, object], start_response: StartResponse) -> Iterable[bytes]:
        page = self.page(str(environ.get("PATH_INFO")))
        status, content_type, body = page or (404, "text/plain", b"not found\n")
        start_response(f"{status} {HTTPStatus(status).phrase}", [("Content-Type", content_type)])
        return [body]

    def serve(self, port: int) -> WSGIServer:
        """Serve on 127.0.0.1:port from a daemon thread; port 0 picks a free one."""
        server = make_server("127.0.0.1", port, self.app, handler_class=_QuietHandler)
        threading.Thread(target=server.serve_forever, name="metrics", daemon=True).start()
        return server


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        return None
