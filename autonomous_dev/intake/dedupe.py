"""Decide whether a proposed task repeats an existing issue, by its title or by the files it touches."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher

from autonomous_dev.models import Issue

TITLE_SIMILARITY = 0.85
PATH_OVERLAP = 0.6
SHOWN_PATHS = 3

# Conventional-commit types and similar labels that say what kind of change it is, not which change.
PREFIX_TYPES = (
    "feat|feature|fix|bugfix|hotfix|bug|chore|docs?|refactor|perf|tests?|build|ci|style|revert"
    "|security|deps|enhancement|improvement"
)
_PREFIX = re.compile(
    rf"^\s*(?:\[[^\]]*\]|(?:{PREFIX_TYPES})\s*(?:\([^)]*\))?\s*!?\s*:)\s*",
    re.IGNORECASE,
)
_FIX_VERB = re.compile(r"^\s*fix\s+", re.IGNORECASE)
# Small words that change how a title reads but not which task it names ("to /login", "for login").
STOP_WORDS = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "by",
        "for",
        "from",
        "in",
        "into",
        "is",
        "of",
        "on",
        "or",
        "the",
        "to",
        "via",
        "when",
        "while",
        "with",
    ]
)

_HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
_RULE = re.compile(r"^\s{0,3}([-*_])(?:\s*\1){2,}\s*$")
_BULLET = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+(.*)$")
_CODE = re.compile(r"`([^`]+)`")


def normalise_title(title: str) -> str:
    """Lower case without punctuation, symbols, extra whitespace or leading kind-of-change prefixes.

    Leading "[bug]"-style tags, conventional prefixes ("fix:", "feat(cart)!:") and a leading verb
    "fix" are removed, so "Fix: crash in Cart.total()" and "crash in cart total" compare equal. A title
    that is nothing but a prefix keeps it.
    """
    text = unicodedata.normalize("NFKC", title)
    stripped = _strip_prefixes(text)
    return _plain(stripped) or _plain(text)


def _strip_prefixes(text: str) -> str:
    while (found := _PREFIX.match(text)) is not None:
        text = text[found.end() :]
    return _FIX_VERB.sub("", text, count=1)


def _plain(text: str) -> str:
    kept = (" " if unicodedata.category(char)[0] in "PSZC" else char for char in text.casefold())
    return " ".join("".join(kept).split())


def title_similarity(a: str, b: str) -> float:
    """0..1: the higher of difflib's ratio and the Jaccard index, both over the titles' words.

    Words are compared after normalise_title, without stop words and with plurals folded, so "to /login"
    and "for login" differ only in "endpoint" while "add type hints to store" and "... to tools" differ
    in a whole word. Empty titles are similar to nothing.
    """
    words_a, words_b = _words(a), _words(b)
    if not words_a or not words_b:
        return 0.0
    ratio = SequenceMatcher(None, words_a, words_b, autojunk=False).ratio()
    shared, union = set(words_a) & set(words_b), set(words_a) | set(words_b)
    return max(ratio, len(shared) / len(union))


def _words(title: str) -> list[str]:
    words = normalise_title(title).split()
    content = [word for word in words if word not in STOP_WORDS] or words
    return [_singular(word) for word in content]


def _singular(word: str) -> str:
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def affected_paths(body: str) -> frozenset[str]:
    """The paths bulleted under an "Affected Paths" heading (any level, any case), normalised.

    The section ends at the next heading or horizontal rule. From a bullet the `code` spans are taken,
    or else its first word, so "- `src/a.py`", "- src/a.py (the cart)" and "- `a.py`, `b.py`" all work;
    "- (none identified)" gives nothing.
    """
    paths: set[str] = set()
    inside = False
    for line in body.splitlines():
        heading = _HEADING.match(line)
        if heading is not None:
            inside = heading.group(2).rstrip(":").strip().casefold() == "affected paths"
        elif _RULE.match(line):
            inside = False
        elif inside and (bullet := _BULLET.match(line)) is not None:
            paths.update(_bullet_paths(bullet.group(1)))
    return frozenset(paths)


def _bullet_paths(item: str) -> list[str]:
    spans = _CODE.findall(item)
    if not spans:
        first = item.split()[0].rstrip(",;:") if item.split() else ""
        spans = [] if first.startswith("(") else [first]
    return [path for path in (normalise_path(span) for span in spans) if path]


def normalise_path(path: str) -> str:
    """A repository path as written in issues: no surrounding backticks or spaces, no leading "./" or "/"."""
    text = path.strip().strip("`").strip()
    while text.startswith(("./", "/")):
        text = text.removeprefix("./").removeprefix("/")
    return text.rstrip("/")


def path_overlap(a: frozenset[str], b: frozenset[str]) -> float:
    """The Jaccard index of two path sets; 0.0 when either is empty."""
    if not a or not b:
        return 0.0
    return len(a & b) / len(a | b)


@dataclass(frozen=True)
class Existing:
    """An issue already on GitHub, or a task filed earlier in the same batch (number 0)."""

    number: int
    title: str
    paths: frozenset[str]


@dataclass(frozen=True)
class Duplicate:
    """Which existing issue a proposal repeats (0: another proposal in the batch) and why, for the log."""

    number: int
    reason: str


def find_duplicate(title: str, paths: frozenset[str], existing: Sequence[Existing]) -> Duplicate | None:
    """The issue the proposal repeats: an equal normalised title, else the most similar title at or above
    TITLE_SIMILARITY, else the largest path overlap at or above PATH_OVERLAP; None when it is new.

    Paths on both sides go through normalise_path first, so "./src/a.py" and "src/a.py" are the same file.
    """
    return (
        _same_title(title, existing)
        or _similar_title(title, existing)
        or _same_files(_normalised(paths), existing)
    )


def _same_title(title: str, existing: Sequence[Existing]) -> Duplicate | None:
    wanted = normalise_title(title)
    for issue in existing:
        if wanted and normalise_title(issue.title) == wanted:
            return Duplicate(issue.number, f"same title as {_ref(issue.number)}")
    return None


def _similar_title(title: str, existing: Sequence[Existing]) -> Duplicate | None:
    scored = [(title_similarity(title, issue.title), issue) for issue in existing]
    best = max(scored, key=lambda pair: pair[0], default=None)
    if best is None or best[0] < TITLE_SIMILARITY:
        return None
    score, issue = best
    return Duplicate(issue.number, f"similar title to {_ref(issue.number)} ({score:.2f})")


def _same_files(paths: frozenset[str], existing: Sequence[Existing]) -> Duplicate | None:
    scored = [(path_overlap(paths, _normalised(issue.paths)), issue) for issue in existing]
    best = max(scored, key=lambda pair: pair[0], default=None)
    if best is None or best[0] < PATH_OVERLAP:
        return None
    issue = best[1]
    shared = sorted(paths & _normalised(issue.paths))
    listed = ", ".join(shared[:SHOWN_PATHS])
    if len(shared) > SHOWN_PATHS:
        listed += f" and {len(shared) - SHOWN_PATHS} more"
    return Duplicate(issue.number, f"same files as {_ref(issue.number)} ({listed})")


def _normalised(paths: Iterable[str]) -> frozenset[str]:
    return frozenset(path for path in (normalise_path(path) for path in paths) if path)


def _ref(number: int) -> str:
    return f"#{number}" if number else "an earlier proposal in this batch"


def existing_from_issues(issues: Iterable[Issue]) -> list[Existing]:
    """Issues as dedupe sees them: number, title and the paths from their "Affected Paths" section."""
    return [Existing(issue.number, issue.title, affected_paths(issue.body)) for issue in issues]
