"""The update step: bring a PR's branch up to date with its base (the model resolves conflicts), check
it, push it. It answers why that failed, or None once the updated branch is pushed."""

from __future__ import annotations

import re
import shutil
import tempfile
from pathlib import Path

from autonomous_dev.core import prompts
from autonomous_dev.core.agent import Agent
from autonomous_dev.core.context import Bench, TaskContext
from autonomous_dev.core.issue_thread import IssueThread
from autonomous_dev.core.observe import TaskObserver
from autonomous_dev.models import Issue, PullRequest
from autonomous_dev.ports import GitHubRepo, Workspace, Workspaces
from autonomous_dev.security.guard import MAX_SCAN_BYTES, refuse_new_secrets
from autonomous_dev.security.redact import Redactor

MAX_CONFLICT_STEPS = 5  # a rebase stops once per conflicting commit; ours have one or two
CONFLICT_MARKER = re.compile(r"^(<{7}|>{7})( |$)", re.M)


class BranchUpdate:
    def __init__(
        self,
        repo: GitHubRepo,
        workspaces: Workspaces,
        agent: Agent,
        context: TaskContext,
        thread: IssueThread,
        strategy: str,
        redactor: Redactor,
    ) -> None:
        self.repo = repo
        self.workspaces = workspaces
        self.agent = agent
        self.context = context
        self.thread = thread
        self.strategy = strategy
        self.redactor = redactor

    def run(self, issue: Issue, pull: PullRequest, observer: TaskObserver) -> str | None:
        observer.phase(issue, f"updating the branch ({self.strategy})")
        self.workspaces.sync()
        workspace = self.workspaces.open(pull.head, pull.base)
        scratch = Path(tempfile.mkdtemp(prefix="autonomous-dev-home-"))
        try:
            return self._update(issue, pull, workspace, self.context.bench(workspace, scratch), observer)
        finally:
            workspace.close()
            shutil.rmtree(scratch, ignore_errors=True)

    def _update(
        self, issue: Issue, pull: PullRequest, workspace: Workspace, bench: Bench, observer: TaskObserver
    ) -> str | None:
        baseline = self.context.baseline(workspace, bench, lambda: observer.phase(issue, "baseline tests"))
        conflicted = workspace.integrate(self.strategy)
        for _ in range(MAX_CONFLICT_STEPS):
            if not conflicted:
                break
            unresolved = self._resolve(issue, workspace, pull.base, conflicted, bench, observer)
            if unresolved:
                return f"conflict markers remain in {', '.join(unresolved)} after the model's attempt"
            conflicted = workspace.conclude()
        if conflicted:
            return f"git still reports conflicts after {MAX_CONFLICT_STEPS} steps"
        observer.phase(issue, "checking")
        verdict = bench.gate.verdict(*bench.gate.run(bench.run), baseline)
        if not verdict.ok:
            return f"the checks fail on the updated branch: {verdict.reason}"
        where = f"{self.repo.full_name}#{issue.number}"
        refuse_new_secrets(workspace.pushed_blobs(MAX_SCAN_BYTES), self.redactor.findings, where)
        observer.phase(issue, "pushing")
        workspace.push()
        return None

    def _resolve(
        self,
        issue: Issue,
        workspace: Workspace,
        base: str,
        conflicted: list[str],
        bench: Bench,
        observer: TaskObserver,
    ) -> list[str]:
        """Let the model edit the conflicted files; the paths that still hold conflict markers."""
        observer.phase(issue, f"resolving conflicts in {len(conflicted)} file(s)")
        task, _ = self.thread.read(issue)
        message = prompts.conflict_message(issue.number, base, conflicted, task)
        system = self.context.system_for(workspace, self.agent.system)
        self.agent.run(message, bench.toolbox, lambda turn, usage: observer.usage(issue, usage), system)
        return [path for path in conflicted if _has_conflict_markers(workspace.path / path)]


def _has_conflict_markers(path: Path) -> bool:
    try:
        text = path.read_text(errors="replace")
    except (FileNotFoundError, IsADirectoryError):
        return False
    return bool(CONFLICT_MARKER.search(text))
