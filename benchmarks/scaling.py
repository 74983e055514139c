"""Parallel scaling: N issues, a model that takes L seconds per turn, `run` with 1, 2, 4 ... workers."""

from __future__ import annotations

import math

from _common import NAME, OWNER, Figure, cli, options, report, seed_issues, stage

TOOL_CALLS = 2  # then a final answer: 3 model turns per issue


def makespan(issues: int, workers: int, latency: float) -> tuple[float, int]:
    """Wall time of one `autonomous-dev run` over `issues` fresh issues, and the pull requests it opened.
    The generated repository holds no tests, so no check runs: what is measured is the orchestration."""
    with stage() as st:
        st.claude.latency_s = latency
        seed_issues(st, issues, tool_calls=TOOL_CALLS)
        seconds, _ = cli(st, "run", PARALLEL_WORKERS=str(workers))
        return seconds, len(st.github.pulls(OWNER, NAME))


def main() -> None:
    args = options(__doc__ or "")
    issues, latency, counts = (4, 0.05, [1, 2]) if args.quick else (32, 1.0, [1, 2, 4, 8, 16])
    turns = TOOL_CALLS + 1
    spans: dict[int, float] = {}
    figures: list[Figure] = []
    for workers in counts:
        spans[workers], pulls = makespan(issues, workers, latency)
        if pulls != issues:
            raise SystemExit(f"{workers} workers opened {pulls} pull requests for {issues} issues")
        ideal = math.ceil(issues / workers) * turns * latency
        efficiency = spans[counts[0]] / (workers * spans[workers])
        figures += [
            Figure(f"makespan_s_w{workers}", spans[workers], "s"),
            Figure(f"ideal_makespan_s_w{workers}", ideal, "s"),
            Figure(f"efficiency_w{workers}", efficiency, "", ">= 0.90" if workers == 8 else ""),
            Figure(f"model_share_w{workers}", ideal / spans[workers], "", "ideal 1.0"),
        ]
    report(
        f"scaling ({'quick: ' if args.quick else ''}{issues} issues, {turns} turns of {latency} s each,"
        " a repository without tests: no checks)",
        figures,
        [
            "makespan: wall time of `autonomous-dev run` (process start to exit), PRs opened for every issue",
            "efficiency = makespan(1) / (w * makespan(w)); ideal makespan = ceil(N / w) * turns * L",
            "model_share = ideal makespan / makespan: the part of the wall time spent waiting on the model",
        ],
    )


if __name__ == "__main__":
    main()
