"""Outages: an unreachable service ends in one clear line (exit 5), and costs no attempt."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from tests.conftest import NAME, OWNER, Stage
from tests.daemon_helpers import start_cli, status_json, stop, wait_for
from tests.helpers import run_cli
from tests.standins.anthropic_server import RecordedRequest as ClaudeRequest
from tests.standins.anthropic_server import Script, fault_reply, text_block, text_editor
from tests.standins.tcp_proxy import TcpProxy

pytestmark = pytest.mark.slow
UNAVAILABLE = 5


def default_env(stage: Stage, **extra: str) -> dict[str, str]:
    """The stage's environment at the default log level and retry settings, as a user runs it."""
    env = stage.env(**extra)
    for name in ("LOG_LEVEL", "CLAUDE_MAX_RETRIES", "GITHUB_SECONDS_BETWEEN_REQUESTS"):
        if name not in extra:
            env.pop(name)
    return env


def one_issue(stage: Stage) -> int:
    number = stage.github.add_issue(OWNER, NAME, "Fix add", "add subtracts", labels=["autonomous-dev"])
    edit = text_editor("str_replace", path="calc.py", old_str="return a - b", new_str="return a + b")
    stage.claude.scripts.append(Script([[edit], [text_block("Fixed add.")]], match="<issue"))
    return number


def assert_one_clear_line(output: str, *expected: str) -> None:
    lines = output.splitlines()
    errors = [line for line in lines if line.startswith("error:")]
    assert len(errors) == 1, output
    assert all(text in errors[0] for text in expected), errors[0]
    assert any(line.strip().startswith("hint:") for line in lines), output
    assert "Traceback" not in output and "Retrying" not in output, output
    assert len(lines) < 40, output


def run_timed(stage: Stage, env: dict[str, str], *args: str) -> tuple[int, str, float]:
    started = time.monotonic()
    result = run_cli(["run", *args], cwd=stage.cwd, env=env, timeout=90)
    return result.returncode, result.stdout + result.stderr, time.monotonic() - started


def test_unreachable_github_is_one_line_and_exit_5(stage: Stage, unused_port: int) -> None:
    env = default_env(stage, GITHUB_API_URL=f"http://127.0.0.1:{unused_port}")
    code, output, seconds = run_timed(stage, env)
    assert code == UNAVAILABLE, output
    assert_one_clear_line(output, "cannot reach GitHub", f"127.0.0.1:{unused_port}", "connection refused")
    assert seconds < 30


def test_a_github_host_that_does_not_resolve_is_named(stage: Stage) -> None:
    env = default_env(stage, GITHUB_API_URL="https://api.github.invalid")  # reserved: never resolves
    code, output, seconds = run_timed(stage, env)
    assert code == UNAVAILABLE, output
    assert_one_clear_line(output, "cannot reach GitHub at api.github.invalid", "does not resolve (DNS)")
    assert seconds < 30


def test_github_over_tls_failing_is_named(stage: Stage) -> None:
    plain = stage.github.api_url.replace("http://", "https://")  # the stand-in speaks no TLS
    code, output, _ = run_timed(stage, default_env(stage, GITHUB_API_URL=plain))
    assert code == UNAVAILABLE, output
    assert_one_clear_line(output, "cannot reach GitHub", "TLS")


def test_unreachable_claude_is_one_line_releases_the_claim_and_spends_nothing(
    stage: Stage, unused_port: int
) -> None:
    number = one_issue(stage)
    env = default_env(stage, ANTHROPIC_BASE_URL=f"http://127.0.0.1:{unused_port}", MAX_ATTEMPTS="1")
    code, output, seconds = run_timed(stage, env)
    assert code == UNAVAILABLE, output
    assert_one_clear_line(output, "cannot reach the Claude API", f"127.0.0.1:{unused_port}", "refused")
    assert seconds < 30
    task = status_json(stage, env)[number]
    assert (task["state"], task["attempts"], task["claim_owner"]) == ("queued", 0, None)
    assert stage.github.issue(OWNER, NAME, number)["labels"] == ["autonomous-dev"]  # no in-progress


def test_unreachable_oauth_endpoint_is_one_line(stage: Stage, unused_port: int) -> None:
    one_issue(stage)
    stage.claude.bearer_tokens.add("expired-access-token")
    env = default_env(
        stage,
        ANTHROPIC_API_KEY="",
        CLAUDE_ACCESS_TOKEN="expired-access-token",
        CLAUDE_REFRESH_TOKEN="refresh-token-for-tests",
        CLAUDE_EXPIRES_AT="1000",  # long past: the token is refreshed before the first call
        CLAUDE_OAUTH_TOKEN_URL=f"http://127.0.0.1:{unused_port}/token",
        CLAUDE_OAUTH_CLIENT_ID="client-for-tests",
    )
    code, output, seconds = run_timed(stage, env)
    assert code == UNAVAILABLE, output
    assert_one_clear_line(output, "OAuth token endpoint", f"127.0.0.1:{unused_port}", "refused")
    assert seconds < 30


@pytest.mark.parametrize("store", ["state", "credentials"])
def test_unreachable_postgres_is_one_line(stage: Stage, unused_port: int, store: str) -> None:
    url = f"postgresql://bot:Pw-For-Tests@127.0.0.1:{unused_port}/state"
    extra = {"STATE_BACKEND": "postgres"} if store == "state" else {"USER_EMAIL": "bot@example.com"}
    for command in (["run"], ["start"]):
        env = default_env(stage, DATABASE_URL=url, **extra)
        started = time.monotonic()
        result = run_cli(command, cwd=stage.cwd, env=env, timeout=90)
        output = result.stdout + result.stderr
        assert result.returncode == UNAVAILABLE, output
        assert_one_clear_line(output, "Postgres", f"127.0.0.1:{unused_port}", "refused")
        assert "Pw-For-Tests" not in output
        assert time.monotonic() - started < 30


def test_the_daemon_outlives_an_unreachable_github(stage: Stage, unused_port: int, tmp_path: Path) -> None:
    env = default_env(stage, GITHUB_API_URL=f"http://127.0.0.1:{unused_port}")
    log = tmp_path / "daemon.log"
    daemon = start_cli(["start"], stage.cwd, env, log)
    try:
        wait_for(lambda: "GitHub unreachable, retrying at" in log.read_text(), 30, "the outage line")
        shown = run_cli(["status"], cwd=stage.cwd, env=env)
        assert "GitHub unreachable, retrying at" in shown.stdout, shown.stdout + shown.stderr
        assert daemon.poll() is None, log.read_text()
    finally:
        stop(daemon, signal.SIGTERM)
        code = daemon.wait(timeout=30)
    output = log.read_text()
    assert code == 0, output
    assert output.count("GitHub unreachable") == 1, output
    assert "Traceback" not in output and "Retrying" not in output, output
    assert len(output.splitlines()) < 40, output


def overloaded_while(outage: list[bool]) -> object:
    def fault(request: ClaudeRequest, sequence: int) -> object:
        if outage and request.path == "/v1/messages":
            return fault_reply(529)
        return None

    return fault


def test_a_claude_outage_over_several_runs_spends_no_attempt(stage: Stage) -> None:
    number = one_issue(stage)
    other = stage.github.add_issue(OWNER, NAME, "Add notes", "Create NOTES.md", labels=["autonomous-dev"])
    note = text_editor("create", path="NOTES.md", file_text="notes\n")
    stage.claude.scripts.insert(
        0, Script([[note], [text_block("Added.")]], match=f'<issue number="{other}">')
    )
    outage = [True]
    stage.claude.fault = overloaded_while(outage)  # type: ignore[assignment]
    env = stage.env(MAX_ATTEMPTS="1", LOG_LEVEL="INFO", CLAUDE_MAX_RETRIES="2", PARALLEL_WORKERS="1")
    for run in range(1, 4):
        code, output, _ = run_timed(stage, env)
        assert code == UNAVAILABLE, output
        assert_one_clear_line(output, "Claude API", "529")
        assert len(stage.claude.message_requests()) == 3 * run  # one task's tries; the other not claimed
    tasks = status_json(stage, env)
    assert {(t["state"], t["attempts"]) for t in tasks.values()} == {("queued", 0)}, tasks
    shown = run_cli(["status"], cwd=stage.cwd, env=env)
    assert "Claude unreachable at" in shown.stdout, shown.stdout
    outage.clear()
    code, output, _ = run_timed(stage, env)
    assert code == 0, output
    heads = sorted(p["head"].split("-", 1)[0] for p in stage.github.pulls(OWNER, NAME))
    assert heads == sorted([f"auto/{number}", f"auto/{other}"])
    assert "unreachable" not in run_cli(["status"], cwd=stage.cwd, env=env).stdout


def test_the_daemon_rides_out_a_claude_outage(stage: Stage, tmp_path: Path) -> None:
    number = one_issue(stage)
    outage = [True]
    stage.claude.fault = overloaded_while(outage)  # type: ignore[assignment]
    env = stage.env(MAX_ATTEMPTS="1", LOG_LEVEL="INFO", LOOP_INTERVAL_MS="300")
    log = tmp_path / "daemon.log"
    daemon = start_cli(["start"], stage.cwd, env, log)
    try:
        wait_for(lambda: log.read_text().count("Claude unreachable, retrying at") >= 3, 60, "three cycles")
        shown = run_cli(["status"], cwd=stage.cwd, env=env)
        assert "Claude unreachable, retrying at" in shown.stdout, shown.stdout
        outage.clear()
        wait_for(lambda: stage.github.pulls(OWNER, NAME), 60, "the pull request")
    finally:
        stop(daemon, signal.SIGTERM)
        code = daemon.wait(timeout=30)
    output = log.read_text()
    assert code == 0, output
    assert "Traceback" not in output and "needs-human" not in output, output
    assert status_json(stage, env)[number]["state"] == "pr_opened"


def test_status_shows_the_next_attempt_the_draft_pr_and_readable_numbers(stage: Stage) -> None:
    from datetime import UTC, datetime, timedelta

    from autonomous_dev.store.backends import TaskState, Transition, UsageDelta, open_store

    store = open_store("sqlite", stage.work_dir / "state.db", None)
    store.migrate()
    store.observe(f"{OWNER}/{NAME}", 7, "fingerprint")
    assert store.claim(f"{OWNER}/{NAME}", [7], "worker", 60) is not None
    store.add_usage(f"{OWNER}/{NAME}", 7, UsageDelta(input_tokens=1_234_567, cost_usd=1234.5))
    retry_at = datetime.now(UTC) + timedelta(hours=1)
    draft = "http://github.test/acme/widgets/pull/3"
    failed = Transition(TaskState.FAILED, error="checks fail", next_attempt_at=retry_at, pr_url=draft)
    store.transition(f"{OWNER}/{NAME}", 7, "worker", failed)
    store.close()
    shown = run_cli(["status"], cwd=stage.cwd, env=stage.env()).stdout
    assert "1,234,567" in shown and "$1,234.5000" in shown, shown
    assert f"{retry_at.astimezone():%Y-%m-%d %H:%M}" in shown and draft in shown, shown


def test_a_failed_task_keeps_its_draft_pr_and_next_attempt_for_status(stage: Stage) -> None:
    from tests.test_evaluate import BREAK, CALC, TESTS

    stage.publish("checked", {"calc.py": CALC, "test_calc.py": TESTS})
    number = stage.github.add_issue(OWNER, "checked", "Change calc", "Change it.", labels=["autonomous-dev"])
    stage.claude.scripts.append(Script([[BREAK], [text_block("Changed add.")]], match="<issue"))
    env = stage.env(REPO_NAME="checked", MAX_REPAIR_ROUNDS="0", MAX_ATTEMPTS="3")
    assert run_cli(["run"], cwd=stage.cwd, env=env).returncode == 1
    [pull] = stage.github.pulls(OWNER, "checked")
    task = status_json(stage, env)[number]
    assert task["state"] == "failed" and task["pr_url"].endswith(f"/pull/{pull['number']}"), task
    shown = run_cli(["status"], cwd=stage.cwd, env=env).stdout
    assert task["pr_url"] in shown and "next attempt" in shown, shown


def test_github_failing_with_502s_is_an_outage_after_bounded_retries(stage: Stage) -> None:
    stage.github.fault = lambda request, sequence: (502, {}, {"message": "Server Error"})
    code, output, seconds = run_timed(stage, default_env(stage))
    assert code == UNAVAILABLE, output
    assert_one_clear_line(output, "GitHub at", "kept failing", "502")
    assert seconds < 60


def test_the_back_off_doubles_to_ten_minutes_unless_the_service_says_when() -> None:
    from autonomous_dev.core.outages import wait_s
    from autonomous_dev.errors import InfrastructureError

    down = InfrastructureError("GitHub", "cannot reach GitHub")
    assert [wait_s(down, n, 5) for n in range(1, 7)] == [30, 60, 120, 240, 480, 600]
    assert wait_s(InfrastructureError("Anthropic", "overloaded", retry_after_s=90), 4, 5) == 90
    assert wait_s(InfrastructureError("Anthropic", "overloaded", retry_after_s=0), 1, 5) == 5


def test_the_daemon_outlives_losing_its_postgres_store(stage: Stage, pg_dsn: str, tmp_path: Path) -> None:
    from urllib.parse import urlsplit

    real = urlsplit(pg_dsn)
    relay = TcpProxy(real.hostname or "127.0.0.1", real.port or 5432)
    dsn = pg_dsn.replace(real.netloc, real.netloc.replace(f":{real.port or 5432}", "") + f":{relay.port}", 1)
    env = stage.env(STATE_BACKEND="postgres", DATABASE_URL=dsn, LOG_LEVEL="INFO", LOOP_INTERVAL_MS="300")
    log = tmp_path / "daemon.log"
    daemon = start_cli(["start"], stage.cwd, env, log)
    try:
        wait_for(lambda: "no eligible issues" in log.read_text(), 60, "a first cycle")
        relay.cut()
        wait_for(lambda: "Postgres unreachable, retrying at" in log.read_text(), 30, "the outage line")
        time.sleep(1)
        assert daemon.poll() is None, log.read_text()
    finally:
        stop(daemon, signal.SIGTERM)
        code = daemon.wait(timeout=30)
        relay.close()
    output = log.read_text()
    assert code == 0, output
    assert output.count("Postgres unreachable") == 1 and "Traceback" not in output, output
