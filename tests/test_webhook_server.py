"""The webhook port in-process, on loopback, with a real SQLite store: signatures, the size and time
limits, what each answer is, a redelivery processed once, and /healthz and /metrics beside it."""

from __future__ import annotations

import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from autonomous_dev.metrics import Metrics
from autonomous_dev.store.backends import SqliteStore, StoreError, TaskState, Transition
from autonomous_dev.webhook.receiver import Receiver
from autonomous_dev.webhook.server import MAX_BODY_BYTES, WebhookServer
from autonomous_dev.webhook.signature import sign
from tests.webhook_helpers import SECRET, deliver, labeled

REPO = "acme/widgets"


@dataclass
class Port:
    server: WebhookServer
    store: SqliteStore
    receiver: Receiver
    wakes: list[float] = field(default_factory=list)
    woken: threading.Event = field(default_factory=threading.Event)

    @property
    def number(self) -> int:
        return int(self.server.server_address[1])

    def settled(self) -> None:
        """Wait until the receiver's queue is empty and its delivery in hand done."""
        self.receiver.queue.join()


@pytest.fixture
def port(tmp_path: Path) -> Iterator[Port]:
    store = SqliteStore(tmp_path / "state.db")
    store.migrate()
    holder: list[Port] = []

    def wake() -> None:
        holder[0].wakes.append(time.monotonic())
        holder[0].woken.set()

    receiver = Receiver(lambda: [SECRET], lambda repo: repo.lower() == REPO, store, wake)
    metrics = Metrics(healthy_within_s=60)
    server = WebhookServer("127.0.0.1", 0, "/webhook", receiver, metrics.page, read_deadline_s=2.0)
    holder.append(Port(server, store, receiver))
    receiver.start()
    server.start()
    yield holder[0]
    server.close()
    receiver.close()
    store.close()


def landing(store: SqliteStore, issue: int, pr: int) -> datetime:
    """A task waiting for its PR's checks, looked at again in an hour; that hour."""
    later = datetime.now(UTC) + timedelta(hours=1)
    store.observe(REPO, issue, "fp")
    store.claim(REPO, [issue], "w", 60)
    store.transition(
        REPO, issue, "w", Transition(TaskState.LANDING, pr_number=pr, pr_url="u", next_attempt_at=later)
    )
    return later


def check_run(pr: int) -> dict[str, object]:
    run = {"status": "completed", "conclusion": "success", "pull_requests": [{"number": pr}]}
    return {"action": "completed", "check_run": run, "repository": {"full_name": REPO}}


def test_a_signed_delivery_is_queued_and_makes_its_pr_step_due(port: Port) -> None:
    later = landing(port.store, 7, 40)
    status, text = deliver(port.number, "check_run", check_run(40))
    assert (status, text) == (202, "queued: check_run.completed for acme/widgets")
    port.settled()
    task = port.store.get(REPO, 7)
    assert task is not None and task.next_attempt_at is not None and task.next_attempt_at < later
    assert len(port.wakes) == 1


@pytest.mark.parametrize("signature", [None, "sha256=" + "0" * 64, sign("another secret", b"{}"), "garbage"])
def test_a_bad_or_missing_signature_gets_401_and_changes_nothing(port: Port, signature: str | None) -> None:
    later = landing(port.store, 7, 40)
    body = b'{"action": "completed"}'
    headers = {"X-GitHub-Event": "check_run", "X-GitHub-Delivery": "d-1", "Content-Type": "application/json"}
    if signature is not None:
        headers["X-Hub-Signature-256"] = signature
    request = urllib.request.Request(f"http://127.0.0.1:{port.number}/webhook", body, headers)
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == 401
    status, _ = deliver(port.number, "check_run", check_run(40), secret="not the secret")
    assert status == 401
    port.settled()
    task = port.store.get(REPO, 7)
    assert task is not None and task.next_attempt_at == later and port.wakes == []
    assert port.store.record_delivery("d-1", "check_run")  # the refused delivery was not recorded


def test_the_same_delivery_twice_is_processed_once(port: Port) -> None:
    later = landing(port.store, 7, 40)
    assert deliver(port.number, "check_run", check_run(40), delivery="d-same")[0] == 202
    port.settled()
    port.store.claim(REPO, [7], "w2", 60)  # looked at, and waiting again
    port.store.transition(REPO, 7, "w2", Transition(TaskState.LANDING, next_attempt_at=later))
    assert deliver(port.number, "check_run", check_run(40), delivery="d-same")[0] == 202
    port.settled()
    task = port.store.get(REPO, 7)
    assert task is not None and task.next_attempt_at == later  # the redelivery changed nothing
    assert len(port.wakes) == 1


def test_ping_unknown_events_and_actions_that_change_nothing(port: Port) -> None:
    assert deliver(port.number, "ping", {"zen": "Keep it logically awesome.", "hook_id": 1}) == (200, "pong")
    assert deliver(port.number, "star", {"action": "created"}) == (204, "")
    closed = {**labeled(3), "action": "closed"}
    assert deliver(port.number, "issues", closed) == (200, "nothing to do for this issues delivery")
    other = labeled(3, repo="someone/else")
    assert deliver(port.number, "issues", other) == (200, "ignored: someone/else is not served here")
    port.settled()
    assert port.wakes == []


def test_a_label_wakes_the_cycle_and_a_form_encoded_delivery_is_read_too(port: Port) -> None:
    assert deliver(port.number, "issues", labeled(3))[0] == 202
    form = b"payload=" + urllib.parse.quote(json_text(labeled(4))).encode()
    assert deliver(port.number, "issues", form, content_type="application/x-www-form-urlencoded")[0] == 202
    port.settled()
    assert len(port.wakes) == 2


def json_text(payload: dict[str, object]) -> str:
    import json

    return json.dumps(payload)


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        (b"{not json", "application/json", 400),
        (b"[1, 2]", "application/json", 400),
        (b"[" * 100_000 + b"]" * 100_000, "application/json", 400),  # nested past the recursion limit
        (b"\xff\xfe", "application/json", 400),
        (
            b'{"action": "labeled", "issue": {"number": "1"}, "repository": {"full_name": "acme/widgets"}}',
            "application/json",
            400,
        ),
        (
            b'{"action": "labeled", "issue": {"number": 1}, "repository": {"full_name": "a/b/c"}}',
            "application/json",
            400,
        ),
        (b"{}", "text/plain", 415),
        (b"{}", "multipart/form-data; boundary=x", 415),
    ],
)
def test_malformed_signed_bodies_are_refused_with_a_reason(
    port: Port, body: bytes, content_type: str, status: int
) -> None:
    assert deliver(port.number, "issues", body, content_type=content_type)[0] == status
    port.settled()
    assert port.wakes == []


def raw_exchange(port: int, data: bytes, wait_s: float = 10.0) -> bytes:
    """Send `data` as is, then read the answer until the server closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=wait_s) as client:
        client.sendall(data)
        answer = b""
        while chunk := client.recv(65536):
            answer += chunk
        return answer


def test_a_30_mb_body_is_refused_without_being_read(port: Port) -> None:
    head = (
        b"POST /webhook HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nX-GitHub-Event: issues\r\n"
        b"Content-Length: %d\r\n\r\n" % (30 * 1024 * 1024)
    )
    began = time.monotonic()
    answer = raw_exchange(port.number, head + b"{" + b" " * 4096, wait_s=5)  # 4 kB of the 30 MB, then wait
    assert answer.startswith(b"HTTP/1.1 413 "), answer[:200]
    assert time.monotonic() - began < 2.0  # answered at once, not after waiting for the rest
    assert b"Connection: close" in answer
    assert MAX_BODY_BYTES < 30 * 1024 * 1024


def test_huge_or_many_headers_get_431(port: Port) -> None:
    long_line = b"POST /webhook HTTP/1.1\r\nX-Junk: " + b"a" * 70_000 + b"\r\n\r\n"
    assert raw_exchange(port.number, long_line).startswith(b"HTTP/1.1 431 ")
    lines = b"".join(b"X-%d: %s\r\n" % (i, b"b" * 700) for i in range(99))  # 70 kB in all
    assert raw_exchange(port.number, b"POST /webhook HTTP/1.1\r\n" + lines + b"\r\n").startswith(
        b"HTTP/1.1 431 "
    )
    many = b"".join(b"X-%d: b\r\n" % i for i in range(150))
    assert raw_exchange(port.number, b"POST /webhook HTTP/1.1\r\n" + many + b"\r\n").startswith(
        b"HTTP/1.1 431 "
    )
    assert raw_exchange(port.number, b"GET /" + b"x" * 70_000 + b" HTTP/1.1\r\n\r\n").startswith(
        b"HTTP/1.1 4"
    )


def test_a_slow_client_is_cut_off_at_the_deadline_and_holds_nothing_up(port: Port) -> None:
    """A client sending a byte a second (slowloris) is disconnected when its request's deadline (2 s
    here, 10 s by default) passes; a delivery meanwhile is answered at once."""
    slow = socket.create_connection(("127.0.0.1", port.number), timeout=10)
    began = time.monotonic()
    closed_after = None
    for byte in b"POST /webhook HTTP/1.1\r\nX-Slow: " + b"s" * 20:
        try:
            slow.send(bytes([byte]))
        except OSError:
            closed_after = time.monotonic() - began
            break
        if len(port.wakes) == 0 and time.monotonic() - began > 0.5:
            assert deliver(port.number, "issues", labeled(3))[0] == 202  # not held up by the slow one
            port.settled()
        slow.settimeout(1.0)
        try:
            if slow.recv(1024) == b"":
                closed_after = time.monotonic() - began
                break
        except TimeoutError:
            pass
    slow.close()
    assert closed_after is not None and closed_after < 4.0
    assert len(port.wakes) == 1


def test_connections_past_the_cap_are_refused_at_once_not_queued(port: Port) -> None:
    from autonomous_dev.webhook.server import MAX_CONNECTIONS

    idle = [socket.create_connection(("127.0.0.1", port.number), timeout=5) for _ in range(MAX_CONNECTIONS)]
    time.sleep(0.3)
    began = time.monotonic()
    answer = raw_exchange(port.number, b"GET /healthz HTTP/1.1\r\n\r\n", wait_s=5)
    assert answer.startswith(b"HTTP/1.1 503 ") and time.monotonic() - began < 1.0
    for client in idle:
        client.close()
    time.sleep(0.3)
    assert raw_exchange(port.number, b"GET /healthz HTTP/1.1\r\n\r\n").startswith(b"HTTP/1.1 200 ")


def test_health_and_metrics_are_served_beside_the_deliveries(port: Port) -> None:
    with urllib.request.urlopen(f"http://127.0.0.1:{port.number}/healthz", timeout=5) as response:
        assert response.status == 200 and response.read() == b"ok\n"
    with urllib.request.urlopen(f"http://127.0.0.1:{port.number}/metrics", timeout=5) as response:
        assert b"autonomous_dev_cycles_total" in response.read()
    assert raw_exchange(port.number, b"GET /webhook HTTP/1.1\r\n\r\n").startswith(b"HTTP/1.1 405 ")
    assert raw_exchange(port.number, b"POST /other HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}").startswith(
        b"HTTP/1.1 404 "
    )
    chunked = b"POST /webhook HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n"
    assert raw_exchange(port.number, chunked).startswith(b"HTTP/1.1 411 ")


class BrokenStore(SqliteStore):
    """The real store, but the delivery table fails (a full disk, a dropped connection)."""

    def record_delivery(self, delivery_id: str, event: str, now: datetime | None = None) -> bool:
        raise StoreError("the state database failed: disk I/O error", "check the disk")


@dataclass
class Served:
    number: int  # the port
    receiver: Receiver
    wakes: list[str]


@contextmanager
def serving(store: SqliteStore) -> Iterator[Served]:
    """A webhook port for every repository, on `store`, counting the cycle's wake-ups; closed after."""
    store.migrate()
    wakes: list[str] = []
    receiver = Receiver(lambda: [SECRET], lambda repo: True, store, lambda: wakes.append("woken"))
    server = WebhookServer("127.0.0.1", 0, "/webhook", receiver, None)
    receiver.start()
    server.start()
    try:
        yield Served(int(server.server_address[1]), receiver, wakes)
    finally:
        server.close()
        receiver.close()
        store.close()


def test_a_store_that_fails_still_wakes_the_cycle(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with serving(BrokenStore(tmp_path / "state.db")) as served:
        assert deliver(served.number, "issues", labeled(3))[0] == 202
        served.receiver.queue.join()
        assert served.wakes == ["woken"]  # the cycle reads GitHub itself: the delivery's work is not lost
        assert "not recorded: the state database failed" in caplog.text
        assert deliver(served.number, "metrics", {})[0] == 204
        assert raw_exchange(served.number, b"GET /metrics HTTP/1.1\r\n\r\n").startswith(
            b"HTTP/1.1 404 "
        )  # without the pages (a --metrics-port serves them), only deliveries


class HangingStore(SqliteStore):
    """The real store, but recording a delivery waits until the test lets it go (a store that hangs)."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.go = threading.Event()

    def record_delivery(self, delivery_id: str, event: str, now: datetime | None = None) -> bool:
        self.go.wait(60)
        return super().record_delivery(delivery_id, event, now)


def test_deliveries_are_answered_while_the_store_hangs_and_done_afterwards(tmp_path: Path) -> None:
    """The work is queued, never done in the request: GitHub's 10 s are never spent on the store."""
    store = HangingStore(tmp_path / "state.db")
    with serving(store) as served:
        try:
            for issue in (3, 4):  # each answered (the client gives up after 15 s) with the store stuck
                assert deliver(served.number, "issues", labeled(issue)) == (
                    202,
                    "queued: issues.labeled for acme/widgets",
                )
            assert served.wakes == []
            store.go.set()
            served.receiver.queue.join()
            assert served.wakes == ["woken", "woken"]
        finally:
            store.go.set()  # the receiver's close waits for the store
    unstarted = WebhookServer("127.0.0.1", 0, "/webhook", served.receiver, None)
    unstarted.close()  # a port that never served closes too
