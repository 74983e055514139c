"""GitPython: a mirror per repository, a worktree per task, commit and push; the only user of `git`.

Worktrees are slots reused from task to task: a slot that served one task is cleaned (`checkout -f`,
`clean -ffdx`) and handed to the next, so only the files that differ between two base commits are
written. On a large repository that turns seconds of checkout per task into milliseconds.
"""

from __future__ import annotations

import logging
import os
import shutil
import stat
import threading
from dataclasses import dataclass
from pathlib import Path

import git

from autonomous_dev.disk import disk_full, says_disk_full
from autonomous_dev.errors import AutonomousDevError, WorkspaceError
from autonomous_dev.git.blobs import PATHS, file_at, pushed_blobs
from autonomous_dev.git.gitnet import git_unreachable
from autonomous_dev.logs import audit
from autonomous_dev.models import BRANCH_PREFIX, Change, PushedBlob
from autonomous_dev.ports import TokenSource
from autonomous_dev.security.redact import Redactor

log = logging.getLogger(__name__)


WORKFLOWS = ".github/workflows"
ASKPASS_SCRIPT = """#!/bin/sh
# Answers git's credential prompts from the environment of the git process; nothing is stored on disk.
case "$1" in
  Username*) printf '%s\\n' "${AUTONOMOUS_DEV_GIT_USER:-x-access-token}" ;;
  *) printf '%s\\n' "$AUTONOMOUS_DEV_GIT_PASSWORD" ;;
esac
"""
# Every git command we run ignores hooks and fsmonitor: nothing planted in a worktree runs on the host.
# A hooks path that is no directory holds no hook; no empty directory that something could fill is needed.
SAFE_GIT = ("-c", f"core.hooksPath={os.devnull}", "-c", "core.fsmonitor=false")


@dataclass(frozen=True)
class GitIdentity:
    name: str
    email: str


class GitWorkspaces:
    """Implements ports.Workspaces: a bare mirror under work_dir, worktrees beside it."""

    def __init__(
        self,
        work_dir: Path,
        full_name: str,
        clone_url: str,
        token: str | TokenSource,
        identity: GitIdentity,
        redactor: Redactor,
        allow_workflow_changes: bool = False,
    ) -> None:
        self.identity = identity
        self.redactor = redactor
        self.allow_workflow_changes = allow_workflow_changes
        self.mirror_path = work_dir / "mirrors" / f"{full_name}.git"
        self.worktree_root = work_dir / "worktrees" / full_name
        self._clone_url = clone_url
        self._thread_lock = threading.Lock()
        self._pruned = False
        self._free_slots: list[Path] = []
        self._token = token  # a GitHub App's installation token is read afresh for every git command
        self._askpass = str(_askpass_script(work_dir))

    def sync(self) -> None:
        """Create the mirror on first use and fetch every branch into refs/remotes/origin/*."""
        with self._thread_lock:
            mirror = self._mirror()
            if not self._pruned:
                self._prune_stale(mirror)
                self._pruned = True
            self._git(mirror.git, "fetch", "--prune", "--quiet", "origin")

    def _prune_stale(self, mirror: git.Repo) -> None:
        """Clear what a killed process left: partial mirrors, git lock files; its slots are cleaned for reuse.

        Safe because this process holds WORK_DIR exclusively (see `hold_work_dir`).
        """
        for partial in self.mirror_path.parent.glob(f"{self.mirror_path.name}.partial-*"):
            shutil.rmtree(partial, ignore_errors=True)
        for lock in self.mirror_path.rglob("*.lock"):
            log.warning("removing the stale git lock %s", lock)
            lock.unlink(missing_ok=True)
        self._git(mirror.git, "worktree", "prune")
        if self.worktree_root.is_dir():
            for path in sorted(self.worktree_root.iterdir()):
                try:
                    self._vacate(git.Repo(path))
                    self._free_slots.append(path)
                except (WorkspaceError, git.GitError):
                    log.info("removing the stale worktree %s", path)
                    self._remove_worktree(mirror, path)

    def open(self, branch: str, base: str) -> GitWorkspace:
        if self.redactor.redact(branch) != branch:
            raise WorkspaceError(
                f"refusing a branch name that holds a secret: {self.redactor.redact(branch)}"
            )
        if not branch.startswith(BRANCH_PREFIX):
            raise WorkspaceError(
                f"refusing to work on branch {branch!r}: only {BRANCH_PREFIX}* branches are ours"
            )
        start = f"refs/remotes/origin/{base}"
        with self._thread_lock:
            mirror = self._mirror()
            slot = self._free_slots.pop() if self._free_slots else None
        if slot is not None:
            try:
                return self._reuse(slot, branch, base, start)
            except (WorkspaceError, git.GitError) as exc:
                log.warning("could not reuse the worktree %s (%s); making a new one", slot, exc)
                with self._thread_lock:
                    self._remove_worktree(mirror, slot)
        with self._thread_lock:
            slot = self._new_slot_path()
            self._git(
                mirror.git,
                "worktree",
                "add",
                "--quiet",
                "--no-checkout",
                "--no-track",
                "-B",
                branch,
                str(slot),
                start,
            )
        # Writing the files is the slow part; it touches only this worktree, so workers do it in parallel.
        worktree = git.Repo(slot)
        self._git(worktree.git, "reset", "--quiet", "--hard")
        return GitWorkspace(self, worktree, branch, base)

    def _new_slot_path(self) -> Path:
        self.worktree_root.mkdir(parents=True, exist_ok=True)
        number = 1
        while (self.worktree_root / f"slot-{number}").exists():
            number += 1
        return self.worktree_root / f"slot-{number}"

    def _reuse(self, slot: Path, branch: str, base: str, start: str) -> GitWorkspace:
        """Put a vacated slot on the task's branch; only the files that differ are written."""
        worktree = git.Repo(slot)
        # --no-track: no upstream entry in the config that every slot shares, whose lock parallel
        # checkouts would otherwise race for ("could not lock config file").
        self._git(worktree.git, "checkout", "--quiet", "--force", "--no-track", "-B", branch, start)
        self._git(worktree.git, "clean", "-ffdxq")
        return GitWorkspace(self, worktree, branch, base)

    def close(self, workspace: GitWorkspace) -> None:
        """Vacate the slot for the next task; a slot that cannot be cleaned is removed instead."""
        try:
            self._vacate(workspace._repo)
            reusable = True
        except WorkspaceError as exc:
            log.warning("removing the worktree %s: it could not be cleaned (%s)", workspace.path, exc)
            shutil.rmtree(workspace.path, ignore_errors=True)  # the slow part, outside the lock
            reusable = False
        with self._thread_lock:
            mirror = self._mirror()
            if reusable:
                self._free_slots.append(workspace.path)
            else:
                self._remove_worktree(mirror, workspace.path)
            self._git(mirror.git, "branch", "-D", workspace.branch, check=False)

    def _vacate(self, worktree: git.Repo) -> None:
        """Leave no trace of the last task: no rebase under way, no branch held, no edit, no new file."""
        if any((Path(worktree.git_dir) / state).exists() for state in ("rebase-merge", "rebase-apply")):
            self._git(worktree.git, "rebase", "--quit", check=False)
        self._git(worktree.git, "checkout", "--quiet", "--force", "--detach")
        self._git(worktree.git, "clean", "-ffdxq")

    def _mirror(self) -> git.Repo:
        """The mirror, created complete or not at all: a process killed half-way leaves no broken one."""
        if (self.mirror_path / "HEAD").exists():
            return git.Repo(self.mirror_path)
        partial = self.mirror_path.with_name(f"{self.mirror_path.name}.partial-{os.getpid()}")
        shutil.rmtree(partial, ignore_errors=True)
        shutil.rmtree(self.mirror_path, ignore_errors=True)
        partial.mkdir(parents=True)
        with git.Repo.init(partial, bare=True).config_writer() as config:
            config.set_value('remote "origin"', "url", self._clone_url)
            config.set_value('remote "origin"', "fetch", "+refs/heads/*:refs/remotes/origin/*")
            # An empty helper resets the list, so no system credential helper stores or offers our token.
            config.set_value("credential", "helper", "")
        os.replace(partial, self.mirror_path)
        return git.Repo(self.mirror_path)

    def _remove_worktree(self, mirror: git.Repo, path: Path) -> None:
        self._git(mirror.git, "worktree", "remove", "--force", str(path), check=False)
        if path.exists():
            shutil.rmtree(path)
        self._git(mirror.git, "worktree", "prune")

    def _git(self, runner: git.Git, *args: str, check: bool = True) -> str:
        try:
            return str(self._execute(runner, args))  # text by default
        except git.GitCommandError as exc:
            if not check:
                return ""
            raise self._failure(runner, args, exc) from None

    def _git_bytes(self, runner: git.Git, *args: str) -> bytes:
        """Raw output, nothing decoded or stripped: file names and blob contents are bytes."""
        try:
            out = self._execute(runner, args, stdout_as_string=False, strip_newline_in_stdout=False)
        except git.GitCommandError as exc:
            raise self._failure(runner, args, exc) from None
        assert isinstance(out, bytes)  # stdout_as_string=False
        return out

    def _execute(self, runner: git.Git, args: tuple[str, ...], **options: bool) -> str | bytes:
        """Run git with the token in its environment only (the askpass script prints it); a refused
        installation token is replaced once, as for REST."""
        password = self._token if isinstance(self._token, str) else self._token.token()
        try:
            return self._run(runner, args, password, options)
        except git.GitCommandError as exc:
            if isinstance(self._token, str) or "authentication failed" not in str(exc.stderr).lower():
                raise
            log.info("git was refused the installation token; trying once with a new one")
            self._token.renew(password)
            return self._run(runner, args, self._token.token(), options)

    def _run(
        self, runner: git.Git, args: tuple[str, ...], password: str, options: dict[str, bool]
    ) -> str | bytes:
        env = {
            "GIT_ASKPASS": self._askpass,
            "AUTONOMOUS_DEV_GIT_PASSWORD": password,
            "GIT_TERMINAL_PROMPT": "0",
        }
        # Its own session: a terminal's Ctrl-C (sent to our whole process group) must not kill a push
        # half-way; the warm stop lets the step finish, and a cold stop abandons it.
        return runner.execute(["git", *SAFE_GIT, *args], env=env, start_new_session=True, **options)  # type: ignore[call-overload,no-any-return]

    def _failure(
        self, runner: git.Git, args: tuple[str, ...], exc: git.GitCommandError
    ) -> AutonomousDevError:
        command = next((arg for arg in args if not arg.startswith("-") and "=" not in arg), "")
        detail = self.redactor.redact(str(exc.stderr or exc).strip())
        if says_disk_full(detail):
            return disk_full(f"git data (git {command})", str(runner.working_dir or self.mirror_path))
        outage = git_unreachable(command, detail, self.redactor.redact(self._clone_url))
        if outage is not None:
            return outage
        return WorkspaceError(f"git {command} failed: {detail}", "see docs/troubleshooting.md")


class GitWorkspace:
    """Implements ports.Workspace: one worktree on the task's own branch."""

    def __init__(self, owner: GitWorkspaces, repo: git.Repo, branch: str, base: str) -> None:
        self._owner = owner
        self._repo = repo
        self.branch = branch
        self.base = base
        self._integrating = ""
        self._base_sha = ""  # resolved on first use: later fetches of the base do not move it

    @property
    def path(self) -> Path:
        return Path(str(self._repo.working_tree_dir))

    def has_changes(self) -> bool:
        return bool(
            self._owner._git(self._repo.git, "status", "--porcelain", "--untracked-files=all").strip()
        )

    def commit(self, message: str) -> Change:
        run = self._owner._git
        run(self._repo.git, "add", "--all")
        staged = self._paths("diff", "--cached", "--name-only", "-z")
        dropped = () if self._owner.allow_workflow_changes else self._unstage(WORKFLOWS, staged)
        files = tuple(name for name in staged if name not in dropped)
        if not files:
            return Change(diff="", files=(), dropped=dropped)
        message = self._owner.redactor.redact_for(message, "git")  # commit history outlives any rotation
        run(self._repo.git, *self._as_bot(), "commit", "--quiet", "--no-verify", "-m", message)
        if dropped:
            message = "left workflow changes out of the commit: %s"
            audit(log, "security_violation", message, ", ".join(dropped), level=logging.WARNING)
        diff = run(self._repo.git, "diff", "HEAD~1", "HEAD")
        return Change(diff=diff, files=files, dropped=dropped)

    def _unstage(self, directory: str, staged: list[str] | None = None) -> tuple[str, ...]:
        """Take changes under `directory` out of the index (they stay in the doomed worktree only)."""
        run = self._owner._git
        if staged is None:
            staged = self._paths("diff", "--cached", "--name-only", "-z")
        inside = tuple(name for name in staged if name == directory or name.startswith(directory + "/"))
        if inside:
            run(self._repo.git, "reset", "--quiet", "--", directory)
        return inside

    def integrate(self, strategy: str) -> list[str]:
        """Put the pushed branch in the worktree and rebase it onto (or merge in) the fetched base."""
        if strategy not in ("rebase", "merge"):
            raise WorkspaceError(f"unknown conflict strategy {strategy!r}")
        run = self._owner._git
        run(self._repo.git, "reset", "--quiet", "--hard", f"refs/remotes/origin/{self.branch}")
        self._integrating = strategy
        base = f"refs/remotes/origin/{self.base}"
        if strategy == "rebase":
            command = ["rebase", "--quiet", base]
        else:
            command = ["merge", "--quiet", "--no-edit", "--no-ff", base]
        return self._step(command)

    def continue_pushed(self) -> None:
        self._owner._git(self._repo.git, "reset", "--quiet", "--hard", f"refs/remotes/origin/{self.branch}")

    def messages(self) -> list[str]:
        base = f"refs/remotes/origin/{self.base}"
        out = self._owner._git(self._repo.git, "log", "--format=%B%x00", f"{base}..HEAD")
        return [message.strip() for message in out.split("\0") if message.strip()]

    def conclude(self) -> list[str]:
        run = self._owner._git
        run(self._repo.git, "add", "--all")
        if not self._owner.allow_workflow_changes:
            self._unstage(WORKFLOWS)
        if self._integrating == "rebase":
            return self._step(["-c", "core.editor=true", "rebase", "--continue"])
        run(self._repo.git, *self._as_bot(), "commit", "--quiet", "--no-verify", "--no-edit")
        return []

    def pushed_blobs(self, max_bytes: int) -> list[PushedBlob]:
        return pushed_blobs(self._raw, f"refs/remotes/origin/{self.base}", max_bytes)

    def file_at(self, commit: str, path: str, max_bytes: int) -> tuple[int, bytes] | None:
        return file_at(self._raw, commit, path, max_bytes)

    def _raw(self, *args: str) -> bytes:
        return self._owner._git_bytes(self._repo.git, *args)

    def _paths(self, *args: str) -> list[str]:
        return [os.fsdecode(name) for name in self._raw(*PATHS, *args).split(b"\0") if name]

    def _step(self, command: list[str]) -> list[str]:
        """Run a rebase or merge step; a conflict is an answer (its paths), any other failure an error."""
        try:
            self._owner._git(self._repo.git, *self._as_bot(), *command)
            return []
        except WorkspaceError:
            conflicted = self._paths("diff", "--name-only", "-z", "--diff-filter=U")
            if not conflicted:
                raise
            return conflicted

    def _as_bot(self) -> tuple[str, ...]:
        identity = self._owner.identity
        return ("-c", f"user.name={identity.name}", "-c", f"user.email={identity.email}")

    def discard_untracked(self) -> None:
        self._owner._git(self._repo.git, "clean", "-fdq")

    def base_sha(self) -> str:
        if not self._base_sha:
            self._base_sha = self._owner._git(self._repo.git, "rev-parse", f"refs/remotes/origin/{self.base}")
        return self._base_sha

    def push(self, fast_forward_only: bool = False) -> None:
        if not self.branch.startswith(BRANCH_PREFIX) or self.branch == self.base:
            raise WorkspaceError(f"refusing to push {self.branch!r}")
        ref = f"refs/heads/{self.branch}"
        lease = () if fast_forward_only else (f"--force-with-lease={ref}",)
        self._owner._git(self._repo.git, "push", "--quiet", *lease, "origin", f"HEAD:{ref}")

    def close(self) -> None:
        self._owner.close(self)


def _askpass_script(work_dir: Path) -> Path:
    work_dir.mkdir(parents=True, exist_ok=True)
    path = work_dir / "git-askpass.sh"
    if not path.exists() or path.read_text() != ASKPASS_SCRIPT:
        path.write_text(ASKPASS_SCRIPT)
        os.chmod(path, stat.S_IRWXU)
    return path
