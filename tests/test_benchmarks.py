"""Smoke test of the benchmarks: each `--quick` run exits 0 and prints its figures (no timing checks)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import clean_env

ROOT = Path(__file__).resolve().parents[1]
FIGURES = {
    "workspace": ["clone_s_5k", "first_open_s_5k", "speedup_prepare_vs_clone_100mb", "run_s_per_issue_5k"],
    "scaling": [
        "makespan_s_w1",
        "makespan_s_w2",
        "efficiency_w2",
        "ideal_makespan_s_w2",
        "start_s_w2",
        "efficiency_after_start_w2",
    ],
    "github_requests": [
        "idle_run_points",
        "daemon_idle_cycle_points",
        "run_points_per_issue",
        "pacing_s_per_issue",
        "paced_writes_per_issue",
    ],
    "prompt_cache": ["model_turns", "cache_read_share", "cache_read_share_status"],
    "redactor": ["redactor_mb_s", "detect_secrets_mb_s", "speed_ratio", "redactor_recall"],
    "startup": ["python_c_pass_s", "help_s", "config_s", "help_minus_python_s"],
    "daemon_memory": ["rss_mb_after_5_cycles", "rss_mb_after_20_cycles", "rss_growth_mb_5_to_20"],
    "webhook": ["label_to_claim_median_s", "label_to_claim_max_s", "delivery_answer_median_ms"],
    "sandbox": [
        "bare_true_ms",
        "bwrap_true_ms",
        "overhead_true_ms",
        "overhead_python_ms",
        "setup_first_s",
        "setup_cached_ms",
        "setup_cached_share_pct",
    ],
}


def test_every_benchmark_script_is_covered() -> None:
    scripts = {path.stem for path in (ROOT / "benchmarks").glob("*.py") if not path.stem.startswith("_")}
    assert scripts == set(FIGURES)


@pytest.mark.parametrize("name", sorted(FIGURES))
def test_quick_run_prints_its_figures(name: str) -> None:
    result = subprocess.run(
        [sys.executable, f"benchmarks/{name}.py", "--quick"],
        cwd=ROOT,
        env=clean_env({}),
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    printed = {line.split()[0] for line in result.stdout.splitlines() if line.strip()}
    missing = [figure for figure in FIGURES[name] if figure not in printed]
    assert not missing, result.stdout


@pytest.mark.parametrize("name", sorted(FIGURES))
def test_performance_doc_gives_each_command_and_a_section(name: str) -> None:
    doc = (ROOT / "docs" / "performance.md").read_text()
    assert f".venv/bin/python benchmarks/{name}.py" in doc
    assert f"(`{name}.py`)" in doc, f"docs/performance.md has no section for {name}.py"
