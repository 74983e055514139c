"""Per-issue overhead: the tool's mirror + worktree against a fresh `git clone`; a whole `run` per issue."""

from __future__ import annotations

import base64
import re
import shutil
import statistics
import subprocess
import tempfile
from collections import defaultdict
from datetime import datetime
from pathlib import Path

from _common import (
    GITHUB_TOKEN,
    NAME,
    OWNER,
    Figure,
    Stage,
    clean_env,
    cli,
    generate_repo,
    options,
    report,
    seed_issues,
    stage,
    timed,
)

from autonomous_dev.git.workspace import GitIdentity, GitWorkspaces
from autonomous_dev.security.redact import Redactor

BLOBS = "blobs"
LOG_LINE = re.compile(r"^(\S+ \S+) INFO +autonomous_dev\.core\.pipeline: \S+#(\d+): (.*)$", re.M)


def clone_seconds(url: str, target: Path) -> float:
    """A fresh `git clone` of `url` (what a tool without a mirror does per task), removed afterwards."""
    basic = base64.b64encode(f"x-access-token:{GITHUB_TOKEN}".encode()).decode()
    command = ["git", "-c", "credential.helper=", "-c", f"http.extraHeader=Authorization: Basic {basic}"]
    seconds, _ = timed(
        lambda: subprocess.run(
            [*command, "clone", "--quiet", url, str(target)], check=True, env=clean_env({})
        )
    )
    shutil.rmtree(target)
    return seconds


def workspace_task(spaces: GitWorkspaces, task: int) -> dict[str, float]:
    """What the tool does per task: sync (a fetch with nothing new), open a worktree, close it.

    The daemon syncs once per cycle, so a cycle's later tasks cost only open + close ("prepare").
    """
    sync, _ = timed(spaces.sync)
    opened, workspace = timed(lambda: spaces.open(f"auto/{task}-bench", "main"))
    closed, _ = timed(lambda: spaces.close(workspace))
    return {
        "sync": sync,
        "open": opened,
        "close": closed,
        "prepare": opened + closed,
        "task": sync + opened + closed,
    }


def compare(st: Stage, name: str, label: str, reps: int) -> list[Figure]:
    """Clones and workspace tasks alternate, so both see the same machine load; medians of `reps`.

    The first task makes the worktree slot (a full checkout); the later ones reuse it.
    """
    url = f"{st.github.base_http}/git/{OWNER}/{name}.git"
    laps: dict[str, list[float]] = defaultdict(list)
    with tempfile.TemporaryDirectory(prefix="bench-clone-") as tmp:
        identity = GitIdentity("bench", "bench@example.invalid")
        spaces = GitWorkspaces(Path(tmp) / "work", f"{OWNER}/{name}", url, GITHUB_TOKEN, identity, Redactor())
        first_sync, _ = timed(spaces.sync)
        first = workspace_task(spaces, reps)
        for task in range(reps):
            laps["clone"].append(clone_seconds(url, Path(tmp) / f"clone{task}"))
            for key, value in workspace_task(spaces, task).items():
                laps[key].append(value)
    m = {key: statistics.median(values) for key, values in laps.items()}
    target = ">= 10x" if label == "100mb" else ""
    return [
        Figure(f"clone_s_{label}", m["clone"], "s"),
        Figure(f"mirror_first_sync_s_{label}", first_sync, "s"),
        Figure(f"first_open_s_{label}", first["open"], "s"),
        Figure(f"workspace_sync_s_{label}", m["sync"], "s"),
        Figure(f"workspace_open_s_{label}", m["open"], "s"),
        Figure(f"workspace_close_s_{label}", m["close"], "s"),
        Figure(f"workspace_prepare_s_{label}", m["prepare"], "s"),
        Figure(f"workspace_task_s_{label}", m["task"], "s"),
        Figure(f"speedup_prepare_vs_clone_{label}", m["clone"] / m["prepare"], "x", target),
        Figure(f"speedup_task_vs_clone_{label}", m["clone"] / m["task"], "x", target),
    ]


def phases(stderr: str) -> dict[str, float]:
    """Median seconds of each pipeline phase, from the timestamps of consecutive INFO lines of one issue."""
    seen: dict[str, tuple[datetime, str]] = {}
    spans: dict[str, list[float]] = defaultdict(list)
    for stamp, issue, what in LOG_LINE.findall(stderr):
        when = datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S,%f")
        if issue in seen:
            previous, phase = seen[issue]
            spans[phase].append((when - previous).total_seconds())
        seen[issue] = (when, what.split(" http")[0])
    return {
        phase: statistics.median(values) for phase, values in spans.items() if not phase.startswith("opened")
    }


def run_overhead(st: Stage, issues: int) -> tuple[list[Figure], dict[str, float]]:
    seed_issues(st, issues)
    busy, result = cli(st, "run", PARALLEL_WORKERS="1")
    idle, _ = cli(st, "run", PARALLEL_WORKERS="1")
    figures = [
        Figure("run_issues", issues),
        Figure("run_wall_s", busy, "s"),
        Figure("run_s_per_issue_5k", busy / issues, "s", "< 1 s"),
        Figure("idle_run_wall_s", idle, "s"),
        Figure("run_s_per_issue_minus_idle_5k", (busy - idle) / issues, "s"),
    ]
    return figures, phases(result.stderr)


def main() -> None:
    args = options(__doc__ or "")
    files, commits, blob_mb = (200, 20, 5) if args.quick else (5000, 500, 100)
    reps, issues = (2, 2) if args.quick else (5, 10)
    with stage(lambda bare: generate_repo(bare, files=files, commits=commits)) as st:
        generate_repo(st.github.create_repo(OWNER, BLOBS), files=20, commits=10, blob_mb=blob_mb)
        figures = compare(st, NAME, "5k", reps) + compare(st, BLOBS, "100mb", reps)
        overhead, phase_times = run_overhead(st, issues)
    sizes = f"{files} files / {commits} commits, and {blob_mb} x 1 MB random blobs"
    report(
        f"workspace ({'quick: ' if args.quick else ''}{sizes}; medians of {reps})",
        figures + overhead,
        [
            "first_open: the first task makes its worktree slot (a full checkout); later tasks reuse slots",
            "workspace_prepare = open (checkout in a reused slot) + close (clean it): per task in a cycle",
            "workspace_task = prepare + sync (a fetch with nothing new; the daemon does it once per cycle)",
            "run_s_per_issue: one `autonomous-dev run`, PARALLEL_WORKERS=1, instant 2-turn model, no tests",
        ],
    )
    report(
        "run phases (median seconds per issue, from log timestamps)",
        [Figure(k, v, "s") for k, v in phase_times.items()],
    )


if __name__ == "__main__":
    main()
