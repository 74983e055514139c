"""Repository instructions (AGENTS.md and the like) as committed in a task's base commit."""

from __future__ import annotations

from dataclasses import dataclass

from autonomous_dev.ports import Workspace

# Enough for any real AGENTS.md; a bound so a huge file cannot crowd out the task (or the budget).
MAX_INSTRUCTION_BYTES = 16_384


@dataclass(frozen=True)
class Instructions:
    path: str  # as configured, from the repository root
    size: int  # bytes in the commit
    text: str  # at most MAX_INSTRUCTION_BYTES of it

    @property
    def truncated(self) -> bool:
        return self.size > MAX_INSTRUCTION_BYTES

    def evidence(self) -> str:
        """How the PR's evidence names them: `AGENTS.md (1.2 KB)`."""
        cut = f", only the first {_kb(MAX_INSTRUCTION_BYTES)} used" if self.truncated else ""
        return f"{self.path} ({_kb(self.size)}{cut})"


def read_instructions(workspace: Workspace, commit: str, files: tuple[str, ...]) -> Instructions | None:
    """The first of `files` that `commit` holds as a regular file. Read from the commit, never from the
    worktree: what the task itself changes in them does not steer that task."""
    for path in files:
        found = workspace.file_at(commit, path, MAX_INSTRUCTION_BYTES)
        if found is not None:
            size, data = found
            return Instructions(path, size, data.decode("utf-8", errors="replace"))
    return None


def _kb(size: int) -> str:
    return f"{size / 1024:.1f} KB" if size >= 1024 else f"{size} bytes"
