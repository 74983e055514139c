"""The tracking comment's data: the task's phases as lines of a checklist, each with how far it got, the
repair rounds, a warning, and the failures of earlier attempts. Steps change it by phase and by the state
they end in; it is kept as JSON with the task and turned into text by core/progress_text.py.

Later phases (review rounds, CI repair rounds) are more lines: `enter` appends a line it does not know."""

from __future__ import annotations

import enum
import json
from dataclasses import asdict, dataclass, replace

from autonomous_dev.errors import Cause
from autonomous_dev.store.records import TaskState


class Mark(enum.StrEnum):
    TODO = "todo"
    ACTIVE = "active"
    DONE = "done"
    FAILED = "failed"
    SKIPPED = "skipped"


@dataclass(frozen=True)
class Line:
    key: str
    title: str
    mark: Mark = Mark.TODO
    note: str = ""


@dataclass(frozen=True)
class Failure:
    """An earlier attempt that ended without a ready PR."""

    attempt: int
    cause: Cause
    error: str


WORKTREE, AGENT, CHECKS, PULL, MERGE, UPDATE = "worktree", "agent", "checks", "pr", "merge", "update"
REVIEW, CI_REPAIR = "review", "ci-repair"  # the rounds on the PR: lines added when the first one starts
ATTEMPT_LINES = (
    Line(WORKTREE, "Worktree from the base branch"),
    Line(AGENT, "The model changes the code"),
    Line(CHECKS, "Build and tests pass"),
    Line(PULL, "Pull request opened"),
)
MERGE_LINE = Line(MERGE, "Checks on the pull request pass, and it is merged")
UPDATE_LINE = Line(UPDATE, "The pull request's branch brought up to date with its base")
ROUND_LINES = (
    Line(REVIEW, "Review comments answered on the pull request"),
    Line(CI_REPAIR, "Failed checks on the pull request repaired"),
)
TITLES = {line.key: line.title for line in (*ATTEMPT_LINES, MERGE_LINE, UPDATE_LINE, *ROUND_LINES)}
# The attempt's phases (core/attempt.py) and the line each belongs to; a repair round is a checks phase.
ATTEMPT_PHASES = {
    "preparing worktree": WORKTREE,
    "agent": AGENT,
    "checking": CHECKS,
    "committing": PULL,
    "pushing": PULL,
    "opening pull request": PULL,
}
REPAIR_PHASE = "repair round"
HISTORY_KEPT = 10


@dataclass(frozen=True)
class Progress:
    lines: tuple[Line, ...]
    repair_rounds: int = 0
    warning: str = ""  # why nothing proved the change that was proposed ("" when something did)
    history: tuple[Failure, ...] = ()

    @classmethod
    def new(cls, merging: bool) -> Progress:
        return cls(ATTEMPT_LINES + ((MERGE_LINE,) if merging else ()))

    # -- kept with the task ----------------------------------------------------------------------------

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str | None, merging: bool) -> Progress:
        """What the store kept; a new one when there is none (or it cannot be read: it is only a display)."""
        try:
            data = json.loads(text) if text else None
            if not isinstance(data, dict):
                return cls.new(merging)
            lines = tuple(
                Line(d["key"], d["title"], Mark(d["mark"]), d.get("note", "")) for d in data["lines"]
            )
            history = tuple(
                Failure(int(f["attempt"]), Cause(f["cause"]), f["error"]) for f in data["history"]
            )
            return cls(lines, int(data["repair_rounds"]), str(data["warning"]), history)
        except (ValueError, KeyError, TypeError):
            return cls.new(merging)

    # -- changed by the steps --------------------------------------------------------------------------

    def begin_attempt(self, merging: bool, earlier: Failure | None) -> Progress:
        """A new attempt: the lines start over; the last attempt's failure (if any) joins the history."""
        history = self.history
        if earlier is not None and earlier not in history:
            history = (*history, earlier)[-HISTORY_KEPT:]
        return replace(Progress.new(merging), history=history)

    def phase(self, text: str) -> Progress:
        """An attempt's phase began (an unknown phase is a note on the line at work)."""
        if text.startswith(REPAIR_PHASE):
            rounds = self.repair_rounds + 1
            return replace(self.enter(CHECKS, note=f"repair round {rounds}"), repair_rounds=rounds)
        key = ATTEMPT_PHASES.get(text)
        return self.enter(key) if key is not None else self.note(text)

    def note(self, text: str) -> Progress:
        """What the line at work is doing now."""
        active = self.active()
        return self.mark(active.key, Mark.ACTIVE, text) if active is not None else self

    def enter(self, key: str, title: str = "", note: str = "") -> Progress:
        """Line `key` is at work now: the lines before it done, those after it not started. A line not
        there yet goes before the merge (the last step of all) or at the end."""
        lines = list(self.lines)
        if all(line.key != key for line in lines):
            merge = next((i for i, line in enumerate(lines) if line.key == MERGE), len(lines))
            lines.insert(merge, Line(key, title or TITLES.get(key, key)))
        at = next(i for i, line in enumerate(lines) if line.key == key)
        for i, line in enumerate(lines):
            if i < at and line.mark in (Mark.TODO, Mark.ACTIVE):
                lines[i] = replace(line, mark=Mark.DONE)
            elif i > at and line.mark is Mark.ACTIVE:
                lines[i] = replace(line, mark=Mark.TODO, note="")
        lines[at] = replace(lines[at], mark=Mark.ACTIVE, note=note)
        return replace(self, lines=tuple(lines))

    def mark(self, key: str, mark: Mark, note: str | None = None) -> Progress:
        lines = tuple(
            replace(line, mark=mark, note=line.note if note is None else note) if line.key == key else line
            for line in self.lines
        )
        return replace(self, lines=lines)

    def active(self) -> Line | None:
        return next((line for line in self.lines if line.mark is Mark.ACTIVE), None)

    def warn(self, warning: str) -> Progress:
        return replace(self, warning=warning)

    def draft_opened(self) -> Progress:
        """The attempt ended on failing checks with a draft PR holding the evidence: the checks line failed,
        the PR line is done (a draft), whichever line was at work when the failure was recorded."""
        opened = self.enter(PULL).mark(PULL, Mark.DONE, "a draft: the checks fail")
        return opened.mark(CHECKS, Mark.FAILED)

    def settle(self, state: TaskState, failed: bool) -> Progress:
        """The lines as the state a step ended in shows them; `failed`: the step ended on a failure."""
        if failed:
            at = self.active() or next((line for line in self.lines if line.mark is Mark.TODO), None)
            return self.mark(at.key, Mark.FAILED) if at is not None else self
        if state is TaskState.DONE:  # no change made (or the PR closed): what was left did not happen
            done = self.mark(AGENT, Mark.DONE) if self.active() is not None else self
            return replace(done, lines=tuple(_skip(line) for line in done.lines))
        rounds = self
        for line in ROUND_LINES:  # a round that ended well: its line is done (the next round reopens it)
            found = next((mine for mine in self.lines if mine.key == line.key), None)
            if found is not None and found.mark is Mark.ACTIVE:
                rounds = rounds.mark(line.key, Mark.DONE)
        target = SETTLED.get(state)
        if target is None:
            return rounds
        moved = rounds.enter(target)
        if state in (TaskState.MERGED, TaskState.PR_OPENED):
            return moved.mark(target, Mark.DONE)
        return moved


# The line a state that is not a failure leaves at work (or done, once merged or waiting for people).
SETTLED = {
    TaskState.PR_OPENED: PULL,
    TaskState.LANDING: MERGE,
    TaskState.MERGED: MERGE,
    TaskState.OUT_OF_DATE: UPDATE,
    TaskState.UPDATING: UPDATE,
}


def _skip(line: Line) -> Line:
    return replace(line, mark=Mark.SKIPPED) if line.mark in (Mark.TODO, Mark.ACTIVE) else line
