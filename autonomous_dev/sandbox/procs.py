"""Run repository commands (tests, builds) with a scrubbed environment, a timeout and an output limit.

Every command runs in its own session, so it and everything it starts form one process group: on timeout
the group gets SIGTERM, then SIGKILL after a short grace period, and when the command ends normally any
processes it left behind in that group are killed too. Output (stdout and stderr interleaved) is read as
it arrives and only its head and tail are kept, so a runaway log cannot exhaust memory. The groups
still running are known, so a cold stop can kill them all (`kill_all`) before the process exits.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import shlex
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path

ALLOWED_ENV = ("PATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TERM")
# Names that look like credentials (or give access to them) are never passed on, even when asked for.
FORBIDDEN_ENV_PATTERNS = (
    "GITHUB_*",
    "ANTHROPIC_*",
    "CLAUDE_*",
    "AUTONOMOUS_DEV_*",
    "AWS_*",
    "PG*",
    "DATABASE_URL",
    "*TOKEN*",
    "*SECRET*",
    "*PASSWORD*",
    "*PASSWD*",
    "*KEY*",
    "*CREDENTIAL*",
    "*ASKPASS*",
    "SSH_AUTH_SOCK",
)
KILL_GRACE_S = 2.0
DRAIN_S = 1.0  # how long to wait for output from processes that left the group before giving up
_POLL_S = 0.05
_FIRST_PAUSE_S = 0.001
_CHUNK = 65_536
_running: set[int] = set()  # process groups of commands still running, from any thread
_running_lock = threading.Lock()


@dataclass(frozen=True)
class CommandResult:
    """What a command did: exit code (None when killed by the timeout), output, duration and limits hit."""

    command: str
    exit_code: int | None
    output: str
    duration_s: float
    timed_out: bool
    truncated: bool
    limit: str = ""  # which sandbox limit the command ran into, in words ("" when none)


def scrubbed_env(
    home: Path, extra_names: Sequence[str] = (), source: Mapping[str, str] | None = None
) -> dict[str, str]:
    """An environment with only harmless variables from `source`, HOME=home and TMPDIR=home/tmp.

    Raises ValueError when `extra_names` holds a name that looks like a credential or is not a valid name.
    """
    for name in extra_names:
        _check_name(name)
    values = os.environ if source is None else source
    env = {name: values[name] for name in (*ALLOWED_ENV, *extra_names) if name in values}
    env.setdefault("PATH", os.defpath)
    tmp = home / "tmp"
    tmp.mkdir(mode=0o700, parents=True, exist_ok=True)
    # No bytecode files: checks must not leave artifacts that would be mistaken for the model's change.
    env.update(
        HOME=str(home), TMPDIR=str(tmp), CI="true", GIT_TERMINAL_PROMPT="0", PYTHONDONTWRITEBYTECODE="1"
    )
    return env


def is_forbidden_env_name(name: str) -> bool:
    """True when `name` looks like it holds a credential (case-insensitive)."""
    upper = name.upper()
    return any(fnmatchcase(upper, pattern) for pattern in FORBIDDEN_ENV_PATTERNS)


def run_command(
    command: str | Sequence[str],
    cwd: Path,
    env: Mapping[str, str],
    timeout_s: float,
    max_output_bytes: int = 200_000,
    wrap: Callable[[list[str]], list[str]] | None = None,
) -> CommandResult:
    """Run `command` (a string goes through /bin/sh -c) and report what happened; never raises on failure.

    `exit_code` is negative (minus the signal number) when the command died from a signal it did not get
    from the timeout, and 127/126 when it could not be started (not found / not executable), as in a shell.
    `wrap` turns the argv into the one actually started (a sandbox); the result still shows `command`.
    """
    if timeout_s <= 0:
        raise ValueError(f"timeout_s must be positive, got {timeout_s}")
    if max_output_bytes < 2:
        raise ValueError(f"max_output_bytes must be at least 2, got {max_output_bytes}")
    argv = ["/bin/sh", "-c", command] if isinstance(command, str) else list(command)
    shown = command if isinstance(command, str) else shlex.join(argv)
    if wrap is not None:
        argv = wrap(argv)
    started = time.monotonic()
    try:
        proc = _start(argv, cwd, env)
    except (FileNotFoundError, PermissionError) as error:
        code = 127 if isinstance(error, FileNotFoundError) else 126
        return CommandResult(shown, code, f"{error}\n", time.monotonic() - started, False, False)
    capture = _Capture(max_output_bytes)
    with _running_lock:
        _running.add(proc.pid)
    try:
        exit_code, timed_out = _supervise(proc, capture, started + timeout_s)
    except BaseException:  # e.g. KeyboardInterrupt: never leave the command running behind us
        _signal_group(proc.pid, signal.SIGKILL)
        _forget(proc.pid)
        proc.wait()
        raise
    return CommandResult(
        command=shown,
        exit_code=exit_code,
        output=capture.text(),
        duration_s=time.monotonic() - started,
        timed_out=timed_out,
        truncated=capture.truncated,
    )


def kill_all() -> int:
    """SIGKILL the group of every command still running (a cold stop); returns how many groups there were.

    That is the commands started here (signalled under the lock their owners take before reaping a leader,
    so no group id can have been reused) and, on Linux, any other child that leads its own group (git).
    """
    with _running_lock:
        groups = set(_running) | _child_group_leaders()
        for pgid in groups:
            _signal_group(pgid, signal.SIGKILL)
        return len(groups)


def _child_group_leaders() -> set[int]:
    """Our children that lead their own process group, from /proc (empty where there is none)."""
    leaders = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:  # gone meanwhile
            continue
        pid, state, ppid, pgrp = int(stat.parent.name), fields[0], int(fields[1]), int(fields[2])
        if ppid == os.getpid() and pgrp == pid and state != "Z":
            leaders.add(pid)
    return leaders


def _check_name(name: str) -> None:
    if not name or "=" in name or "\0" in name:
        raise ValueError(f"not a valid environment variable name: {name!r}")
    if is_forbidden_env_name(name):
        raise ValueError(f"refusing to pass {name} to a repository command: the name looks like a credential")


def _start(argv: list[str], cwd: Path, env: Mapping[str, str]) -> subprocess.Popen[bytes]:
    """Start the command as the leader of a new session, with no stdin and one pipe for all output."""
    return subprocess.Popen(
        argv,
        cwd=cwd,
        env=dict(env),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


class _Capture:
    """Keeps the first half and the last half of `limit` bytes of a stream, counting what falls between."""

    def __init__(self, limit: int) -> None:
        self.head_limit = limit // 2
        self.tail_limit = limit - self.head_limit
        self.head = bytearray()
        self.tail = bytearray()
        self.total = 0

    def add(self, chunk: bytes) -> None:
        self.total += len(chunk)
        room = self.head_limit - len(self.head)
        if room > 0:
            self.head += chunk[:room]
            chunk = chunk[room:]
        self.tail += chunk
        if len(self.tail) > 2 * self.tail_limit:  # trim in batches, not on every chunk
            del self.tail[: -self.tail_limit]

    @property
    def truncated(self) -> bool:
        return self.total > self.head_limit + self.tail_limit

    def text(self) -> str:
        if not self.truncated:
            return (self.head + self.tail).decode("utf-8", errors="replace")
        tail = self.tail[-self.tail_limit :]
        omitted = self.total - len(self.head) - len(tail)
        marker = f"\n[... {omitted} bytes omitted ...]\n"
        return self.head.decode("utf-8", errors="replace") + marker + tail.decode("utf-8", errors="replace")


def _supervise(proc: subprocess.Popen[bytes], capture: _Capture, deadline: float) -> tuple[int | None, bool]:
    """Read output until the command exits or the deadline passes; returns (exit code, timed out)."""
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    timed_out = False
    pause = _FIRST_PAUSE_S  # after end of output the leader usually exits within a millisecond or two
    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_READ)
        while not _exited(proc.pid):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                _terminate(proc.pid)
                timed_out = True
                break
            if selector.get_map():
                _read_ready(selector, fd, capture, min(_POLL_S, remaining))
            else:
                time.sleep(min(pause, remaining))
                pause = min(pause * 2, _POLL_S)
        # The leader has exited but is not reaped yet, so its group id cannot have been reused.
        _signal_group(proc.pid, signal.SIGKILL)
        _drain(selector, fd, capture, time.monotonic() + DRAIN_S)
    proc.stdout.close()
    _forget(proc.pid)  # before reaping: once reaped, the group id may be reused
    exit_code = proc.wait()
    return (None, True) if timed_out else (exit_code, False)


def _forget(pgid: int) -> None:
    with _running_lock:
        _running.discard(pgid)


def _exited(pid: int) -> bool:
    """Whether the child has exited, without reaping it."""
    try:
        return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    except ChildProcessError:  # reaped elsewhere (SIGCHLD ignored): it is gone either way
        return True


def _read_ready(selector: selectors.BaseSelector, fd: int, capture: _Capture, wait_s: float) -> None:
    """Read one chunk if output is ready within `wait_s`; stop watching `fd` at end of output."""
    if not selector.select(max(wait_s, 0.0)):
        return
    chunk = os.read(fd, _CHUNK)
    if chunk:
        capture.add(chunk)
    else:
        selector.unregister(fd)


def _drain(selector: selectors.BaseSelector, fd: int, capture: _Capture, until: float) -> None:
    """Read what is left until end of output or `until`, whichever comes first."""
    while selector.get_map() and time.monotonic() < until:
        _read_ready(selector, fd, capture, until - time.monotonic())


def _terminate(pid: int) -> None:
    """SIGTERM the group, wait up to KILL_GRACE_S for the leader, then SIGKILL whatever is left."""
    _signal_group(pid, signal.SIGTERM)
    until = time.monotonic() + KILL_GRACE_S
    while time.monotonic() < until and not _exited(pid):
        time.sleep(_POLL_S)
    _signal_group(pid, signal.SIGKILL)


def _signal_group(pgid: int, signum: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):  # everyone in the group has already gone
        os.killpg(pgid, signum)
