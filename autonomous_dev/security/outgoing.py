"""Text the tool writes to git and GitHub: titles as one safe line, closing keywords only for its own issue.

Issue titles are written by anyone who can open an issue; summaries by the model, which issue text may
steer. Before such text becomes a commit message, a branch name, a PR title or body, or a comment:

- a title is reduced to one line: control, bidirectional and invisible characters removed (the same
  ones `sanitize` removes), every kind of whitespace and line break collapsed to one space, and the
  length bounded, so no newline can start a `Co-authored-by:` trailer and no override can reorder text;
- a closing keyword (close, closes, closed, fix, fixes, fixed, resolve, resolves, resolved, any case,
  with or without a colon) that points at any issue but the task's own (`#N`, `GH-N`, `owner/repo#N`,
  an issue or pull request URL, or a list of them) is rewritten to `refs`, so merging the tool's pull
  request closes nothing else. The reference itself stays readable.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from autonomous_dev.security.sanitize import char_reason

TITLE_MAX = 120

_KEYWORD = r"(?:close[sd]?|fix(?:e[sd])?|resolve[sd]?)"
# `#N`, `GH-N`, `owner/repo#N`, or an issue or pull request URL (with or without its scheme).
_HOST = r"(?:(?:https?://)?[^\s/]*\.[^\s/]+/)?"
_REF = rf"(?:{_HOST}[\w-]+/[\w.-]+(?:#|/issues/|/pull/)|#|gh-)\d+\b"
_ONE_REF = re.compile(
    rf"(?:{_HOST}(?P<repo>[\w-]+/[\w.-]+)(?:#|/issues/|/pull/)|#|gh-)(?P<number>\d+)\b", re.I
)
_CLOSING = re.compile(
    rf"(?<![\w/-])(?P<keyword>{_KEYWORD})[ \t]*:?[ \t]*\n?[ \t]*"
    rf"(?P<refs>{_REF}(?:[ \t]*(?:,|\band\b)[ \t]*{_REF})*)",
    re.I,
)


@dataclass(frozen=True)
class Neutralised:
    """Text whose closing keywords point at the task's own issue only; `refs` lists the others."""

    text: str
    refs: tuple[str, ...]


def one_line(title: str, limit: int = TITLE_MAX) -> str:
    """The title as one visible line of at most `limit` characters (an ellipsis marks a cut)."""
    spaced = "".join(" " if char.isspace() else char for char in title)
    visible = "".join(char for char in spaced if char_reason(char) is None)
    line = " ".join(visible.split())
    if len(line) <= limit:
        return line
    return line[: max(0, limit - 1)].rstrip() + "…"


def only_own_closing(text: str, repo: str, number: int) -> Neutralised:
    """Rewrite closing keywords aimed at anything but issue `number` of `repo` to `refs`."""
    found: list[str] = []

    def rewrite(match: re.Match[str]) -> str:
        others = [ref.group(0) for ref in _ONE_REF.finditer(match["refs"]) if not _own(ref, repo, number)]
        if not others:
            return match.group(0)
        found.extend(others)
        keyword = "Refs" if match["keyword"][0].isupper() else "refs"
        return f"{keyword} {match['refs']}"

    return Neutralised(_CLOSING.sub(rewrite, text), tuple(found))


def _own(ref: re.Match[str], repo: str, number: int) -> bool:
    named = ref["repo"]
    return int(ref["number"]) == number and (named is None or named.lower() == repo.lower())
