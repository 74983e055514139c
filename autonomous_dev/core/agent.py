"""The tool loop: ask the model, run its tool calls, feed the results back, until done or out of budget."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from autonomous_dev.core.tools import Toolbox
from autonomous_dev.errors import BudgetExceeded, Cause
from autonomous_dev.models import ModelTurn, ToolResult, Usage
from autonomous_dev.ports import Claude

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Budget:
    max_turns: int
    max_tokens: int
    max_seconds: float = float("inf")
    max_cost_usd: float = float("inf")
    cost_of: Callable[[Usage], float] = lambda usage: 0.0


@dataclass(frozen=True)
class AgentResult:
    summary: str
    turns: int
    usage: Usage
    messages: tuple[dict[str, object], ...] = ()
    system: str = ""
    deadline: float = math.inf  # time.monotonic() when the task's time budget runs out


TurnObserver = Callable[[int, Usage], None]  # turn number, that turn's usage


class Agent:
    """Drives one conversation for one task; the model only ever touches the task's worktree."""

    def __init__(self, claude: Claude, system: str, budget: Budget) -> None:
        self.claude = claude
        self.system = system
        self.budget = budget

    def run(
        self,
        task_message: str,
        toolbox: Toolbox,
        on_turn: TurnObserver | None = None,
        system: str | None = None,
    ) -> AgentResult:
        """`system` replaces the agent's system prompt for this task (e.g. with the repository map added)."""
        messages: list[dict[str, object]] = [{"role": "user", "content": task_message}]
        deadline = time.monotonic() + self.budget.max_seconds
        return self._loop(messages, Usage(), 0, toolbox, on_turn, system or self.system, deadline)

    def resume(
        self, previous: AgentResult, message: str, toolbox: Toolbox, on_turn: TurnObserver | None = None
    ) -> AgentResult:
        """Continue the same conversation (for example with failing checks); budgets count the whole task."""
        messages: list[dict[str, object]] = [*previous.messages, {"role": "user", "content": message}]
        return self._loop(
            messages, previous.usage, previous.turns, toolbox, on_turn, previous.system, previous.deadline
        )

    def _loop(
        self,
        messages: list[dict[str, object]],
        usage: Usage,
        turns_before: int,
        toolbox: Toolbox,
        on_turn: TurnObserver | None,
        system: str,
        deadline: float,
    ) -> AgentResult:
        tools = toolbox.definitions()
        for turn_number in range(turns_before + 1, self.budget.max_turns + 1):
            turn = self.claude.complete(system, messages, tools)
            usage = usage + turn.usage
            if on_turn:
                on_turn(turn_number, turn.usage)
            log.debug("turn %d: stop_reason=%s tools=%d", turn_number, turn.stop_reason, len(turn.tool_calls))
            content = list(turn.raw_content) or [{"type": "text", "text": "(no reply)"}]
            messages.append({"role": "assistant", "content": content})
            if not turn.tool_calls:
                return AgentResult(turn.text, turn_number, usage, tuple(messages), system, deadline)
            self._check_spend(usage)
            messages.append({"role": "user", "content": _tool_results(turn, toolbox, deadline)})
            if time.monotonic() > deadline:
                raise BudgetExceeded(
                    f"time budget spent: still working after {_duration(self.budget.max_seconds)}",
                    "raise execution.timeoutMinutes or split the issue",
                    Cause.BUDGET_TIME,
                )
        raise BudgetExceeded(
            f"turn budget spent: the model was still working after {self.budget.max_turns} turns",
            "raise execution.maxTurns or split the issue",
            Cause.BUDGET_TURNS,
        )

    def _check_spend(self, usage: Usage) -> None:
        if usage.total_tokens >= self.budget.max_tokens:
            raise BudgetExceeded(
                f"token budget spent: {usage.total_tokens} of {self.budget.max_tokens} tokens",
                "raise execution.maxTokensPerTask or split the issue",
                Cause.BUDGET_TOKENS,
            )
        cost = self.budget.cost_of(usage)
        if cost >= self.budget.max_cost_usd:
            raise BudgetExceeded(
                f"cost budget spent: ${cost:.4f} of ${self.budget.max_cost_usd:.2f}",
                "raise execution.maxCostUsdPerTask or split the issue",
                Cause.BUDGET_COST,
            )


def _tool_results(turn: ModelTurn, toolbox: Toolbox, deadline: float) -> list[dict[str, object]]:
    """Each call's result; a tool bounded by the task's time budget, none started once it is spent."""
    results: list[ToolResult] = [
        toolbox.run(call, deadline)
        if time.monotonic() < deadline
        else ToolResult(call.id, "Error: not run: the task's time budget is spent", is_error=True)
        for call in turn.tool_calls
    ]
    return [
        {"type": "tool_result", "tool_use_id": r.tool_use_id, "content": r.content, "is_error": r.is_error}
        for r in results
    ]


def _duration(seconds: float) -> str:
    """A time budget as people say it: "30 seconds", "1 minute", "2.5 minutes"."""
    if seconds < 60:
        return f"{seconds:g} second{'' if seconds == 1 else 's'}"
    minutes = round(seconds / 60, 1)
    return f"{minutes:g} minute{'' if minutes == 1 else 's'}"
