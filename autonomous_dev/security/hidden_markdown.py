"""Remove the Markdown and HTML that GitHub renders as nothing, so the model reads what a reviewer sees.

What counts as hidden, and why (GitHub renders issues as GitHub Flavored Markdown, then sanitises the HTML
and drops every tag and attribute outside a short allow-list):

- Link reference definitions (`[label]: <url> "title"`, the URL or title on the next lines, indented up
  to three spaces, inside block quotes and list items) render as nothing. All of them go, also the ones
  that only back a visible `[text][label]` link: the link text stays readable. A definition straight
  after a paragraph line would show as text on GitHub; it is removed anyway (erring towards less).
  Footnotes (`[^1]: ...`) render visibly at the end and stay.
- Elements whose content no reader sees: `<script>`, `<style>`, `<template>`, `<noscript>`, `<iframe>`,
  `<object>`, `<embed>`, `<svg>`, `<math>`, `<textarea>`, `<title>`, `<xmp>`, `<noembed>`,
  `<noframes>`, `<plaintext>`, `<select>`, `<head>`. GitHub's tag filter shows some of them as
  escaped text, its sanitiser drops others with their content, browsers never display the rest: either
  way no reviewer reads their content as part of the issue, so it is removed with the element. An
  unclosed one hides everything after it in a browser, so everything after it is removed.
- Attribute values of raw HTML tags are never shown (`title` only on hover; `style`, `class`, `data-*`
  GitHub drops), so an attribute that could carry words goes. Kept: `href`, `src` and `alt` (GitHub shows
  alt text when an image does not load, and screen readers read it), and short plain values such as
  `width="300"` or `align="center"`, which carry no sentence and which screenshots use all the time.
- Link and image titles (`[text](url "title")`) show only on hover: the title goes, the link stays. A
  link with no text (`[](url)`) renders as nothing and goes whole; an image's alt text stays (see above).
- Character references that name an invisible character (`&#8203;`, `&ZeroWidthSpace;`, `&#xE0041;`)
  render as that character, so they are removed like the character itself.

Code is shown verbatim by GitHub, so fenced code blocks and inline code spans are left as they are,
except that an element opened outside code hides the code after it too. HTML comments and invisible
characters are removed everywhere by `sanitize`, code included.
"""

from __future__ import annotations

import bisect
import html
import re
from collections import Counter
from collections.abc import Callable

LINK_DEFINITION = "link_definition"
HIDDEN_ELEMENT = "hidden_element"
HIDDEN_ATTRIBUTE = "hidden_attribute"
LINK_TITLE = "link_title"
EMPTY_LINK = "empty_link"
CHARACTER_REFERENCE = "character_reference"

LABELS: dict[str, tuple[str, str]] = {
    LINK_DEFINITION: ("link reference definition", "link reference definitions"),
    HIDDEN_ELEMENT: ("hidden HTML element", "hidden HTML elements"),
    HIDDEN_ATTRIBUTE: ("hidden HTML attribute", "hidden HTML attributes"),
    LINK_TITLE: ("link title", "link titles"),
    EMPTY_LINK: ("link without text", "links without text"),
    CHARACTER_REFERENCE: ("invisible character reference", "invisible character references"),
}

HIDDEN_TAGS = (
    "script|style|template|noscript|iframe|object|embed|svg|math|textarea|title|xmp|noembed|noframes"
    "|plaintext|select|head"
)
KEPT_ATTRIBUTES = frozenset({"href", "src", "alt"})
_PLAIN_VALUE = re.compile(r"""\s*=\s*["']?[\w.%#-]{0,20}["']?""")

# Possessive quantifiers (*+, ++) throughout: nothing here backtracks, so hostile input costs linear time.
# A line break that does not end the block (no blank line follows); block-quote markers may continue it.
_NL = r"\n(?![ \t>]*+(?:\n|\Z))[ \t>]*+"
_TITLE = (
    rf"""(?:"(?:\\[\s\S]|[^"\\\n]|{_NL})*+"|'(?:\\[\s\S]|[^'\\\n]|{_NL})*+'"""
    rf"""|\((?:\\[\s\S]|[^()\\\n]|{_NL})*+\))"""
)
# Where a definition may start: a line, after block-quote and list-item markers, then up to 3 spaces.
_DEFINITION_START = re.compile(
    r"^(?P<keep>(?:[ ]{0,3}(?:>|[-+*]|\d{1,9}[.)])[ \t]*+)*+)[ ]{0,3}\[(?!\^)", re.M
)
_DEFINITION_REST = re.compile(
    rf"(?:\\[\s\S]|[^\[\]\\\n]|{_NL}){{1,999}}+\]:"  # the rest of the label, then the colon
    rf"[ \t]*+(?:{_NL})?(?:<[^<>\n]*+>|[^\s<]\S*+)"  # the destination
    rf"(?:(?:[ \t]++|[ \t]*+{_NL}){_TITLE})?[ \t]*+(?=\n|\Z)"  # an optional title, then the line ends
)
# Attribute names as CommonMark reads raw HTML: a name cannot run into the next tag.
_ATTRIBUTE = r"""\s++[A-Za-z_:][A-Za-z0-9_.:-]*+(?:\s*+=\s*+(?:"[^"]*+"|'[^']*+'|[^\s"'=<>`]++))?+"""
_HIDDEN_OPENER = re.compile(rf"<(?P<tag>{HIDDEN_TAGS})\b(?:{_ATTRIBUTE})*+\s*+/?>", re.I)
_TAG = re.compile(rf"<(?P<name>[A-Za-z][A-Za-z0-9-]*+)(?P<attrs>(?:{_ATTRIBUTE})++)\s*+(?P<end>/?)>")
_ONE_ATTRIBUTE = re.compile(_ATTRIBUTE)
# `[text](destination "title")` and images; the text may not hold brackets (nested links are rare).
_INLINE_LINK = re.compile(
    r"""(?P<bang>!?)\[(?P<text>(?:\\.|[^\[\]\\])*+)\]\((?P<dest>\s*+(?:<[^<>\n]*+>|[^\s()<]*+))"""
    r"""(?P<title>\s++(?:"(?:\\.|[^"\\])*+"|'(?:\\.|[^'\\])*+'|\((?:\\.|[^()\\])*+\)))?\s*+\)"""
)
_REFERENCE = re.compile(r"&(?:#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});")
_FENCE = re.compile(r"^[ ]{0,3}(?P<fence>`{3,}|~{3,})(?P<info>[^\n]*)(?:\n|\Z)", re.MULTILINE)
_BACKTICKS = re.compile(r"(?<![`\\])`+")
_BLANK_LINE = re.compile(r"\n[ \t>]*+(?:\n|\Z)")
_FAR = 2**62

Spans = list[tuple[int, int]]
Change = Callable[[re.Match[str]], tuple[str, str | None]]


def strip_markdown(text: str, counts: Counter[str], char_reason: Callable[[str], str | None]) -> str:
    """`text` without the constructs above; each removal counted in `counts` by reason."""
    text = _remove_hidden_elements(text, counts)
    text = _remove_definitions(text, counts)
    text = _rewrite(text, _INLINE_LINK, counts, _link_without_title)
    text = _rewrite(text, _TAG, counts, _tag_without_hidden_attributes)
    return _rewrite(text, _REFERENCE, counts, lambda match: _visible_reference(match, char_reason))


def _remove_hidden_elements(text: str, counts: Counter[str]) -> str:
    """Each hidden element opened outside code goes up to its closing tag, or to the end of the text."""
    code, cuts, position = _code_spans(text), [], 0
    while (opener := _HIDDEN_OPENER.search(text, position)) is not None:
        if (end_of_code := _code_end(opener.start(), code)) is not None:
            position = end_of_code
            continue
        closing = re.compile(rf"</{opener['tag']}\s*>", re.I).search(text, opener.end())
        counts[HIDDEN_ELEMENT] += 1
        cuts.append((opener.start(), closing.end() if closing else len(text)))
        position = cuts[-1][1]
    return _cut(text, cuts)


def _remove_definitions(text: str, counts: Counter[str]) -> str:
    """Link reference definitions outside fenced code; the block-quote or list marker before one stays."""
    code, cuts, position = _code_spans(text, inline=False), [], 0
    while (start := _DEFINITION_START.search(text, position)) is not None:
        if (end_of_code := _code_end(start.start(), code)) is not None:
            position = end_of_code
            continue
        rest = _DEFINITION_REST.match(text, start.end())
        if rest is None:  # not a definition; the next line may be one (after a heading, in a quote...)
            position = start.end()
            continue
        counts[LINK_DEFINITION] += 1
        cuts.append((start.end("keep"), rest.end()))
        position = rest.end()
    return _cut(text, cuts)


def _rewrite(text: str, pattern: re.Pattern[str], counts: Counter[str], change: Change) -> str:
    """Apply `change` to each match outside code; it gives the new text and the reason (None: unchanged)."""
    if not pattern.search(text):
        return text
    code, pieces, last, position = _code_spans(text), [], 0, 0
    while (match := pattern.search(text, position)) is not None:
        if (end_of_code := _code_end(match.start(), code)) is not None:
            position = end_of_code
            continue
        position = max(match.end(), match.start() + 1)
        replacement, reason = change(match)
        if reason is None:
            continue
        counts[reason] += 1
        pieces += [text[last : match.start()], replacement]
        last = match.end()
    return "".join([*pieces, text[last:]]) if pieces else text


def _cut(text: str, cuts: Spans) -> str:
    if not cuts:
        return text
    kept, last = [], 0
    for start, end in cuts:
        kept.append(text[last:start])
        last = end
    return "".join([*kept, text[last:]])


def _link_without_title(match: re.Match[str]) -> tuple[str, str | None]:
    if not match["bang"] and not match["text"].strip():
        return "", EMPTY_LINK
    if match["title"] is None:
        return match.group(0), None
    return f"{match['bang']}[{match['text']}]({match['dest'].strip()})", LINK_TITLE


def _tag_without_hidden_attributes(match: re.Match[str]) -> tuple[str, str | None]:
    attributes = _ONE_ATTRIBUTE.findall(match["attrs"])
    kept = [a for a in attributes if _harmless(a)]
    if len(kept) == len(attributes):
        return match.group(0), None
    end = " /" if match["end"] else ""
    return f"<{match['name']}{''.join(kept)}{end}>", HIDDEN_ATTRIBUTE


def _harmless(attribute: str) -> bool:
    name = re.match(r"\s*[^\s=]+", attribute)
    assert name is not None  # an attribute always starts with its name
    value = attribute[name.end() :]
    return (
        name.group(0).strip().lower() in KEPT_ATTRIBUTES
        or _PLAIN_VALUE.fullmatch(value) is not None
        or not value
    )


def _visible_reference(
    match: re.Match[str], char_reason: Callable[[str], str | None]
) -> tuple[str, str | None]:
    decoded = html.unescape(match.group(0))
    if len(decoded) == 1 and char_reason(decoded) is not None:
        return "", CHARACTER_REFERENCE
    return match.group(0), None


def code_spans(text: str) -> Spans:
    """Where GitHub shows the text verbatim as code: fenced blocks and inline spans, (start, end) in order."""
    return _code_spans(text)


def _code_spans(text: str, inline: bool = True) -> Spans:
    """Where fenced code blocks (and inline code spans) are, as (start, end) offsets in order."""
    spans: Spans = []
    position = 0
    while (opening := _FENCE.search(text, position)) is not None:
        fence = opening["fence"]
        if fence[0] == "`" and "`" in opening["info"]:  # not a fence: GitHub reads it as a code span
            position = opening.end()
            continue
        closing = re.compile(rf"^[ ]{{0,3}}{re.escape(fence[0])}{{{len(fence)},}}[ \t]*(?:\n|\Z)", re.M)
        end = closing.search(text, opening.end())
        stop = end.end() if end else len(text)  # an unclosed fence runs to the end, shown as code
        spans.append((opening.start(), stop))
        position = stop
    return sorted(spans + _inline_code(text, spans)) if inline else spans


def _inline_code(text: str, blocks: Spans) -> Spans:
    """Code spans: a run of backticks up to the next run of the same length in the same paragraph."""
    runs = [m for m in _BACKTICKS.finditer(text) if _code_end(m.start(), blocks) is None]
    breaks = [m.start() for m in _BLANK_LINE.finditer(text)]
    following: dict[int, int] = {}  # run length -> index of the next run of that length
    partner = [0] * len(runs)
    for index in range(len(runs) - 1, -1, -1):
        length = len(runs[index].group(0))
        partner[index] = following.get(length, -1)
        following[length] = index
    spans: Spans = []
    index = 0
    while index < len(runs):
        other = partner[index]
        paragraph = bisect.bisect(breaks, runs[index].start())
        if other < 0 or bisect.bisect(breaks, runs[other].start()) != paragraph:
            index += 1
            continue
        spans.append((runs[index].start(), runs[other].end()))
        index = other + 1
    return spans


def _code_end(position: int, spans: Spans) -> int | None:
    """The end of the code span holding `position`, or None when it is outside code."""
    index = bisect.bisect_right(spans, (position, _FAR)) - 1
    if index >= 0 and spans[index][0] <= position < spans[index][1]:
        return spans[index][1]
    return None
