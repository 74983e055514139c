"""What a PR's reviewers and checks say, read from GitHub's JSON into models, every text bounded."""

from __future__ import annotations

from typing import Any

from autonomous_dev.github.edit_history import parse_time
from autonomous_dev.models import Annotation, Comment, FailedCheck, PullStatus, Review, ReviewComment

# Test runners print what failed at the end: every bound keeps the tail.
MAX_TEXT_CHARS = 64 * 1024  # a check run's output.text (GitHub allows 64 kB)
MAX_LOG_BYTES = 64 * 1024  # an Actions job's log
MAX_ANNOTATIONS = 50  # per check run: GitHub's own page of them
ACTIONS_APP = "github-actions"  # its check runs share their id with the Actions job
CHECK_PASSED = frozenset({"success", "neutral", "skipped"})
STATUS_FAILED = frozenset({"failure", "error"})


def run_verdict(status: str, conclusion: str | None) -> str:
    if status != "completed":
        return "pending"
    return "passed" if conclusion in CHECK_PASSED else "failed"


def status_verdict(state: str) -> str:
    if state == "success":
        return "passed"
    return "failed" if state in STATUS_FAILED else "pending"


def tail(text: str, limit: int) -> str:
    """The last `limit` characters of `text`, saying how much was cut before them."""
    if len(text) <= limit:
        return text
    return f"[{len(text) - limit} characters cut]\n{text[-limit:]}"


def tail_bytes(data: bytes, cut: int) -> str:
    """A log's kept tail as text; `cut` bytes came before it."""
    text = data.decode("utf-8", errors="replace")
    return f"[{cut} bytes cut]\n{text}" if cut else text


def _author(item: dict[str, Any]) -> tuple[str, str]:
    user = item.get("user") or {}  # None: a deleted account ("ghost")
    return str(user.get("login") or ""), str(user.get("type") or "User")


def comment(item: dict[str, Any]) -> Comment:
    login, kind = _author(item)
    return Comment(int(item["id"]), str(item.get("body") or ""), login, kind)


def review_comment(item: dict[str, Any]) -> ReviewComment:
    login, kind = _author(item)
    line = item.get("line") if item.get("line") is not None else item.get("original_line")
    return ReviewComment(
        id=int(item["id"]),
        author=login,
        author_type=kind,
        body=str(item.get("body") or ""),
        path=str(item.get("path") or ""),
        line=int(line) if line is not None else None,
        diff_hunk=str(item.get("diff_hunk") or ""),
        in_reply_to_id=item.get("in_reply_to_id"),
        created_at=parse_time(item["created_at"]),
    )


def review(item: dict[str, Any]) -> Review:
    login, kind = _author(item)
    submitted = item.get("submitted_at")
    return Review(
        id=int(item["id"]),
        author=login,
        author_type=kind,
        state=str(item.get("state") or ""),
        body=str(item.get("body") or ""),
        submitted_at=parse_time(submitted) if submitted else None,
        commit_id=str(item.get("commit_id") or ""),
    )


def check_annotations(items: list[dict[str, Any]]) -> tuple[Annotation, ...]:
    return tuple(
        Annotation(
            path=str(item.get("path") or ""),
            start_line=int(item.get("start_line") or 0),
            message=tail(str(item.get("message") or ""), MAX_TEXT_CHARS // MAX_ANNOTATIONS),
            level=str(item.get("annotation_level") or ""),
        )
        for item in items[:MAX_ANNOTATIONS]
    )


def failed_run(run: dict[str, Any], notes: tuple[Annotation, ...] = (), log: str = "") -> FailedCheck:
    output = run.get("output") or {}
    return FailedCheck(
        kind="check_run",
        name=str(run.get("name") or ""),
        conclusion=str(run.get("conclusion") or ""),
        title=tail(str(output.get("title") or ""), MAX_TEXT_CHARS),
        summary=tail(str(output.get("summary") or ""), MAX_TEXT_CHARS),
        text=tail(str(output.get("text") or ""), MAX_TEXT_CHARS),
        annotations=notes,
        app=str((run.get("app") or {}).get("slug") or ""),
        url=str(run.get("details_url") or ""),
        log=log,
    )


def failed_status(status: dict[str, Any]) -> FailedCheck:
    return FailedCheck(
        kind="status",
        name=str(status.get("context") or ""),
        conclusion=str(status.get("state") or ""),
        summary=tail(str(status.get("description") or ""), MAX_TEXT_CHARS),
        url=str(status.get("target_url") or ""),
    )


def pull_status(item: dict[str, Any]) -> PullStatus:
    """A pull request as one GET answers it (`mergeable` is null while GitHub computes it)."""
    head, base = item.get("head") or {}, item.get("base") or {}
    return PullStatus(
        number=int(item["number"]),
        state=str(item.get("state") or ""),
        merged=bool(item.get("merged")),
        draft=bool(item.get("draft")),
        head_sha=str(head.get("sha") or ""),
        mergeable=item.get("mergeable"),
        mergeable_state=str(item.get("mergeable_state") or "unknown"),
        head=str(head.get("ref") or ""),
        base=str(base.get("ref") or ""),
    )
