"""GitHub API requests and rate-limit points per idle cycle and per processed issue."""

from __future__ import annotations

import re
import tempfile
from collections import Counter
from pathlib import Path

from _common import GITHUB_TOKEN, NAME, OWNER, Figure, Stage, cli, options, report, seed_issues, stage

from tests.daemon_helpers import start_cli, stop, wait_for
from tests.standins.github_server import API_PREFIX


class Meter:
    """Requests and rate-limit points the stand-in saw since the meter was (re)started."""

    def __init__(self, st: Stage) -> None:
        self.st = st
        self.restart()

    def restart(self) -> None:
        self.first = len(self.st.github.requests)
        self.remaining = self._remaining()

    def _remaining(self) -> int:
        with self.st.github.state.lock:
            return self.st.github.state.tokens[GITHUB_TOKEN].remaining

    def api(self) -> list[str]:
        """'METHOD /route' of each REST request since the start, numbers replaced by {n}."""
        seen = self.st.github.requests[self.first :]
        routes = [r for r in seen if r.route.startswith(API_PREFIX)]
        return [f"{r.method} {re.sub(r'/[0-9]+', '/{n}', r.route[len(API_PREFIX) :])}" for r in routes]

    def git(self) -> int:
        return sum(r.route.startswith("/git/") for r in self.st.github.requests[self.first :])

    def points(self) -> int:
        return self.remaining - self._remaining()


def idle_cycles(st: Stage, meter: Meter, cycles: int) -> tuple[float, float]:
    """(requests, points) per idle daemon cycle, over `cycles` cycles after two warm-up cycles."""
    with tempfile.TemporaryDirectory(prefix="bench-daemon-") as tmp:
        log = Path(tmp) / "start.log"
        daemon = start_cli(["start"], st.cwd, st.env(LOG_LEVEL="INFO", LOOP_INTERVAL_MS="100"), log)
        try:
            done = lambda: log.read_text().count("no eligible issues")  # noqa: E731
            wait_for(lambda: done() >= 2, 60, "two idle cycles")
            start = done()
            meter.restart()
            wait_for(lambda: done() >= start + cycles, 60 + cycles, f"{cycles} idle cycles")
            counted = done() - start  # the cycle running now may add a few requests: a slight over-count
            requests, points = len(meter.api()), meter.points()
        finally:
            stop(daemon)
            daemon.wait(30)
    return requests / counted, points / counted


def main() -> None:
    args = options(__doc__ or "")
    issues, cycles = (1, 5) if args.quick else (5, 50)
    with stage() as st:
        st.github.add_issue(OWNER, NAME, "Unlabelled idea", "Not for the tool.", labels=["enhancement"])
        meter = Meter(st)
        cli(st, "run")
        meter.restart()
        cli(st, "run")
        idle_requests, idle_points, idle_git = len(meter.api()), meter.points(), meter.git()
        daemon_requests, daemon_points = idle_cycles(st, meter, cycles)

        seed_issues(st, issues)
        meter.restart()
        cli(st, "run", PARALLEL_WORKERS="1")
        routes, points, git = meter.api(), meter.points(), meter.git()
        pulls = len(st.github.pulls(OWNER, NAME))
    if pulls != issues:
        raise SystemExit(f"{pulls} pull requests for {issues} issues")
    report(
        f"github_requests ({'quick: ' if args.quick else ''}{issues} issues, {cycles} daemon cycles)",
        [
            Figure("idle_run_requests", idle_requests),
            Figure("idle_run_points", idle_points, "", "0"),
            Figure("idle_run_git_requests", idle_git),
            Figure("daemon_idle_cycle_requests", daemon_requests),
            Figure("daemon_idle_cycle_points", daemon_points, "", "0"),
            Figure("run_requests_per_issue", len(routes) / issues),
            Figure("run_points_per_issue", points / issues, "", "<= 15"),
            Figure("run_points_per_issue_minus_idle", (points - idle_points) / issues, "", "<= 15"),
            Figure("run_git_requests_per_issue", git / issues),
        ],
        [
            "idle_run: the second of two `autonomous-dev run` with no eligible issue (a fresh process each)",
            "daemon_idle_cycle: `autonomous-dev start`, LOOP_INTERVAL_MS=100, steady state (cache warm)",
            "points: decrements of X-RateLimit-Remaining (a 304 costs none); git requests cost no points",
        ],
    )
    by_route = Counter(routes)
    report(
        "REST requests per processed issue, by route",
        [Figure(route, count / issues) for route, count in by_route.most_common()],
    )


if __name__ == "__main__":
    main()
