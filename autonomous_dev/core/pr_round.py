"""What review and CI-repair rounds share: the PR's branch checked out as pushed, the agent on what is left
of the task's budget, the checks, one new commit on top of the branch (never a rewrite), pushed. A round
restarted after a crash finds its commit already pushed (by the round trailer) and does none of it again."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

from autonomous_dev.core import round_prompts
from autonomous_dev.core.agent import Agent, AgentResult, Budget
from autonomous_dev.core.context import Bench, TaskContext
from autonomous_dev.core.evaluate import Run, Verdict, repair_message
from autonomous_dev.core.observe import TaskObserver
from autonomous_dev.errors import BudgetExceeded, Cause
from autonomous_dev.models import Issue, PullRequest
from autonomous_dev.ports import GitHubRepo, Workspace, Workspaces
from autonomous_dev.security.guard import MAX_SCAN_BYTES, refuse_new_secrets
from autonomous_dev.security.outgoing import only_own_closing
from autonomous_dev.security.redact import Redactor
from autonomous_dev.settings.sections import EvaluationSettings
from autonomous_dev.store.records import TaskRecord


@dataclass(frozen=True)
class RoundWork:
    """What a round did to the branch: pushed a commit (or found it pushed before a restart), or why not."""

    pushed: bool
    summary: str  # the model's, or read back from the commit
    reason: str = ""  # why nothing was pushed
    keys: tuple[str, ...] = ()  # a commit found pushed: the review input its trailer names
    head: str = ""  # a commit found pushed: the head whose checks it repaired
    resumed: bool = False
    cause: Cause = Cause.CHECKS_FAILED  # why nothing was pushed, as the task's cause


@dataclass(frozen=True)
class Spent:
    """No budget is left for a round: why, and the budget cause."""

    reason: str
    cause: Cause


class PullRound:
    def __init__(
        self,
        repo: GitHubRepo,
        workspaces: Workspaces,
        agent: Agent,
        context: TaskContext,
        redactor: Redactor,
        evaluation: EvaluationSettings,
    ) -> None:
        self.repo = repo
        self.workspaces = workspaces
        self.agent = agent
        self.context = context
        self.redactor = redactor
        self.evaluation = evaluation

    def budget_left(self, record: TaskRecord) -> Budget | Spent:
        """The task's budget less what it has spent (its attempt and earlier rounds), or why none is left."""
        budget = self.agent.budget
        tokens = (
            record.input_tokens + record.output_tokens + record.cache_read_tokens + record.cache_write_tokens
        )
        if tokens >= budget.max_tokens:
            why = f"the task's token budget is spent ({tokens:,} of {budget.max_tokens:,} tokens)"
            return Spent(why, Cause.BUDGET_TOKENS)
        if record.cost_usd >= budget.max_cost_usd:
            why = f"the task's cost budget is spent (${record.cost_usd:.2f} of ${budget.max_cost_usd:.2f})"
            return Spent(why, Cause.BUDGET_COST)
        return replace(
            budget, max_tokens=budget.max_tokens - tokens, max_cost_usd=budget.max_cost_usd - record.cost_usd
        )

    @contextmanager
    def checkout(self, pull: PullRequest) -> Iterator[Checkout]:
        """The PR's branch as last pushed, in a worktree slot of its own, with its checks and tools."""
        self.workspaces.sync()
        workspace = self.workspaces.open(pull.head, pull.base)
        scratch = Path(tempfile.mkdtemp(prefix="autonomous-dev-home-"))
        try:
            workspace.continue_pushed()
            yield Checkout(self, workspace, self.context.bench(workspace, scratch), pull)
        finally:
            workspace.close()
            shutil.rmtree(scratch, ignore_errors=True)


@dataclass(frozen=True)
class Checkout:
    owner: PullRound
    workspace: Workspace
    bench: Bench
    pull: PullRequest

    def pushed(self, tag: str) -> RoundWork | None:
        """Round `tag`'s commit, if it is on the branch already (pushed before a crash or a stop)."""
        found = round_prompts.pushed_round(self.workspace.messages(), tag)
        if found is None:
            return None
        return RoundWork(True, found.summary, keys=found.keys, head=found.head, resumed=True)

    def work(
        self, issue: Issue, task: str, commit: Callable[[str], str], budget: Budget, observer: TaskObserver
    ) -> RoundWork:
        """The agent on `task`, the checks (with repair rounds), then one commit on top, pushed."""
        owner, workspace, bench = self.owner, self.workspace, self.bench
        baseline = owner.context.baseline_aside(owner.workspaces, self.pull.base, workspace, bench)
        agent = Agent(owner.agent.claude, owner.agent.system, budget)
        observer.phase(issue, "agent")
        try:
            result = agent.run(task, bench.toolbox, lambda _, usage: observer.usage(issue, usage),
                               owner.context.system_for(workspace, agent.system))  # fmt: skip
            result, verdict = self._prove(issue, agent, result, baseline(), observer)
        except BudgetExceeded as exc:
            return RoundWork(False, "", reason=exc.message, cause=exc.cause)
        if not workspace.has_changes():
            return RoundWork(
                False, result.summary, reason="the model made no change", cause=Cause.MODEL_GAVE_UP
            )
        if not verdict.ok:
            return RoundWork(
                False, result.summary, reason=f"the checks fail with the change ({verdict.reason})"
            )
        observer.publishing(issue)
        observer.phase(issue, "committing")
        message = only_own_closing(commit(result.summary), owner.repo.full_name, issue.number).text
        if not workspace.commit(message).files:
            return RoundWork(False, result.summary, reason="all it changed were workflow files, left out")
        where = f"{owner.repo.full_name}#{issue.number}"
        refuse_new_secrets(workspace.pushed_blobs(MAX_SCAN_BYTES), owner.redactor.findings, where)
        observer.phase(issue, "pushing")
        workspace.push(fast_forward_only=True)  # the new commit sits on the branch as fetched
        return RoundWork(True, result.summary)

    def _prove(
        self, issue: Issue, agent: Agent, result: AgentResult, baseline: Run | None, observer: TaskObserver
    ) -> tuple[AgentResult, Verdict]:
        """The checks; while they fail and repair rounds remain, the failure goes back to the model."""
        gate, rounds = self.bench.gate, 0
        while True:
            observer.phase(issue, "checking")
            verdict = gate.verdict(*gate.run(self.bench.run), baseline)
            fixable = verdict.repairable and self.workspace.has_changes()
            if verdict.ok or rounds >= self.owner.evaluation.max_repair_rounds or not fixable:
                return result, verdict
            rounds += 1
            observer.phase(issue, f"repair round {rounds}")
            result = agent.resume(result, repair_message(verdict), self.bench.toolbox,
                                  lambda _, usage: observer.usage(issue, usage))  # fmt: skip
