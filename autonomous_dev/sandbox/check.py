"""The sandbox's rows in `config --validate`: its program is found, a trial command is really confined, and
each repository's set-up is detected and its program runs inside."""

from __future__ import annotations

import shlex
import shutil
import tempfile
from pathlib import Path

from autonomous_dev.errors import ConfigError
from autonomous_dev.sandbox.backends import (
    Mount,
    Sandbox,
    daemon_paths,
    sandbox_from_settings,
    toolchain_dirs,
)
from autonomous_dev.sandbox.detect import detect_setup
from autonomous_dev.sandbox.interpreters import find_interpreter
from autonomous_dev.sandbox.procs import scrubbed_env
from autonomous_dev.settings.sections import EvaluationSettings
from autonomous_dev.settings.services import SandboxSettings
from autonomous_dev.settings.validate import Check, Status

NAME = "sandbox"
# Lists what the trial can see of the daemon's directories, then the network interfaces it has.
TRIAL = 'for d in "$@"; do ls -A "$d" 2>/dev/null | head -n 3 | sed "s|^|seen $d: |"; done; ' \
        "echo interfaces; tail -n +3 /proc/net/dev | cut -d: -f1"  # fmt: skip


def sandbox_checks(settings: SandboxSettings, work_dir: Path, offline: bool) -> list[Check]:
    """One row: the backend and, unless offline, what a trial command inside it could reach."""
    if settings.backend == "none":
        status = Status.WARN
        fix = "install bubblewrap and set sandbox.backend to auto; see docs/security.md"
        detail = "backend none: repository code runs unsandboxed"
        if not settings.allow_unsandboxed:
            detail += "; `start` refuses to run until sandbox.allowUnsandboxed is set"
        return [Check(NAME, status, detail, fix)]
    try:
        sandbox = sandbox_from_settings(settings, daemon_paths(work_dir))
    except ConfigError as exc:
        return [Check(NAME, Status.FAIL, exc.message, exc.hint)]
    found = f"{sandbox.backend} ({sandbox.program})"
    if offline:
        return [Check(NAME, Status.OK, f"{found}; trial skipped (--offline)")]
    problems = trial(sandbox, [work_dir, Path.home()])
    if problems:
        return [Check(NAME, Status.FAIL, f"{found}: {problems}", "see docs/security.md (Sandbox)")]
    return [
        Check(NAME, Status.OK, f"{found}: a trial command ran with the network off, WORK_DIR and HOME unseen")
    ]


def trial(sandbox: Sandbox, hidden: list[Path]) -> str:
    """Run the trial in a scratch worktree; what it should not have seen or had, or "" when confined."""
    scratch = Path(tempfile.mkdtemp(prefix="autonomous-dev-trial-"))
    try:
        (scratch / "worktree").mkdir()
        home = scratch / "home"
        env = scrubbed_env(home)
        argv = ["/bin/sh", "-c", TRIAL, "trial", *(str(path) for path in hidden)]
        result = sandbox.run(argv, scratch / "worktree", home, env, timeout_s=60)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    if result.exit_code != 0 or "interfaces" not in result.output:
        return f"the trial command failed (exit {result.exit_code}): {result.output.strip()[-300:]}"
    seen, _, interfaces = result.output.partition("interfaces")
    shown = [*sandbox.read_only, *toolchain_dirs(env["PATH"])]  # shown on purpose, e.g. ~/.pyenv
    problems = [
        line.removeprefix("seen ")
        for line in seen.splitlines()
        if line.startswith("seen ") and not _leads_to(Path(*line[5:].split(": ", 1)), shown)
    ]
    networks = [name.strip() for name in interfaces.split() if name.strip() and name.strip() != "lo"]
    if networks:
        problems.append(f"network interfaces {', '.join(networks)}")
    return "; ".join(problems)


def _leads_to(path: Path, shown: list[Path]) -> bool:
    """Whether `path` is a shown path or on the way to one."""
    return any(path == target or path in target.parents for target in shown)


def setup_checks(
    repos: list[str], work_dir: Path, evaluation: EvaluationSettings, settings: SandboxSettings, offline: bool
) -> list[Check]:
    """A row per repository: the set-up detected in its latest worktree and, unless offline, whether the
    set-up's program runs in the sandbox (an interpreter that can make a virtualenv, npm, go, cargo)."""
    sandbox: Sandbox | str = "trial skipped (--offline)"
    if not offline:
        try:
            sandbox = sandbox_from_settings(settings, daemon_paths(work_dir))
        except ConfigError:
            sandbox = "trial skipped: no sandbox (see its row)"
    return [_setup_row(full_name, work_dir, evaluation, sandbox) for full_name in repos]


def _setup_row(
    full_name: str, work_dir: Path, evaluation: EvaluationSettings, sandbox: Sandbox | str
) -> Check:
    name = f"set-up {full_name}"
    slots = sorted((work_dir / "worktrees" / full_name).glob("slot-*"), key=lambda p: p.stat().st_mtime)
    if not slots:
        return Check(name, Status.OK, "no worktree yet: the set-up is detected when the first task starts")
    plan = detect_setup(slots[-1], evaluation.setup_command, evaluation.test_command or "python -m pytest")
    if plan is None:
        return Check(name, Status.OK, "nothing to install (no manifest, or evaluation.setupCommand is none)")
    detail = f"{plan.note}: `{plan.command}`"
    argv: list[str] = []
    mounts: list[Mount] = []
    if plan.kind == "python":
        found = find_interpreter(plan.requires_python, evaluation.python)
        if found is None:
            wanted = evaluation.python or f"a Python for requires-python {plan.requires_python!r}"
            return Check(name, Status.WARN, f"{detail}; {wanted} was not found",
                         "install it, or name one in evaluation.python (EVALUATION_PYTHON)")  # fmt: skip
        detail += f" with {found.name}"
        argv, mounts = (
            [str(found.executable), "-c", "import ensurepip, venv"],
            [Mount(found.prefix, found.prefix)],
        )
    elif plan.kind != "custom":
        argv = [plan.command.split()[0], "version" if plan.kind == "go" else "--version"]
    if isinstance(sandbox, str) or not argv:
        return Check(name, Status.OK, f"{detail}; {sandbox}" if isinstance(sandbox, str) else detail)
    problem = _runs(sandbox, argv, mounts)
    if problem:
        return Check(name, Status.WARN, f"{detail}; in the sandbox {problem}",
                     "install it, or show its directory with sandbox.readOnlyPaths")  # fmt: skip
    return Check(name, Status.OK, f"{detail}; `{argv[0]}` runs in the sandbox")


def _runs(sandbox: Sandbox, argv: list[str], mounts: list[Mount]) -> str:
    """What went wrong running `argv` in the sandbox, in a scratch worktree; "" when it ran."""
    with tempfile.TemporaryDirectory(prefix="autonomous-dev-trial-") as scratch:
        (Path(scratch) / "worktree").mkdir()
        home = Path(scratch) / "home"
        result = sandbox.run(argv, Path(scratch) / "worktree", home, scrubbed_env(home), 60, mounts=mounts)
    return "" if result.exit_code == 0 else f"`{shlex.join(argv)}` failed: {result.output.strip()[-200:]}"
