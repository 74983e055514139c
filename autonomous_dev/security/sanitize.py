"""Remove content hidden from human readers out of untrusted issue text before it reaches the model.

A reviewer reads an issue as GitHub renders it; the model reads the raw text. Anything a reader cannot see
(HTML comments, invisible and bidirectional format characters, Unicode tag characters, long runs of
variation selectors, and the Markdown and HTML that GitHub renders as nothing: see `hidden_markdown`) is a
place to hide instructions, so it is removed and counted by reason. Nothing is normalised: NFKC and
similar would change code samples, so visible text is passed through byte for byte.

Deliberate choices:

- Zero-width joiners are removed everywhere, also inside emoji sequences: a family emoji then shows as its
  separate members, which loses nothing an issue needs. ZWNJ goes too, which can change Persian or Indic
  shaping slightly but keeps the text readable.
- HTML comments are removed everywhere, also inside code blocks: deciding what is code the way GitHub
  does is fragile, and a wrong guess would let hidden text through. The count makes the loss visible.
- Removal repeats until nothing changes, so pieces that join into a new comment are removed too. Input
  nested deeper than a few levels (only built on purpose) loses everything from its first opener on.
- Variation selectors are kept one at a time (emoji presentation, ideographic variants); every further
  selector in a run is removed, since runs of them can encode arbitrary bytes.
- Only the first `READ_FACTOR` times `max_chars` characters plus `READ_SLACK` are read at all: the rest
  could never reach the model, and the bound keeps the work on a megabyte body small.
- The prepended concatenation marks (Arabic number sign and relatives) are format characters that render
  visibly, so they stay. Other format characters (category Cf) are removed.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache

from autonomous_dev.security.hidden_markdown import LABELS as MARKDOWN_LABELS
from autonomous_dev.security.hidden_markdown import strip_markdown

HTML_COMMENT = "html_comment"
MARKDOWN_COMMENT = "markdown_comment"
ZERO_WIDTH = "zero_width"
BIDI_CONTROL = "bidi_control"
TAG_CHARACTER = "tag_character"
FORMAT_CHARACTER = "format_character"
CONTROL_CHARACTER = "control_character"
INVISIBLE_FILLER = "invisible_filler"
VARIATION_SELECTOR = "variation_selector"

# reason -> (singular, plural), in the order describe() lists them.
_LABELS: dict[str, tuple[str, str]] = {
    HTML_COMMENT: ("HTML comment", "HTML comments"),
    MARKDOWN_COMMENT: ("markdown comment", "markdown comments"),
    ZERO_WIDTH: ("zero-width character", "zero-width characters"),
    BIDI_CONTROL: ("bidirectional control character", "bidirectional control characters"),
    TAG_CHARACTER: ("Unicode tag character", "Unicode tag characters"),
    FORMAT_CHARACTER: ("invisible format character", "invisible format characters"),
    CONTROL_CHARACTER: ("control character", "control characters"),
    INVISIBLE_FILLER: ("invisible filler character", "invisible filler characters"),
    VARIATION_SELECTOR: ("extra variation selector", "extra variation selectors"),
    **MARKDOWN_LABELS,
}
REASONS: tuple[str, ...] = tuple(_LABELS)

ZERO_WIDTH_CHARS = frozenset(map(chr, (0x200B, 0x200C, 0x200D, 0x2060, 0xFEFF, 0x180E, 0x00AD)))
BIDI_CHARS = frozenset(map(chr, (*range(0x202A, 0x202F), *range(0x2066, 0x206A), 0x200E, 0x200F, 0x061C)))
TAG_RANGE = range(0xE0000, 0xE0080)
# Hangul fillers render as nothing and are a common way to make "empty" looking text.
FILLER_CHARS = frozenset(map(chr, (0x115F, 0x1160, 0x3164, 0xFFA0)))
# Format characters that render as a visible mark over the digits that follow them.
VISIBLE_FORMAT_CHARS = frozenset(
    map(chr, (*range(0x0600, 0x0606), 0x06DD, 0x070F, 0x0890, 0x0891, 0x08E2, 0x110BD, 0x110CD))
)
# Ordinary whitespace among the control characters.
KEPT_CONTROLS = frozenset("\t\n\r\f\v")

# An HTML comment as browsers parse it: the abrupt empty forms `<!-->` and `<!--->`, otherwise up to the
# first `-->` or `--!>`, or to the end of the text when it is never closed.
_HTML_COMMENT = re.compile(r"<!--(?:-?>|.*?--!?>|.*\Z)", re.DOTALL)
# The markdown "comment" idiom: a link reference definition to `#` or `<>` that nothing links to.
_MARKDOWN_COMMENT = re.compile(
    r"""^[ ]{0,3}\[[^\]\n]+\]:[ \t]*(?:\#|<>)(?:[ \t]+(?:"[^"\n]*"|'[^'\n]*'|\([^)\n]*\)))?[ \t]*(?:\n|\Z)""",
    re.MULTILINE,
)
# Comments nested so that removing one assembles the next cost a pass each; after this many passes the
# rest of the text from the first opener on is dropped instead, which keeps the work linear.
_MAX_PASSES = 8
READ_FACTOR = 4
READ_SLACK = 100_000
_SELECTOR = "[\ufe00-\ufe0f\U000e0100-\U000e01ef]"
_SELECTOR_RUN = re.compile(f"({_SELECTOR})({_SELECTOR}+)")


@dataclass(frozen=True)
class Sanitized:
    """Issue text with hidden content removed; `removed` counts removals by reason."""

    text: str
    removed: dict[str, int]
    truncated: bool


def sanitize(text: str, max_chars: int = 20_000) -> Sanitized:
    """Remove hidden content from `text`, then cut it to `max_chars` characters with a visible note."""
    if max_chars < 0:
        raise ValueError(f"max_chars must not be negative, got {max_chars}")
    read = max_chars * READ_FACTOR + READ_SLACK
    cleaned, counts = _strip(text[:read])
    truncated = len(text) > read or len(cleaned) > max_chars
    if truncated:
        more = max(0, len(cleaned) - max_chars) + max(0, len(text) - read)
        cleaned = f"{cleaned[:max_chars]}\n[... truncated: {more} more characters]"
    return Sanitized(text=cleaned, removed=dict(counts), truncated=truncated)


def describe(removed: dict[str, int]) -> str:
    """Say what was removed, e.g. "2 HTML comments, 5 zero-width characters"; "" when nothing was."""
    known = [reason for reason in REASONS if reason in removed]
    unknown = sorted(reason for reason in removed if reason not in _LABELS)
    parts = [_count_phrase(reason, removed[reason]) for reason in [*known, *unknown] if removed[reason]]
    return ", ".join(parts)


@lru_cache(maxsize=8192)
def char_reason(char: str) -> str | None:
    """The reason a single character is removed wherever it occurs, or None when it stays."""
    if char in ZERO_WIDTH_CHARS:
        return ZERO_WIDTH
    if char in BIDI_CHARS:
        return BIDI_CONTROL
    if ord(char) in TAG_RANGE:
        return TAG_CHARACTER
    if char in FILLER_CHARS:
        return INVISIBLE_FILLER
    category = unicodedata.category(char)
    if category == "Cf" and char not in VISIBLE_FORMAT_CHARS:
        return FORMAT_CHARACTER
    if category == "Cc" and char not in KEPT_CONTROLS:
        return CONTROL_CHARACTER
    return None


def _count_phrase(reason: str, count: int) -> str:
    singular, plural = _LABELS.get(reason, (reason.replace("_", " "), reason.replace("_", " ")))
    return f"{count} {singular if count == 1 else plural}"


def _strip(text: str) -> tuple[str, Counter[str]]:
    counts: Counter[str] = Counter()
    passes = 0
    while True:
        before, passes = text, passes + 1
        text = _remove_chars(text, counts)
        text = _remove_pattern(_HTML_COMMENT, HTML_COMMENT, text, counts)
        if passes > _MAX_PASSES:
            text = _cut_at_comment(text, counts)
        text = _remove_pattern(_MARKDOWN_COMMENT, MARKDOWN_COMMENT, text, counts)
        text = strip_markdown(text, counts, char_reason)
        text = _collapse_selector_runs(text, counts)
        if text == before:
            return text, counts


def _cut_at_comment(text: str, counts: Counter[str]) -> str:
    """Treat everything from the first comment opener on as hidden: only deliberately nested input has one."""
    start = text.find("<!--")
    if start < 0:
        return text
    counts[HTML_COMMENT] += 1
    return text[:start]


def _remove_chars(text: str, counts: Counter[str]) -> str:
    found = {char: reason for char in set(text) if (reason := char_reason(char)) is not None}
    for char, reason in found.items():
        counts[reason] += text.count(char)
    return text.translate({ord(char): None for char in found}) if found else text


def _remove_pattern(pattern: re.Pattern[str], reason: str, text: str, counts: Counter[str]) -> str:
    text, count = pattern.subn("", text)
    if count:
        counts[reason] += count
    return text


def _collapse_selector_runs(text: str, counts: Counter[str]) -> str:
    def keep_first(match: re.Match[str]) -> str:
        counts[VARIATION_SELECTOR] += len(match.group(2))
        return match.group(1)

    return _SELECTOR_RUN.sub(keep_first, text)
