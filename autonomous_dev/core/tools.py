"""The agent's tools (Anthropic's text editor tool, a code search, the tests, a shell), confined to one
worktree: files through checked paths, commands in the sandbox."""

from __future__ import annotations

import logging
import math
import shlex
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from autonomous_dev.core.evaluate import Runner, command_report
from autonomous_dev.core.search import MAX_FILE_BYTES, SEARCH_NAME, SEARCH_TOOL, search
from autonomous_dev.core.tool_schema import COMMAND_NAME, COMMAND_TOOL, EDITOR_SCHEMA, checked
from autonomous_dev.disk import disk_full, is_disk_full
from autonomous_dev.errors import ToolError
from autonomous_dev.logs import audit
from autonomous_dev.models import ToolCall, ToolResult

EDITOR_NAME = "str_replace_based_edit_tool"
EDITOR_TYPE = "text_editor_20250728"
MAX_RESULT_CHARS = 30_000
MAX_LISTING = 400
MAX_PATH_BYTES, MAX_NAME_BYTES = 1024, 255  # a name the filesystem refuses is the model's to fix
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


class ConfinementError(ToolError):
    """The model tried to leave its worktree (or reach .git, .env files): refused and audited."""


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
        self.root = root.resolve()
        self.restore = restore
        self.test_runner = run_tests
        self.command_runner = run_command
        self.read_only = read_only
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
            return self._edit(args)
        if name == SEARCH_NAME:
            base = self.resolve(args.get("path") or ".")
            glob = args.get("glob")
            return search(base, str(args["pattern"]), str(glob) if glob else None, self._display, deadline)
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

    # -- paths ---------------------------------------------------------------------------------------------

    def resolve(self, raw: object, must_exist: bool = True) -> Path:
        """Map a model-supplied path to a real path inside the worktree, or raise ToolError."""
        if not isinstance(raw, str) or not raw.strip():
            raise ToolError("`path` must be a non-empty string relative to the repository root")
        _check_name(raw)
        rel = PurePosixPath(raw.strip())
        if rel.is_absolute() or raw.startswith("~"):
            raise ConfinementError(f"{raw}: use a path relative to the repository root, e.g. src/app.py")
        if ".." in rel.parts:
            raise ConfinementError(f"{raw}: `..` is not allowed; paths stay inside the repository")
        target = (self.root / rel).resolve()
        if target != self.root and self.root not in target.parents:
            raise ConfinementError(f"{raw}: resolves outside the repository (symbolic link?)")
        inside = target.relative_to(self.root).parts
        if ".git" in inside:
            raise ConfinementError(f"{raw}: the .git directory is off limits")
        if inside and inside[-1].startswith(".env"):
            raise ConfinementError(f"{raw}: environment files may hold credentials and are off limits")
        if must_exist and not target.exists():
            raise ToolError(f"{raw}: no such file or directory")
        return target

    def _display(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix() or "."

    # -- text editor -------------------------------------------------------------------------------------

    def _edit(self, args: dict[str, object]) -> str:
        command = args.get("command")
        if command == "view":
            return self._view(args)
        if self.read_only:
            raise ToolError(f"this task is read-only: `{command}` is not available, only `view`")
        if command == "create":
            return self._create(args)
        if command == "str_replace":
            return self._str_replace(args)
        if command == "insert":
            return self._insert(args)
        raise ToolError(f"unsupported command {command!r}; use view, create, str_replace or insert")

    def _view(self, args: dict[str, object]) -> str:
        path = self.resolve(args.get("path"))
        if path.is_dir():
            return "\n".join(self._listing(path))
        lines = self._read(path).split("\n")
        start, end = 1, len(lines)
        view_range = args.get("view_range")
        if isinstance(view_range, list):  # two integers: the schema check saw to that
            first, last = (int(number) for number in view_range)
            start = max(1, first)
            end = len(lines) if last == -1 else min(len(lines), last)
            if start > end:
                raise ToolError(f"view_range {view_range} is empty; the file has {len(lines)} lines")
        return "\n".join(f"{number:6}\t{lines[number - 1]}" for number in range(start, end + 1))

    def _listing(self, directory: Path) -> Iterator[str]:
        """Two levels, hidden entries left out; only what is shown is read, however large the tree."""
        for count, path in enumerate(_entries(directory, depth=2), start=1):
            if count > MAX_LISTING:
                yield f"... (more than {MAX_LISTING} entries; view a subdirectory)"
                return
            yield self._display(path) + ("/" if path.is_dir() else "")

    def _create(self, args: dict[str, object]) -> str:
        text = args.get("file_text")
        if not isinstance(text, str):
            raise ToolError("create needs `file_text`")
        if len(text.encode()) > MAX_FILE_BYTES:
            raise ToolError(f"file_text is larger than {MAX_FILE_BYTES} bytes")
        path = self.resolve(args.get("path"), must_exist=False)
        if path.is_dir():
            raise ToolError(f"{self._display(path)} is a directory")
        blocking = next((p for p in path.parents if p.exists() and not p.is_dir()), None)
        if blocking is not None:
            raise ToolError(f"{self._display(blocking)} is a file, so it cannot hold {self._display(path)}")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return f"File created: {self._display(path)}"

    def _str_replace(self, args: dict[str, object]) -> str:
        path = self.resolve(args.get("path"))
        old, new = args.get("old_str"), args.get("new_str", "")
        if not isinstance(old, str) or not old or not isinstance(new, str):
            raise ToolError("str_replace needs a non-empty `old_str` and a string `new_str`")
        text = self._read(path)
        count = text.count(old)
        if count == 0:
            raise ToolError(
                f"old_str was not found in {self._display(path)}; view the file and copy it exactly"
            )
        if count > 1:
            raise ToolError(f"old_str occurs {count} times in {self._display(path)}; include more context")
        self._write(path, text.replace(old, new, 1))
        return f"Edited {self._display(path)}"

    def _insert(self, args: dict[str, object]) -> str:
        path = self.resolve(args.get("path"))
        # Models vary between `insert_text` and `new_str` for this command.
        new = args.get("insert_text", args.get("new_str"))
        line = args.get("insert_line")
        if not isinstance(new, str) or not isinstance(line, int):
            raise ToolError("insert needs an integer `insert_line` and `insert_text`")
        lines = self._read(path).split("\n")
        if not 0 <= line <= len(lines):
            raise ToolError(f"insert_line {line} is outside 0..{len(lines)}")
        lines[line:line] = new.split("\n")
        self._write(path, "\n".join(lines))
        return f"Inserted {new.count(chr(10)) + 1} line(s) after line {line} of {self._display(path)}"

    def _read(self, path: Path) -> str:
        if not path.is_file():
            raise ToolError(f"{self._display(path)} is not a regular file")
        if path.stat().st_size > MAX_FILE_BYTES:
            raise ToolError(
                f"{self._display(path)} is larger than {MAX_FILE_BYTES} bytes; use view_range or search"
            )
        try:
            return path.read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            raise ToolError(f"{self._display(path)} is not UTF-8 text") from exc

    def _write(self, path: Path, text: str) -> None:
        if len(text.encode()) > MAX_FILE_BYTES:
            raise ToolError(f"the result would be larger than {MAX_FILE_BYTES} bytes")
        path.write_text(text, encoding="utf-8")


def _entries(directory: Path, depth: int) -> Iterator[Path]:
    try:
        children = sorted(entry for entry in directory.iterdir() if not entry.name.startswith("."))
    except OSError:
        return
    for child in children:
        yield child
        if depth > 1 and child.is_dir() and not child.is_symlink():
            yield from _entries(child, depth - 1)


def _check_name(raw: str) -> None:
    """Refuse what no filesystem call should see: NUL, and names longer than the OS allows."""
    if "\0" in raw:
        raise ToolError("`path` must not contain NUL characters")
    encoded = raw.encode("utf-8", "surrogateescape")
    if len(encoded) > MAX_PATH_BYTES or any(len(part) > MAX_NAME_BYTES for part in encoded.split(b"/")):
        raise ToolError(f"`path` is too long: at most {MAX_PATH_BYTES} bytes, {MAX_NAME_BYTES} per name")


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
