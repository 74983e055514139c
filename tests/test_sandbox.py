"""The sandbox for repository code, run for real with bubblewrap; the container backends by their argv."""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import uuid
from pathlib import Path

import pytest

from autonomous_dev.core.evaluate import Run, command_report
from autonomous_dev.errors import ConfigError
from autonomous_dev.sandbox.backends import Limits, Sandbox, sandbox_from_settings
from autonomous_dev.sandbox.check import trial
from autonomous_dev.sandbox.procs import run_command, scrubbed_env
from autonomous_dev.settings.services import SandboxSettings
from tests.helpers import run_cli

PYTHON = "/usr/bin/python3"  # the system's: visible in every sandbox
pytestmark = pytest.mark.skipif(
    not os.access("/usr/bin/bwrap", os.X_OK), reason="bubblewrap is not installed"
)


def make(tmp_path: Path, **settings: object) -> tuple[Sandbox, Path, Path]:
    """A bubblewrap sandbox hiding tmp_path/work (WORK_DIR), with a worktree and a HOME of its own."""
    work = tmp_path / "work"
    worktree = work / "worktrees" / "slot-1"
    worktree.mkdir(parents=True)
    (worktree / ".git").write_text(f"gitdir: {work}/mirror/worktrees/slot-1\n")
    (work / "state.db").write_text("secret state\n")
    home = tmp_path / "scratch-home"
    sandbox = sandbox_from_settings(SandboxSettings.model_validate(settings), [work, Path.home()])
    return sandbox, worktree, home


def run(sandbox: Sandbox, worktree: Path, home: Path, command: str, timeout_s: float = 60) -> tuple[int, str]:
    result = sandbox.run(command, worktree, home, scrubbed_env(home), timeout_s)
    return result.exit_code or 0, result.output


def test_the_network_is_off(tmp_path: Path, listener: int) -> None:
    connect = f"{PYTHON} -c 'import socket; socket.create_connection((\"127.0.0.1\", {listener}), timeout=3)'"
    sandbox, worktree, home = make(tmp_path)
    code, output = run(sandbox, worktree, home, connect)
    assert code != 0 and "Connection refused" in output
    assert run(Sandbox("none"), worktree, home, connect)[0] == 0  # the port is open to the host


def test_work_dir_is_hidden_even_inside_a_path_shown_read_only(tmp_path: Path) -> None:
    (tmp_path / "toolchain.txt").write_text("tool\n")
    sandbox, worktree, home = make(tmp_path, read_only_paths=[str(tmp_path)])
    work = tmp_path / "work"
    _, output = run(sandbox, worktree, home, f"cat {tmp_path}/toolchain.txt {work}/state.db; ls -A {work}")
    assert output.startswith("tool\n") and "secret state" not in output and "\nstate.db\n" not in output
    assert output.endswith("\nworktrees\n")  # only the way to the worktree is there


def test_only_the_worktree_and_home_are_writable(tmp_path: Path) -> None:
    sandbox, worktree, home = make(tmp_path, read_only_paths=[str(tmp_path)])
    outside = [tmp_path / "escape", tmp_path / "work" / "escape", Path("/usr/escape-" + uuid.uuid4().hex)]
    writes = "; ".join(f"echo x > {path}" for path in outside)
    _, output = run(sandbox, worktree, home, f"{writes}; echo x > .git; echo ok > made; echo ok > $HOME/h")
    assert [path for path in outside if path.exists()] == [] and output.count("Read-only file system") >= 3
    assert (worktree / "made").read_text() == "ok\n" and (home / "h").read_text() == "ok\n"
    assert (worktree / ".git").read_text().startswith("gitdir:")


def test_other_processes_are_invisible(tmp_path: Path) -> None:
    sandbox, worktree, home = make(tmp_path)
    _, output = run(sandbox, worktree, home, f"ls /proc | grep -c '^[0-9]'; cat /proc/{os.getpid()}/environ")
    assert int(output.split()[0]) < 10 and "PATH=" not in output


def test_a_timeout_kills_every_process_of_the_command(tmp_path: Path) -> None:
    sandbox, worktree, home = make(tmp_path)
    marker = f"{uuid.uuid4().int % 10_000 + 90_000}"
    result = sandbox.run(f"sleep {marker} & sleep {marker}; echo", worktree, home, scrubbed_env(home), 1)
    assert result.timed_out and "time limit of 1 s" in result.limit
    assert "time limit of 1 s" in Run(result).summary and "sandbox limit: time" in command_report(result)
    left = [p for p in Path("/proc").iterdir() if p.name.isdigit() and marker in _cmdline(p)]
    assert left == []


def test_the_memory_limit_stops_a_large_allocation_and_is_named(tmp_path: Path) -> None:
    sandbox, worktree, home = make(tmp_path, memory_mb=128)
    result = sandbox.run(
        [PYTHON, "-c", "bytearray(512 * 1024 * 1024)"], worktree, home, scrubbed_env(home), 60
    )
    assert result.exit_code != 0 and "MemoryError" in result.output
    assert "memory limit of 128 MB" in result.limit and "memory limit" in command_report(result)
    small = sandbox.run([PYTHON, "-c", "bytearray(16 * 1024 * 1024)"], worktree, home, scrubbed_env(home), 60)
    assert small.exit_code == 0 and small.limit == ""


def test_the_process_limit_stops_a_fork_loop(tmp_path: Path) -> None:
    """RLIMIT_NPROC does not bind root, so as root the sandbox is started as nobody here."""
    scratch = Path(tempfile.mkdtemp())  # outside pytest's root-only directory
    os.chmod(scratch, 0o755)
    worktree, home = scratch / "worktree", scratch / "home"
    for path in (worktree, home):
        path.mkdir()
    as_nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"] if os.getuid() == 0 else []
    if as_nobody:
        for path in (worktree, home):
            os.chown(path, 65534, 65534)
    sandbox = sandbox_from_settings(SandboxSettings(max_processes=20), [tmp_path])
    forks = "import os, time\nfor _ in range(60):\n    if os.fork() == 0:\n        time.sleep(3); os._exit(0)"
    env = {"PATH": "/usr/bin:/bin", "HOME": str(home)}

    def wrap(argv: list[str]) -> list[str]:
        return [*as_nobody, *sandbox.wrap(argv, worktree, home, env)]

    try:
        result = run_command([PYTHON, "-c", forks], worktree, env, 60, wrap=wrap)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    assert result.exit_code != 0 and "Resource temporarily unavailable" in result.output, result.output
    assert "process limit of 20" in sandbox.limit_hit(result, 60, 200_000)


def test_the_trial_of_config_validate_finds_the_sandbox_confined(tmp_path: Path) -> None:
    sandbox, _, _ = make(tmp_path)
    assert trial(sandbox, [tmp_path / "work"]) == ""
    problems = trial(Sandbox("none"), [tmp_path / "work"])
    assert "state.db" in problems


def test_container_backends_run_without_network_as_the_user_with_limits(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    docker = tmp_path / "bin" / "docker"
    docker.parent.mkdir()
    docker.write_text("#!/bin/sh\n")
    docker.chmod(0o755)
    monkeypatch.setenv("PATH", str(docker.parent))
    settings = SandboxSettings(backend="docker", image="python:3.12", memory_mb=256, max_processes=64)
    sandbox = sandbox_from_settings(settings)
    worktree, home = tmp_path / "wt", tmp_path / "home"
    worktree.mkdir()
    (worktree / ".git").write_text("gitdir: x\n")
    argv = sandbox.wrap(["pytest", "-q"], worktree, home, {"PATH": "/x", "HOME": str(home)}, "c1")
    assert argv[:4] == [str(docker), "run", "--rm", "--name"] and argv[-3:] == ["python:3.12", "pytest", "-q"]
    joined = " ".join(argv)
    for part in ("--network none", f"--user {os.getuid()}:{os.getgid()}", "--memory 256m", "--pids-limit 64",
                 f"-v {worktree}:{worktree}", f"{worktree}/.git:{worktree}/.git:ro", "--env=HOME",
                 "--cap-drop ALL", "--read-only"):  # fmt: skip
        assert part in joined, part
    assert "--env=PATH" not in joined


def test_a_missing_backend_or_image_is_a_config_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ConfigError, match="`podman` is not on PATH"):
        sandbox_from_settings(SandboxSettings(backend="podman", image="x"))
    docker = tmp_path / "docker"
    docker.write_text("#!/bin/sh\n")
    docker.chmod(0o755)
    with pytest.raises(ConfigError, match=r"sandbox\.image is not set"):
        sandbox_from_settings(SandboxSettings(backend="docker"))


def test_start_refuses_backend_none_unless_allowed(tmp_path: Path) -> None:
    env = {"SANDBOX_BACKEND": "none", "WORK_DIR": str(tmp_path / "work"), "REPO_OWNER": "a", "REPO_NAME": "b"}
    refused = run_cli(["start"], cwd=tmp_path, env=env, timeout=60)
    assert (
        refused.returncode == 3
        and "refusing to start the daemon with sandbox.backend = none" in refused.stderr
    )
    # Allowed, it gets past the sandbox and stops at the next thing missing (credentials), warning first.
    allowed = run_cli(["start"], cwd=tmp_path, env={**env, "SANDBOX_ALLOW_UNSANDBOXED": "true"}, timeout=60)
    assert "refusing to start" not in allowed.stderr and "run unsandboxed" in allowed.stderr
    assert allowed.returncode != 0


def test_without_limits_the_command_is_not_wrapped_in_prlimit(tmp_path: Path) -> None:
    sandbox = Sandbox("bwrap", "/usr/bin/bwrap", Limits())
    assert sandbox.wrap(["true"], tmp_path, tmp_path, {})[-2:] == ["--", "true"]


def _cmdline(proc: Path) -> str:
    try:
        return (proc / "cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return ""


def test_python_on_the_path_works_inside(tmp_path: Path) -> None:
    """The PATH's toolchains (a virtualenv and its interpreter, pyenv's shims) are shown read-only."""
    sandbox, worktree, home = make(tmp_path)
    env = scrubbed_env(home, source={"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin"})
    result = sandbox.run(["python", "-c", "import pytest; print('ok')"], worktree, home, env, 60)
    assert result.exit_code == 0 and "ok" in result.output, result.output


def test_the_tools_own_git_commands_run_no_hook_and_no_fsmonitor(tmp_path: Path) -> None:
    """Defence in depth: even a hook or fsmonitor that reached the git directory never runs."""
    from autonomous_dev.git.workspace import GitIdentity, GitWorkspaces
    from autonomous_dev.security.redact import Redactor
    from tests.helpers import commit_all

    source = tmp_path / "source"
    source.mkdir()
    (source / "app.py").write_text("A = 1\n")
    commit_all(source)
    work = tmp_path / "work"
    spaces = GitWorkspaces(work, "acme/w", str(source), "t", GitIdentity("b", "b@x.invalid"), Redactor())
    spaces.sync()
    marker = tmp_path / "ran"
    hooks = spaces.mirror_path / "hooks"
    hooks.mkdir(exist_ok=True)
    for name in ("pre-commit", "post-commit", "post-checkout", "reference-transaction"):
        (hooks / name).write_text(f"#!/bin/sh\ntouch {marker}\n")
        (hooks / name).chmod(0o755)
    with (spaces.mirror_path / "config").open("a") as config:
        config.write(f"[core]\n\tfsmonitor = touch {marker}\n")
    workspace = spaces.open("auto/1-x", "main")
    (workspace.path / "b.py").write_text("B = 2\n")
    assert workspace.has_changes() and workspace.commit("change").files == ("b.py",)
    workspace.close()
    assert not marker.exists()


def test_config_validate_has_a_sandbox_row(tmp_path: Path) -> None:
    env = {"WORK_DIR": str(tmp_path / "work"), "GITHUB_TOKEN": "x" * 40, "ANTHROPIC_API_KEY": "y" * 40}
    rows = _sandbox_rows(
        run_cli(["config", "--validate", "--offline", "--json"], cwd=tmp_path, env=env).stdout
    )
    assert rows[0]["status"] == "ok" and "bwrap" in rows[0]["detail"], rows
    unsandboxed = run_cli(["config", "--validate", "--offline", "--json"], cwd=tmp_path,
                          env={**env, "SANDBOX_BACKEND": "none"})  # fmt: skip
    [row] = _sandbox_rows(unsandboxed.stdout)
    assert row["status"] == "warn" and "unsandboxed" in row["detail"]


def _sandbox_rows(output: str) -> list[dict[str, str]]:
    return [row for row in json.loads(output) if row["name"] == "sandbox"]
