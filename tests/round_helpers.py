"""Following a PR of ours on the in-memory fakes: an attempt opens it, then cycles look at it and run the
review and CI-repair rounds it calls for; the model plays one script per kind of session."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from autonomous_dev.core.progress_text import Limits
from autonomous_dev.core.repository import RepoWork
from autonomous_dev.core.tools import EDITOR_NAME
from autonomous_dev.core.tracking import Tracker
from autonomous_dev.models import Issue, ModelTurn, PullStatus, ReviewComment
from autonomous_dev.settings.rounds import CISettings, ReviewSettings
from autonomous_dev.settings.sections import MergeSettings
from autonomous_dev.store.backends import SqliteStore
from autonomous_dev.store.records import TaskRecord
from tests.core_helpers import LABEL, Clock, cycle, open_test_store, repo_work
from tests.fakes import FakeRepo, ScriptedClaude

PR = 100
HEAD = "h1"
BRANCH = "auto/1-one"
FILES = {"calc.py": "x = 1\n\n\ndef add(a, b):\n    return a + b + x - x\n"}
AT = datetime(2026, 12, 4, 11, 0, tzinfo=UTC)
Turns = list[list[tuple[str, dict[str, object]]] | str]

ATTEMPT: Turns = [
    [(EDITOR_NAME, {"command": "create", "path": "notes.txt", "file_text": "n\n"})],
    "Added notes.",
]
RENAME: Turns = [
    [(EDITOR_NAME, {"command": "str_replace", "path": "calc.py", "old_str": "x = 1", "new_str": "y = 1"})],
    "Renamed x to y.",
]
NOTHING: Turns = ["I would rather not: x is the name used in the docs."]


@dataclass
class RoutedClaude:
    """One script per kind of session, picked by a phrase of its first message (the first that occurs)."""

    routes: list[tuple[str, Turns]]
    requests: list[list[dict[str, object]]] = field(default_factory=list)
    systems: list[str] = field(default_factory=list)

    def complete(
        self, system: str, messages: list[dict[str, object]], tools: list[dict[str, object]]
    ) -> ModelTurn:
        self.requests.append(list(messages))
        self.systems.append(system)
        first = str(messages[0]["content"])
        turns = next(turns for phrase, turns in self.routes if phrase in first)
        return ScriptedClaude(turns).complete(system, messages, tools)

    def sessions(self, phrase: str) -> int:
        return sum(
            1 for request in self.requests if len(request) == 1 and phrase in str(request[0]["content"])
        )


def status(head: str = HEAD, state: str = "open", merged: bool = False) -> PullStatus:
    return PullStatus(PR, state, merged, False, head, True, "clean", BRANCH, "main")


def review_comment(
    comment_id: int, body: str, author: str = "alice", kind: str = "User", reply_to: int | None = None
) -> ReviewComment:
    return ReviewComment(
        comment_id, author, kind, body, "calc.py", 1, "@@ -1,1 +1,1 @@\n-x = 1", reply_to, AT
    )


@dataclass
class Followed:
    """A repository whose issue 1 has an open PR #100 of ours, in the store as PR_OPENED (or LANDING)."""

    repo: FakeRepo
    claude: RoutedClaude
    work: RepoWork
    store: SqliteStore
    clock: Clock

    def cycle(self) -> list[object]:
        return [(o.kind.value, o.detail) for o in cycle([self.work], self.store, clock=self.clock).run()]

    def task(self) -> TaskRecord:
        found = self.store.get(self.repo.full_name, 1)
        assert found is not None
        return found

    def tracking(self) -> list[str]:
        """The bodies of issue 1's tracking comments (one, when it is on)."""
        return [c.body for c in self.repo.posted.get(1, []) if "kind=tracking" in c.body]

    def comment(self, comment_id: int, body: str, **kwargs: object) -> None:
        self.repo.review_comments.setdefault(PR, []).append(review_comment(comment_id, body, **kwargs))  # type: ignore[arg-type]


def followed(
    tmp_path: Path,
    routes: list[tuple[str, Turns]],
    review: ReviewSettings | None = None,
    ci: CISettings | None = None,
    merge: MergeSettings | None = None,
    files: dict[str, str] | None = None,
    tracked: bool = False,
) -> Followed:
    """`tracked`: with the tracking comment and cause labels on, as the CLI builds them."""
    repo = FakeRepo(issues=[Issue(1, "One", "Please add notes.", (LABEL,))], statuses=[status()])
    claude = RoutedClaude([*routes, ("Resolve GitHub issue", ATTEMPT)])
    clock = Clock()
    work = repo_work(tmp_path, repo, claude, files=files or FILES, clock=clock, merge=merge,  # type: ignore[arg-type]
                     follow=(review or ReviewSettings(), ci or CISettings()))  # fmt: skip
    if tracked:
        review, ci = review or ReviewSettings(), ci or CISettings()
        limits = Limits(3, 2, "needs-human", review.max_rounds, ci.max_repair_rounds)
        work.thread.tracker = Tracker(repo, limits, comment=True, cause_labels=True)
    store = open_test_store(tmp_path)
    found = Followed(repo, claude, work, store, clock)
    opened = found.cycle()
    assert opened[0] == ("pr_opened", "https://example.invalid/pull/0"), opened
    return found
