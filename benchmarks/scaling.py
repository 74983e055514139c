"""Parallel scaling: N issues, a model that takes L seconds per turn, `run` with 1, 2, 4 ... workers."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from _common import NAME, OWNER, Figure, cli, options, report, seed_issues, stage

TOOL_CALLS = 2  # then a final answer: 3 model turns per issue


@dataclass(frozen=True)
class Run:
    makespan: float  # wall time of `autonomous-dev run`, process start to exit
    start: float  # process start to the first model request: interpreter, imports, listing, first claims
    pulls: int

    @property
    def after_start(self) -> float:
        return self.makespan - self.start


def measure(issues: int, workers: int, latency: float) -> Run:
    """One `autonomous-dev run` over `issues` fresh issues. The generated repository holds no tests, so
    no check runs: what is measured is the orchestration."""
    with stage() as st:
        st.claude.latency_s = latency
        seed_issues(st, issues, tool_calls=TOOL_CALLS)
        launched = time.monotonic()
        seconds, _ = cli(st, "run", PARALLEL_WORKERS=str(workers))
        first = min(r.received_at for r in st.claude.requests if r.path == "/v1/messages")
        return Run(seconds, first - launched, len(st.github.pulls(OWNER, NAME)))


def main() -> None:
    args = options(__doc__ or "")
    issues, latency, counts = (4, 0.05, [1, 2]) if args.quick else (32, 1.0, [1, 2, 4, 8, 16])
    turns = TOOL_CALLS + 1
    runs: dict[int, Run] = {}
    figures: list[Figure] = []
    for workers in counts:
        runs[workers] = run = measure(issues, workers, latency)
        if run.pulls != issues:
            raise SystemExit(f"{workers} workers opened {run.pulls} pull requests for {issues} issues")
        one = runs[counts[0]]
        ideal = math.ceil(issues / workers) * turns * latency
        target = ">= 0.90" if workers == 8 else ""
        figures += [
            Figure(f"makespan_s_w{workers}", run.makespan, "s"),
            Figure(f"ideal_makespan_s_w{workers}", ideal, "s"),
            Figure(f"start_s_w{workers}", run.start, "s"),
            Figure(f"efficiency_w{workers}", one.makespan / (workers * run.makespan), "", target),
            Figure(f"efficiency_after_start_w{workers}", one.after_start / (workers * run.after_start)),
            Figure(f"model_share_w{workers}", ideal / run.makespan, "", "ideal 1.0"),
        ]
    report(
        f"scaling ({'quick: ' if args.quick else ''}{issues} issues, {turns} turns of {latency} s each,"
        " a repository without tests: no checks)",
        figures,
        [
            "makespan: wall time of `autonomous-dev run` (process start to exit), PRs opened for every issue",
            "efficiency = makespan(1) / (w * makespan(w)); ideal makespan = ceil(N / w) * turns * L",
            "model_share = ideal makespan / makespan: the part of the wall time spent waiting on the model",
            "start: process start to the first model request (interpreter, imports with the anthropic SDK's,"
            " listing, first claims), paid once per run and once per daemon's life",
            "efficiency_after_start: the same ratio over makespan minus start: how the work after it scales",
        ],
    )


if __name__ == "__main__":
    main()
