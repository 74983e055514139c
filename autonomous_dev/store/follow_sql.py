"""The SQL of following a PR (migration 5): the rounds counted per task and what the rounds took in."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from autonomous_dev.store.records import FollowMarks, Transition

# Each kind of review input is taken in by the id of the newest one read; a CI-repair round remembers the
# head it repaired and which of its checks, so the same failing check on the same head is repaired once.
MIGRATION = [
    "ALTER TABLE autonomous_dev_tasks ADD COLUMN review_rounds {int} NOT NULL DEFAULT 0",
    "ALTER TABLE autonomous_dev_tasks ADD COLUMN repair_rounds {int} NOT NULL DEFAULT 0",
    "ALTER TABLE autonomous_dev_tasks ADD COLUMN seen_review_comment {int} NOT NULL DEFAULT 0",
    "ALTER TABLE autonomous_dev_tasks ADD COLUMN seen_comment {int} NOT NULL DEFAULT 0",
    "ALTER TABLE autonomous_dev_tasks ADD COLUMN seen_review {int} NOT NULL DEFAULT 0",
    "ALTER TABLE autonomous_dev_tasks ADD COLUMN repaired_head {text} NOT NULL DEFAULT ''",
    "ALTER TABLE autonomous_dev_tasks ADD COLUMN repaired_checks {text} NOT NULL DEFAULT ''",
]
# The states of a PR's steps (store/records.py's STEP_OF without the attempt's); a test compares them.
PR_STEPS = """('landing', 'out_of_date', 'updating', 'pr_opened', 'review_due', 'reviewing', 'repair_due',
    'repairing')"""
# In the transaction of the transition that ends a step, after it found the claim's owner.
RECORD_ROUNDS = """UPDATE autonomous_dev_tasks
    SET review_rounds = review_rounds + %s, repair_rounds = repair_rounds + %s
    WHERE repo = %s AND issue = %s"""
RECORD_MARKS = """UPDATE autonomous_dev_tasks
    SET seen_review_comment = %s, seen_comment = %s, seen_review = %s, repaired_head = %s,
        repaired_checks = %s
    WHERE repo = %s AND issue = %s"""
CHECK_SEPARATOR = "\n"  # check names are one line each (GitHub's names and contexts)


def marks_of(columns: Sequence[Any]) -> FollowMarks:
    """The marks from seen_review_comment .. repaired_checks, as SELECT_TASKS reads them."""
    review_comment, comment, review, head, checks = columns
    names = tuple(name for name in str(checks).split(CHECK_SEPARATOR) if name)
    return FollowMarks(int(review_comment), int(comment), int(review), str(head), names)


def record(execute: Callable[[str, Sequence[object]], object], repo: str, issue: int, to: Transition) -> None:
    """What a transition adds to the rounds and marks (nothing when it carries none)."""
    if to.review_rounds or to.repair_rounds:
        execute(RECORD_ROUNDS, (to.review_rounds, to.repair_rounds, repo, issue))
    if (marks := to.marks) is not None:
        checks = CHECK_SEPARATOR.join(marks.repaired_checks)
        seen = (marks.review_comment, marks.comment, marks.review, marks.repaired_head, checks)
        execute(RECORD_MARKS, (*seen, repo, issue))
