"""Sandbox overhead: one command through bubblewrap against the same command as a bare subprocess."""

from __future__ import annotations

import tempfile
from pathlib import Path

from _common import Figure, median, options, report  # puts the repository root on sys.path

from autonomous_dev.sandbox.backends import Sandbox, sandbox_from_settings
from autonomous_dev.sandbox.procs import scrubbed_env
from autonomous_dev.settings.sections import SandboxSettings


def per_command(sandbox: Sandbox, command: list[str], worktree: Path, home: Path, reps: int) -> float:
    """Median seconds of one `command` run through procs.run_command, wrapped by the sandbox."""
    env = scrubbed_env(home)

    def once() -> None:
        result = sandbox.run(command, worktree, home, env, 60)  # `none` runs it as procs does, bare
        assert result.exit_code == 0, result.output

    once()  # warm the file cache for both alike
    return median(once, reps)


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
    report(f"sandbox ({'quick: ' if args.quick else ''}medians of {reps}; {bwrap.program})", figures,
           ["bwrap: system read-only, --unshare-all, prlimit for memory and processes"])  # fmt: skip


if __name__ == "__main__":
    main()
