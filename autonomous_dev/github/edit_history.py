"""GitHub's GraphQL query for who edited an issue and its comments, and its answer read into models."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from autonomous_dev.models import Revision, TextHistory, ThreadHistory

PAGE = 100  # revisions per text and comments per issue; more than this is read as "unknown editors"

_TEXT_FIELDS = f"""createdAt lastEditedAt editor {{ login }}
    userContentEdits(first: {PAGE}) {{ totalCount nodes {{ editedAt editor {{ login }} }} }}"""

# REST's `updated_at` changes for any reason (a label, a comment) and names nobody: only GraphQL says
# who changed the text. The most recent comments are the ones read, as a thread's newest matter most.
QUERY = f"""query($owner: String!, $name: String!, $number: Int!) {{
  repository(owner: $owner, name: $name) {{
    issue(number: $number) {{
      {_TEXT_FIELDS}
      comments(last: {PAGE}) {{ nodes {{ databaseId {_TEXT_FIELDS} }} }}
    }}
  }}
}}"""


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _login(user: Any) -> str | None:
    return str(user["login"]) if isinstance(user, dict) and user.get("login") else None


def text_history(node: dict[str, Any]) -> TextHistory:
    """Every revision GitHub kept, plus the last edit (it names the editor even without a history)."""
    edits = node.get("userContentEdits") or {}
    nodes = edits.get("nodes") or []
    revisions = [Revision(_login(e.get("editor")), parse_time(e["editedAt"])) for e in nodes if e]
    if node.get("lastEditedAt"):
        revisions.append(Revision(_login(node.get("editor")), parse_time(node["lastEditedAt"])))
    return TextHistory(
        created_at=parse_time(node["createdAt"]),
        revisions=tuple(sorted(set(revisions), key=lambda r: r.at)),
        complete=int(edits.get("totalCount") or 0) <= len(nodes),
    )


def thread_history(data: dict[str, Any]) -> ThreadHistory:
    """The answer of QUERY (its `data` member) as models."""
    issue = data["repository"]["issue"]
    comments = {
        int(node["databaseId"]): text_history(node)
        for node in (issue.get("comments") or {}).get("nodes") or []
        if node and node.get("databaseId") is not None
    }
    return ThreadHistory(text_history(issue), comments)
