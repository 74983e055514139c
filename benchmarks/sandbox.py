"""Sandbox overhead: one command through bubblewrap against the same command as a bare subprocess; and a
prepared environment: its first set-up (a virtualenv, the project and its dependency from local wheels)
against a task that reuses it from the cache."""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

from _common import Figure, median, options, report  # puts the repository root on sys.path

from autonomous_dev.sandbox.backends import Sandbox, sandbox_from_settings
from autonomous_dev.sandbox.detect import detect_setup
from autonomous_dev.sandbox.environments import Environments
from autonomous_dev.sandbox.procs import scrubbed_env
from autonomous_dev.settings.services import SandboxSettings
from tests.envfixtures import PROJECT, local_index, offline_pip


def per_command(sandbox: Sandbox, command: list[str], worktree: Path, home: Path, reps: int) -> float:
    """Median seconds of one `command` run through procs.run_command, wrapped by the sandbox."""
    env = scrubbed_env(home)

    def once() -> None:
        result = sandbox.run(command, worktree, home, env, 60)  # `none` runs it as procs does, bare
        assert result.exit_code == 0, result.output

    once()  # warm the file cache for both alike
    return median(once, reps)


def environment(tmp: Path, reps: int) -> list[Figure]:
    """Seconds of the first set-up, and milliseconds of a cached reuse (the median of `reps`)."""
    wheels = local_index(tmp)
    os.environ.update({k: v for k, v in offline_pip(wheels).items() if k.startswith("PIP_")})
    root, home = tmp / "work" / "worktrees" / "slot-1", tmp / "home"
    for name, text in PROJECT.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    sandbox = sandbox_from_settings(SandboxSettings(read_only_paths=[str(wheels)]), [tmp / "work"])
    environments = Environments(tmp / "work" / "environments", sandbox, network=False)
    plan = detect_setup(root, "", "python -m unittest")
    assert plan is not None
    started = time.monotonic()
    first = environments.prepare(plan, root, home, 600).step
    first_s = time.monotonic() - started
    assert not first.cached and not first.problem, first.result

    def reuse() -> None:
        assert environments.prepare(plan, root, home, 600).step.cached

    cached = median(reuse, reps)
    return [
        Figure("setup_first_s", first_s, "s"),
        Figure("setup_cached_ms", cached * 1000, "ms"),
        Figure("setup_cached_share_pct", 100 * cached / first_s, "%", "< 5"),
    ]


def main() -> None:
    args = options(__doc__ or "")
    reps = 5 if args.quick else 30
    with tempfile.TemporaryDirectory(prefix="bench-sandbox-") as tmp:
        worktree, home = Path(tmp) / "worktree", Path(tmp) / "home"
        worktree.mkdir()
        (worktree / ".git").write_text("gitdir: /nowhere\n")
        bwrap = sandbox_from_settings(SandboxSettings.model_validate({}), [Path(tmp) / "work"])
        figures = []
        for name, command in (("true", ["/bin/true"]), ("python", ["/usr/bin/python3", "-c", "pass"])):
            bare = per_command(Sandbox("none"), command, worktree, home, reps)
            boxed = per_command(bwrap, command, worktree, home, reps)
            figures += [
                Figure(f"bare_{name}_ms", bare * 1000, "ms"),
                Figure(f"bwrap_{name}_ms", boxed * 1000, "ms"),
                Figure(f"overhead_{name}_ms", (boxed - bare) * 1000, "ms", "< 30"),
            ]
        figures += environment(Path(tmp), reps)
    notes = ["bwrap: system read-only, --unshare-all, prlimit for memory and processes",
             "set-up: python -m venv, then pip install -e . from local wheels, network off"]  # fmt: skip
    report(f"sandbox ({'quick: ' if args.quick else ''}medians of {reps}; {bwrap.program})", figures, notes)


if __name__ == "__main__":
    main()
