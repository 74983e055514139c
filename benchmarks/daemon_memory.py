"""Daemon memory: the RSS of `autonomous-dev start` after 10 and after 1,000 idle cycles."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from _common import Figure, options, report, stage

from tests.daemon_helpers import start_cli, stop

IDLE = "no eligible issues"  # logged once per idle cycle


def status_kb(pid: int, field: str) -> int:
    """A `kB` field of /proc/PID/status (VmRSS, VmHWM ...)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} for process {pid}")


def watch(log: Path, pid: int, checkpoints: list[int], timeout: float) -> dict[int, int]:
    """VmRSS (kB) as soon as the log shows each checkpoint's number of idle cycles."""
    rss: dict[int, int] = {}
    deadline = time.monotonic() + timeout
    pending = list(checkpoints)
    while pending:
        if time.monotonic() > deadline:
            raise SystemExit(
                f"timed out: {log.read_text().count(IDLE)} idle cycles, waiting for {pending[0]}"
            )
        if log.read_text().count(IDLE) >= pending[0]:
            rss[pending.pop(0)] = status_kb(pid, "VmRSS")
        else:
            time.sleep(0.02)
    return rss


def main() -> None:
    args = options(__doc__ or "")
    checkpoints = [5, 20] if args.quick else [10, 100, 250, 500, 1000]
    interval_ms = 100
    with stage() as st, tempfile.TemporaryDirectory(prefix="bench-daemon-") as tmp:
        log = Path(tmp) / "start.log"
        env = st.env(LOG_LEVEL="INFO", LOOP_INTERVAL_MS=str(interval_ms))
        daemon = start_cli(["start"], st.cwd, env, log)
        started = time.monotonic()
        try:
            rss = watch(log, daemon.pid, checkpoints, timeout=60 + checkpoints[-1] * 1.0)
            elapsed = time.monotonic() - started
            peak = status_kb(daemon.pid, "VmHWM")
        finally:
            stop(daemon)
            daemon.wait(30)
        requests = len(st.github.requests)
    first, last = checkpoints[0], checkpoints[-1]
    figures = [Figure(f"rss_mb_after_{n}_cycles", kb / 1024, "MB") for n, kb in rss.items()]
    figures += [
        Figure(f"rss_growth_mb_{first}_to_{last}", (rss[last] - rss[first]) / 1024, "MB", "< 10"),
        Figure("rss_peak_mb", peak / 1024, "MB"),
        Figure("seconds_per_cycle", elapsed / last, "s"),
        Figure("cycle_work_s", elapsed / last - interval_ms / 1000, "s"),
        Figure("github_requests_per_cycle", requests / last),
    ]
    report(
        f"daemon_memory ({'quick: ' if args.quick else ''}LOOP_INTERVAL_MS={interval_ms}, nothing eligible)",
        figures,
        [
            "RSS: VmRSS of the daemon process (not its children); cycles counted from its log lines",
            "cycle_work_s: seconds per cycle minus the loop interval (includes start-up, amortised)",
        ],
    )


if __name__ == "__main__":
    main()
