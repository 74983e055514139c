"""The tracking comment's text, from its data (core/progress.py) and the task as the store has it: a
headline, the checklist, what was used, and why a failure happened and what happens next.

Text from outside the tool (error messages quote test names and the model's words) is one line in a code
span: no mention, link, HTML or hidden marker can come through it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from autonomous_dev.core import causes
from autonomous_dev.core.progress import Mark, Progress
from autonomous_dev.core.prompts import marker
from autonomous_dev.errors import Cause
from autonomous_dev.security.outgoing import one_line
from autonomous_dev.store.records import TaskRecord, TaskState

KIND = "tracking"
CHECKBOX = {Mark.DONE: "- [x] ", Mark.TODO: "- [ ] ", Mark.ACTIVE: "- [ ] ⏳ ", Mark.FAILED: "- [ ] ❌ ",
            Mark.SKIPPED: "- [ ] ⏭️ "}  # fmt: skip
FOOTER = "<sub>autonomous-dev edits this comment as the work goes on.</sub>"


@dataclass(frozen=True)
class Limits:
    """The settings the comment measures a task against."""

    max_attempts: int
    max_repair_rounds: int
    needs_human_label: str
    max_review_rounds: int = 3  # review.maxRounds
    max_ci_repair_rounds: int = 2  # ci.maxRepairRounds


def tracking_marker(number: int) -> str:
    return marker(KIND, number)


def render(progress: Progress, task: TaskRecord, limits: Limits) -> str:
    parts = [
        f"**autonomous-dev** · {headline(task, limits)}",
        _checklist(progress),
        _facts(progress, task, limits),
    ]
    if progress.warning:
        parts.append(
            f"⚠️ The change is **not verified**: {quoted(progress.warning)}. Review it with that in mind."
        )
    if task.cause is not None and task.state not in (TaskState.MERGED, TaskState.LANDING):
        parts.append(_why(task, limits))
    if progress.history:
        earlier = "\n".join(
            f"- attempt {f.attempt}: {f.cause.value}: {quoted(f.error)}" for f in progress.history
        )
        parts.append(f"Earlier attempts:\n\n{earlier}")
    parts.append(f"{FOOTER}\n{tracking_marker(task.issue)}")
    return "\n\n".join(parts)


def headline(task: TaskRecord, limits: Limits) -> str:
    made = min(task.attempts, limits.max_attempts)  # a claim beyond it (workers lost) is no attempt
    attempt = f"attempt {made} of {limits.max_attempts}"
    state = task.state
    if state is TaskState.WORKING:
        return f"⏳ working on this issue ({attempt})"
    if state is TaskState.QUEUED and task.cause in causes.PAUSES:
        return "⏸️ paused; it goes on by itself"
    if state is TaskState.QUEUED:
        return f"⚠️ {attempt} stopped; it is tried again" if task.cause is not None else "⏳ queued"
    if state is TaskState.FAILED:
        return f"⚠️ {attempt} failed; it is tried again"
    if state is TaskState.NEEDS_HUMAN:
        after = f" after {made} attempts" if task.pr_url is None else ""
        return f"🙋 handed over to a human{after} (labelled `{limits.needs_human_label}`)"
    if state is TaskState.LANDING:
        return "⏳ pull request opened; it is merged once its checks pass"
    if state in (TaskState.OUT_OF_DATE, TaskState.UPDATING):
        return "⏳ bringing the pull request up to date with its base"
    if state is TaskState.MERGED:
        return "✅ merged; the issue is closed"
    if state is TaskState.PR_OPENED:
        return "✅ pull request opened" if task.cause is None else "⚠️ pull request opened, not merged"
    return "💬 no change was made" if task.cause is Cause.MODEL_GAVE_UP else "🏁 finished"


def _checklist(progress: Progress) -> str:
    return "\n".join(
        CHECKBOX[line.mark] + line.title + (f" ({line.note})" if line.note else "") for line in progress.lines
    )


def _facts(progress: Progress, task: TaskRecord, limits: Limits) -> str:
    tokens = task.input_tokens + task.output_tokens + task.cache_read_tokens + task.cache_write_tokens
    facts = [
        f"pull request: {task.pr_url}" if task.pr_url else "pull request: none yet",
        f"repair rounds: {progress.repair_rounds} of {limits.max_repair_rounds}",
    ]
    if task.updates:
        facts.append(f"branch updates: {task.updates}")
    if task.review_rounds or task.cause is Cause.REVIEW_ROUNDS:
        facts.append(f"review rounds: {task.review_rounds} of {limits.max_review_rounds}")
    if task.repair_rounds or (task.cause is Cause.CHECKS_FAILED and task.pr_url):
        facts.append(f"CI-repair rounds: {task.repair_rounds} of {limits.max_ci_repair_rounds}")
    facts += [f"tokens: {tokens:,}", f"estimated cost: ${task.cost_usd:,.4f}"]
    return " · ".join(facts)


def _why(task: TaskRecord, limits: Limits) -> str:
    cause = task.cause
    assert cause is not None
    error = f": {quoted(task.last_error)}" if task.last_error else ""
    why = f"**Why:** {causes.MEANING[cause]} (`{causes.label(cause)}`){error}"
    return f"{why}\n\n**Next:** {next_step(task, limits)}"


def next_step(task: TaskRecord, limits: Limits) -> str:
    state, cause = task.state, task.cause
    if state is TaskState.NEEDS_HUMAN:
        return (f"a human takes it from here. Edit the issue, or remove the `{limits.needs_human_label}` "
                "label, and I will try again.")  # fmt: skip
    if state is TaskState.FAILED:
        return f"attempt {task.attempts + 1} of {limits.max_attempts} {_at(task.next_attempt_at)}."
    if state is TaskState.QUEUED and cause in causes.PAUSES:
        return f"the same attempt again once the service answers, {_at(task.next_attempt_at)}."
    if state is TaskState.QUEUED and task.attempts >= limits.max_attempts:
        return "none: every attempt is used, and at its next claim a human takes it over."
    if state is TaskState.QUEUED:
        return f"attempt {task.attempts + 1} of {limits.max_attempts} {_at(task.next_attempt_at)}."
    if state is TaskState.PR_OPENED:
        return "the pull request waits for a human to review and merge it."
    if cause is Cause.MODEL_GAVE_UP:
        return "nothing; edit the issue to add detail and I will try again."
    return "the tool looks at it again at its next step."


def _at(when: datetime | None) -> str:
    return f"at {when.astimezone(UTC):%Y-%m-%d %H:%M} UTC" if when is not None else "at the next cycle"


def quoted(text: str, limit: int = 500) -> str:
    """Outside text as one inert line: a code span (no backticks inside), no marker-shaped comment."""
    line = one_line(text, limit=limit).replace("`", "'").replace("<!--", "<!- -")
    return f"`{line}`" if line else "`(no message)`"
