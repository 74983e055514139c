"""Repository commands get a scrubbed environment, a timeout that kills their group, and bounded output."""

from __future__ import annotations

import os
import sys
import threading
import time
from pathlib import Path

import pytest

from autonomous_dev.sandbox.procs import ALLOWED_ENV, CommandResult, kill_all, run_command, scrubbed_env

SECRETS = {
    "GITHUB_TOKEN": "ghp_" + "x" * 36,
    "ANTHROPIC_API_KEY": "sk-ant-api03-" + "y" * 40,
    "DATABASE_URL": "postgresql://bot:hunter2@db/app",
    "PGPASSWORD": "hunter2",
    "CLAUDE_ACCESS_TOKEN": "oauth-token-value",
    "AWS_SECRET_ACCESS_KEY": "aws-secret-value",
    "AUTONOMOUS_DEV_ENV": "production",
}


def parse_env(output: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in output.splitlines() if "=" in line)


def alive(pid: int) -> bool:
    """Whether `pid` still runs; a zombie waiting for init to reap it counts as dead."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    try:
        return stat.read_text().rpartition(")")[2].split()[0] not in ("Z", "X")
    except (FileNotFoundError, ProcessLookupError):
        return False


def dies_soon(pid: int, within_s: float = 5.0) -> bool:
    """Whether `pid` is gone within `within_s`: a SIGKILLed process ends when next scheduled, not at once."""
    until = time.monotonic() + within_s
    while alive(pid) and time.monotonic() < until:
        time.sleep(0.02)
    return not alive(pid)


def wait_for_file(path: Path, timeout_s: float = 5.0) -> str:
    until = time.monotonic() + timeout_s
    while time.monotonic() < until:
        if path.exists() and path.read_text().strip():
            return path.read_text().strip()
        time.sleep(0.02)
    raise AssertionError(f"{path} was not written")


def test_child_sees_no_credentials_and_a_scratch_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("LANG", "C.UTF-8")
    home = tmp_path / "home"
    result = run_command("env", cwd=tmp_path, env=scrubbed_env(home), timeout_s=10)
    child = parse_env(result.output)
    assert result.exit_code == 0 and not result.timed_out
    assert not set(SECRETS) & set(child)
    for value in SECRETS.values():
        assert value not in result.output
    assert child["HOME"] == str(home)
    assert child["TMPDIR"] == str(home / "tmp") and (home / "tmp").is_dir()
    assert child["CI"] == "true" and child["GIT_TERMINAL_PROMPT"] == "0"
    assert child["LANG"] == "C.UTF-8"
    fixed = {"HOME", "TMPDIR", "CI", "GIT_TERMINAL_PROMPT", "PYTHONDONTWRITEBYTECODE", "PWD", "SHLVL", "_"}
    assert set(child) <= {*ALLOWED_ENV, *fixed}


def test_scrubbed_env_copies_only_allowed_and_extra_names(tmp_path: Path) -> None:
    source = {"PATH": "/usr/bin", "TZ": "UTC", "JAVA_HOME": "/opt/jdk", "EDITOR": "vi", **SECRETS}
    env = scrubbed_env(tmp_path, extra_names=["JAVA_HOME", "NOT_SET"], source=source)
    assert env == {
        "PATH": "/usr/bin",
        "TZ": "UTC",
        "JAVA_HOME": "/opt/jdk",
        "HOME": str(tmp_path),
        "TMPDIR": str(tmp_path / "tmp"),
        "CI": "true",
        "GIT_TERMINAL_PROMPT": "0",
        "PYTHONDONTWRITEBYTECODE": "1",
    }


def test_scrubbed_env_overrides_home_and_defaults_path(tmp_path: Path) -> None:
    env = scrubbed_env(tmp_path, extra_names=["HOME"], source={"HOME": "/root"})
    assert env["HOME"] == str(tmp_path)
    assert env["PATH"] == os.defpath


@pytest.mark.parametrize(
    "name",
    [
        "GITHUB_TOKEN",
        "github_api_url",
        "ANTHROPIC_BASE_URL",
        "CLAUDE_REFRESH_TOKEN",
        "NPM_TOKEN",
        "my_client_secret",
        "MYSQL_PASSWORD",
        "SSH_KEY_PATH",
        "api_key",
        "DATABASE_URL",
        "PGHOST",
        "pgpassword",
        "AWS_REGION",
        "AUTONOMOUS_DEV_ENV",
        "SSH_AUTH_SOCK",
        "GIT_ASKPASS",
        "",
        "A=B",
    ],
)
def test_credential_like_extra_names_are_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(ValueError):
        scrubbed_env(tmp_path, extra_names=[name], source={name: "value"})


def test_timeout_kills_the_command(tmp_path: Path) -> None:
    started = time.monotonic()
    result = run_command("sleep 30", cwd=tmp_path, env=scrubbed_env(tmp_path / "h"), timeout_s=1)
    assert result.timed_out and result.exit_code is None
    assert time.monotonic() - started < 4
    assert 1 <= result.duration_s < 4


def test_timeout_kills_grandchildren(tmp_path: Path) -> None:
    pid_file = tmp_path / "grandchild.pid"
    command = f"sh -c 'sleep 60 & echo $! > {pid_file}; wait'"
    result = run_command(command, cwd=tmp_path, env=scrubbed_env(tmp_path / "h"), timeout_s=1)
    grandchild = int(wait_for_file(pid_file))
    assert result.timed_out
    assert dies_soon(grandchild)


def test_command_that_ignores_sigterm_is_killed_after_the_grace_period(tmp_path: Path) -> None:
    script = "trap '' TERM; echo started; sleep 30"
    started = time.monotonic()
    result = run_command(script, cwd=tmp_path, env=scrubbed_env(tmp_path / "h"), timeout_s=0.5)
    assert result.timed_out and result.exit_code is None
    assert "started" in result.output
    assert time.monotonic() - started < 5


def test_background_processes_left_behind_are_killed(tmp_path: Path) -> None:
    pid_file = tmp_path / "daemon.pid"
    command = f"sleep 60 > /dev/null 2>&1 & echo $! > {pid_file}; echo done"
    result = run_command(command, cwd=tmp_path, env=scrubbed_env(tmp_path / "h"), timeout_s=10)
    assert result.exit_code == 0 and result.output == "done\n" and not result.timed_out
    leftover = int(wait_for_file(pid_file))
    assert dies_soon(leftover)


def test_exit_codes_are_reported(tmp_path: Path) -> None:
    env = scrubbed_env(tmp_path / "h")
    assert run_command("exit 3", cwd=tmp_path, env=env, timeout_s=5).exit_code == 3
    assert run_command(["true"], cwd=tmp_path, env=env, timeout_s=5).exit_code == 0
    assert run_command("kill -9 $$", cwd=tmp_path, env=env, timeout_s=5).exit_code == -9
    missing = run_command(["no-such-program-xyz"], cwd=tmp_path, env=env, timeout_s=5)
    assert missing.exit_code == 127 and "no-such-program-xyz" in missing.output
    assert run_command("no-such-program-xyz", cwd=tmp_path, env=env, timeout_s=5).exit_code == 127


def test_stdout_and_stderr_are_interleaved(tmp_path: Path) -> None:
    result = run_command("echo one; echo two >&2; echo three", tmp_path, scrubbed_env(tmp_path / "h"), 5)
    assert result.output == "one\ntwo\nthree\n"
    assert result.command == "echo one; echo two >&2; echo three"
    assert not result.truncated


def test_sequence_commands_are_shown_quoted(tmp_path: Path) -> None:
    result = run_command(["echo", "a b"], tmp_path, scrubbed_env(tmp_path / "h"), 5)
    assert result.command == "echo 'a b'" and result.output == "a b\n"


def test_large_output_keeps_head_and_tail(tmp_path: Path) -> None:
    script = "import sys\nsys.stdout.write('HEAD' + 'x' * 1_000_000 + 'TAIL')"
    result = run_command([sys.executable, "-c", script], tmp_path, scrubbed_env(tmp_path / "h"), 20, 1000)
    assert result.truncated and result.exit_code == 0
    assert result.output.startswith("HEAD" + "x" * 496)
    assert result.output.endswith("x" * 496 + "TAIL")
    assert "\n[... 999008 bytes omitted ...]\n" in result.output
    assert len(result.output) < 1100


def test_output_at_the_limit_is_kept_whole(tmp_path: Path) -> None:
    script = "import sys\nsys.stdout.write('a' * 1000)"
    result = run_command([sys.executable, "-c", script], tmp_path, scrubbed_env(tmp_path / "h"), 20, 1000)
    assert result.output == "a" * 1000 and not result.truncated


def test_non_utf8_output_is_replaced_not_fatal(tmp_path: Path) -> None:
    result = run_command("printf 'ok \\377\\376 caf\\303\\251\\n'", tmp_path, scrubbed_env(tmp_path / "h"), 5)
    assert result.exit_code == 0
    assert result.output == "ok \ufffd\ufffd caf\u00e9\n"


def test_invalid_limits_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        run_command("true", tmp_path, {}, timeout_s=0)
    with pytest.raises(ValueError):
        run_command("true", tmp_path, {}, timeout_s=1, max_output_bytes=1)


def test_after_output_ends_the_exit_is_checked_at_once_then_less_often(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A command that closes its output and exits right after is not kept waiting for a 50 ms tick."""
    import autonomous_dev.sandbox.procs as procs

    pauses: list[float] = []
    real_sleep = time.sleep

    def recording_sleep(seconds: float) -> None:
        pauses.append(seconds)
        real_sleep(seconds)

    monkeypatch.setattr(procs.time, "sleep", recording_sleep)
    command = "exec >&- 2>&-; sleep 0.3"
    result = run_command(command, cwd=tmp_path, env=scrubbed_env(tmp_path / "h"), timeout_s=10)
    assert result.exit_code == 0
    assert pauses[0] == 0.001
    assert pauses[:4] == [0.001, 0.002, 0.004, 0.008]
    assert max(pauses) == 0.05  # then it backs off to the usual poll interval


def test_kill_all_ends_the_commands_other_threads_run(tmp_path: Path) -> None:
    """A cold stop kills every running command's group, whichever thread started it."""
    env = scrubbed_env(tmp_path / "home")
    results: list[CommandResult] = []
    script = f"sleep 60 & echo $! > {tmp_path}/child; sleep 60"
    worker = threading.Thread(target=lambda: results.append(run_command(script, tmp_path, env, 120)))
    worker.start()
    deadline = time.monotonic() + 10
    while not (tmp_path / "child").is_file() or not (tmp_path / "child").read_text().strip():
        assert time.monotonic() < deadline, "the command did not start"
        time.sleep(0.05)
    assert kill_all() == 1
    worker.join(timeout=10)
    [result] = results
    assert result.exit_code == -9 and not result.timed_out
    assert dies_soon(int((tmp_path / "child").read_text()))
    assert kill_all() == 0
