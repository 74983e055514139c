"""The sandbox's row in `config --validate`: its program is found and a trial command is really confined."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from autonomous_dev.errors import ConfigError
from autonomous_dev.sandbox.backends import Sandbox, daemon_paths, sandbox_from_settings, toolchain_dirs
from autonomous_dev.sandbox.procs import scrubbed_env
from autonomous_dev.settings.sections import SandboxSettings
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
