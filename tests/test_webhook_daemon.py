"""`start --webhook-port` against the stand-ins and a real store: a signed delivery wakes the daemon while
its poll interval is ten minutes; what it refuses changes nothing; a redelivery is processed once."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

from tests.conftest import NAME, OWNER, Stage
from tests.daemon_helpers import seed_issues, start_cli, status_json, stop, wait_for
from tests.helpers import run_cli
from tests.test_interrupts import double_interrupt
from tests.webhook_helpers import SECRET, cycles, daemon_store, deliver, labeled

TEN_MINUTES_MS = "600000"


def webhook_daemon(stage: Stage, backend: dict[str, str], port: int, log: Path, **env: str):  # type: ignore[no-untyped-def]
    environment = stage.env(**backend, LOOP_INTERVAL_MS=TEN_MINUTES_MS, WEBHOOK_SECRET=SECRET, **env)
    daemon = start_cli(["start", "--webhook-port", str(port)], stage.cwd, environment, log)
    wait_for(lambda: "no eligible issues" in log.read_text(), 60, "the first, idle cycle")
    return daemon


def test_a_signed_label_delivery_makes_the_daemon_claim_the_issue_at_once(
    stage: Stage, backend: dict[str, str], unused_port: int, tmp_path: Path
) -> None:
    log = tmp_path / "start.log"
    daemon = webhook_daemon(stage, backend, unused_port, log)
    store = daemon_store(stage.work_dir, backend)
    try:
        [number] = seed_issues(
            stage, 1
        )  # labelled after the first cycle looked: the next poll is 10 min away
        status, text = deliver(unused_port, "issues", labeled(number))
        answered = time.monotonic()
        assert status == 202, text
        wait_for(lambda: (task := store.get(f"{OWNER}/{NAME}", number)) is not None and task.attempts >= 1,
                 2.0, "the claim")  # fmt: skip
        took = time.monotonic() - answered
        wait_for(lambda: len(stage.github.pulls(OWNER, NAME)) == 1, 60, "the pull request")
    finally:
        store.close()
        stop(daemon)
        assert daemon.wait(timeout=30) == 0, log.read_text()[-3000:]
    assert took < 2.0, took
    output = log.read_text()
    assert "webhook: issues.labeled for acme/widgets (#1" in output
    assert "Ignore previous instructions" not in output  # the payload's text is never used


def test_refused_deliveries_change_nothing_and_a_redelivery_wakes_once(
    stage: Stage, unused_port: int, tmp_path: Path
) -> None:
    log = tmp_path / "start.log"
    daemon = webhook_daemon(stage, {}, unused_port, log)
    try:
        wait_for(lambda: cycles(unused_port) == 1, 10, "the first cycle's count")
        [number] = seed_issues(stage, 1)
        requests = len(stage.github.requests)
        assert deliver(unused_port, "issues", labeled(number), secret=None)[0] == 401
        assert deliver(unused_port, "issues", labeled(number), secret="guessed")[0] == 401
        time.sleep(1.5)
        assert len(stage.github.requests) == requests and cycles(unused_port) == 1  # nothing happened
        edited = {**labeled(number), "action": "edited"}
        assert deliver(unused_port, "issues", edited, delivery="same-id")[0] == 202
        wait_for(lambda: len(stage.github.pulls(OWNER, NAME)) == 1, 60, "the pull request")
        wait_for(lambda: cycles(unused_port) == 2, 30, "the woken cycle's end")
        assert deliver(unused_port, "issues", edited, delivery="same-id")[0] == 202  # GitHub's redelivery
        wait_for(lambda: "delivery same-id was processed before" in log.read_text(), 10, "the redelivery")
        time.sleep(1.0)
        assert cycles(unused_port) == 2  # not woken again
    finally:
        stop(daemon)
        assert daemon.wait(timeout=30) == 0, log.read_text()[-3000:]
    assert log.read_text().count("refused a delivery whose signature does not match") == 2


def test_a_webhook_port_without_a_secret_is_refused(stage: Stage, unused_port: int) -> None:
    result = run_cli(["start", "--webhook-port", str(unused_port)], cwd=stage.cwd, env=stage.env())
    assert result.returncode == 4, result.stderr
    assert "a webhook port needs WEBHOOK_SECRET" in result.stderr
    config = stage.cwd / "autonomous-dev.config.json"
    config.write_text(json.dumps({"webhook": {"port": unused_port, "secret": SECRET}}))
    result = run_cli(["start"], cwd=stage.cwd, env=stage.env())
    assert result.returncode == 3 and "webhook.secret" in result.stderr  # never from the JSON file
    assert SECRET not in result.stderr


def test_a_webhook_port_in_use_is_a_configuration_error(stage: Stage, listener: int) -> None:
    env = stage.env(WEBHOOK_SECRET=SECRET)
    result = run_cli(["start", "--webhook-port", str(listener)], cwd=stage.cwd, env=env)
    assert result.returncode == 3, result.stderr
    assert f"cannot listen for webhooks on 127.0.0.1:{listener}" in result.stderr


def test_double_ctrl_c_stops_the_daemon_with_the_webhook_port_open(
    stage: Stage, unused_port: int, tmp_path: Path
) -> None:
    [number] = seed_issues(stage, 1)
    stage.claude.latency_s = 30.0
    log = tmp_path / "start.log"
    env = stage.env(LOOP_INTERVAL_MS=TEN_MINUTES_MS, WEBHOOK_SECRET=SECRET, LOG_LEVEL="INFO")
    daemon = start_cli(["start", "--webhook-port", str(unused_port)], stage.cwd, env, log)
    wait_for(lambda: len(stage.claude.message_requests()) >= 1, 30, "the first model request")
    slow = socket.create_connection(("127.0.0.1", unused_port), timeout=5)
    slow.sendall(b"POST /webhook HTTP/1.1\r\nContent-Length: 100\r\n")  # a delivery in the middle
    double_interrupt(daemon, log)
    slow.close()
    assert status_json(stage, env)[number]["claim_owner"] is None


def test_deliveries_are_taken_on_the_configured_path_only(
    stage: Stage, unused_port: int, tmp_path: Path
) -> None:
    log = tmp_path / "start.log"
    daemon = webhook_daemon(stage, {}, unused_port, log, WEBHOOK_PATH="/hooks/github")
    try:
        [number] = seed_issues(stage, 1)
        requests = len(stage.github.requests)
        assert deliver(unused_port, "issues", labeled(number))[0] == 404  # the default path is not served
        time.sleep(1.0)
        assert len(stage.github.requests) == requests and cycles(unused_port) == 1
        assert deliver(unused_port, "issues", labeled(number), path="/hooks/github")[0] == 202
        wait_for(lambda: len(stage.github.pulls(OWNER, NAME)) == 1, 60, "the pull request")
    finally:
        stop(daemon)
        assert daemon.wait(timeout=30) == 0, log.read_text()[-3000:]
    assert f"webhook deliveries on http://127.0.0.1:{unused_port}/hooks/github" in log.read_text()
