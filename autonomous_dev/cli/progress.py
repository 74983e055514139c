"""What `run` and `start` show: a live table of the workers on a terminal, and the summary of a run."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.table import Table
from rich.text import Text

from autonomous_dev.core.observe import CycleObserver
from autonomous_dev.core.outages import MetaStore, Outage, record, unreachable
from autonomous_dev.errors import InfrastructureError
from autonomous_dev.models import Issue, Outcome, Usage


@dataclass
class TaskRow:
    task: str
    started: float
    phase: str = "starting"
    turns: int = 0
    tokens: int = 0
    cost_usd: float = 0.0
    finished: float | None = None
    outcome: Outcome | None = None

    @property
    def seconds(self) -> float:
        return (self.finished or time.monotonic()) - self.started


@dataclass
class Tracker(CycleObserver):
    """Every task's phase, turns, tokens, cost and duration, as the daemon reports them."""

    rows: dict[str, TaskRow] = field(default_factory=dict)
    next_poll: datetime | None = None
    interval_s: float = 0.0
    polls: bool = True  # False for a one-shot `run`: there is no next poll
    outage_note: str = ""  # "Claude unreachable, retrying at 14:05:30" while the daemon backs off
    lock: threading.Lock = field(default_factory=threading.Lock)

    def task_started(self, repo: str, issue: Issue) -> None:
        key = f"{repo}#{issue.number}"
        with self.lock:
            self.rows[key] = TaskRow(key, time.monotonic())

    def task_phase(self, repo: str, issue: Issue, phase: str) -> None:
        with self.lock:
            row = self.rows.get(f"{repo}#{issue.number}")
            if row is not None:
                row.phase = phase

    def task_usage(self, repo: str, issue: Issue, usage: Usage, cost_usd: float) -> None:
        with self.lock:
            row = self.rows.get(f"{repo}#{issue.number}")
            if row is not None:
                row.turns += 1
                row.tokens += usage.total_tokens
                row.cost_usd += cost_usd

    def task_finished(self, repo: str, issue: Issue, outcome: Outcome) -> None:
        with self.lock:
            row = self.rows.get(f"{repo}#{issue.number}")
            if row is not None:
                row.finished, row.outcome, row.phase = time.monotonic(), outcome, outcome.kind.value

    def cycle_finished(self, outcomes: list[Outcome]) -> None:
        with self.lock:
            if self.polls:
                self.next_poll = datetime.now().astimezone() + timedelta(seconds=self.interval_s)

    def outage(self, error: InfrastructureError | None, retry_at: datetime | None) -> None:
        with self.lock:
            if error is None or retry_at is None:
                self.outage_note = ""
                return
            self.outage_note = unreachable(error.service)
            self.next_poll = retry_at.astimezone()

    def snapshot(self) -> list[TaskRow]:
        with self.lock:
            return [TaskRow(**vars(row)) for row in self.rows.values()]


class Fanout(CycleObserver):
    """Tells several observers (the tracker, metrics) the same things."""

    def __init__(self, *observers: CycleObserver | None) -> None:
        self.observers = [o for o in observers if o is not None]

    def issues_listed(self, repo: str, count: int) -> None:
        for observer in self.observers:
            observer.issues_listed(repo, count)

    def task_started(self, repo: str, issue: Issue) -> None:
        for observer in self.observers:
            observer.task_started(repo, issue)

    def task_phase(self, repo: str, issue: Issue, phase: str) -> None:
        for observer in self.observers:
            observer.task_phase(repo, issue, phase)

    def task_usage(self, repo: str, issue: Issue, usage: Usage, cost_usd: float) -> None:
        for observer in self.observers:
            observer.task_usage(repo, issue, usage, cost_usd)

    def task_finished(self, repo: str, issue: Issue, outcome: Outcome) -> None:
        for observer in self.observers:
            observer.task_finished(repo, issue, outcome)

    def cycle_finished(self, outcomes: list[Outcome]) -> None:
        for observer in self.observers:
            observer.cycle_finished(outcomes)

    def outage(self, error: InfrastructureError | None, retry_at: datetime | None) -> None:
        for observer in self.observers:
            observer.outage(error, retry_at)


class OutageRecorder(CycleObserver):
    """Keeps the outage in the state store, where `status` reads it; cleared once a cycle gets through."""

    def __init__(self, store: MetaStore) -> None:
        self.store = store

    def outage(self, error: InfrastructureError | None, retry_at: datetime | None) -> None:
        record(self.store, None if error is None else Outage.of(error, retry_at))


class OnWorkFound(CycleObserver):
    """Calls `action` when a cycle lists labelled issues (the CLI loads the Claude SDK then, while the
    issues are checked and claimed)."""

    def __init__(self, action: Callable[[], None]) -> None:
        self.action = action

    def issues_listed(self, repo: str, count: int) -> None:
        if count:
            self.action()


def live_view(tracker: Tracker) -> RenderableType:
    """One row per task in flight (and those finished this run), with a footer of totals."""
    rows = tracker.snapshot()
    table = Table("task", "phase", "elapsed", "tokens", "cost", title="autonomous-dev", expand=False)
    for row in rows:
        phase = f"agent turn {row.turns + 1}" if row.phase == "agent" else row.phase
        table.add_row(row.task, phase, _duration(row.seconds), f"{row.tokens:,}", f"${row.cost_usd:.4f}")
    working = sum(1 for row in rows if row.finished is None)
    footer = (
        f"{working} working, {len(rows) - working} done, {sum(r.tokens for r in rows):,} tokens, "
        f"${sum(r.cost_usd for r in rows):.4f}"
    )
    if tracker.outage_note and tracker.next_poll is not None:
        footer += f"; {tracker.outage_note}, retrying at {tracker.next_poll:%H:%M:%S}"
    elif tracker.next_poll is not None and working == 0:
        footer += f"; next poll at {tracker.next_poll:%H:%M:%S}"
    return Group(table, Text(footer, style="dim"))


class LiveProgress:
    """A rich Live display refreshed from the tracker; log lines printed through the same console go above."""

    def __init__(self, tracker: Tracker, console: Console) -> None:
        self._live = Live(
            get_renderable=lambda: live_view(tracker),
            console=console,
            refresh_per_second=4,
            transient=False,
        )

    def __enter__(self) -> LiveProgress:
        self._live.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._live.stop()


def summary_table(outcomes: list[Outcome], tracker: Tracker) -> Table:
    table = Table("issue", "outcome", "PR / detail", "duration", "tokens", "cost", title="autonomous-dev run")
    for outcome, row in _joined(outcomes, tracker):
        detail = outcome.pr.url if outcome.pr else outcome.detail
        table.add_row(f"#{outcome.issue}", outcome.kind.value, Text(detail),
                      _duration(row.seconds) if row else "-", f"{outcome.usage.total_tokens:,}",
                      f"${row.cost_usd:.4f}" if row else "-")  # fmt: skip
    return table


def summary_json(outcomes: list[Outcome], tracker: Tracker) -> str:
    """The summary as one JSON line, for `--log-format json` (every line of output parses)."""
    items = [
        {
            "issue": outcome.issue,
            "outcome": outcome.kind.value,
            "pr": outcome.pr.url if outcome.pr else None,
            "detail": outcome.detail,
            "seconds": round(row.seconds, 3) if row else None,
            "tokens": outcome.usage.total_tokens,
            "cost_usd": round(row.cost_usd, 6) if row else None,
        }
        for outcome, row in _joined(outcomes, tracker)
    ]
    return json.dumps({"event": "run_summary", "outcomes": items})


def _joined(outcomes: list[Outcome], tracker: Tracker) -> list[tuple[Outcome, TaskRow | None]]:
    rows = {row.outcome.issue: row for row in tracker.snapshot() if row.outcome is not None}
    return [(outcome, rows.get(outcome.issue)) for outcome in outcomes]


def _duration(seconds: float) -> str:
    minutes, rest = divmod(int(seconds), 60)
    return f"{minutes}:{rest:02d}"
