"""A structured answer through a tool: a read-only agent reports once, re-asked once if it did not."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, TypeVar

from pydantic import ValidationError

from autonomous_dev.core.agent import Agent
from autonomous_dev.core.tools import ExtraTool, Toolbox
from autonomous_dev.errors import ToolError

T = TypeVar("T")


class NoAnswer(Exception):
    """The model gave no valid answer through the tool, even when re-asked; `detail` says what was wrong.

    Not an AutonomousDevError: callers turn it into their own error (or a fallback); it never reaches users.
    """

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


@dataclass(frozen=True)
class AnswerTool(Generic[T]):
    """The tool the model answers through: its definition, what the answer is, and how it is checked."""

    definition: dict[str, object]
    what: str  # "task list", "analysis": for the messages to the model and the user
    parse: Callable[[dict[str, object]], T]  # raises ValueError (pydantic's included) on a bad answer

    @property
    def name(self) -> str:
        return str(self.definition["name"])


def ask(agent: Agent, message: str, root: Path, restore: Callable[[str], str], tool: AnswerTool[T]) -> T:
    """The model's last valid answer; re-asks once with a nudge; raises NoAnswer when there is none."""
    answers: list[T] = []
    problems: list[str] = []

    def record(args: dict[str, object]) -> str:
        try:
            answers.append(tool.parse(args))
        except ValueError as exc:
            problems.append(describe(exc))
            raise ToolError(f"invalid {tool.what}, nothing recorded: {problems[-1]}") from None
        return f"recorded the {tool.what}"

    toolbox = Toolbox(root, restore, read_only=True, extras=[ExtraTool(tool.definition, record)])
    result = agent.run(message, toolbox)
    if not answers:
        said = f" (the last one was invalid: {problems[-1]})" if problems else ""
        nudge = (
            f"No valid {tool.what} was recorded{said}. Call the {tool.name} tool now, once, with your "
            f"{tool.what}; then reply with a one-line summary."
        )
        agent.resume(result, nudge, toolbox)
    if not answers:
        raise NoAnswer(f": {problems[-1]}" if problems else f" (it never called {tool.name})")
    return answers[-1]


def describe(exc: ValueError) -> str:
    """A short account of what was wrong with an answer: pydantic's first problems with their fields."""
    if not isinstance(exc, ValidationError):
        return str(exc)
    problems = []
    for error in exc.errors()[:5]:
        where = ".".join(str(part) for part in error["loc"])
        problems.append(f"{where}: {error['msg']}")
    return "; ".join(problems)
