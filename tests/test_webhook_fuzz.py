"""The webhook port of a running daemon fuzzed on loopback (bounded: a fixed seed, about twenty seconds):
malformed bodies, wrong content types, huge headers, slow clients and large bodies at once. The daemon
does not crash, its cycles go on, its memory stays bounded, and the port answers again afterwards."""

from __future__ import annotations

import json
import random
import socket
import threading
import time
import urllib.request
from pathlib import Path

from autonomous_dev.webhook.signature import sign
from tests.conftest import NAME, OWNER, Stage
from tests.daemon_helpers import seed_issues, start_cli, stop, wait_for
from tests.webhook_helpers import SECRET, deliver, labeled

SLOW_CLIENTS = 40  # more than the port's connection cap
LARGE_BODY = 24 * 1024 * 1024
LARGE_BODIES = 6  # at once: read one at a time, they cost one body's memory


def memory_kb(pid: int, field: str) -> int:
    """VmRSS (now) or VmHWM (the peak) of a process, in kB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} for {pid}")


def send_raw(port: int, data: bytes, read: bool = True) -> None:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=15) as client:
            client.sendall(data)
            while read and client.recv(65536):
                pass
    except OSError:
        pass  # the server may refuse or close first: what matters is the daemon


def slow_client(port: int, seconds: float) -> None:
    """Slowloris: a request's bytes one at a time, a byte every 0.2 s."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=15) as client:
            end = time.monotonic() + seconds
            for byte in b"POST /webhook HTTP/1.1\r\nContent-Type: application/json\r\nX-Slow: " + b"z" * 1000:
                if time.monotonic() > end:
                    return
                client.send(bytes([byte]))
                time.sleep(0.2)
    except OSError:
        pass


def large_client(port: int) -> None:
    """A body of LARGE_BODY bytes sent at once but for its last byte, which comes 3 s later."""
    head = b"POST /webhook HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: %d\r\n" % LARGE_BODY
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=15) as client:
            client.sendall(head + b"X-GitHub-Event: issues\r\n\r\n" + b"{" * (LARGE_BODY - 1))
            time.sleep(3)
            client.sendall(b"}")
            while client.recv(65536):
                pass
    except OSError:
        pass


def request(rng: random.Random) -> bytes:
    """One malformed or odd request: a random body, content type, signature and headers (some huge)."""
    body = rng.choice(
        [
            rng.randbytes(rng.randrange(0, 5000)),
            json.dumps(labeled(rng.randrange(1, 10**6))).encode()[: rng.randrange(1, 200)],
            b"[" * 50_000,
            b'{"action": "labeled", "issue": {"number": -1}, "repository": {"full_name": 7}}',
            b'{"action": "completed", "check_run": {"pull_requests": "x"}, "repository": null}',
        ]
    )
    content_type = rng.choice(
        ["application/json", "text/plain", "application/x-www-form-urlencoded", "", "\x00"]
    )
    event = rng.choice(["issues", "check_run", "status", "ping", "push", "Issues", "../x", ""])
    signature = rng.choice([sign(SECRET, body), "sha256=" + "f" * 64, "", "sha1=abc"])
    head = [
        rng.choice(["POST /webhook", "GET /webhook", "POST /webhook?x=1", "PUT /", "POST " + "/a" * 3000]),
        f"Content-Type: {content_type}",
        f"X-GitHub-Event: {event}",
        f"X-GitHub-Delivery: fuzz-{rng.randrange(10**9)}",
        f"X-Hub-Signature-256: {signature}",
        f"Content-Length: {rng.choice([len(body), len(body) + 10, 0, -1, 'abc', 10**15])}",
        f"X-Junk: {'h' * rng.choice([10, 70_000])}",  # past the 64 kB of request head, at times
    ]
    lines = "\r\n".join(head[:1] + rng.sample(head[1:], rng.randrange(0, len(head))))
    return lines.encode("latin-1", "replace") + b" HTTP/1.1\r\n" + b"\r\n" + body


def test_the_webhook_port_survives_a_fuzz_and_the_daemon_goes_on(
    stage: Stage, unused_port: int, tmp_path: Path
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        metrics_port = probe.getsockname()[1]
    log = tmp_path / "start.log"
    env = stage.env(LOOP_INTERVAL_MS="300", WEBHOOK_SECRET=SECRET, LOG_LEVEL="INFO")
    args = ["start", "--webhook-port", str(unused_port), "--metrics-port", str(metrics_port)]
    seed_issues(stage, 1)
    daemon = start_cli(args, stage.cwd, env, log)
    try:
        wait_for(lambda: len(stage.github.pulls(OWNER, NAME)) == 1, 60, "a first PR (everything loaded)")
        baseline = memory_kb(daemon.pid, "VmHWM")
        rng = random.Random(19)
        # Large bodies first (held at once if the port let them), odd requests, then slow clients.
        clients = [threading.Thread(target=large_client, args=(unused_port,)) for _ in range(LARGE_BODIES)]
        clients += [threading.Thread(target=send_raw, args=(unused_port, request(rng))) for _ in range(300)]
        clients += [
            threading.Thread(target=slow_client, args=(unused_port, 12.0)) for _ in range(SLOW_CLIENTS)
        ]
        for client in clients:
            client.start()
            time.sleep(0.01)
        [number] = seed_issues(stage, 1)  # the cycles go on meanwhile: this one is found by polling
        wait_for(lambda: len(stage.github.pulls(OWNER, NAME)) == 2, 60, "a PR while the port is fuzzed")
        for client in clients:
            client.join(timeout=30)
        assert daemon.poll() is None, log.read_text()[-3000:]
        peak = memory_kb(daemon.pid, "VmHWM")
        assert peak - baseline < 80 * 1024, f"the peak grew {(peak - baseline) // 1024} MB"
        wait_for(lambda: deliver(unused_port, "issues", labeled(number))[0] == 202, 20, "the port again")
        with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/healthz", timeout=5) as response:
            assert response.status == 200
    finally:
        stop(daemon)
        assert daemon.wait(timeout=30) == 0, log.read_text()[-3000:]
    output = log.read_text()
    assert "Traceback" not in output and "a request failed" not in output, output[-3000:]
