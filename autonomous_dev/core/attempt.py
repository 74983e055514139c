"""The attempt step: worktree, agent, checks and repair rounds, commit, push, pull request."""

from __future__ import annotations

import logging
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from autonomous_dev.core import prompts
from autonomous_dev.core.agent import Agent, AgentResult
from autonomous_dev.core.context import Bench, TaskContext
from autonomous_dev.core.evaluate import Run, Verdict, repair_message
from autonomous_dev.core.evaluate import evidence as report_evidence
from autonomous_dev.core.issue_thread import IssueThread, fingerprint
from autonomous_dev.core.observe import TaskObserver
from autonomous_dev.errors import ChecksFailed
from autonomous_dev.models import Issue, Outcome, OutcomeKind, PullRequest, Usage
from autonomous_dev.ports import GitHubRepo, Workspace, Workspaces
from autonomous_dev.security.guard import MAX_SCAN_BYTES, refuse_new_secrets
from autonomous_dev.security.outgoing import Neutralised, one_line, only_own_closing
from autonomous_dev.security.redact import Redactor
from autonomous_dev.settings.sections import EvaluationSettings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Proof:
    """The agent's last result and what the checks said about it."""

    result: AgentResult
    verdict: Verdict
    rounds: int
    note: str


class Attempt:
    """Takes one issue to a pull request (or to an answer that no change is needed)."""

    def __init__(
        self,
        repo: GitHubRepo,
        workspaces: Workspaces,
        agent: Agent,
        context: TaskContext,
        thread: IssueThread,
        evaluation: EvaluationSettings,
        base_branch: str,
        redactor: Redactor,
        dry_run: bool = False,
    ) -> None:
        self.repo = repo
        self.workspaces = workspaces
        self.agent = agent
        self.context = context
        self.thread = thread
        self.evaluation = evaluation
        self.base_branch = base_branch
        self.redactor = redactor
        self.dry_run = dry_run

    def answered_before(self, issue: Issue) -> Outcome | None:
        """The issue, as it reads now, was answered without changes: nothing to attempt."""
        if not self.thread.answered_without_changes(issue):
            return None
        _log(self.repo, issue, "skipped: already answered without changes; edit the issue to try again")
        return Outcome(issue.number, OutcomeKind.SKIPPED, "answered before without changes")

    def run(self, issue: Issue, observer: TaskObserver) -> Outcome:
        observer.phase(issue, "preparing worktree")
        workspace = self.workspaces.open(self.branch(issue), self.base_branch)
        scratch = Path(tempfile.mkdtemp(prefix="autonomous-dev-home-"))
        try:
            return self._work(issue, workspace, self.context.bench(workspace, scratch), observer)
        finally:
            workspace.close()
            shutil.rmtree(scratch, ignore_errors=True)

    def branch(self, issue: Issue) -> str:
        """The task's branch: the slug of the title as one line, with any secret in it redacted first."""
        return replace(issue, title=self.redactor.redact(one_line(issue.title))).branch

    def _work(self, issue: Issue, workspace: Workspace, bench: Bench, observer: TaskObserver) -> Outcome:
        system = self.context.system_for(workspace, self.agent.system)
        baseline = self.context.baseline_aside(self.workspaces, self.base_branch, workspace, bench)
        observer.phase(issue, "agent")
        message, hidden = self.thread.read(issue)
        result = self.agent.run(message, bench.toolbox, _on_turn(observer, issue), system)
        if not workspace.has_changes():
            return self._no_changes(issue, result)
        proof = self._prove(issue, workspace, bench, baseline(), result, observer)
        return self._propose(issue, workspace, proof, hidden, observer)

    def _prove(
        self,
        issue: Issue,
        workspace: Workspace,
        bench: Bench,
        baseline: Run | None,
        result: AgentResult,
        observer: TaskObserver,
    ) -> Proof:
        """Run the checks; while they fail and repair rounds remain, show the model the failure."""
        rounds = 0
        while True:
            observer.phase(issue, "checking")
            verdict = bench.gate.verdict(*bench.gate.run(bench.run), baseline)
            repairable = verdict.repairable and workspace.has_changes()
            if verdict.ok or rounds >= self.evaluation.max_repair_rounds or not repairable:
                return Proof(result, verdict, rounds, bench.gate.commands.note)
            rounds += 1
            observer.phase(issue, f"repair round {rounds}")
            message = repair_message(verdict)
            result = self.agent.resume(result, message, bench.toolbox, _on_turn(observer, issue))

    def _no_changes(self, issue: Issue, result: AgentResult) -> Outcome:
        _log(self.repo, issue, "the model made no change")
        body = prompts.no_changes_comment(issue.number, result.summary, fingerprint(issue))
        self.thread.post_once(issue.number, body, "no-changes")
        return Outcome(issue.number, OutcomeKind.NO_CHANGES, result.summary, usage=result.usage)

    def _propose(
        self, issue: Issue, workspace: Workspace, proof: Proof, hidden: list[str], observer: TaskObserver
    ) -> Outcome:
        result = proof.result
        if not workspace.has_changes():  # a repair round undid everything
            return self._no_changes(issue, result)
        observer.publishing(issue)
        observer.phase(issue, "committing")
        commit = self._own_closing(issue, prompts.commit_message(issue.number, one_line(issue.title)))
        change = workspace.commit(commit.text)
        if not change.files:  # everything it changed was left out (workflow files)
            return self._no_changes(issue, result)
        where = f"{self.repo.full_name}#{issue.number}"
        refuse_new_secrets(workspace.pushed_blobs(MAX_SCAN_BYTES), self.redactor.findings, where)
        if self.dry_run:
            return Outcome(issue.number, OutcomeKind.DRY_RUN, "dry run: nothing pushed", usage=result.usage,
                           diff=change.diff)  # fmt: skip
        cost = self.agent.budget.cost_of(result.usage)
        guidance = self.context.instructions(workspace)  # read for the prompt already: cached
        evidence = report_evidence(proof.verdict, proof.rounds, proof.note, result.usage.total_tokens, cost,
                                   guidance.evidence() if guidance is not None else "")  # fmt: skip
        failed = not proof.verdict.ok
        if failed and self.evaluation.on_failure == "comment":
            body = prompts.checks_failed_comment(issue.number, evidence, fingerprint(issue))
            self.thread.post_once(issue.number, body, "checks")
            raise ChecksFailed(_still_failing(proof), cause=proof.verdict.cause)
        observer.phase(issue, "pushing")
        workspace.push()
        if proof.verdict.caveat:  # the PR's `Closes #n` links it; a warning is shown first: a crash then
            self.thread.warn_unverified(issue.number, self.branch(issue), proof.verdict.caveat)  # loses none
        observer.phase(issue, "opening pull request")
        pull = self._open_pull(issue, proof, list(change.files), evidence, hidden, list(commit.refs))
        _log(self.repo, issue, "opened %s%s", pull.url, " as a draft: the checks fail" if failed else "")
        if failed:
            raise ChecksFailed(
                _still_failing(proof),
                f"a draft PR holds the evidence: {pull.url}",
                pr_url=pull.url,
                cause=proof.verdict.cause,
            )
        return Outcome(issue.number, OutcomeKind.PR_OPENED, pull.url, pr=pull, usage=result.usage)

    def _open_pull(
        self, issue: Issue, proof: Proof, files: list[str], evidence: str, hidden: list[str], refs: list[str]
    ) -> PullRequest:
        """The PR; closing keywords only for this issue; its notes say what the tool took out."""
        title = self._own_closing(issue, prompts.pr_title(issue.number, one_line(issue.title)))
        summary = proof.result.summary
        draft = self._own_closing(issue, prompts.pr_body(issue.number, summary, files, evidence))
        notes = prompts.input_notes(hidden, [*refs, *title.refs, *draft.refs])
        if notes:
            _log(self.repo, issue, "noted in the PR: %s", " ".join(notes))
        body = self._own_closing(issue, prompts.pr_body(issue.number, summary, files, evidence, notes)).text
        failed = not proof.verdict.ok
        return self.repo.create_pull(title.text, body, self.branch(issue), self.base_branch, draft=failed)

    def _own_closing(self, issue: Issue, text: str) -> Neutralised:
        return only_own_closing(text, self.repo.full_name, issue.number)


def _on_turn(observer: TaskObserver, issue: Issue) -> Callable[[int, Usage], None]:
    return lambda turn, usage: observer.usage(issue, usage)


def _still_failing(proof: Proof) -> str:
    return f"the checks still fail after {proof.rounds} repair round(s): {proof.verdict.reason}"


def _log(repo: GitHubRepo, issue: Issue, message: str, *args: object) -> None:
    log.info(f"%s#%d: {message}", repo.full_name, issue.number, *args,
             extra={"repo": repo.full_name, "issue": issue.number})  # fmt: skip
