"""One issue end to end (claim, worktree, agent, commit, push, PR, comment), using ports only."""

from __future__ import annotations

import logging
import math
import re
import shlex
import shutil
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol

from autonomous_dev.core import prompts
from autonomous_dev.core.agent import Agent, AgentResult
from autonomous_dev.core.comments import Commenter
from autonomous_dev.core.evaluate import (
    Gate,
    Run,
    Runner,
    Verdict,
    command_report,
    detect_commands,
    repair_message,
)
from autonomous_dev.core.evaluate import evidence as report_evidence
from autonomous_dev.core.merge import Lander, MergePolicy
from autonomous_dev.core.repomap import SymbolCache, blob_shas, repo_map
from autonomous_dev.core.tools import TestRunner, Toolbox, command_tool
from autonomous_dev.errors import ChecksFailed
from autonomous_dev.logs import audit
from autonomous_dev.models import Issue, Outcome, OutcomeKind, PullRequest, Usage
from autonomous_dev.ports import GitHubRepo, Workspace, Workspaces
from autonomous_dev.sandbox.backends import Sandbox, sandbox_from_settings
from autonomous_dev.sandbox.environments import Environments, Prepared
from autonomous_dev.sandbox.procs import CommandResult, scrubbed_env
from autonomous_dev.security.guard import MAX_SCAN_BYTES, refuse_new_secrets
from autonomous_dev.security.outgoing import Neutralised, one_line, only_own_closing
from autonomous_dev.security.redact import Redactor
from autonomous_dev.security.sanitize import describe, sanitize
from autonomous_dev.security.trust import TrustGate
from autonomous_dev.settings.sections import SandboxSettings, SecuritySettings

log = logging.getLogger(__name__)
MAX_CONFLICT_STEPS = 5  # a rebase stops once per conflicting commit; ours have one or two
CONFLICT_MARKER = re.compile(r"^(<{7}|>{7})( |$)", re.M)


@dataclass(frozen=True)
class PipelineOptions:
    label: str
    in_progress_label: str
    base_branch: str
    dry_run: bool = False
    needs_human_label: str = "needs-human"
    max_issue_chars: int = 20_000
    test_command: str = ""
    test_timeout_s: float = 600.0
    build_command: str = ""
    require_build: bool = True
    require_tests: bool = True
    max_repair_rounds: int = 2
    on_failure: str = "draft"
    merge: MergePolicy | None = None  # None: PRs wait for a human
    repo_map_chars: int = 12_000  # 0: no repository map in the system prompt
    shell_tool: bool = True  # the model's run_command


@dataclass(frozen=True)
class Proof:
    """The agent's last result and what the checks said about it."""

    result: AgentResult
    verdict: Verdict
    rounds: int
    note: str


@dataclass(frozen=True)
class Scan:
    fresh: list[Issue]
    proposed: list[tuple[Issue, PullRequest]]


class TaskObserver(Protocol):
    """Told what a task is doing: its phase, and the usage of every model turn."""

    def phase(self, issue: Issue, phase: str) -> None: ...

    def usage(self, issue: Issue, turn_usage: Usage) -> None: ...


class SilentObserver:
    def phase(self, issue: Issue, phase: str) -> None:
        return None

    def usage(self, issue: Issue, turn_usage: Usage) -> None:
        return None


class Pipeline:
    """Finds eligible issues of one repository and takes each one to a pull request."""

    def __init__(
        self,
        repo: GitHubRepo,
        workspaces: Workspaces,
        agent: Agent,
        options: PipelineOptions,
        observer: TaskObserver | None = None,
        redactor: Redactor | None = None,
        trust: TrustGate | None = None,
        stopping: Callable[[], bool] = lambda: False,
        symbols: SymbolCache | None = None,
        sandbox: Sandbox | None = None,  # None: the default (bubblewrap), looked up when first needed
        environments: Environments | None = None,  # None: commands run with the PATH as it is
    ) -> None:
        self.repo = repo
        self.sandbox = sandbox
        self.environments = environments
        self.workspaces = workspaces
        self.agent = agent
        self.options = options
        self.observer: TaskObserver = observer or SilentObserver()
        self.redactor = redactor or Redactor()
        self._baselines: dict[str, Run | None] = {}  # the test run on each base commit
        self._baseline_locks: dict[str, threading.Lock] = {}
        self._maps: dict[str, str] = {}  # repository map per base commit: byte-stable, so prompt-cached
        self.symbols = symbols
        self._lock = threading.Lock()
        self.trust = trust or TrustGate(repo, options.label, SecuritySettings.model_validate({}))
        self.commenter = Commenter(repo)
        self.lander = None
        if options.merge is not None and not options.dry_run:
            self.lander = Lander(repo, options.merge, self.rework, self.commenter.post_once, stopping)

    def scan(self) -> Scan:
        """Open labelled issues, split by whether one of our branches already has an open PR for them.

        Only PRs the tool opened count: anyone can name a branch (in a fork, too) `auto/12-...`.
        """
        issues = self.repo.labelled_issues(self.options.label)
        own = self.repo.own_logins()
        pulls = {
            _issue_of_branch(pull.head): pull for pull in self.repo.open_pulls() if pull.author.lower() in own
        }
        return Scan(
            fresh=[issue for issue in issues if issue.number not in pulls],
            proposed=[(issue, pulls[issue.number]) for issue in issues if issue.number in pulls],
        )

    def eligible(self) -> list[Issue]:
        """Open labelled issues without an open PR from one of our branches (claims are the caller's)."""
        return self.scan().fresh

    def finish_proposed(self, issue: Issue, pull: PullRequest) -> Outcome:
        """Complete a task whose PR exists but whose worker stopped before reporting back on the issue."""
        self._log(issue, "completing: %s exists", pull.url)
        self.commenter.post_once(issue.number, prompts.pr_link_comment(issue.number, pull.url), "pr-link")
        self._release(issue)
        if self.lander is not None and not pull.draft:
            return self.lander.land(issue, pull)
        return Outcome(issue.number, OutcomeKind.PR_EXISTS, pull.url, pr=pull)

    def give_up(self, issue: Issue, attempts: int, error: str) -> None:
        """After the last failed attempt: label the issue for a human and explain once."""
        if self.options.dry_run:
            return
        self.repo.add_label(issue.number, self.options.needs_human_label)
        fingerprint = prompts.content_fingerprint(issue.title, issue.body)
        body = prompts.needs_human_comment(
            issue.number, attempts, error, fingerprint, self.options.needs_human_label
        )
        self.commenter.post_once(issue.number, body, "needs-human")

    def drop_stale_claim_label(self, issue: Issue) -> None:
        """Remove an in-progress label that no live claim stands behind (a crashed worker's)."""
        self.drop_label(issue, self.options.in_progress_label)

    def drop_label(self, issue: Issue, label: str) -> None:
        if not self.options.dry_run:
            self._log(issue, "removing the %r label", label)
            self.repo.remove_label(issue.number, label)

    def process(self, issue: Issue) -> Outcome:
        fingerprint = prompts.content_fingerprint(issue.title, issue.body)
        if self.commenter.posted(
            issue.number, prompts.marker("no-changes", issue.number, f"fingerprint={fingerprint}")
        ):
            self._log(issue, "skipped: already answered without changes; edit the issue to try again")
            return Outcome(issue.number, OutcomeKind.SKIPPED, "answered before without changes")
        self._claim(issue)
        try:
            outcome = self._work(issue, fingerprint)  # its worktree is gone before a merge waits
            if self.lander is not None and outcome.kind is OutcomeKind.PR_OPENED and outcome.pr is not None:
                return replace(self.lander.land(issue, outcome.pr), usage=outcome.usage)
            return outcome
        finally:
            self._release(issue)

    def _work(self, issue: Issue, fingerprint: str) -> Outcome:
        self._phase(issue, "preparing worktree")
        workspace = self.workspaces.open(self._branch(issue), self.options.base_branch)
        scratch = Path(tempfile.mkdtemp(prefix="autonomous-dev-home-"))
        try:
            system = self._system_for(workspace)
            gate, runner = self._gate(workspace, scratch)
            baseline = self._baseline(issue, workspace, gate, runner)
            self._phase(issue, "agent")
            toolbox = self._toolbox(workspace, gate, runner)
            on_turn = self._usage_observer(issue)
            message, hidden = self._read_issue(issue)
            result = self.agent.run(message, toolbox, on_turn, system)
            if not workspace.has_changes():
                return self._no_changes(issue, result, fingerprint)
            proof = self._prove(issue, workspace, gate, runner, baseline, result, toolbox)
            return self._propose(issue, workspace, proof, fingerprint, hidden)
        finally:
            workspace.close()
            shutil.rmtree(scratch, ignore_errors=True)

    def _task_message(self, issue: Issue) -> str:
        return self._read_issue(issue)[0]

    def _read_issue(self, issue: Issue) -> tuple[str, list[str]]:
        """The issue as untrusted data (hidden content removed, only maintainers' comments included),
        and a note per part that had hidden content removed, for the evidence."""
        notes: list[str] = []
        comments = [
            (c.author, self._clean(issue, f"a comment by {c.author}", c.body, notes))
            for c in self.trust.trusted_comments(issue.number)
        ]
        title = self._clean(issue, "the title", one_line(issue.title, limit=len(issue.title)), notes)
        body = self._clean(issue, "the body", issue.body, notes)
        return prompts.issue_message(self.repo.full_name, issue.number, title, body, comments), notes

    def _clean(self, issue: Issue, where: str, text: str, notes: list[str]) -> str:
        cleaned = sanitize(text, self.options.max_issue_chars)
        if cleaned.removed or cleaned.truncated:
            what = describe(cleaned.removed) + (" (cut to length)" if cleaned.truncated else "")
            context = {"repo": self.repo.full_name, "issue": issue.number}
            message = "%s#%d: removed from %s: %s"
            args = (self.repo.full_name, issue.number, where, what)
            audit(log, "input_rejected", message, *args, level=logging.WARNING, **context)
            if cleaned.removed:
                notes.append(f"{where}: {describe(cleaned.removed)}")
        return cleaned.text

    def _usage_observer(self, issue: Issue) -> Callable[[int, Usage], None]:
        return lambda turn, usage: self.observer.usage(issue, usage)

    def _system_for(self, workspace: Workspace) -> str:
        """The agent's instructions plus the repository map, the same bytes for every task on one commit."""
        if self.options.repo_map_chars <= 0:
            return self.agent.system
        sha = workspace.base_sha()
        with self._lock:
            cached = self._maps.get(sha)
        if cached is None:
            root = workspace.path
            cached = repo_map(root, max_chars=self.options.repo_map_chars, blobs=blob_shas(root),
                              cache=self.symbols)  # fmt: skip
            with self._lock:
                self._maps[sha] = cached
        return prompts.with_repository_map(self.agent.system, cached)

    def _gate(self, workspace: Workspace, scratch: Path) -> tuple[Gate, Runner]:
        options = self.options
        commands = detect_commands(workspace.path, options.build_command, options.test_command)
        prepared = None  # the project's dependencies, installed before the baseline
        if self.environments is not None:
            prepared = self.environments.for_checkout(
                workspace, scratch, commands.test, options.test_timeout_s
            )
        setup = prepared.step if prepared is not None else None
        gate = Gate(commands, options.require_build, options.require_tests, scratch / "reports", setup)
        return gate, self._runner(workspace.path, scratch, gate.env(), prepared)

    def _runner(
        self, root: Path, home: Path, extra: dict[str, str], prepared: Prepared | None = None
    ) -> Runner:
        """Runs repository commands in the sandbox, with a scrubbed environment, a timeout, bounded output;
        in the prepared environment, which they see read-only."""
        env = scrubbed_env(home) | extra
        env, mounts = (prepared.env(env), prepared.mounts) if prepared is not None else (env, ())
        sandbox = self.sandbox or sandbox_from_settings(SandboxSettings.model_validate({}))

        def run(line: str, timeout_s: float = math.inf) -> CommandResult:
            timeout = min(timeout_s, self.options.test_timeout_s)
            return sandbox.run(line, root, home, env, timeout, mounts=mounts)

        return run

    def _toolbox(self, workspace: Workspace, gate: Gate, runner: Runner) -> Toolbox:
        shell = command_tool(runner, self.redactor.redact) if self.options.shell_tool else None
        return Toolbox(
            workspace.path, self.redactor.restore, self._test_tool(gate, runner), run_command=shell
        )

    def _test_tool(self, gate: Gate, runner: Runner) -> TestRunner | None:
        command = gate.commands.test
        if not command:
            return None

        def run_tests(extra: list[str], within_s: float) -> str:  # within the task's time budget
            result = runner(" ".join([command, *(shlex.quote(arg) for arg in extra)]), within_s)
            return command_report(result)

        return run_tests

    def _baseline(self, issue: Issue, workspace: Workspace, gate: Gate, runner: Runner) -> Run | None:
        """The tests on the base commit, run once per base commit and cached.

        Workers that start together on the same base wait for the first one's run instead of running
        the same suite side by side.
        """
        if not gate.commands.test:
            return None
        sha = workspace.base_sha() + gate.environment_tag
        with self._lock:
            once = self._baseline_locks.setdefault(sha, threading.Lock())
        with once:
            if sha not in self._baselines:
                self._phase(issue, "baseline tests")
                _, tests = gate.run(runner)
                workspace.discard_untracked()  # whatever the base run left is not the model's change
                self._baselines[sha] = tests
        return self._baselines[sha]

    def _prove(
        self,
        issue: Issue,
        workspace: Workspace,
        gate: Gate,
        runner: Runner,
        baseline: Run | None,
        result: AgentResult,
        toolbox: Toolbox,
    ) -> Proof:
        """Run the checks; while they fail and repair rounds remain, show the model the failure."""
        rounds = 0
        while True:
            self._phase(issue, "checking")
            verdict = gate.verdict(*gate.run(runner), baseline)
            repairable = verdict.repairable and workspace.has_changes()
            if verdict.ok or rounds >= self.options.max_repair_rounds or not repairable:
                return Proof(result, verdict, rounds, gate.commands.note)
            rounds += 1
            self._phase(issue, f"repair round {rounds}")
            result = self.agent.resume(result, repair_message(verdict), toolbox, self._usage_observer(issue))

    def _no_changes(self, issue: Issue, result: AgentResult, fingerprint: str) -> Outcome:
        self._log(issue, "the model made no change")
        if not self.options.dry_run:
            body = prompts.no_changes_comment(issue.number, result.summary, fingerprint)
            self.commenter.post_once(issue.number, body, "no-changes")
        return Outcome(issue.number, OutcomeKind.NO_CHANGES, result.summary, usage=result.usage)

    def _propose(
        self, issue: Issue, workspace: Workspace, proof: Proof, fingerprint: str, hidden: list[str]
    ) -> Outcome:
        result = proof.result
        if not workspace.has_changes():  # a repair round undid everything
            return self._no_changes(issue, result, fingerprint)
        self._phase(issue, "committing")
        commit = self._own_closing(issue, prompts.commit_message(issue.number, one_line(issue.title)))
        change = workspace.commit(commit.text)
        if not change.files:  # everything it changed was left out (workflow files)
            return self._no_changes(issue, result, fingerprint)
        refuse_new_secrets(workspace.pushed_blobs(MAX_SCAN_BYTES), self.redactor.findings, self._where(issue))
        if self.options.dry_run:
            return Outcome(
                issue.number,
                OutcomeKind.DRY_RUN,
                "dry run: nothing pushed",
                usage=result.usage,
                diff=change.diff,
            )
        cost = self.agent.budget.cost_of(result.usage)
        evidence = report_evidence(proof.verdict, proof.rounds, proof.note, result.usage.total_tokens, cost)
        failed = not proof.verdict.ok
        if failed and self.options.on_failure == "comment":
            self.commenter.post_once(
                issue.number, prompts.checks_failed_comment(issue.number, evidence, fingerprint), "checks"
            )
            raise ChecksFailed(
                f"the checks still fail after {proof.rounds} repair round(s): {proof.verdict.reason}"
            )
        self._phase(issue, "pushing")
        workspace.push()
        self._phase(issue, "opening pull request")
        title = self._own_closing(issue, prompts.pr_title(issue.number, one_line(issue.title)))
        body = self._pr_body(issue, result.summary, list(change.files), evidence, hidden,
                             [*commit.refs, *title.refs])  # fmt: skip
        pull = self.repo.create_pull(title.text, body, self._branch(issue), self.options.base_branch,
                                     draft=failed)  # fmt: skip
        link = prompts.pr_link_comment(issue.number, pull.url, proof.verdict.caveat)
        self.commenter.post_once(issue.number, link, "pr-link")
        self._log(issue, "opened %s%s", pull.url, " as a draft: the checks fail" if failed else "")
        if failed:
            raise ChecksFailed(
                _still_failing(proof), f"a draft PR holds the evidence: {pull.url}", pr_url=pull.url
            )
        return Outcome(issue.number, OutcomeKind.PR_OPENED, pull.url, pr=pull, usage=result.usage)

    def _pr_body(
        self, issue: Issue, summary: str, files: list[str], evidence: str, hidden: list[str], refs: list[str]
    ) -> str:
        """The PR body; closing keywords only for this issue; the notes say what the tool took out."""
        draft = self._own_closing(issue, prompts.pr_body(issue.number, summary, files, evidence))
        notes = prompts.input_notes(hidden, [*refs, *draft.refs])
        if notes:
            self._log(issue, "noted in the PR: %s", " ".join(notes))
        return self._own_closing(issue, prompts.pr_body(issue.number, summary, files, evidence, notes)).text

    def _own_closing(self, issue: Issue, text: str) -> Neutralised:
        return only_own_closing(text, self.repo.full_name, issue.number)

    def _branch(self, issue: Issue) -> str:
        """The task's branch: the slug of the title as one line, with any secret in it redacted first."""
        return replace(issue, title=self.redactor.redact(one_line(issue.title))).branch

    def rework(self, issue: Issue, pull: PullRequest) -> str | None:
        """Bring the PR's branch up to date with its base (the model resolves conflicts), check, push.

        Returns why that failed, or None once the updated branch is pushed.
        """
        assert self.options.merge is not None
        self._phase(issue, f"updating the branch ({self.options.merge.strategy})")
        self.workspaces.sync()
        workspace = self.workspaces.open(pull.head, pull.base)
        scratch = Path(tempfile.mkdtemp(prefix="autonomous-dev-home-"))
        try:
            gate, runner = self._gate(workspace, scratch)
            baseline = self._baseline(issue, workspace, gate, runner)
            conflicted = workspace.integrate(self.options.merge.strategy)
            for _ in range(MAX_CONFLICT_STEPS):
                if not conflicted:
                    break
                unresolved = self._resolve(issue, workspace, pull.base, conflicted, gate, runner)
                if unresolved:
                    return f"conflict markers remain in {', '.join(unresolved)} after the model's attempt"
                conflicted = workspace.conclude()
            if conflicted:
                return f"git still reports conflicts after {MAX_CONFLICT_STEPS} steps"
            self._phase(issue, "checking")
            verdict = gate.verdict(*gate.run(runner), baseline)
            if not verdict.ok:
                return f"the checks fail on the updated branch: {verdict.reason}"
            blobs = workspace.pushed_blobs(MAX_SCAN_BYTES)
            refuse_new_secrets(blobs, self.redactor.findings, self._where(issue))
            self._phase(issue, "pushing")
            workspace.push()
            return None
        finally:
            workspace.close()
            shutil.rmtree(scratch, ignore_errors=True)

    def _resolve(
        self, issue: Issue, workspace: Workspace, base: str, conflicted: list[str], gate: Gate, runner: Runner
    ) -> list[str]:
        """Let the model edit the conflicted files; the paths that still hold conflict markers."""
        self._phase(issue, f"resolving conflicts in {len(conflicted)} file(s)")
        message = prompts.conflict_message(issue.number, base, conflicted, self._task_message(issue))
        self.agent.run(message, self._toolbox(workspace, gate, runner), self._usage_observer(issue))
        return [path for path in conflicted if _has_conflict_markers(workspace.path / path)]

    def _claim(self, issue: Issue) -> None:
        if not self.options.dry_run:
            self.repo.add_label(issue.number, self.options.in_progress_label)

    def _release(self, issue: Issue) -> None:
        if not self.options.dry_run:
            self.repo.remove_label(issue.number, self.options.in_progress_label)

    def _phase(self, issue: Issue, phase: str) -> None:
        self._log(issue, "%s", phase)
        self.observer.phase(issue, phase)

    def _where(self, issue: Issue) -> str:
        return f"{self.repo.full_name}#{issue.number}"

    def _log(self, issue: Issue, message: str, *args: object) -> None:
        log.info(
            f"%s#%d: {message}",
            self.repo.full_name,
            issue.number,
            *args,
            extra={"repo": self.repo.full_name, "issue": issue.number},
        )


def _still_failing(proof: Proof) -> str:
    return f"the checks still fail after {proof.rounds} repair round(s): {proof.verdict.reason}"


def _has_conflict_markers(path: Path) -> bool:
    try:
        text = path.read_text(errors="replace")
    except (FileNotFoundError, IsADirectoryError):
        return False
    return bool(CONFLICT_MARKER.search(text))


def _issue_of_branch(branch: str) -> int | None:
    """`auto/12-fix-it` -> 12; None for branches that are not ours."""
    if not branch.startswith("auto/"):
        return None
    number = branch[len("auto/") :].split("-", 1)[0]
    return int(number) if number.isdigit() else None
