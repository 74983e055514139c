"""In-memory fakes of the ports, for fast unit tests of the core."""

from __future__ import annotations

import shutil
import subprocess
import threading
import uuid
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

from autonomous_dev.errors import GitHubError
from autonomous_dev.git.blobs import file_at, pushed_blobs
from autonomous_dev.models import (
    Change,
    CheckSummary,
    Comment,
    FailedCheck,
    Issue,
    IssueEvent,
    ModelTurn,
    PostedComment,
    PullRequest,
    PullStatus,
    PushedBlob,
    Review,
    ReviewComment,
    TextHistory,
    ThreadHistory,
    ToolCall,
    Usage,
)
from tests.helpers import commit_all, git, with_pytest_ini

LABELLED_AT = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass
class FakeRepo:
    issues: list[Issue] = field(default_factory=list)
    pulls: list[PullRequest] = field(default_factory=list)
    labels: dict[int, set[str]] = field(default_factory=dict)
    posted: dict[int, list[Comment]] = field(default_factory=dict)
    label_log: list[tuple[str, int, str]] = field(default_factory=list)
    labellers: dict[int, str] = field(default_factory=dict)
    permissions: dict[str, str] = field(default_factory=dict)
    private: bool = True
    bodies: list[str] = field(default_factory=list)
    full_name: str = "acme/widgets"
    clone_url: str = "file:///nowhere"
    default_branch: str = "main"
    # merging: statuses and check summaries are served in order (the last one repeats)
    statuses: list[PullStatus] = field(default_factory=list)
    check_results: list[CheckSummary] = field(default_factory=list)
    merge_errors: list[GitHubError] = field(default_factory=list)
    merges: list[tuple[int, str, str]] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    closed: list[int] = field(default_factory=list)
    status_reads: int = 0
    issues_list: list[Issue] = field(default_factory=list)  # created by create_issue()
    check_reads: int = 0
    # following a PR: review comments and reviews by PR number, failed checks by sha, replies made
    review_comments: dict[int, list[ReviewComment]] = field(default_factory=dict)
    review_list: dict[int, list[Review]] = field(default_factory=dict)
    failures: dict[str, list[FailedCheck]] = field(default_factory=dict)
    replies: list[tuple[int, int, str]] = field(default_factory=list)  # (PR, comment replied to, body)
    recent_comments: list[PostedComment] = field(default_factory=list)  # what comments_since() lists
    since_asked: list[datetime] = field(default_factory=list)
    checks_by_ref: dict[str, CheckSummary] = field(default_factory=dict)  # before check_results
    edits: list[tuple[int, str]] = field(default_factory=list)  # (comment id, new body)

    def issue(self, number: int) -> Issue | None:
        found = [i for i in [*self.issues, *self.issues_list] if i.number == number]
        if not found:
            return None
        labels = self.labels.get(number, set()) | set(found[0].labels)
        return replace(found[0], labels=tuple(sorted(labels)))

    def labelled_issues(self, label: str) -> list[Issue]:
        return [
            Issue(i.number, i.title, i.body, tuple(sorted(self.labels.get(i.number, set()) | set(i.labels))))
            for i in self.issues
            if label in i.labels
        ]

    def events(self, number: int) -> list[IssueEvent]:
        labels = [label for i in self.issues if i.number == number for label in i.labels]
        actor = self.labellers.get(number, "maintainer")
        return [IssueEvent("labeled", actor, LABELLED_AT, label) for label in labels]

    def edit_history(self, number: int) -> ThreadHistory:
        comments = {c.id: TextHistory(LABELLED_AT) for c in self.posted.get(number, [])}
        comments |= {
            p.comment.id: TextHistory(p.created_at) for p in self.recent_comments if p.number == number
        }
        return ThreadHistory(TextHistory(LABELLED_AT), comments)

    def permission(self, login: str) -> str:
        return self.permissions.get(login, "write")

    def own_logins(self) -> frozenset[str]:
        return frozenset({"bot"})

    def list_issues(self, state: str = "open", since: datetime | None = None) -> list[Issue]:
        return [i for i in [*self.issues, *self.issues_list] if state == "all" or i.state == state]

    def create_issue(self, title: str, body: str, labels: list[str]) -> Issue:
        issue = Issue(1000 + len(self.issues_list), title, body, tuple(labels), author="bot")
        self.issues_list.append(issue)
        return issue

    def open_pulls(self) -> list[PullRequest]:
        return list(self.pulls)

    def add_label(self, number: int, label: str) -> None:
        self.labels.setdefault(number, set()).add(label)
        self.label_log.append(("add", number, label))

    def remove_label(self, number: int, label: str) -> None:
        self.labels.setdefault(number, set()).discard(label)
        self.label_log.append(("remove", number, label))

    def comments(self, number: int) -> list[Comment]:
        return list(self.posted.get(number, []))

    def comments_since(self, since: datetime) -> list[PostedComment]:
        self.since_asked.append(since)
        return sorted((p for p in self.recent_comments if p.updated_at >= since), key=lambda p: p.updated_at)

    def add_comment(self, number: int, body: str) -> Comment:
        comment = Comment(sum(len(c) for c in self.posted.values()) + 1, body, "bot")
        self.posted.setdefault(number, []).append(comment)
        return comment

    def edit_comment(self, comment_id: int, body: str) -> Comment:
        for comments in self.posted.values():
            for i, comment in enumerate(comments):
                if comment.id == comment_id:
                    comments[i] = replace(comment, body=body)
                    self.edits.append((comment_id, body))
                    return comments[i]
        raise GitHubError(f"no comment {comment_id}", status=404)

    def create_pull(self, title: str, body: str, head: str, base: str, draft: bool = False) -> PullRequest:
        url = f"https://example.invalid/pull/{len(self.pulls)}"
        pull = PullRequest(100 + len(self.pulls), url, head, base, draft, author="bot")
        self.bodies.append(body)
        self.pulls.append(pull)
        return pull

    def pull_status(self, number: int) -> PullStatus:
        self.status_reads += 1
        return self.statuses[min(self.status_reads, len(self.statuses)) - 1]

    def checks(self, sha: str) -> CheckSummary:
        if sha in self.checks_by_ref:
            return self.checks_by_ref[sha]
        self.check_reads += 1
        if not self.check_results:
            return CheckSummary()
        return self.check_results[min(self.check_reads, len(self.check_results)) - 1]

    def failed_checks(self, sha: str) -> list[FailedCheck]:
        return list(self.failures.get(sha, []))

    def review_threads(self, pr_number: int, since_id: int = 0) -> list[ReviewComment]:
        return [c for c in self.review_comments.get(pr_number, []) if c.id > since_id]

    def reviews(self, pr_number: int) -> list[Review]:
        return list(self.review_list.get(pr_number, []))

    def reply_to_review_comment(self, pr_number: int, comment_id: int, body: str) -> Comment:
        thread = self.review_comments.setdefault(pr_number, [])
        parent = next(c for c in thread if c.id == comment_id)
        reply = ReviewComment(
            id=max(c.id for c in thread) + 1,
            author="bot",
            author_type="User",
            body=body,
            path=parent.path,
            line=parent.line,
            diff_hunk=parent.diff_hunk,
            in_reply_to_id=parent.in_reply_to_id or parent.id,
            created_at=LABELLED_AT,
        )
        thread.append(reply)
        self.replies.append((pr_number, comment_id, body))
        return Comment(reply.id, body, "bot")

    def merge_pull(self, number: int, method: str, sha: str) -> None:
        if self.merge_errors:
            raise self.merge_errors.pop(0)
        self.merges.append((number, method, sha))

    def delete_branch(self, branch: str) -> None:
        self.deleted.append(branch)

    def close_issue(self, number: int) -> None:
        self.closed.append(number)
        self.issues = [replace(i, state="closed") if i.number == number else i for i in self.issues]


class FakeWorkspace:
    """A real directory with a real git repository, but no remote."""

    def __init__(self, path: Path, branch: str, remote: dict[str, Path] | None = None) -> None:
        self._path = path
        self.branch = branch
        self.remote = remote if remote is not None else {}  # branch -> the worktree that pushed it last
        self.pushed = False
        self.fast_forward_only = False  # how the last push asked: only adding commits
        self.closed = False
        self.continued = False

    @property
    def path(self) -> Path:
        return self._path

    def has_changes(self) -> bool:
        return bool(git(self._path, "status", "--porcelain"))

    def commit(self, message: str) -> Change:
        git(self._path, "add", "--all")
        git(self._path, "commit", "-qm", message)
        files = git(self._path, "diff", "--name-only", "HEAD~1", "HEAD").split()
        return Change(git(self._path, "diff", "HEAD~1", "HEAD"), tuple(files))

    def discard_untracked(self) -> None:
        git(self._path, "clean", "-fdq")

    def base_sha(self) -> str:
        return git(self._path, "rev-list", "--max-parents=0", "HEAD").strip()

    def pushed_blobs(self, max_bytes: int) -> list[PushedBlob]:
        return pushed_blobs(self._git_bytes, self.base_sha(), max_bytes)

    def file_at(self, commit: str, path: str, max_bytes: int) -> tuple[int, bytes] | None:
        return file_at(self._git_bytes, commit, path, max_bytes)

    def _git_bytes(self, *args: str) -> bytes:
        return subprocess.run(["git", *args], cwd=self._path, check=True, capture_output=True).stdout

    def push(self, fast_forward_only: bool = False) -> None:
        self.pushed = True
        self.fast_forward_only = fast_forward_only
        self.remote[self.branch] = self._path

    def integrate(self, strategy: str) -> list[str]:
        return []

    def conclude(self) -> list[str]:
        return []

    def continue_pushed(self) -> None:
        """The branch as the last push of it left it (the template's history if it was never pushed)."""
        self.continued = True
        pushed = self.remote.get(self.branch)
        if pushed is not None:
            git(self._path, "fetch", "-q", str(pushed), "HEAD")
            git(self._path, "reset", "-q", "--hard", "FETCH_HEAD")

    def messages(self) -> list[str]:
        out = git(self._path, "log", "--format=%B%x00", f"{self.base_sha()}..HEAD")
        return [message.strip() for message in out.split("\0") if message.strip()]

    def close(self) -> None:
        self.closed = True


class FakeWorkspaces:
    def __init__(self, template: Path, root: Path) -> None:
        self.template = template
        self.root = root
        self.opened: list[FakeWorkspace] = []
        self.remote: dict[str, Path] = {}
        self.synced = 0
        self._lock = threading.Lock()

    def sync(self) -> None:
        self.synced += 1

    def open(self, branch: str, base: str) -> FakeWorkspace:
        path = self.root / f"wt-{uuid.uuid4().hex[:8]}"
        shutil.copytree(self.template, path)
        workspace = FakeWorkspace(path, branch, self.remote)
        with self._lock:
            self.opened.append(workspace)
        return workspace


def make_template(path: Path, files: dict[str, str]) -> Path:
    path.mkdir(parents=True)
    for name, text in with_pytest_ini(files).items():
        (path / name).parent.mkdir(parents=True, exist_ok=True)
        (path / name).write_text(text)
    return commit_all(path)


@dataclass
class ScriptedClaude:
    """Plays tool calls turn by turn; a turn is a list of (tool name, input) pairs or a final text."""

    turns: list[list[tuple[str, dict[str, object]]] | str]
    requests: list[list[dict[str, object]]] = field(default_factory=list)
    systems: list[str] = field(default_factory=list)  # the system prompt of each request

    def complete(
        self,
        system: str,
        messages: list[dict[str, object]],
        tools: list[dict[str, object]],
    ) -> ModelTurn:
        self.requests.append(list(messages))
        self.systems.append(system)
        step = sum(1 for m in messages if m["role"] == "assistant")
        turn = self.turns[min(step, len(self.turns) - 1)]
        usage = Usage(input_tokens=100, output_tokens=20)
        if isinstance(turn, str):
            return ModelTurn(turn, (), "end_turn", usage, ({"type": "text", "text": turn},))
        calls = tuple(ToolCall(f"toolu_{step}_{i}", name, args) for i, (name, args) in enumerate(turn))
        raw = tuple({"type": "tool_use", "id": c.id, "name": c.name, "input": c.input} for c in calls)
        return ModelTurn("", calls, "tool_use", usage, raw)
