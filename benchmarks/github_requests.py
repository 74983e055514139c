"""GitHub API requests and rate-limit points per idle cycle and per processed issue; the cost of GitHub's
pacing (writes spaced per token) per issue."""

from __future__ import annotations

import itertools
import re
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from _common import (
    GITHUB_TOKEN,
    NAME,
    OWNER,
    Figure,
    Stage,
    cli,
    generate_repo,
    options,
    report,
    seed_issues,
    stage,
    timed,
)

from tests.daemon_helpers import start_cli, stop, wait_for
from tests.helpers import run_cli
from tests.standins.github_server import API_PREFIX, RecordedRequest

# Stage.env zeroes GitHub's pacing for the tests; without these keys the tool runs with its defaults.
PACING_KEYS = ("GITHUB_SECONDS_BETWEEN_REQUESTS", "GITHUB_SECONDS_BETWEEN_WRITES")
WRITE_METHODS = frozenset({"POST", "PATCH", "PUT", "DELETE"})


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


@dataclass(frozen=True)
class PacedRun:
    """One `autonomous-dev run` over fresh issues: its wall time and the API requests GitHub received."""

    issues: int
    seconds: float
    reads: int  # GETs and GraphQL queries
    writes: int  # POST, PATCH, PUT and DELETE of the REST API
    min_write_gap_s: float  # the smallest gap between two writes' arrivals; inf with fewer than two


def is_write(method: str, route: str) -> bool:
    return method in WRITE_METHODS and route.startswith(API_PREFIX + "/")


def paced_run(st: Stage, issues: int, workers: int, paced: bool) -> PacedRun:
    """`run` over `issues` new issues with `workers` workers, with the default pacing or with none."""
    seed_issues(st, issues)
    env = st.env(LOG_LEVEL="INFO", PARALLEL_WORKERS=str(workers))
    if paced:
        for key in PACING_KEYS:
            del env[key]
    arrivals: list[tuple[float, str, str]] = []

    def record(request: RecordedRequest, _sequence: int) -> None:
        arrivals.append((time.monotonic(), request.method, request.route))

    st.github.fault = record
    try:
        seconds, result = timed(lambda: run_cli(["run"], cwd=st.cwd, env=env, timeout=1800))
    finally:
        st.github.fault = None
    if result.returncode != 0:
        raise SystemExit(f"autonomous-dev run exited {result.returncode}:\n{result.stderr[-3000:]}")
    api = [(at, method, route) for at, method, route in arrivals if route.startswith("/api/")]
    writes = [at for at, method, route in api if is_write(method, route)]
    gaps = [later - earlier for earlier, later in itertools.pairwise(writes)]
    return PacedRun(issues, seconds, len(api) - len(writes), len(writes), min(gaps, default=float("inf")))


def pacing_figures(quick: bool) -> list[Figure]:
    """Per-issue cost of the pacing GitHub asks for, one worker and several, on the 5,000-file repo."""
    generate = (lambda bare: generate_repo(bare, files=5000, commits=500)) if not quick else None
    issues, workers, parallel_issues = (1, 2, 2) if quick else (5, 4, 8)
    with stage(generate) as st:
        warm_up = paced_run(st, 1, 1, paced=False)  # the mirror, its worktree slot, ETags, the state store
        unpaced = paced_run(st, issues, 1, paced=False)
        paced = paced_run(st, issues, 1, paced=True)
        parallel = paced_run(st, parallel_issues, workers, paced=True)
        pulls = len(st.github.pulls(OWNER, NAME))
    seeded = sum(run.issues for run in (warm_up, unpaced, paced, parallel))
    if pulls != seeded:
        raise SystemExit(f"{pulls} pull requests for {seeded} issues")
    return [
        Figure("paced_run_s_per_issue", paced.seconds / paced.issues, "s"),
        Figure("unpaced_run_s_per_issue", unpaced.seconds / unpaced.issues, "s"),
        Figure("pacing_s_per_issue", (paced.seconds - unpaced.seconds) / paced.issues, "s"),
        Figure("paced_reads_per_issue", paced.reads / paced.issues),
        Figure("paced_writes_per_issue", paced.writes / paced.issues),
        Figure(f"paced_run_s_per_issue_w{workers}", parallel.seconds / parallel.issues, "s"),
        Figure(f"paced_writes_per_issue_w{workers}", parallel.writes / parallel.issues),
        Figure(f"min_write_gap_s_w{workers}", parallel.min_write_gap_s, "s", ">= 1"),
    ]


def main() -> None:
    args = options(__doc__ or "")
    issues, cycles = (1, 5) if args.quick else (5, 50)
    with stage() as st:
        idea = st.github.add_issue(OWNER, NAME, "Unlabelled idea", "Not for us.", labels=["enhancement"])
        # comments the mention poll lists every cycle: one naming the tool by someone it does not trust
        st.github.set_permission(OWNER, NAME, "visitor", "read")
        st.github.add_comment(OWNER, NAME, idea, "@octobot what do you think?", user="visitor")
        st.github.add_comment(OWNER, NAME, idea, "Not now, thanks.", user="alice")
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
        # The PRs just opened are followed: one look per cycle each, conditional like the rest.
        following_requests, following_points = idle_cycles(st, meter, cycles)
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
            Figure("daemon_idle_cycle_requests_following", following_requests),
            Figure("daemon_idle_cycle_points_following", following_points, "", "0"),
            Figure("run_requests_per_issue", len(routes) / issues),
            Figure("run_points_per_issue", points / issues, "", "<= 15"),
            Figure("run_points_per_issue_minus_idle", (points - idle_points) / issues, "", "<= 15"),
            Figure("run_git_requests_per_issue", git / issues),
        ],
        [
            "idle_run: the second of two `autonomous-dev run` with no eligible issue (a fresh process each); "
            "an outsider's mention of the tool is among the comments each cycle's mention poll lists",
            "daemon_idle_cycle: `autonomous-dev start`, LOOP_INTERVAL_MS=100, steady state (cache warm)",
            "_following: the same after the run: each PR it opened is looked at once per cycle, nothing new",
            "points: decrements of X-RateLimit-Remaining (a 304 costs none); git requests cost no points",
        ],
    )
    by_route = Counter(routes)
    report(
        "REST requests per processed issue, by route",
        [Figure(route, count / issues) for route, count in by_route.most_common()],
    )
    report(
        "GitHub's pacing: `run` with the default pacing settings against none, on the 5,000-file repo"
        + (" (quick: the tiny repo)" if args.quick else ""),
        pacing_figures(args.quick),
        [
            "paced: the default GITHUB_SECONDS_BETWEEN_* settings; unpaced: both 0 (as in the tests)",
            "reads: GETs and GraphQL queries; writes: REST POST, PATCH, PUT, DELETE",
            "min_write_gap: between two writes' arrivals at the stand-in, all workers together",
        ],
    )


if __name__ == "__main__":
    main()
