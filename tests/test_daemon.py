"""The daemon against the stand-ins and a real state store (SQLite and Postgres): policy, budgets, signals."""

from __future__ import annotations

import signal
import time
import urllib.request
from pathlib import Path

from tests.conftest import ANTHROPIC_KEY, NAME, OWNER, Stage
from tests.daemon_helpers import (
    seed_issues,
    sessions_per_issue,
    start_cli,
    status_json,
    stop,
    tool_comments,
    wait_for,
)
from tests.helpers import run_cli
from tests.standins.anthropic_server import Script, text_block, text_editor


def endless(stage: Stage, number: int) -> None:
    """A conversation that never ends: the model views a file forever."""
    stage.claude.scripts.insert(
        0,
        Script([[text_editor("view", path="calc.py")]], match=f'<issue number="{number}">', repeat_last=True),
    )


def test_always_failing_task_backs_off_then_needs_a_human(stage: Stage, backend: dict[str, str]) -> None:
    number = stage.github.add_issue(OWNER, NAME, "Never ends", "Loop forever.", labels=["autonomous-dev"])
    endless(stage, number)
    env = stage.env(**backend, MAX_TURNS="2", MAX_ATTEMPTS="3", BACKOFF_MINUTES="0")
    for attempt in range(1, 4):
        result = run_cli(["run"], cwd=stage.cwd, env=env)
        assert result.returncode == 1, result.stderr
        assert sessions_per_issue(stage)[number] == attempt
    task = status_json(stage, env)[number]
    assert (task["state"], task["attempts"]) == ("needs_human", 3)
    assert "turn budget" in task["last_error"]
    labels = stage.github.issue(OWNER, NAME, number)["labels"]
    assert "needs-human" in labels and "in-progress" not in labels
    [note] = tool_comments(stage, number)  # the tracking comment, with the hand-over in it
    assert "after 3 attempts" in note and "turn budget" in note

    assert run_cli(["run"], cwd=stage.cwd, env=env).returncode == 0
    assert sessions_per_issue(stage)[number] == 3  # not attempted again ...
    _, issue = stage.github.state.issue(OWNER, NAME, number)
    issue.body = "Loop forever, but now with more detail."  # ... until the issue is edited
    run_cli(["run"], cwd=stage.cwd, env=env)
    assert sessions_per_issue(stage)[number] == 4
    assert len(tool_comments(stage, number)) == 1


def test_backoff_holds_a_failed_task_back(stage: Stage, backend: dict[str, str]) -> None:
    number = stage.github.add_issue(OWNER, NAME, "Never ends", "", labels=["autonomous-dev"])
    endless(stage, number)
    env = stage.env(**backend, MAX_TURNS="1", BACKOFF_MINUTES="10")
    run_cli(["run"], cwd=stage.cwd, env=env)
    assert run_cli(["run"], cwd=stage.cwd, env=env).returncode == 0
    assert sessions_per_issue(stage)[number] == 1
    task = status_json(stage, env)[number]
    assert task["state"] == "failed" and task["next_attempt_at"] is not None


def test_cost_budget_stops_a_task_and_is_recorded(stage: Stage, backend: dict[str, str]) -> None:
    number = stage.github.add_issue(OWNER, NAME, "Expensive", "", labels=["autonomous-dev"])
    endless(stage, number)
    env = stage.env(**backend, MAX_COST_USD_PER_TASK="0.001", MAX_TURNS="50")
    assert run_cli(["run"], cwd=stage.cwd, env=env).returncode == 1
    task = status_json(stage, env)[number]
    assert task["state"] == "failed" and "cost budget" in task["last_error"]
    assert task["cost_usd"] >= 0.001 and task["tokens"] > 0
    assert sessions_per_issue(stage)[number] == 1


def test_daily_budget_stops_claiming(stage: Stage, backend: dict[str, str]) -> None:
    seed_issues(stage, 2)
    env = stage.env(**backend, MAX_COST_USD_PER_DAY="0.000001", PARALLEL_WORKERS="1")
    result = run_cli(["run"], cwd=stage.cwd, env=env)
    assert "daily cost budget reached" in result.stderr
    assert len(stage.github.pulls(OWNER, NAME)) == 1
    assert "daily cost budget reached" in run_cli(["run"], cwd=stage.cwd, env=env).stderr
    assert len(stage.github.pulls(OWNER, NAME)) == 1


def test_status_shows_states_tokens_and_cost(stage: Stage, backend: dict[str, str]) -> None:
    done, failing = (
        seed_issues(stage, 1)[0],
        stage.github.add_issue(OWNER, NAME, "Loops", "", labels=["autonomous-dev"]),
    )
    endless(stage, failing)
    env = stage.env(**backend, MAX_TURNS="2")
    run_cli(["run"], cwd=stage.cwd, env=env)
    tasks = status_json(stage, env)
    assert tasks[done]["state"] == "pr_opened" and tasks[done]["pr_url"].endswith(
        f"/pull/{tasks[done]['pr_number']}"
    )
    assert tasks[failing]["state"] == "failed"
    assert all(t["tokens"] > 0 and t["cost_usd"] > 0 for t in tasks.values())
    table = run_cli(["status"], cwd=stage.cwd, env=env)
    assert table.returncode == 0 and "pr_opened" in table.stdout and "2 tasks" in table.stdout


def test_sigterm_waits_for_the_grace_period_then_releases(
    stage: Stage, backend: dict[str, str], tmp_path: Path
) -> None:
    [number] = seed_issues(stage, 1)
    stage.claude.latency_s = 6.0
    env = stage.env(**backend, SHUTDOWN_GRACE_SECONDS="1", LOOP_INTERVAL_MS="500")
    daemon = start_cli(["start"], stage.cwd, env, tmp_path / "start.log")
    wait_for(lambda: len(stage.claude.message_requests()) >= 1, 30, "the first model request")
    stop(daemon)
    began = time.monotonic()
    assert daemon.wait(timeout=20) == 0, (tmp_path / "start.log").read_text()
    assert time.monotonic() - began < 5
    task = status_json(stage, env)[number]
    assert task["claim_owner"] is None and task["state"] == "queued"
    assert "in-progress" not in stage.github.issue(OWNER, NAME, number)["labels"]
    stage.claude.latency_s = 0
    assert run_cli(["run"], cwd=stage.cwd, env=env).returncode == 0  # picked up at once
    assert len(stage.github.pulls(OWNER, NAME)) == 1


def test_second_signal_is_a_cold_stop(stage: Stage, backend: dict[str, str], tmp_path: Path) -> None:
    [number] = seed_issues(stage, 1)
    stage.claude.latency_s = 10.0
    env = stage.env(**backend, SHUTDOWN_GRACE_SECONDS="60")
    daemon = start_cli(["start"], stage.cwd, env, tmp_path / "start.log")
    wait_for(lambda: len(stage.claude.message_requests()) >= 1, 30, "the first model request")
    stop(daemon)
    stop(daemon)  # within a second: counts once
    time.sleep(1.5)
    assert daemon.poll() is None
    stop(daemon, signal.SIGINT)
    assert daemon.wait(timeout=20) == 130, (tmp_path / "start.log").read_text()
    assert status_json(stage, env)[number]["claim_owner"] is None


def test_metrics_and_health(stage: Stage, tmp_path: Path, unused_port: int) -> None:
    seed_issues(stage, 2)
    env = stage.env(LOOP_INTERVAL_MS="500")
    daemon = start_cli(["start", "--metrics-port", str(unused_port)], stage.cwd, env, tmp_path / "start.log")
    try:
        wait_for(lambda: len(stage.github.pulls(OWNER, NAME)) == 2, 60, "two pull requests")

        def scraped() -> str:
            with urllib.request.urlopen(f"http://127.0.0.1:{unused_port}/metrics", timeout=5) as response:
                return str(response.read().decode())

        counter = 'autonomous_dev_tasks_finished_total{outcome="pr_opened",repo="acme/widgets"} 2.0'
        wait_for(lambda: counter in scraped(), 20, "the task counters")
        metrics = scraped()
        assert "autonomous_dev_cost_usd_total" in metrics and "autonomous_dev_cycles_total" in metrics
        with urllib.request.urlopen(f"http://127.0.0.1:{unused_port}/healthz", timeout=5) as response:
            assert response.status == 200
    finally:
        stop(daemon)
        assert daemon.wait(timeout=20) == 0


def test_several_repositories_are_served(stage: Stage, source_repo: Path) -> None:
    stage.github.create_repo(OWNER, "gadgets", source=source_repo)
    seed_issues(stage, 2)
    other = stage.github.add_issue(OWNER, "gadgets", "Fix add", "add() subtracts", labels=["autonomous-dev"])
    fix = [text_editor("str_replace", path="calc.py", old_str="a - b", new_str="a + b")]
    stage.claude.scripts.insert(
        0, Script([fix, [text_block("Fixed.")]], match=f"issue #{other} of {OWNER}/gadgets")
    )
    result = run_cli(["run"], cwd=stage.cwd, env=stage.env(REPOS=f"{OWNER}/gadgets", PER_REPO_WORKERS="1"))
    assert result.returncode == 0, result.stderr[-2000:]
    assert len(stage.github.pulls(OWNER, NAME)) == 2
    [pull] = stage.github.pulls(OWNER, "gadgets")
    assert "a + b" in stage.github.file_at(OWNER, "gadgets", pull["head"], "calc.py")


def test_rejected_claude_key_stops_claiming(stage: Stage) -> None:
    numbers = seed_issues(stage, 3)
    env = stage.env(ANTHROPIC_API_KEY="sk-ant-api03-" + "Rejected" * 5, PARALLEL_WORKERS="1")
    result = run_cli(["run"], cwd=stage.cwd, env=env)
    assert result.returncode == 4
    assert result.stderr.count("Claude rejected the credential") == 1
    assert len(stage.claude.message_requests()) == 1
    tasks = status_json(stage, env)
    assert all(tasks[n]["attempts"] == 0 and tasks[n]["state"] == "queued" for n in numbers)


def test_sighup_reloads_the_config_file(stage: Stage, tmp_path: Path) -> None:
    [number] = seed_issues(stage, 1)
    config = stage.cwd / "autonomous-dev.config.json"
    config.write_text('{"discovery": {"issueLabel": "not-yet"}}')
    env = stage.env(LOOP_INTERVAL_MS="300")
    daemon = start_cli(["start"], stage.cwd, env, tmp_path / "start.log")
    try:
        wait_for(
            lambda: "no eligible issues" in (tmp_path / "start.log").read_text(), 30, "a first idle cycle"
        )
        config.write_text('{"discovery": {"issueLabel": "autonomous-dev"}}')
        stop(daemon, signal.SIGHUP)
        wait_for(lambda: len(stage.github.pulls(OWNER, NAME)) == 1, 60, "the PR after the reload")
    finally:
        stop(daemon)
        assert daemon.wait(timeout=20) == 0
    assert stage.github.pulls(OWNER, NAME)[0]["head"].startswith(f"auto/{number}-")


def test_sighup_picks_up_a_rotated_key_from_the_env_file(stage: Stage, tmp_path: Path) -> None:
    seed_issues(stage, 1)
    dotenv = stage.cwd / ".env"
    dotenv.write_text("ANTHROPIC_API_KEY=sk-ant-api03-" + "Rejected" * 5 + "\n")
    env = stage.env(LOOP_INTERVAL_MS="300")
    del env["ANTHROPIC_API_KEY"]
    log = tmp_path / "start.log"
    daemon = start_cli(["start"], stage.cwd, env, log)
    try:
        wait_for(lambda: "Claude rejected the credential" in log.read_text(), 30, "the rejected key")
        dotenv.write_text(f"ANTHROPIC_API_KEY={ANTHROPIC_KEY}\n")  # the operator rotates the key
        stop(daemon, signal.SIGHUP)
        wait_for(lambda: len(stage.github.pulls(OWNER, NAME)) == 1, 60, "the PR after the reload")
    finally:
        stop(daemon)
        assert daemon.wait(timeout=20) == 0
