"""`start --webhook-port` against the stand-ins and a real store: a signed delivery wakes the daemon while
its poll interval is ten minutes; what it refuses changes nothing; a redelivery is processed once."""

from __future__ import annotations

import time
from pathlib import Path

from tests.conftest import NAME, OWNER, Stage
from tests.daemon_helpers import seed_issues, start_cli, stop, wait_for
from tests.webhook_helpers import SECRET, daemon_store, deliver, labeled

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
    print(f"label to claim: {took:.3f} s")
    output = log.read_text()
    assert "webhook: issues.labeled for acme/widgets (#1" in output
    assert "Ignore previous instructions" not in output  # the payload's text is never used
