"""What every step on one repository shares: the agent's instructions with the repository's own
(AGENTS.md) and its map of the base commit, the checks and the sandboxed runner of a checkout, and the
baseline test run per base commit. The repository's instructions, the map and the baseline are computed
once per base commit and cached (the same bytes keep the prompt cache warm; workers that start together
on one base wait for the first one's baseline)."""

from __future__ import annotations

import logging
import math
import shlex
import shutil
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from autonomous_dev.core import prompts
from autonomous_dev.core.evaluate import Gate, Run, Runner, command_report, detect_commands
from autonomous_dev.core.instructions import Instructions, read_instructions
from autonomous_dev.core.repomap import SymbolCache, blob_shas, repo_map
from autonomous_dev.core.tools import TestRunner, Toolbox, command_tool
from autonomous_dev.models import BRANCH_PREFIX
from autonomous_dev.ports import Workspace, Workspaces
from autonomous_dev.sandbox.backends import Sandbox
from autonomous_dev.sandbox.environments import Environments
from autonomous_dev.sandbox.procs import CommandResult, scrubbed_env
from autonomous_dev.security.redact import Redactor
from autonomous_dev.settings.sections import EvaluationSettings

log = logging.getLogger(__name__)
BASELINE_BRANCH = f"{BRANCH_PREFIX}0-baseline"  # a worktree name only: never committed or pushed


@dataclass(frozen=True)
class Bench:
    """One checkout's checks, the runner of its commands, and the model's tools on it."""

    gate: Gate
    run: Runner
    toolbox: Toolbox


class TaskContext:
    def __init__(
        self,
        evaluation: EvaluationSettings,
        sandbox: Sandbox,
        redactor: Redactor,
        *,
        repo_map_chars: int = 12_000,  # 0: no repository map in the system prompt
        shell_tool: bool = True,
        environments: Environments | None = None,  # None: commands run with the PATH as it is
        symbols: SymbolCache | None = None,
        instruction_files: tuple[str, ...] = (),  # agent.instructionFiles: the first found is used
    ) -> None:
        self.evaluation = evaluation
        self.sandbox = sandbox
        self.redactor = redactor
        self.repo_map_chars = repo_map_chars
        self.shell_tool = shell_tool
        self.environments = environments
        self.symbols = symbols
        self.instruction_files = instruction_files
        self._maps: dict[str, str] = {}
        self._instructions: dict[str, Instructions | None] = {}
        self._baselines: dict[str, Run | None] = {}
        self._once: dict[str, threading.Lock] = {}
        self._aside: list[threading.Thread] = []  # baseline runs started in the background
        self._lock = threading.Lock()

    def system_for(self, workspace: Workspace, system: str) -> str:
        """The agent's instructions plus the repository's own (AGENTS.md) and its map: the same bytes for
        every task on one commit."""
        found = self.instructions(workspace)
        if found is not None:
            system = prompts.with_repository_instructions(system, found.path, found.text, found.truncated)
        return prompts.with_repository_map(system, self._repo_map(workspace))

    def instructions(self, workspace: Workspace) -> Instructions | None:
        """The repository's instructions as committed in the base commit, read once per base commit."""
        sha = workspace.base_sha()
        with self._lock:
            if sha in self._instructions:
                return self._instructions[sha]
        found = read_instructions(workspace, sha, self.instruction_files)
        with self._lock:
            self._instructions[sha] = found
        return found

    def _repo_map(self, workspace: Workspace) -> str:
        if self.repo_map_chars <= 0:
            return ""
        sha = workspace.base_sha()
        with self._lock:
            cached = self._maps.get(sha)
        if cached is None:
            root = workspace.path
            cached = repo_map(root, max_chars=self.repo_map_chars, blobs=blob_shas(root), cache=self.symbols)
            with self._lock:
                self._maps[sha] = cached
        return cached

    def bench(self, workspace: Workspace, scratch: Path) -> Bench:
        """The checks of the checkout, in its prepared environment (set up first when there is one)."""
        evaluation = self.evaluation
        commands = detect_commands(workspace.path, evaluation.build_command, evaluation.test_command)
        prepared = None
        if self.environments is not None:
            prepared = self.environments.for_checkout(
                workspace, scratch, commands.test, evaluation.timeout_seconds
            )
        setup = prepared.step if prepared is not None else None
        gate = Gate(commands, evaluation.require_build, evaluation.require_tests, scratch / "reports", setup)
        env = scrubbed_env(scratch) | gate.env()
        env, mounts = (prepared.env(env), prepared.mounts) if prepared is not None else (env, ())
        limit = evaluation.timeout_seconds

        def run(line: str, timeout_s: float = math.inf) -> CommandResult:
            return self.sandbox.run(line, workspace.path, scratch, env, min(timeout_s, limit), mounts=mounts)

        shell = command_tool(run, self.redactor.redact) if self.shell_tool else None
        toolbox = Toolbox(workspace.path, self.redactor.restore, _test_tool(gate, run), run_command=shell)
        return Bench(gate, run, toolbox)

    def baseline(self, workspace: Workspace, bench: Bench, on_run: Callable[[], None]) -> Run | None:
        """The tests on the base commit, run in `workspace` before anything changes it, once per base
        commit and environment, and cached."""
        if not bench.gate.commands.test:
            return None
        key = workspace.base_sha() + bench.gate.environment_tag

        def run_here() -> Run | None:
            on_run()
            _, tests = bench.gate.run(bench.run)
            workspace.discard_untracked()  # whatever the base run left is not the model's change
            return tests

        return self._once_per(key, run_here)

    def baseline_aside(
        self, workspaces: Workspaces, base: str, workspace: Workspace, bench: Bench
    ) -> Callable[[], Run | None]:
        """The same baseline, computed in a checkout of its own while the agent works in `workspace`;
        call the result when the checks need it (it waits for the run, and raises what the run raised)."""
        if not bench.gate.commands.test:
            return lambda: None
        key = workspace.base_sha() + bench.gate.environment_tag
        with self._lock:
            if key in self._baselines:
                cached = self._baselines[key]
                return lambda: cached
        done: list[Run | None] = []
        failed: list[BaseException] = []

        def run_aside() -> Run | None:
            log.info("running the tests of %s in a checkout of their own", key[:12])
            checkout = workspaces.open(f"{BASELINE_BRANCH}-{key[:12]}", base)
            scratch = Path(tempfile.mkdtemp(prefix="autonomous-dev-home-"))
            try:
                aside = self.bench(checkout, scratch)
                return aside.gate.run(aside.run)[1]
            finally:
                checkout.close()
                shutil.rmtree(scratch, ignore_errors=True)

        def compute() -> None:
            try:
                done.append(self._once_per(key, run_aside))
            except BaseException as exc:  # handed to the task that waits for it
                failed.append(exc)

        thread = threading.Thread(target=compute, name=f"baseline-{key[:12]}", daemon=True)
        with self._lock:
            self._aside.append(thread)
        thread.start()

        def result() -> Run | None:
            thread.join()
            if failed:
                raise failed[0]
            return done[0]

        return result

    def settle(self) -> None:
        """Wait for the baseline runs still going that no task waits for any more (an attempt that ended
        before its checks): the process must not end with one in the middle of its checkout."""
        with self._lock:
            aside, self._aside = self._aside, []
        for thread in aside:
            thread.join()

    def _once_per(self, key: str, run: Callable[[], Run | None]) -> Run | None:
        """Workers that need the same baseline together wait for the first one's run."""
        with self._lock:
            once = self._once.setdefault(key, threading.Lock())
        with once:
            if key not in self._baselines:
                self._baselines[key] = run()
        return self._baselines[key]


def _test_tool(gate: Gate, runner: Runner) -> TestRunner | None:
    command = gate.commands.test
    if not command:
        return None

    def run_tests(extra: list[str], within_s: float) -> str:  # within the task's time budget
        result = runner(" ".join([command, *(shlex.quote(arg) for arg in extra)]), within_s)
        return command_report(result)

    return run_tests
