"""What a cycle may still claim, and the workers' places: at most `workers` steps use the model and the
checks at once, and an attempt claimed ahead prepares its worktree while it waits for one."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from autonomous_dev.models import Issue
    from autonomous_dev.ports import Store

log = logging.getLogger(__name__)
WAKE_S = 0.5  # a step waiting for a place looks this often whether the cycle stops


class Place(Protocol):
    """A claimed step's worker place, as the step sees it."""

    def take(self, waiting: Callable[[], None] = ...) -> None: ...

    def free(self) -> None: ...


class NotStarted(Exception):
    """A step claimed ahead did not get a worker's place: the cycle stops claiming (a stop, an outage, the
    day's budget). Its claim is given back uncounted; the next cycle takes it again."""


@dataclass
class Board:
    """What this cycle may still claim, per repository; per repository too, how many claimed steps hold a
    worker's place (`active`) and how many wait for one, preparing (`ahead`). Admission adds to it while
    workers claim from it."""

    candidates: dict[str, list[int]] = field(default_factory=dict)
    issues: dict[tuple[str, int], Issue] = field(default_factory=dict)
    active: dict[str, int] = field(default_factory=dict)
    ahead: dict[str, int] = field(default_factory=dict)
    admitting: bool = True
    admitted: int = 0
    turn: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    changed: threading.Condition = field(init=False)

    def __post_init__(self) -> None:
        self.changed = threading.Condition(self.lock)

    def add(self, repo: str, number: int, issue: Issue) -> None:
        with self.changed:
            self.candidates.setdefault(repo, []).append(number)
            self.issues[(repo, number)] = issue
            self.admitted += 1
            self.changed.notify()

    def drop(self, repo: str, numbers: list[int]) -> None:
        """Take these off the repository's candidates, once each, where still there (the lock held)."""
        left = self.candidates[repo]
        for number in numbers:
            if number in left:
                left.remove(number)

    def admission_done(self) -> None:
        with self.changed:
            self.admitting = False
            self.changed.notify_all()

    def work_left(self) -> bool:
        with self.lock:
            return self.admitting or any(self.candidates.values())


@dataclass
class Seat:
    """A claimed step's worker place on `repo`: waited for and taken when its work needs the model or the
    checks (`take`), given back once (`free`) when what is left only waits on git and GitHub, or when the
    step ends, whichever comes first. Until it is taken the step counts as claimed ahead."""

    board: Board
    repo: str
    workers: int
    cap: int  # places on this repository
    stopping: Callable[[], str | None]  # why the cycle claims nothing more (looked at while waiting)
    budget_spent: Callable[[], bool]  # the day's budget (a store read: once the place is taken)
    held: bool = False
    done: bool = False

    def take(self, waiting: Callable[[], None] = lambda: None) -> None:
        """Wait for a place (`waiting` is called once first when none is free); raise NotStarted when the
        cycle stops claiming meanwhile or the budget is spent by the time one is free. Taking it twice
        is taking it once."""
        board, told = self.board, False
        while True:
            with board.changed:
                if self.held or self.done:
                    return
                reason = self.stopping()
                if reason is not None:
                    raise NotStarted(reason)
                if self._place_free():
                    board.ahead[self.repo] -= 1
                    board.active[self.repo] = board.active.get(self.repo, 0) + 1
                    self.held = True
                    board.changed.notify_all()  # room to claim ahead again
                    break
                if told:
                    board.changed.wait(WAKE_S)
                    continue
            told = True
            waiting()  # outside the lock: it may edit the tracking comment
        if self.budget_spent():
            self.free()
            raise NotStarted("the day's cost budget is spent")

    def free(self) -> None:
        """Give the place back (or the claim-ahead, when none was taken); once, however often called."""
        board = self.board
        with board.changed:
            if self.done:
                return
            self.done = True
            if self.held:
                board.active[self.repo] -= 1
            else:
                board.ahead[self.repo] -= 1
            board.changed.notify_all()

    def _place_free(self) -> bool:
        active = self.board.active
        return sum(active.values()) < self.workers and active.get(self.repo, 0) < self.cap


@dataclass
class DailyBudget:
    """The day's cost budget (UTC), read from the store before every claim and before a step claimed
    ahead starts; said once per cycle when it is spent."""

    store: Store
    limit_usd: float
    clock: Callable[[], datetime]
    reported: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)

    def spent(self) -> bool:
        midnight = self.clock().replace(hour=0, minute=0, second=0, microsecond=0)
        used = self.store.cost_since(midnight)
        if used < self.limit_usd:
            return False
        with self.lock:
            if self.reported:
                return True
            self.reported = True
        log.warning("daily cost budget reached ($%.2f of $%.2f): claiming nothing until tomorrow (UTC)",
                    used, self.limit_usd)  # fmt: skip
        return True
