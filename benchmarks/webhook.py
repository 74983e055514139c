"""Webhook latency: how soon `autonomous-dev start --webhook-port` claims an issue after a signed
`issues.labeled` delivery, while its poll interval (loopIntervalMs) is ten minutes."""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

from _common import NAME, OWNER, Figure, options, report, seed_issues, stage

from tests.daemon_helpers import start_cli, stop, wait_for
from tests.webhook_helpers import SECRET, cycles, daemon_store, deliver, labeled

TEN_MINUTES_MS = 600_000


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def main() -> None:
    args = options(__doc__ or "")
    deliveries = 3 if args.quick else 10
    latencies: list[float] = []
    answers: list[float] = []
    with stage() as st, tempfile.TemporaryDirectory(prefix="bench-webhook-") as tmp:
        log, port = Path(tmp) / "start.log", free_port()
        env = st.env(LOG_LEVEL="INFO", LOOP_INTERVAL_MS=str(TEN_MINUTES_MS), WEBHOOK_SECRET=SECRET)
        daemon = start_cli(["start", "--webhook-port", str(port)], st.cwd, env, log)
        try:
            wait_for(lambda: "no eligible issues" in log.read_text(), 60, "the first, idle cycle")
            store = daemon_store(st.work_dir, {})
            for index in range(deliveries):
                done = cycles(port)
                [number] = seed_issues(st, 1)  # labelled after the last cycle: the next poll is 10 min away
                sent = time.perf_counter()
                status, text = deliver(port, "issues", labeled(number))
                answers.append(time.perf_counter() - sent)
                if status != 202:
                    raise SystemExit(f"delivery {index}: {status} {text}\n{log.read_text()[-3000:]}")
                while (task := store.get(f"{OWNER}/{NAME}", number)) is None or task.attempts < 1:
                    if time.perf_counter() - sent > 60:
                        raise SystemExit(f"issue #{number} was not claimed\n{log.read_text()[-3000:]}")
                    time.sleep(0.002)
                latencies.append(time.perf_counter() - sent)
                wait_for(lambda done=done: cycles(port) > done, 120, "the cycle's end")  # type: ignore[misc]
            store.close()
        finally:
            stop(daemon)
            daemon.wait(30)
        pulls = len(st.github.pulls(OWNER, NAME))
    quick = "quick: " if args.quick else ""
    report(
        f"webhook ({quick}{deliveries} deliveries, LOOP_INTERVAL_MS={TEN_MINUTES_MS})",
        [
            Figure("deliveries", deliveries),
            Figure("label_to_claim_median_s", statistics.median(latencies), "s", "< 2"),
            Figure("label_to_claim_max_s", max(latencies), "s"),
            Figure("delivery_answer_median_ms", statistics.median(answers) * 1000, "ms", "< 10,000"),
            Figure("pull_requests_opened", pulls),
        ],
        [
            "label_to_claim: from sending the signed delivery to the claim recorded in the store (SQLite)",
            "each delivery is sent after the cycle the previous one woke has finished",
        ],
    )


if __name__ == "__main__":
    main()
