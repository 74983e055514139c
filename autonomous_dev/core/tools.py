"""The agent's tools (Anthropic's text editor tool, a code search, the tests, a shell), confined to one
worktree: files through checked paths, commands in the sandbox."""

from __future__ import annotations

import logging
import math
import shlex
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from autonomous_dev.core.editor import ConfinementError, TextEditor
from autonomous_dev.core.evaluate import Runner, command_report
from autonomous_dev.core.search import SEARCH_NAME, SEARCH_TOOL, search
from autonomous_dev.core.tool_schema import COMMAND_NAME, COMMAND_TOOL, EDITOR_SCHEMA, checked
from autonomous_dev.disk import disk_full, is_disk_full
from autonomous_dev.errors import ToolError
from autonomous_dev.logs import audit
from autonomous_dev.models import ToolCall, ToolResult

EDITOR_NAME = "str_replace_based_edit_tool"
EDITOR_TYPE = "text_editor_20250728"
MAX_RESULT_CHARS = 30_000
log = logging.getLogger(__name__)

TESTS_NAME = "run_tests"
TESTS_TOOL: dict[str, object] = {
    "name": TESTS_NAME,
    "description": (
        "Run the project's test command (optionally with extra arguments such as a test file or a -k "
        "expression) and return its exit code and output. Use it to check a change before finishing."
    ),
    "input_schema": {
        "type": "object",
        "properties": {"args": {"type": "string", "description": "Extra arguments for the test command."}},
    },
}


def tool_definitions(with_tests: bool = False, with_shell: bool = False) -> list[dict[str, object]]:
    tools: list[dict[str, object]] = [{"type": EDITOR_TYPE, "name": EDITOR_NAME}, SEARCH_TOOL]
    return [*tools, *([TESTS_TOOL] if with_tests else []), *([COMMAND_TOOL] if with_shell else [])]


TestRunner = Callable[[list[str], float], str]  # extra arguments, seconds it may take at most
CommandRunner = Callable[[str, float], str]  # a shell command, seconds it may take at most


def command_tool(runner: Runner, redact: Callable[[str], str]) -> CommandRunner:
    """The shell tool over the task's runner (the sandbox, network off, in the worktree, the task's time
    budget): the model sees the command's report with the tail of its output, secrets redacted."""

    def run_command(command: str, within_s: float) -> str:
        return redact(command_report(runner(command, within_s)))

    return run_command


@dataclass(frozen=True)
class ExtraTool:
    """A task-specific tool (for example the one a model reports its answer through)."""

    definition: dict[str, object]
    handle: Callable[[dict[str, object]], str]  # raises ToolError to tell the model what was wrong

    @property
    def name(self) -> str:
        return str(self.definition["name"])


class Toolbox:
    """Runs tool calls against one worktree; every path is checked before it is touched.

    `restore` turns placeholders the model quotes back into the file's real values (the model never saw
    them), so edits to lines holding secrets still apply. `run_tests`, when given, runs the project's
    test command in the sandbox; `run_command` any shell command there.
    """

    def __init__(
        self,
        root: Path,
        restore: Callable[[str], str] = lambda text: text,
        run_tests: TestRunner | None = None,
        read_only: bool = False,
        extras: Sequence[ExtraTool] = (),
        run_command: CommandRunner | None = None,
    ) -> None:
        self.editor = TextEditor(root, read_only)
        self.root = self.editor.root
        self.restore = restore
        self.test_runner = run_tests
        self.command_runner = run_command
        self.extras = {tool.name: tool for tool in extras}

    def definitions(self) -> list[dict[str, object]]:
        tools = tool_definitions(self.test_runner is not None, self.command_runner is not None)
        return [*tools, *(tool.definition for tool in self.extras.values())]

    def input_schema(self, name: str) -> dict[str, object]:
        """The JSON schema a call to the offered tool `name` is checked against; ToolError if not offered."""
        for definition in self.definitions():
            if definition.get("name") == name:
                schema = (
                    EDITOR_SCHEMA if definition.get("type") == EDITOR_TYPE else definition["input_schema"]
                )
                return schema if isinstance(schema, dict) else {}
        raise ToolError(f"unknown tool {name!r:.100}; use one of the tools offered")

    def run(self, call: ToolCall, deadline: float = math.inf) -> ToolResult:
        """Answer one call; anything wrong with it is an error result the model can correct.

        `deadline` (time.monotonic) is the task's time budget: a search stops there, tests get the rest.
        """
        try:
            schema = self.input_schema(call.name)
            # A task's own tool checks its input with the pydantic model its schema came from, and says
            # why it refused it in its own words; ours are checked here.
            extra = call.name in self.extras and isinstance(call.input, dict)
            args = call.input if extra else checked(schema, call.input)
            args = {
                key: self.restore(value) if isinstance(value, str) else value for key, value in args.items()
            }
            output = self._dispatch(call.name, args, deadline)
        except ConfinementError as exc:
            audit(log, "security_violation", "refused %s: %s", call.name, exc.message, level=logging.WARNING)
            return ToolResult(call.id, f"Error: {exc.message}", is_error=True)
        except ToolError as exc:
            return ToolResult(call.id, f"Error: {exc.message}", is_error=True)
        except OSError as exc:  # e.g. a name too long, a parent that is a file: the model can fix those
            if is_disk_full(exc):  # not the model's to fix: the task stops and is taken up again later
                raise disk_full("a file of the worktree", self.root) from None
            return ToolResult(call.id, f"Error: {exc.strerror or exc}", is_error=True)
        return ToolResult(call.id, _truncate(output))

    def _dispatch(self, name: str, args: dict[str, object], deadline: float) -> str:
        if name == EDITOR_NAME:
            return self.editor.edit(args)
        if name == SEARCH_NAME:
            base = self.editor.resolve(args.get("path") or ".")
            glob = args.get("glob")
            pattern = str(args["pattern"])
            return search(base, pattern, str(glob) if glob else None, self.editor.display, deadline)
        if name == TESTS_NAME and self.test_runner is not None:
            return self._run_tests(args.get("args"), deadline)
        if name == COMMAND_NAME and self.command_runner is not None:
            return self.command_runner(_shell_line(args.get("command")), _seconds_left(deadline, "command"))
        return self.extras[name].handle(args)

    def _run_tests(self, extra: object, deadline: float) -> str:
        assert self.test_runner is not None
        if isinstance(extra, str) and "\0" in extra:
            raise ToolError("`args` must not contain NUL characters")
        try:
            argv = shlex.split(extra) if isinstance(extra, str) else []
        except ValueError as exc:
            raise ToolError(f"`args` is not valid shell syntax: {exc}") from None
        return self.test_runner(argv, _seconds_left(deadline, "tests were"))


def _seconds_left(deadline: float, what: str) -> float:
    seconds = deadline - time.monotonic()
    if seconds <= 0:
        raise ToolError(f"the task's time budget is spent; the {what} not run")
    return seconds


def _shell_line(command: object) -> str:
    """The model's command line (the schema saw to its type and length); NUL cannot reach a shell."""
    if not isinstance(command, str) or not command.strip():
        raise ToolError("`command` must be a non-empty shell command")
    if "\0" in command:
        raise ToolError("`command` must not contain NUL characters")
    return command


def _truncate(text: str) -> str:
    if len(text) <= MAX_RESULT_CHARS:
        return text
    return text[:MAX_RESULT_CHARS] + f"\n... [truncated {len(text) - MAX_RESULT_CHARS} characters]"
