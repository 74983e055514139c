"""Secret redaction: the single choke point for text that leaves the process."""

from __future__ import annotations

import base64
import bisect
import json
import logging
import operator
import re
import string
import threading
import urllib.parse
from collections import Counter
from collections.abc import Callable, Iterable
from typing import NamedTuple

from autonomous_dev.security.secret_patterns import CONTEXTUAL, TOKENS, is_filler
from autonomous_dev.security.secret_patterns.checks import are_filler
from autonomous_dev.security.secret_patterns.scanner import (
    CUSTOM_RANK,
    Alt,
    Matcher,
    Scanner,
    alt_of,
    context_matcher,
    scanner,
    search,
)

MIN_SECRET_LENGTH = 8
_GLUED_RUN = 6  # a run of one character this long ending a token may be filler glued to a real one

# (name, regex) of every built-in detector, for documentation and audits; matching uses the tables below.
DETECTORS: tuple[tuple[str, str], ...] = tuple(
    (token.name, "|".join(re.escape(prefix) + f"(?:{token.tail})" for prefix in token.prefixes))
    for token in TOKENS
) + tuple((detector.name, detector.pattern) for detector in CONTEXTUAL)
DETECTOR_NAMES: frozenset[str] = frozenset(name for name, _ in DETECTORS)

_PLACEHOLDER = re.compile(r"\[REDACTED:[\w.-]+:\d+\]")
_NAME = re.compile(r"[\w.-]+")
_EMPTY_PROBE = "a Z_0-9.\n:/=\"'"
# Contextual detectors start at a trigger keyword or where its word starts, at most 40 characters before:
# the run of these characters ending at the keyword, found by stripping them off the 40 characters before
# it (a search for the run ending there would try all 40 starts).
_WORD = string.ascii_letters + string.digits + "_+.~-"
_WORD_CHARS = frozenset(_WORD)  # one character of such a word
_WORD_REACH = 40
# Terminal escape sequences (colours, cursor moves, titles): matching ignores them.
_ANSI = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)|[@-Z\\-_])")


class _Span(NamedTuple):
    """A stretch of text a detector claims (a tuple: thousands are made per MB of dense text)."""

    start: int
    end: int
    rank: int
    name: str


_START, _END, _RANK = operator.itemgetter(0), operator.itemgetter(1), operator.itemgetter(2)

audit_log = logging.getLogger("autonomous_dev.audit")


class Redactor:
    """Replaces known secret values and detected credentials with stable numbered placeholders.

    `[REDACTED:<name>:<n>]` numbers distinct values per name; one redactor gives the same value the
    same placeholder every time, and `restore` maps placeholders back. Thread-safe: workers share one
    instance.
    """

    def __init__(self, secrets: Iterable[str] = (), patterns: Iterable[tuple[str, str]] = ()) -> None:
        self._lock = threading.Lock()
        self._custom = tuple(_custom_pattern(name, regex) for name, regex in patterns)
        self._known: dict[str, str] = {}  # every encoded form of a loaded credential -> its name
        self._compiled: Scanner | None = None  # compiled on first use after the known values change
        self._placeholders: dict[str, str] = {}
        self._values: dict[str, str] = {}
        self._numbers: Counter[str] = Counter()
        self._counts: Counter[str] = Counter()
        self._register([(secret, "credential") for secret in secrets])

    def add_pattern(self, name: str, pattern: str) -> None:
        """A custom detector (from security.redactPatterns)."""
        custom = _custom_pattern(name, pattern)
        with self._lock:
            self._custom = (*self._custom, custom)

    def add_secret(self, value: str, name: str = "credential") -> None:
        """Register a credential the tool loaded; it and its common encodings are redacted everywhere."""
        self._register([(value, name)])

    def redact(self, text: str) -> str:
        """Return text with every known secret and detected credential replaced by a placeholder."""
        if not text:
            return text
        spans = self._find(text)
        return self._render(text, _merge(spans)) if spans else text

    def restore(self, text: str) -> str:
        """Put back the values behind placeholders this redactor produced; others stay as they are.

        Credentials the tool loaded itself are never put back: no placeholder can turn into our token.
        """
        if "[REDACTED:" not in text:
            return text
        known = self._known
        with self._lock:

            def value_of(match: re.Match[str]) -> str:
                value = self._values.get(match.group(0))
                return match.group(0) if value is None or value in known else value

            return _PLACEHOLDER.sub(value_of, text)

    def findings(self, text: str) -> list[tuple[str, str]]:
        """(detector or credential name, value) for every secret in text; for scanning, never for output."""
        return [(span.name, text[span.start : span.end]) for span in _merge(self._find(text))]

    def redact_for(self, text: str, destination: str) -> str:
        """`redact`, plus a `secret_redacted` audit event (names and counts, never values) when it changed."""
        spans = _merge(self._find(text)) if text else []
        if not spans:
            return text
        counts = Counter(span.name for span in spans)
        for name, count in sorted(counts.items()):
            fields = {
                "event": "secret_redacted",
                "detector": name,
                "count": count,
                "destination": destination,
            }
            audit_log.info("redacted %d %s value(s) bound for %s", count, name, destination, extra=fields)
        return self._render(text, spans)

    def counts(self) -> dict[str, int]:
        """Redactions per detector or credential name since this redactor was created."""
        with self._lock:
            return dict(self._counts)

    def _register(self, secrets: list[tuple[str, str]]) -> None:
        """Teach the scanner these (value, name) pairs; it is recompiled when next used."""
        secrets = [(value, name) for value, name in secrets if len(value) >= MIN_SECRET_LENGTH]
        if not secrets:
            return
        with self._lock:
            for value, name in secrets:
                label = re.sub(r"[^\w.-]", "_", name) or "credential"
                for form in _encodings(value):
                    self._known.setdefault(form, label)
            self._compiled = None

    def _scanner(self) -> Scanner:
        """The matchers and prefilter for the known values and the built-in detectors (compiled once)."""
        compiled = self._compiled
        if compiled is None:
            with self._lock:
                if self._compiled is None:
                    self._compiled = scanner(tuple(sorted(self._known.items())))
                compiled = self._compiled
        return compiled

    def _find(self, text: str) -> list[_Span]:
        """Every stretch of text some detector or known value claims, overlaps included.

        Terminal escape sequences are taken out first (a colour code right before a key would hide it
        from every detector that must not follow a letter); the spans are then mapped back.
        """
        if "\x1b" not in text:
            return self._find_plain(text)
        plain, where = _without_escapes(text)
        # A new tuple, not `_replace`, which costs several times more per span.
        return [
            _Span(where(start), where(end - 1) + 1, rank, name)
            for start, end, rank, name in self._find_plain(plain)
        ]

    def _find_plain(self, text: str) -> list[_Span]:
        triggers: list[int] = []
        fixed: list[tuple[Alt, re.Match[str]]] = []
        for alt, match in search(self._scanner(), text):
            if alt.trigger:
                triggers.append(match.start() - alt.offset)
            else:
                fixed.append((alt, match))
        spans = _fixed_spans(fixed)
        for start in _starts(text, triggers):
            if (matcher := context_matcher(text[start])) and (found := matcher.regex.match(text, start)):
                spans += _contextual_spans(text, start, matcher, found)
        for name, regex in self._custom:
            group = regex.groupindex.get("secret", 0)
            spans += [
                _Span(*m.span(group), CUSTOM_RANK, name) for m in regex.finditer(text) if m.group(group)
            ]
        return spans

    def _render(self, text: str, spans: list[_Span]) -> str:
        """Text with each span replaced by its value's placeholder (a value seen before keeps its own)."""
        parts: list[str] = []
        last = 0
        with self._lock:
            placeholders = self._placeholders
            for start, end, _, name in spans:
                value = text[start:end]
                parts += (text[last:start], placeholders.get(value) or self._new_placeholder(name, value))
                last = end
            self._counts.update(span.name for span in spans)
        parts.append(text[last:])
        return "".join(parts)

    def _new_placeholder(self, name: str, value: str) -> str:
        """The placeholder for a value first seen now, numbered per name; the caller holds the lock."""
        self._numbers[name] += 1
        placeholder = self._placeholders[value] = f"[REDACTED:{name}:{self._numbers[name]}]"
        self._values[placeholder] = value
        return placeholder


def _custom_pattern(name: str, pattern: str) -> tuple[str, re.Pattern[str]]:
    """Compile a caller's (name, regex) detector, refusing names and patterns that cannot work."""
    if not _NAME.fullmatch(name):
        raise ValueError(f"custom pattern name {name!r} may only use letters, digits, '_', '.' and '-'")
    try:
        regex = re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"custom pattern {name!r} is not a valid regex: {exc}") from exc
    if regex.search("") is not None or any(m.end() == m.start() for m in regex.finditer(_EMPTY_PROBE)):
        raise ValueError(f"custom pattern {name!r} matches the empty string")
    return name, regex


def _encodings(value: str) -> set[str]:
    """The forms a credential takes on its way out: raw, URL- and JSON-escaped, inside Basic auth."""
    forms = {
        value,
        urllib.parse.quote(value, safe=""),
        urllib.parse.quote(value),
        urllib.parse.quote_plus(value),
        json.dumps(value)[1:-1],
        json.dumps(value, ensure_ascii=False)[1:-1],
    }
    pairs = [f"{user}:{value}" for user in ("x-access-token", "x-oauth-basic", "token", "oauth2", "git", "")]
    for pair in [*pairs, f"{value}:x-oauth-basic", f"{value}:", value]:
        encoded = base64.b64encode(pair.encode()).decode()
        forms.update((encoded, encoded.rstrip("=")))
    return {form for form in forms if len(form) >= MIN_SECRET_LENGTH}


def _contextual_spans(text: str, start: int, matcher: Matcher, found: re.Match[str]) -> list[_Span]:
    """The combined regex stops at the first detector that matches here; when that one's check refuses
    the value (libpq's `password=` without a host on the line), the others still get their turn."""
    alt = alt_of(matcher, found)
    while not (spans := _spans(alt, found)):
        next_matcher = context_matcher(text[start], alt.rank)
        if next_matcher is None or (next_found := next_matcher.regex.match(text, start)) is None:
            return []
        alt, found = alt_of(next_matcher, next_found), next_found
    return spans


def _spans(alt: Alt, match: re.Match[str]) -> list[_Span]:
    """The span a contextual match stands for, or each value inside it for a detector with `each`."""
    if alt.each is None:
        span = _checked(alt, match, *_bounds(alt, match), filler=False)
        return [span] if span else []
    if alt.near is not None and not _is_near(alt, match.string, match.start()):
        return []
    return [
        _Span(*value.span("v"), alt.rank, alt.name)
        for value in alt.each.finditer(match.string, *match.span(alt.secret))
        if alt.check is None or alt.check(value.group("v"))
    ]


def _fixed_spans(found: list[tuple[Alt, re.Match[str]]]) -> list[_Span]:
    """The spans of fixed-format and known-value matches that pass their checks.

    Whether a random token's tail is filler is asked of all of them at once (`are_filler`: one RE2
    call for a block's tokens rather than one each); a value that fails its check is asked too, which
    changes nothing but the time spent."""
    claimed: list[tuple[Alt, re.Match[str], int, int]] = []
    tails: list[str] = []  # what follows a random token's prefix, which must not be filler ("" for others)
    for alt, match in found:  # one loop, no helper calls: dense text holds thousands of tokens per MB
        start, end = match.span(alt.secret)
        if alt.secret == 0:
            start -= alt.offset
        claimed.append((alt, match, start, end))
        tail_start = start + alt.skip if alt.secret == 0 else start
        tails.append("" if alt.skip < 0 else match.string[tail_start:end])
    return [
        span
        for (alt, match, start, end), tail_is_filler in zip(claimed, are_filler(tails), strict=True)
        if (span := _checked(alt, match, start, end, tail_is_filler))
    ]


def _bounds(alt: Alt, match: re.Match[str]) -> tuple[int, int]:
    """Where the text an alternative claims starts and ends (its match starts `offset` before its anchor)."""
    start, end = match.span(alt.secret)
    return (start - alt.offset if alt.secret == 0 else start), end


def _checked(alt: Alt, match: re.Match[str], start: int, end: int, filler: bool) -> _Span | None:
    """The span `alt` claims at start:end, if its value passes the checks; `filler` says whether a
    random token's tail is filler (contextual detectors have no such tail)."""
    value = match.string[start:end]
    if start >= end or (alt.check is not None and not alt.check(value)):
        return None
    if alt.skip >= 0 and filler and not _real_before_run(alt, match, value):
        return None
    if alt.near is not None and not _is_near(alt, match.string, start):
        return None
    return _Span(start, end, alt.rank, alt.name)


def _is_filler(alt: Alt, value: str) -> bool:
    """Whether a random token's value (after its prefix) is filler: a placeholder, not a secret."""
    return is_filler(value[alt.skip :] if alt.secret == 0 else value)


def _real_before_run(alt: Alt, match: re.Match[str], value: str) -> bool:
    """Whether a token taken for filler is a real one with a run glued to its end (`ghp_<36 random>xxx…`):
    without the run the same detector still matches, and what it matches then is no filler. The whole
    match is replaced then; `ghp_xxxx…` alone or `ghp_1234xxxx…` stay (nothing real is left)."""
    run = len(value) - len(value.rstrip(value[-1]))
    if run < _GLUED_RUN:
        return False
    again = match.re.match(match.string, match.start(), match.end(alt.secret) - run)
    if again is None or again.lastindex != match.lastindex:
        return False
    start, end = again.span(alt.secret)
    head = match.string[start - (alt.offset if alt.secret == 0 else 0) : end]
    return bool(head) and (alt.check is None or alt.check(head)) and not _is_filler(alt, head)


def _is_near(alt: Alt, text: str, position: int) -> bool:
    """Whether `alt.near` occurs on the line at `position`, or within `alt.window` characters of it."""
    assert alt.near is not None
    if alt.window:
        return alt.near.search(text, max(0, position - alt.window), position + alt.window) is not None
    end = text.find("\n", position)
    return alt.near.search(text, text.rfind("\n", 0, position) + 1, len(text) if end < 0 else end) is not None


def _without_escapes(text: str) -> tuple[str, Callable[[int], int]]:
    """Text without terminal escape sequences, and where each of its characters stands in `text`.

    The mapping bisects the escapes' positions rather than listing every character's (a 64 KiB block
    would mean 64 Ki integers for a few dozen spans)."""
    parts: list[str] = []
    cuts: list[int] = []  # where in the plain text each escape was taken out
    removed: list[int] = []  # characters taken out up to and including that escape
    last = 0
    for escape in _ANSI.finditer(text):
        parts.append(text[last : escape.start()])
        cuts.append(escape.start() - (removed[-1] if removed else 0))
        removed.append((removed[-1] if removed else 0) + escape.end() - escape.start())
        last = escape.end()
    parts.append(text[last:])

    def where(index: int) -> int:
        k = bisect.bisect_right(cuts, index)
        return index + (removed[k - 1] if k else 0)

    return "".join(parts), where


def _starts(text: str, triggers: list[int]) -> set[int]:
    """Where contextual detectors may start: at each trigger keyword and where its word starts."""
    starts = set(triggers)
    for position in triggers:
        if position and text[position - 1] in _WORD_CHARS:
            before = text[max(0, position - _WORD_REACH) : position]
            starts.add(position - len(before) + len(before.rstrip(_WORD)))
    return starts


def _merge(spans: list[_Span]) -> list[_Span]:
    """Sorted, non-overlapping spans; overlapping ones become one, named by the earliest and longest."""
    # By start, then the longest, then the lowest rank: three stable sorts on one field each, which
    # order as one sort on (start, -end, rank) does, without a key tuple built per span in Python.
    spans.sort(key=_RANK)
    spans.sort(key=_END, reverse=True)
    spans.sort(key=_START)
    merged: list[_Span] = []
    for span in spans:
        if merged and span.start < merged[-1].end:
            if span.end > merged[-1].end:
                merged[-1] = _Span(merged[-1].start, span.end, merged[-1].rank, merged[-1].name)
        else:
            merged.append(span)
    return merged
