"""WORK_DIR and the disk: an unusable WORK_DIR is a configuration error, a full disk an outage, temporary
directories live (and are cleaned) under WORK_DIR. Disk-full tests run on a small real tmpfs."""

from __future__ import annotations

import errno
import logging
import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from autonomous_dev.core.repomap import SymbolCache
from autonomous_dev.errors import ExitStatus, InfrastructureError
from autonomous_dev.git.work_dir import hold_work_dir
from autonomous_dev.github.conditional import ConditionalCache
from autonomous_dev.store.backends import open_store
from tests.conftest import NAME, OWNER, Stage
from tests.daemon_helpers import seed_issues, start_cli, status_json, wait_for
from tests.helpers import run_cli
from tests.standins.anthropic_server import Script, text_block


def mount_tmpfs(path: Path, size: str, read_only: bool = False) -> None:
    """A real tmpfs of `size` at `path`, owned by us; as root, or through password-less sudo (CI runners)."""
    path.mkdir(parents=True, exist_ok=True)
    options = f"size={size},uid={os.getuid()},gid={os.getgid()}" + (",ro" if read_only else "")
    mounted = subprocess.run([*_as_root(), "mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)],
                             capture_output=True)  # fmt: skip
    if mounted.returncode != 0:
        pytest.skip(f"mounting a tmpfs needs root or password-less sudo: {mounted.stderr.decode().strip()}")


def unmount(path: Path) -> None:
    subprocess.run([*_as_root(), "umount", "-l", str(path)], check=True)


def _as_root() -> list[str]:
    return [] if os.geteuid() == 0 else ["sudo", "-n"]


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 16 MB tmpfs: room for the mirror, a worktree and the caches, until the test fills it."""
    path = tmp_path / "disk"
    mount_tmpfs(path, "16m")
    yield path
    unmount(path)


def fill(disk: Path) -> Path:
    """Write a ballast file until the file system has no byte left; delete it to give the space back."""
    ballast = disk / "ballast"
    with open(ballast, "wb", buffering=0) as out:
        for chunk in (1 << 20, 4096, 1):
            try:
                while True:
                    out.write(b"\0" * chunk)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC
    return ballast


# -- WORK_DIR that cannot be used: exit 3 before anything is claimed -----------------------------------


def assert_refused_before_claiming(
    stage: Stage, result: subprocess.CompletedProcess[str], path: Path
) -> None:
    assert result.returncode == 3, result.stderr
    assert "Traceback" not in result.stderr
    [error] = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert str(path) in error and "WORK_DIR (execution.workDir, --work-dir)" in error
    assert "hint:" in result.stderr
    assert not [r for r in stage.github.requests if r.method != "GET"]  # no label, no claim, nothing written


def test_work_dir_below_a_file_is_a_config_error(stage: Stage, tmp_path: Path) -> None:
    seed_issues(stage, 1)
    (tmp_path / "a-file").write_text("")
    work_dir = tmp_path / "a-file" / "work"
    result = run_cli(["run"], cwd=stage.cwd, env=stage.env(WORK_DIR=str(work_dir)))
    assert_refused_before_claiming(stage, result, work_dir)
    assert "Not a directory" in result.stderr


def test_work_dir_that_is_a_file_is_a_config_error_from_the_flag_too(stage: Stage, tmp_path: Path) -> None:
    seed_issues(stage, 1)
    work_dir = tmp_path / "a-file"
    work_dir.write_text("")
    result = run_cli(["run", "--work-dir", str(work_dir)], cwd=stage.cwd, env=stage.env())
    assert_refused_before_claiming(stage, result, work_dir)


def test_read_only_work_dir_is_a_config_error(stage: Stage, tmp_path: Path) -> None:
    seed_issues(stage, 1)
    work_dir = tmp_path / "read-only"
    mount_tmpfs(work_dir, "1m", read_only=True)
    try:
        result = run_cli(["start"], cwd=stage.cwd, env=stage.env(WORK_DIR=str(work_dir)))
    finally:
        unmount(work_dir)
    assert_refused_before_claiming(stage, result, work_dir)
    assert "Read-only file system" in result.stderr


# -- temporary directories under WORK_DIR, cleaned at start ---------------------------------------------


def test_temporary_homes_live_under_work_dir_and_a_killed_runs_are_cleaned(
    stage: Stage, tmp_path: Path
) -> None:
    seed_issues(stage, 1)
    seen = tmp_path / "home.txt"
    # unsandboxed: the command reports its pid and HOME to a file outside its worktree (what's tested here
    # is where the tool puts temporary homes and how it cleans them, not the sandbox)
    env = stage.env(TEST_COMMAND=f'echo "$$ $HOME" > {seen} && exec sleep 120', SANDBOX_BACKEND="none")
    process = start_cli(["run"], stage.cwd, env, tmp_path / "run.log")
    wait_for(lambda: seen.exists() and seen.read_text().strip(), 60, "the test command")
    pid, home_text = seen.read_text().split()
    home = Path(home_text)
    assert home.parent == stage.work_dir / "tmp" and home.name.startswith("autonomous-dev-home-")
    process.kill()  # no chance to clean up
    process.wait(timeout=10)
    os.kill(int(pid), signal.SIGKILL)
    assert home.is_dir()
    holder = hold_work_dir(stage.work_dir)  # another live process holds WORK_DIR ...
    try:
        blocked = run_cli(["run"], cwd=stage.cwd, env=env)
        assert "in use by another autonomous-dev process" in blocked.stderr
        assert home.is_dir()  # ... so nothing in it is touched
    finally:
        holder.close()
    result = run_cli(["run"], cwd=stage.cwd, env=stage.env(TEST_COMMAND="true"))
    assert result.returncode == 0, result.stderr[-3000:]
    assert not home.exists()  # removed by the next process that holds WORK_DIR
    assert list((stage.work_dir / "tmp").iterdir()) == []  # and that one left nothing behind


# -- a full disk: one clear error, the claim released, no PR, recovery once space is back -------------


def test_disk_full_mid_task_releases_the_claim_and_the_next_cycle_recovers(
    stage: Stage, small_disk: Path, tmp_path: Path
) -> None:
    """The worktree fills up while the model works: one clear error, no PR, and once there is room again
    the next run does the task (the state store is elsewhere here; its own full disk is tested below)."""
    [number] = seed_issues(stage, 1)
    stage.claude.latency_s = 2.0
    state = str(tmp_path / "state.db")
    env = stage.env(
        WORK_DIR=str(small_disk / "work"), STATE_SQLITE_PATH=state, LOG_LEVEL="INFO", BACKOFF_MINUTES="0"
    )
    log = tmp_path / "run.log"
    process = start_cli(["run"], stage.cwd, env, log)
    wait_for(lambda: len(stage.claude.message_requests()) >= 1, 60, "the first model request")
    ballast = fill(small_disk)
    code = process.wait(timeout=60)
    output = log.read_text()
    assert code == ExitStatus.UNAVAILABLE, output[-3000:]
    assert "the disk is full: could not write" in output, output[-3000:]
    assert "Traceback" not in output and "Nothing to do" not in output, output[-3000:]
    assert stage.github.pulls(OWNER, NAME) == []
    assert not [b for b in stage.github.branches(OWNER, NAME) if b.startswith("auto/")]  # nothing pushed
    task = status_json(stage, env)[number]
    assert (task["claim_owner"], task["attempts"]) == (None, 0), task
    assert "in-progress" not in stage.github.issue(OWNER, NAME, number)["labels"]
    ballast.unlink()
    stage.claude.latency_s = 0
    result = run_cli(["run"], cwd=stage.cwd, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    assert len(stage.github.pulls(OWNER, NAME)) == 1


def test_disk_full_when_saving_the_etag_cache_is_one_warning(
    stage: Stage, small_disk: Path, tmp_path: Path
) -> None:
    """Issue 21 item 12: the end-of-run save of the ETag cache meets a full disk."""
    number = stage.github.add_issue(OWNER, NAME, "Question", "Is add() right?", labels=["autonomous-dev"])
    stage.claude.scripts.append(
        Script([[text_block("No change needed.")]], match=f'<issue number="{number}">')
    )
    stage.claude.latency_s = 2.0
    work_dir = small_disk / "work"
    work_dir.mkdir()
    for bulky in ("mirrors", "worktrees", "tmp"):  # elsewhere, so that cleaning them up frees no room here
        (tmp_path / bulky).mkdir()
        (work_dir / bulky).symlink_to(tmp_path / bulky)
    env = stage.env(WORK_DIR=str(work_dir), STATE_SQLITE_PATH=str(tmp_path / "state.db"))
    log = tmp_path / "run.log"
    process = start_cli(["run"], stage.cwd, env, log)
    wait_for(lambda: len(stage.claude.message_requests()) >= 1, 60, "the first model request")
    fill(small_disk)
    code = process.wait(timeout=60)
    output = log.read_text()
    assert "Traceback" not in output, output[-3000:]
    warnings = [line for line in output.splitlines() if "the ETag cache was not saved" in line]
    assert len(warnings) == 1 and "the disk is full" in warnings[0], output[-3000:]
    assert code == 0, output[-3000:]  # the run's own outcome: answered without changes
    assert [p.name for p in work_dir.glob("github-etags-*")] == []  # no partial file left taking room


def test_state_store_on_a_full_disk_is_a_disk_outage(small_disk: Path) -> None:
    store = open_store("sqlite", small_disk / "state.db", None)
    store.migrate()
    ballast = fill(small_disk)
    with pytest.raises(InfrastructureError) as raised:
        store.observe("acme/widgets", 1, "f" * 64)
    assert raised.value.service == "disk" and "state database" in raised.value.message
    ballast.unlink()
    assert store.observe("acme/widgets", 1, "f" * 64).issue == 1
    store.close()


# -- the caches on a full disk, one by one ---------------------------------------------------------------


def test_etag_cache_save_on_a_full_disk_is_a_disk_outage_and_leaves_no_partial(small_disk: Path) -> None:
    cache = ConditionalCache()
    cache.get(lambda url, headers: ({"ETag": '"a"'}, ["x" * 100_000]), "https://api.example.invalid/a")
    ballast = fill(small_disk)
    with pytest.raises(InfrastructureError) as raised:
        cache.save(small_disk / "etags.json")
    assert raised.value.service == "disk" and str(small_disk) in raised.value.message
    assert sorted(p.name for p in small_disk.iterdir()) == ["ballast"]
    ballast.unlink()
    cache.save(small_disk / "etags.json")
    reloaded = ConditionalCache()
    reloaded.load(small_disk / "etags.json")
    assert reloaded.get(lambda url, headers: ({}, None), "https://api.example.invalid/a")[0] == [
        "x" * 100_000
    ]


def test_symbol_cache_on_a_full_disk_warns_once_and_keeps_working(
    small_disk: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with SymbolCache(small_disk / "symbols.db") as cache:
        ballast = fill(small_disk)
        entries = {(f"{index:040x}", "regex-1"): ["def f" * 2000] for index in range(50)}
        with caplog.at_level(logging.WARNING):
            cache.store(entries)
            cache.store(entries)
        assert len([r for r in caplog.records if "symbol cache" in r.getMessage()]) == 1
        assert cache.lookup(entries) == {}  # nothing was kept, nothing broke
        ballast.unlink()
        cache.store(entries)
        assert len(cache.lookup(entries)) == 50
