"""Git through GitPython: the mirror, worktrees, commits and pushes."""
