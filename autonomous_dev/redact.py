"""Secret redaction: the single choke point for text that leaves the process."""

from __future__ import annotations

import base64
import copy
import functools
import json
import logging
import re
import threading
import urllib.parse
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace

from .secret_patterns import CONTEXTUAL, TOKENS, TRIGGERS, Check, Contextual, is_filler

MIN_SECRET_LENGTH = 8

# (name, regex) of every built-in detector, for documentation and audits; matching uses the tables below.
DETECTORS: tuple[tuple[str, str], ...] = tuple(
    (token.name, "|".join(re.escape(prefix) + f"(?:{token.tail})" for prefix in token.prefixes))
    for token in TOKENS
) + tuple((detector.name, detector.pattern) for detector in CONTEXTUAL)
DETECTOR_NAMES: frozenset[str] = frozenset(name for name, _ in DETECTORS)

# Rough share (%) of characters in code and prose; unlisted ones are rare. Each alternative of the
# combined regex starts at one character of its literal prefix (the rest is checked around it), and
# these shares pick rare ones, so the engine's first-character scan skips most positions.
_CHAR_SHARE = {
    " ": 28.2, "e": 6.7, "s": 4.6, "t": 4.5, "a": 3.5, "r": 3.5, "o": 2.9, "n": 2.9, "i": 2.9, "l": 2.8,
    "\n": 2.7, "f": 2.0, "c": 1.8, "d": 1.8, ".": 1.6, "_": 1.6, "(": 1.5, ")": 1.5, "p": 1.4, "u": 1.4,
    ",": 1.3, "'": 1.3, "m": 1.2, "h": 1.0, '"': 0.8, "g": 0.8, "=": 0.7, "b": 0.7, ":": 0.7, "0": 0.6,
    "x": 0.6, "E": 0.6, "y": 0.6, "T": 0.5, "w": 0.4, "k": 0.4, "1": 0.4, "-": 0.4, "I": 0.4, "#": 0.4,
    "v": 0.3, "A": 0.3, "N": 0.3, "2": 0.3, "R": 0.3, "L": 0.3, "S": 0.3, "C": 0.3, "q": 0.2,
}  # fmt: skip
_RARE_SHARE = 0.1
_PLACEHOLDER = re.compile(r"\[REDACTED:[\w.-]+:\d+\]")
_NAME = re.compile(r"[\w.-]+")
_EMPTY_PROBE = "a Z_0-9.\n:/=\"'"
# Contextual detectors start at a trigger keyword or where its word starts, at most 40 characters before.
_WORD_BEFORE = re.compile(r"[A-Za-z0-9_+.~-]{1,40}\Z")
# Terminal escape sequences (colours, cursor moves, titles): matching ignores them.
_ANSI = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)|[@-Z\\-_])")
# When detectors claim exactly the same text, the lowest rank names it.
_KNOWN_RANK, _CUSTOM_RANK, _TOKEN_RANK, _CONTEXT_RANK = 0, 1, 100, 1000
_PREFIX_ROOM = 64


@dataclass(frozen=True)
class _Alt:
    """What one alternative of a combined regex stands for."""

    name: str
    rank: int
    offset: int = 0  # the real match starts this many characters before the anchor
    secret: int = 0  # the group to replace; 0 is the whole match
    check: Check | None = None
    near: re.Pattern[str] | None = None  # must also occur on the match's line (or within `window`)
    window: int = 0
    each: re.Pattern[str] | None = None  # every match of it inside the secret is a secret of its own
    trigger: bool = False  # a keyword that wakes the contextual detectors
    fold: bool = False  # the literal matches in any case (lowercase trigger keywords)
    skip: int = -1  # a token's prefix length: what follows it must not be filler (-1: no such check)


# A literal-led part of the combined regex: (literal, regex after it, meaning, must not follow a word).
_Piece = tuple[str, str, _Alt, bool]


@dataclass(frozen=True)
class _Matcher:
    """A compiled alternation and, by `Match.lastindex`, the alternative that matched."""

    regex: re.Pattern[str]
    alts: dict[int, _Alt]


@dataclass(frozen=True)
class _Span:
    start: int
    end: int
    rank: int
    name: str


@dataclass
class _Shared:
    """What a redactor and its scoped children share: known values, custom patterns, the scanner."""

    custom: tuple[tuple[str, re.Pattern[str]], ...]
    known: dict[str, str]
    lock: threading.Lock
    compiled: _Matcher | None = None  # compiled on first use after the known values change

    def scanner(self) -> _Matcher:
        """The combined regex for the known values and the built-in detectors (about 40 ms to compile)."""
        compiled = self.compiled
        if compiled is None:
            with self.lock:
                if self.compiled is None:
                    self.compiled = _scanner(tuple(sorted(self.known.items())))
                compiled = self.compiled
        return compiled


audit_log = logging.getLogger("autonomous_dev.audit")


class Redactor:
    """Replaces known secret values and detected credentials with stable numbered placeholders.

    `[REDACTED:<name>:<n>]` numbers distinct values per name; one redactor gives the same value the
    same placeholder every time, and `restore` maps placeholders back. Thread-safe: workers share one
    instance, and `scoped()` gives each task its own numbering over the same secrets.
    """

    def __init__(self, secrets: Iterable[str] = (), patterns: Iterable[tuple[str, str]] = ()) -> None:
        custom = tuple(_custom_pattern(name, regex) for name, regex in patterns)
        self._shared = _Shared(custom, {}, threading.Lock())
        self._new_scope()
        self._register([(secret, "credential") for secret in secrets])

    def add_pattern(self, name: str, pattern: str) -> None:
        """A custom detector (from security.redactPatterns), for this redactor and every scope of it."""
        custom = _custom_pattern(name, pattern)
        with self._shared.lock:
            self._shared.custom = (*self._shared.custom, custom)

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
        known = self._shared.known
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

    def scoped(self) -> Redactor:
        """A redactor for one task: the same secrets and patterns, its own placeholders and counts."""
        child = copy.copy(self)
        child._new_scope()
        return child

    def counts(self) -> dict[str, int]:
        """Redactions per detector or credential name since this redactor (or scope) was created."""
        with self._lock:
            return dict(self._counts)

    def _register(self, secrets: list[tuple[str, str]]) -> None:
        """Teach the shared scanner these (value, name) pairs; it is recompiled when next used."""
        secrets = [(value, name) for value, name in secrets if len(value) >= MIN_SECRET_LENGTH]
        if not secrets:
            return
        shared = self._shared
        with shared.lock:
            for value, name in secrets:
                label = re.sub(r"[^\w.-]", "_", name) or "credential"
                for form in _encodings(value):
                    shared.known.setdefault(form, label)
            shared.compiled = None

    def _new_scope(self) -> None:
        self._lock = threading.Lock()
        self._placeholders: dict[str, str] = {}
        self._values: dict[str, str] = {}
        self._numbers: Counter[str] = Counter()
        self._counts: Counter[str] = Counter()

    def _find(self, text: str) -> list[_Span]:
        """Every stretch of text some detector or known value claims, overlaps included.

        Terminal escape sequences are taken out first (a colour code right before a key would hide it
        from every detector that must not follow a letter); the spans are then mapped back.
        """
        if "\x1b" not in text:
            return self._find_plain(text)
        plain, where = _without_escapes(text)
        return [
            replace(span, start=where[span.start], end=where[span.end - 1] + 1)
            for span in self._find_plain(plain)
        ]

    def _find_plain(self, text: str) -> list[_Span]:
        shared = self._shared
        spans: list[_Span] = []
        triggers: list[int] = []
        for alt, match in _search(shared.scanner(), text):
            if alt.trigger:
                triggers.append(match.start() - alt.offset)
            elif span := _span(alt, match):
                spans.append(span)
        for start in _starts(text, triggers):
            if found := _CONTEXT.regex.match(text, start):
                spans += _contextual_spans(text, start, found)
        for name, regex in shared.custom:
            group = regex.groupindex.get("secret", 0)
            spans += [
                _Span(*m.span(group), _CUSTOM_RANK, name) for m in regex.finditer(text) if m.group(group)
            ]
        return spans

    def _render(self, text: str, spans: list[_Span]) -> str:
        parts: list[str] = []
        last = 0
        with self._lock:
            for span in spans:
                parts += (text[last : span.start], self._placeholder(span.name, text[span.start : span.end]))
                last = span.end
        parts.append(text[last:])
        return "".join(parts)

    def _placeholder(self, name: str, value: str) -> str:
        """The placeholder for value, numbered on first sight; the caller holds the lock."""
        placeholder = self._placeholders.get(value)
        if placeholder is None:
            self._numbers[name] += 1
            placeholder = f"[REDACTED:{name}:{self._numbers[name]}]"
            self._placeholders[value] = placeholder
            self._values[placeholder] = value
        self._counts[name] += 1
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


# Building the combined regex.


def _share(chars: Iterable[str]) -> float:
    return sum(_CHAR_SHARE.get(char, _RARE_SHARE) for char in chars)


def _anchor_chars(char: str, fold: bool) -> frozenset[str]:
    return frozenset({char.lower(), char.upper()} if fold else {char})


def _choose_anchors(pieces: list[_Piece]) -> list[int]:
    """Where to anchor each piece's literal so that all anchors together are as rare as possible.

    Greedy: literals without a cheap character choose first, later ones reuse anchors already chosen,
    then anchors that every literal can do without are dropped.
    """
    options = [{_anchor_chars(char, alt.fold) for char in literal} for literal, _, alt, _ in pieces]
    chosen: frozenset[str] = frozenset()
    for opts in sorted(options, key=lambda opts: -min(map(_share, opts))):
        if not any(option <= chosen for option in opts):
            chosen |= min(opts, key=lambda option: _share(option - chosen))
    for char in sorted(chosen, key=lambda char: -_share(char)):
        if all(any(option <= chosen - {char} for option in opts) for opts in options):
            chosen -= {char}
    return [
        min(
            (k for k, char in enumerate(literal) if _anchor_chars(char, alt.fold) <= chosen),
            key=lambda k: _share(_anchor_chars(literal[k], alt.fold)),
        )
        for literal, _, alt, _ in pieces
    ]


def _anchored(piece: _Piece, at: int) -> list[tuple[str, str, _Alt]]:
    """Branches (anchor and lead, regex after them, meaning) for one piece anchored at `literal[at]`.

    The lead is the literal's next character, if any: branches sharing anchor and lead sit behind
    them together, so the engine rejects a whole group on one character. The body holds the literal's
    remaining characters, then looks behind for the whole literal.
    """
    literal, rest, alt, bounded = piece
    after = "".join(_literal_char(char, alt.fold) for char in literal[at + 2 :])
    whole = "".join(_literal_char(char, alt.fold) for char in literal)
    checks = f"(?<={whole})" if at else ""
    if bounded:
        checks += f"(?<![A-Za-z0-9]{whole})"
    moved = replace(alt, offset=at)
    leads = sorted(_anchor_chars(literal[at + 1], alt.fold)) if at + 1 < len(literal) else [""]
    return [
        (anchor + lead, after + checks + rest, moved)
        for anchor in sorted(_anchor_chars(literal[at], alt.fold))
        for lead in leads
    ]


def _literal_char(char: str, fold: bool) -> str:
    if fold and char.lower() != char.upper():
        return f"[{char.lower()}{char.upper()}]"
    return re.escape(char)


def _compile(branches: list[tuple[str, str, _Alt]]) -> _Matcher:
    """One regex for all branches; those sharing an anchor (then a lead) sit behind it, in the order given."""
    grouped: dict[str, dict[str, list[str]]] = {}
    for index, (anchor, body, _) in enumerate(branches):
        body = body.replace("(?P<secret>", f"(?P<s{index}>")
        grouped.setdefault(anchor[:1], {}).setdefault(anchor[1:], []).append(f"{body}(?P<m{index}>)")
    # The engine tries the anchors in order at each candidate position: frequent ones first.
    order = sorted(grouped, key=lambda anchor: -_share(anchor))
    regex = re.compile("|".join(f"{re.escape(anchor)}(?:{_leads(grouped[anchor])})" for anchor in order))
    alts = {
        regex.groupindex[f"m{index}"]: replace(alt, secret=regex.groupindex.get(f"s{index}", 0))
        for index, (_, _, alt) in enumerate(branches)
    }
    return _Matcher(regex, alts)


def _leads(by_lead: dict[str, list[str]]) -> str:
    return "|".join(
        f"{re.escape(lead)}(?:{'|'.join(bodies)})" if lead else "|".join(bodies)
        for lead, bodies in by_lead.items()
    )


def _fixed_pieces() -> list[_Piece]:
    pieces: list[_Piece] = []
    for rank, token in enumerate(TOKENS, start=_TOKEN_RANK):
        alt = _Alt(token.name, rank, check=token.check)
        pieces += [
            (
                prefix,
                f"(?:{token.tail})",
                replace(alt, skip=len(prefix) if token.random else -1),
                token.bounded,
            )
            for prefix in token.prefixes
        ]
    # Lowercase keywords match in any case; ones written with capitals (`NRAL`, `Q~`) only as written.
    trigger = _Alt("trigger", _CONTEXT_RANK, trigger=True)
    return pieces + [
        (keyword, follows, replace(trigger, fold=keyword == keyword.lower()), False)
        for keyword, follows in TRIGGERS
    ]


def _context_alt(detector: Contextual, rank: int) -> _Alt:
    return _Alt(
        detector.name,
        rank,
        check=detector.check,
        near=re.compile(detector.near) if detector.near else None,
        window=detector.window,
        each=re.compile(detector.each) if detector.each else None,
    )


def _context_matcher() -> _Matcher:
    return _compile(
        [("", d.pattern, _context_alt(d, rank)) for rank, d in enumerate(CONTEXTUAL, start=_CONTEXT_RANK)]
    )


@functools.cache
def _context_after(rank: int) -> _Matcher:
    """The detectors ranked after `rank`, combined: for when the combined regex's pick is refused.

    Compiled on first need, as most texts never refuse anything."""
    return _compile(
        [
            ("", d.pattern, _context_alt(d, r))
            for r, d in enumerate(CONTEXTUAL, start=_CONTEXT_RANK)
            if r > rank
        ]
    )


def _contextual_spans(text: str, start: int, found: re.Match[str]) -> list[_Span]:
    """The combined regex stops at the first detector that matches here; when that one's check refuses
    the value (libpq's `password=` without a host on the line), the others still get their turn."""
    alt = _alt(_CONTEXT, found)
    while not (spans := _spans(alt, found)):
        if alt.rank >= _CONTEXT_RANK + len(CONTEXTUAL) - 1:
            return []
        matcher = _context_after(alt.rank)
        if (next_found := matcher.regex.match(text, start)) is None:
            return []
        alt, found = _alt(matcher, next_found), next_found
    return spans


def _spans(alt: _Alt, match: re.Match[str]) -> list[_Span]:
    """The span a contextual match stands for, or each value inside it for a detector with `each`."""
    if alt.each is None:
        span = _span(alt, match)
        return [span] if span else []
    if alt.near is not None and not _is_near(alt, match.string, match.start()):
        return []
    return [
        _Span(*value.span("v"), alt.rank, alt.name)
        for value in alt.each.finditer(match.string, *match.span(alt.secret))
        if alt.check is None or alt.check(value.group("v"))
    ]


_FIXED = _fixed_pieces()
_CONTEXT = _context_matcher()


@functools.lru_cache(maxsize=64)
def _scanner(known: tuple[tuple[str, str], ...]) -> _Matcher:
    """The combined regex for the fixed-format detectors, the trigger keywords and the known values."""
    pieces = [(form, "", _Alt(name, _KNOWN_RANK), False) for form, name in known] + _FIXED
    anchors = _choose_anchors(pieces)
    # Where literals share an anchor, the one starting earliest, then the longest, is tried first.
    order = sorted(range(len(pieces)), key=lambda i: (-anchors[i], -len(pieces[i][0])))
    return _compile([branch for i in order for branch in _anchored(pieces[i], anchors[i])])


# Scanning.


def _search(matcher: _Matcher, text: str) -> Iterator[tuple[_Alt, re.Match[str]]]:
    """Every match, including ones that start inside an earlier match, except deep inside a long token.

    What starts more than `_PREFIX_ROOM` characters into a fixed-format token and ends before its
    last `_PREFIX_ROOM` is part of it (a private key's body would otherwise be searched character by
    character); prefixes of other tokens starting near its start are still found.
    """
    search = matcher.regex.search
    alts = matcher.alts
    position, skip_from, skip_to = 0, 0, 0
    while match := search(text, position):
        start, end = match.span()
        if skip_from <= start < skip_to:
            position = skip_to
            continue
        alt = alts[match.lastindex or 0]
        yield alt, match
        if _TOKEN_RANK <= alt.rank < _CONTEXT_RANK and end - start > 2 * _PREFIX_ROOM:
            skip_from, skip_to = start + _PREFIX_ROOM, end - _PREFIX_ROOM
        position = start + 1


def _alt(matcher: _Matcher, match: re.Match[str]) -> _Alt:
    return matcher.alts[match.lastindex or 0]


def _span(alt: _Alt, match: re.Match[str]) -> _Span | None:
    start, end = match.span(alt.secret)
    if alt.secret == 0:
        start -= alt.offset
    value = match.string[start:end]
    if start >= end or (alt.check is not None and not alt.check(value)):
        return None
    if alt.skip >= 0 and is_filler(value[alt.skip :] if alt.secret == 0 else value):
        return None
    if alt.near is not None and not _is_near(alt, match.string, start):
        return None
    return _Span(start, end, alt.rank, alt.name)


def _is_near(alt: _Alt, text: str, position: int) -> bool:
    """Whether `alt.near` occurs on the line at `position`, or within `alt.window` characters of it."""
    assert alt.near is not None
    if alt.window:
        return alt.near.search(text, max(0, position - alt.window), position + alt.window) is not None
    end = text.find("\n", position)
    return alt.near.search(text, text.rfind("\n", 0, position) + 1, len(text) if end < 0 else end) is not None


def _without_escapes(text: str) -> tuple[str, list[int]]:
    """Text without terminal escape sequences, and where each of its characters stands in `text`."""
    parts: list[str] = []
    where: list[int] = []
    last = 0
    for escape in _ANSI.finditer(text):
        parts.append(text[last : escape.start()])
        where.extend(range(last, escape.start()))
        last = escape.end()
    parts.append(text[last:])
    where.extend(range(last, len(text)))
    return "".join(parts), where


def _starts(text: str, triggers: list[int]) -> set[int]:
    """Where contextual detectors may start: at each trigger keyword and where its word starts."""
    starts = set(triggers)
    for position in triggers:
        if word := _WORD_BEFORE.search(text, max(0, position - 40), position):
            starts.add(word.start())
    return starts


def _merge(spans: list[_Span]) -> list[_Span]:
    """Sorted, non-overlapping spans; overlapping ones become one, named by the earliest and longest."""
    spans.sort(key=lambda span: (span.start, -span.end, span.rank))
    merged: list[_Span] = []
    for span in spans:
        if merged and span.start < merged[-1].end:
            if span.end > merged[-1].end:
                merged[-1] = replace(merged[-1], end=span.end)
        else:
            merged.append(span)
    return merged
