"""Interrupts: the first Ctrl-C stops after the current step, the second stops within 2 s in every phase."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import NAME, OWNER, Stage
from tests.daemon_helpers import seed_issues, start_cli, status_json, stop, wait_for
from tests.helpers import clean_env, run_cli
from tests.standins.anthropic_server import Script, text_block
from tests.standins.github_server import FaultHook, RecordedRequest
from tests.test_procs import alive
from tests.test_security import first_prompt

WARM_LINE = "stopping after the current step (Ctrl-C again to stop now)"
Reply = tuple[int, dict[str, str], dict[str, str]] | None


def api_502(request: RecordedRequest, _sequence: int) -> Reply:
    """Every REST call but /rate_limit answers 502 Bad Gateway (git over HTTP still works)."""
    if request.route.startswith("/api/v3/") and request.route != "/api/v3/rate_limit":
        return 502, {}, {"message": "Server Error"}
    return None


def rate_limited(route: str) -> FaultHook:
    """GETs of `route` answer a primary rate limit that resets in ten minutes."""

    def fault(request: RecordedRequest, _sequence: int) -> Reply:
        if request.method == "GET" and request.route == route:
            reset = str(int(time.time()) + 600)
            headers = {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": reset}
            return 403, headers, {"message": "API rate limit exceeded for user."}
        return None

    return fault


def double_interrupt(process: subprocess.Popen[bytes], log: Path) -> str:
    """Ctrl-C, then Ctrl-C again after the 1 s debounce: exit 130 within 2 s of the second; the output."""
    stop(process, signal.SIGINT)
    wait_for(lambda: WARM_LINE in log.read_text(), 10, "the warm stop line")
    time.sleep(1.5)
    assert process.poll() is None, log.read_text()
    stop(process, signal.SIGINT)
    began = time.monotonic()
    code = process.wait(timeout=30)
    took = time.monotonic() - began
    output = log.read_text()
    assert code == 130, output[-3000:]
    assert took < 2.0, f"took {took:.1f} s to stop\n{output[-3000:]}"
    assert output.count(WARM_LINE) == 1
    assert "Nothing to do" not in output and "Traceback" not in output, output[-3000:]
    return output


def assert_released(stage: Stage, env: dict[str, str], number: int) -> None:
    task = status_json(stage, env)[number]
    assert task["claim_owner"] is None and task["state"] == "queued", task
    assert "in-progress" not in stage.github.issue(OWNER, NAME, number)["labels"]


def test_double_sigint_during_github_502_retries(stage: Stage, tmp_path: Path) -> None:
    seed_issues(stage, 1)
    stage.github.fault = api_502
    log = tmp_path / "run.log"
    process = start_cli(["run"], stage.cwd, stage.env(LOG_LEVEL="INFO"), log)
    wait_for(lambda: len(stage.github.requests) >= 3, 30, "a few 502s")
    double_interrupt(process, log)


def test_double_sigint_during_a_rate_limit_wait_in_the_scan(stage: Stage, tmp_path: Path) -> None:
    seed_issues(stage, 1)
    stage.github.fault = rate_limited(f"/api/v3/repos/{OWNER}/{NAME}/issues")
    log = tmp_path / "start.log"
    process = start_cli(["start"], stage.cwd, stage.env(LOG_LEVEL="INFO"), log)
    wait_for(lambda: "rate limit" in log.read_text(), 30, "the rate limit")
    double_interrupt(process, log)


def test_double_sigint_during_a_rate_limit_wait_in_a_worker(stage: Stage, tmp_path: Path) -> None:
    [number] = seed_issues(stage, 1)
    route = f"/api/v3/repos/{OWNER}/{NAME}/issues/{number}/comments"
    stage.github.fault = rate_limited(route)
    env = stage.env(LOG_LEVEL="INFO")
    log = tmp_path / "run.log"
    process = start_cli(["run"], stage.cwd, env, log)
    wait_for(lambda: "rate limit" in log.read_text(), 30, "the rate limit")
    double_interrupt(process, log)
    stage.github.fault = None
    assert_released(stage, env, number)
    assert run_cli(["run"], cwd=stage.cwd, env=env).returncode == 0  # taken up again at once
    assert len(stage.github.pulls(OWNER, NAME)) == 1


def test_double_sigint_during_a_slow_model_call(
    stage: Stage, backend: dict[str, str], tmp_path: Path
) -> None:
    [number] = seed_issues(stage, 1)
    stage.claude.latency_s = 30.0
    env = stage.env(**backend, LOG_LEVEL="INFO")
    log = tmp_path / "run.log"
    process = start_cli(["run"], stage.cwd, env, log)
    wait_for(lambda: len(stage.claude.message_requests()) >= 1, 30, "the first model request")
    double_interrupt(process, log)
    assert_released(stage, env, number)


def test_double_sigint_during_a_long_test_run_kills_it(stage: Stage, tmp_path: Path) -> None:
    """The test command runs in the sandbox (its own pid namespace): it is found by a unique argument."""
    [number] = seed_issues(stage, 1)
    duration = f"{1000 + os.getpid() % 1000}.{time.monotonic_ns() % 1000}"  # unique on this machine
    env = stage.env(LOG_LEVEL="INFO", TEST_COMMAND=f"touch tests-started && exec sleep {duration}")
    log = tmp_path / "run.log"
    process = start_cli(["run"], stage.cwd, env, log)
    worktrees = stage.work_dir / "worktrees" / OWNER / NAME
    wait_for(lambda: list(worktrees.glob("*/tests-started")) and running(duration), 60, "the test command")
    double_interrupt(process, log)
    wait_for(lambda: not running(duration), 5, "the test command to be killed")
    assert_released(stage, env, number)


def running(argument: str) -> bool:
    """Whether a process with `argument` in its command line is alive (a zombie is not)."""
    for entry in Path("/proc").iterdir():
        try:
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if argument.encode() in cmdline and state != "Z":
            return True
    return False


def test_a_single_signal_lets_the_run_finish(stage: Stage, tmp_path: Path) -> None:
    seed_issues(stage, 2)
    stage.claude.latency_s = 1.0
    env = stage.env(LOG_LEVEL="INFO", PARALLEL_WORKERS="1")
    log = tmp_path / "run.log"
    process = start_cli(["run"], stage.cwd, env, log)
    wait_for(lambda: len(stage.claude.message_requests()) >= 1, 30, "the first model request")
    stop(process, signal.SIGINT)
    assert process.wait(timeout=60) == 0, log.read_text()[-3000:]
    assert log.read_text().count(WARM_LINE) == 1
    assert len(stage.github.pulls(OWNER, NAME)) == 1  # the task in flight finished; nothing new claimed


def test_sighup_reloads_the_redaction_patterns(stage: Stage, tmp_path: Path) -> None:
    config = stage.cwd / "autonomous-dev.config.json"
    config.write_text("{}")
    log = tmp_path / "start.log"
    daemon = start_cli(["start"], stage.cwd, stage.env(LOOP_INTERVAL_MS="300"), log)
    try:
        wait_for(lambda: "no eligible issues" in log.read_text(), 30, "a first idle cycle")
        pattern = {"pattern": "ACME-[0-9]{6}", "name": "acme_id"}
        config.write_text(json.dumps({"security": {"redactPatterns": [pattern]}}))
        stop(daemon, signal.SIGHUP)
        wait_for(lambda: "reloading the configuration" in log.read_text(), 30, "the reload")
        number = stage.github.add_issue(
            OWNER, NAME, "Ticket", "Customer ACME-123456 reports a bug.", labels=["autonomous-dev"]
        )
        stage.claude.scripts.append(Script([[text_block("No change.")]], match=f'<issue number="{number}">'))
        wait_for(lambda: len(stage.claude.message_requests()) >= 1, 30, "the model request")
    finally:
        stop(daemon)
        assert daemon.wait(timeout=20) == 0, log.read_text()[-3000:]
    prompt = first_prompt(stage, number)
    assert "ACME-123456" not in prompt and "[REDACTED:acme_id:1]" in prompt


def slow_pushes(stage: Stage, pushes: list[float]) -> None:
    """Each push (git-receive-pack POST) is held 4 s by the GitHub stand-in before it is served."""

    def fault(request: RecordedRequest, _sequence: int) -> None:
        if request.method == "POST" and request.route.endswith("/git-receive-pack"):
            pushes.append(time.monotonic())
            time.sleep(4)

    stage.github.fault = fault


def start_in_terminal(
    args: list[str], stage: Stage, env: dict[str, str], log: Path
) -> subprocess.Popen[bytes]:
    """The CLI as a terminal runs it: its own process group, to which Ctrl-C goes as a whole."""
    with open(log, "wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "autonomous_dev", *args], cwd=stage.cwd, env=clean_env(env),
            stdout=out, stderr=out, start_new_session=True,
        )  # fmt: skip


def test_ctrl_c_on_a_terminal_lets_a_push_in_progress_finish(stage: Stage, tmp_path: Path) -> None:
    [number] = seed_issues(stage, 1)
    pushes: list[float] = []
    slow_pushes(stage, pushes)
    log = tmp_path / "run.log"
    process = start_in_terminal(["run"], stage, stage.env(LOG_LEVEL="INFO"), log)
    wait_for(lambda: bool(pushes), 60, "the push")
    os.killpg(process.pid, signal.SIGINT)  # git runs too: it must not die of the signal
    assert process.wait(timeout=60) == 0, log.read_text()[-3000:]
    [pull] = stage.github.pulls(OWNER, NAME)
    assert pull["head"].startswith(f"auto/{number}-")


def test_double_ctrl_c_on_a_terminal_during_a_push(stage: Stage, tmp_path: Path) -> None:
    [number] = seed_issues(stage, 1)
    pushes: list[float] = []
    slow_pushes(stage, pushes)
    env = stage.env(LOG_LEVEL="INFO")
    log = tmp_path / "run.log"
    process = start_in_terminal(["run"], stage, env, log)
    wait_for(lambda: bool(pushes), 60, "the push")
    os.killpg(process.pid, signal.SIGINT)
    time.sleep(1.2)
    os.killpg(process.pid, signal.SIGINT)
    began = time.monotonic()
    assert process.wait(timeout=30) == 130, log.read_text()[-3000:]
    assert time.monotonic() - began < 2.0
    wait_for(lambda: not processes_in(stage.work_dir), 2, "the push to be killed")
    task = status_json(stage, env)[number]
    assert task["claim_owner"] is None, task


def processes_in(directory: Path) -> list[int]:
    """Live processes whose working directory is in `directory` (the tool's git commands)."""
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            inside = Path(os.readlink(proc / "cwd")).is_relative_to(directory)
        except OSError:
            continue
        if inside and alive(int(proc.name)):
            found.append(int(proc.name))
    return found
