"""Where a fixed-format detector can match, found by one linear-time RE2 pass over the text.

Python's `re` engine tries an alternation at every position holding one of its first characters, and in
token-dense text a third of all positions do (random token bodies hold every letter), each try costing a
walk through the alternatives. RE2 runs one automaton over the text instead and stops only where some
detector's literal occurs followed by what its pattern demands next; the exact Python regex is then tried
only at the anchors of the literals found there.

The RE2 pattern is derived from each Python pattern as a *necessary condition*: wherever the Python
pattern matches, the derived one matches at the same start (look-arounds are dropped or, at the end,
consumed; repeats are capped; what RE2 cannot express ends the condition early). So the prefilter never
hides a match; it only spares the Python engine the positions where none can be.
"""

from __future__ import annotations

import functools
import importlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, cast

import re2

# Python's own regex parser and its opcodes (private modules, stable since 3.11; typeshed has no stubs):
# the conditions are derived from the very tree Python matches with.
_parser: Any = importlib.import_module("re._parser")
sre: Any = importlib.import_module("re._constants")


class Literal(NamedTuple):
    """A literal of the combined regex and what the prefilter needs to know of it."""

    text: str
    rest: str  # the regex after it
    fold: bool  # it matches in any case
    anchor: int  # where in it the combined regex's branch starts
    bounded: bool  # it must not follow a letter or digit
    token: bool  # a fixed-format token (its condition stops after the body's first repeat)


# Repeats longer than this become "this many or more": every count is automaton states to build and
# keep (on the dense corpus, caps of 16 and 4 prune 5% more than 2 and 1, and the first pass over it
# takes twice as long while RE2 builds its states).
_TRIGGER_CAP = 2
# A token's condition stops after its first repeat: its literal and the start of its body prune about
# as well as the whole pattern, and a short condition keeps the automaton small.
_TOKEN_CAP = 1
_MAX_MEM = 64 << 20  # RE2's budget for the program and its DFA cache (it takes what it needs)
_NON_ASCII = r"\x{80}-\x{10ffff}"
_BOUNDARY = "(?:^|[^A-Za-z0-9])"  # what must stand before a one-character literal that is bounded
_SURROGATES = re.compile("[\ud800-\udfff]")
_CATEGORIES = {
    sre.CATEGORY_DIGIT: r"\d",
    sre.CATEGORY_NOT_DIGIT: r"\D",
    sre.CATEGORY_SPACE: r"\s",
    sre.CATEGORY_NOT_SPACE: r"\S",
    sre.CATEGORY_WORD: r"\w",
    sre.CATEGORY_NOT_WORD: r"\W",
}
# Bytes of a UTF-8 character by the top four bits of its first byte.
_UTF8_LENGTH = (1,) * 12 + (2, 2, 3, 4)
_LEAVES = (sre.LITERAL, sre.NOT_LITERAL, sre.IN, sre.ANY)
_REPEATS = (sre.MAX_REPEAT, sre.MIN_REPEAT, sre.POSSESSIVE_REPEAT)
# RE2's match of a regex in bytes[start:end]: the (start, end) of the match, then of each group.
Spans = Callable[[bytes, int, int], Sequence[tuple[int, int]]]


@dataclass(frozen=True)
class Prefilter:
    """The RE2 pass and, by first character, the literals that start at a position it reports."""

    spans: Spans  # (start, end) of RE2's first match at or after a byte offset first, (-1, -1) for none
    # First character -> (the literals starting with it, longest first, one group each; for each group
    # the anchor offsets of every literal that is a prefix of it, itself included).
    literals: dict[str, tuple[re.Pattern[str], tuple[tuple[int, ...], ...]]]
    bounded: frozenset[str]  # one-character bounded literals: found one character after the hit

    def candidates(self, text: str) -> list[int]:
        """Positions in increasing order (maybe repeated) where an anchor may start a match; none starts
        anywhere else."""
        try:
            data = text.encode()
        except UnicodeEncodeError:  # lone surrogates (surrogateescape'd bytes): RE2 reads only UTF-8
            data = _SURROGATES.sub("\ufffd", text).encode()
        positions = None if len(data) == len(text) else _Positions(data)
        spans, literals, bounded = self.spans, self.literals, self.bounded
        found: list[int] = []
        size = len(data)
        start = 0
        while (hit := spans(data, start, size)[0][0]) >= 0:
            at = hit if positions is None else positions.char(hit)
            if (starting := literals.get(text[at])) and (literal := starting[0].match(text, at)):
                for offset in starting[1][(literal.lastindex or 1) - 1]:
                    found.append(at + offset)
            if text[at + 1 : at + 2] in bounded:
                found.append(at + 1)
            start = hit + (1 if positions is None else _UTF8_LENGTH[data[hit] >> 4])
        found.sort()
        return found


class _Positions:
    """Character index of UTF-8 byte offsets, asked for in increasing order."""

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._byte = 0
        self._char = 0

    def char(self, offset: int) -> int:
        self._char += len(self._data[self._byte : offset].decode())
        self._byte = offset
        return self._char


def build(literals: Sequence[Literal]) -> Prefilter:
    """The prefilter for these literals (each with the regex that follows it and its anchor)."""
    conditions = [_condition(literal) for literal in literals]
    pattern = "|".join(f"(?:{condition})" for condition in conditions if condition)
    options = re2.Options()
    options.max_mem = _MAX_MEM
    options.never_capture = True
    options.log_errors = False
    by_first: dict[str, list[int]] = {}
    for index, literal in enumerate(literals):
        for char in _cases(literal.text[0], literal.fold):
            by_first.setdefault(char, []).append(index)
    return Prefilter(
        match_spans(re2.compile(pattern or "[^\\x00-\\x{10ffff}]", options)),
        {char: _starting(literals, indexes) for char, indexes in by_first.items()},
        frozenset(
            char
            for literal in literals
            if len(literal.text) == 1 and literal.bounded
            for char in _cases(literal.text, literal.fold)
        ),
    )


def match_spans(compiled: Any) -> Spans:
    """RE2's `Match` of `compiled` (google-re2) in `data[start:end]`: the (start, end) of the first match
    first, (-1, -1) when there is none.

    Binds its RE2 object's own `Match` when the module exposes it: `search` wraps each call in a generator
    and a match object, which costs twice the search itself for the short hops between hits here, and
    even a Python function around the call costs a tenth of it (thousands of hops per MB)."""
    raw = getattr(compiled, "_regexp", None)
    anchor = getattr(getattr(re2, "_Anchor", None), "UNANCHORED", None)
    if raw is not None and anchor is not None and hasattr(raw, "Match"):
        return cast(Spans, functools.partial(raw.Match, anchor))

    def spans(data: bytes, start: int, end: int) -> Sequence[tuple[int, int]]:
        found = compiled.search(data, start, end)
        return [(-1, -1)] if found is None else [found.span()]

    return spans


def _cases(char: str, fold: bool) -> set[str]:
    return {char.lower(), char.upper()} if fold else {char}


def _starting(
    literals: Sequence[Literal], indexes: list[int]
) -> tuple[re.Pattern[str], tuple[tuple[int, ...], ...]]:
    """One regex for the literals starting with one character, longest first; for each, the anchors
    of all literals that are a prefix of it (they match wherever it does)."""
    group = [literals[i] for i in indexes]
    distinct = sorted({(one.text, one.fold) for one in group}, key=lambda tf: (-len(tf[0]), tf))
    regex = re.compile(
        "|".join(f"((?i:{re.escape(t)}))" if fold else f"({re.escape(t)})" for t, fold in distinct)
    )
    anchors = tuple(
        tuple(sorted({other.anchor for other in group if text.lower().startswith(other.text.lower())}))
        for text, _ in distinct
    )
    return regex, anchors


@functools.cache
def _condition(literal: Literal) -> str:
    """The RE2 regex that matches wherever the literal and its rest can (a necessary condition)."""
    parsed = _parser.parse(f"(?i:{re.escape(literal.text)})" if literal.fold else re.escape(literal.text))
    head, _ = _translate(parsed.data, parsed.state.flags, _TRIGGER_CAP, False, False)
    if len(literal.text) == 1:  # a token that starts with one letter: only its whole shape prunes
        condition = head + _rest(literal.rest, _TRIGGER_CAP, False)
        return _BOUNDARY + condition if literal.bounded else condition
    return head + _rest(literal.rest, _TOKEN_CAP if literal.token else _TRIGGER_CAP, literal.token)


@functools.cache
def _rest(rest: str, cap: int, first_repeat: bool) -> str:
    """The condition for what follows a literal (the prefixes of a token, the trigger keywords share one)."""
    parsed = _parser.parse(rest)
    condition, _ = _translate(parsed.data, parsed.state.flags, cap, first_repeat, True)
    return condition


def _translate(items: Any, flags: int, cap: int, first_repeat: bool, tail: bool) -> tuple[str, bool]:
    """(RE2 regex, whether it covers all of `items`): a necessary condition for `items` to match.

    When it does not cover them all, nothing may be appended to it: the condition ends there. `tail`
    says nothing will follow it: a repeat at its end then asks for its least count only, so that RE2's
    match (and its scan back to the start) ends as early as the condition allows.
    """
    out: list[str] = []
    for index, (op, av) in enumerate(items):
        last = tail and index == len(items) - 1
        if op in _LEAVES:
            char = _leaf(op, av, flags)
            if char is None:
                return "".join(out), False
            out.append(char)
        elif op in _REPEATS:
            least, most, body = av
            inner, whole = _translate(body, flags, cap, first_repeat, False)
            if not whole or not inner:
                if inner and least:
                    out.append(f"(?:{inner})")
                if not whole:
                    return "".join(out), False
                continue
            if first_repeat or last:
                out.append(f"(?:{inner}){{{min(least, cap)}}}")
                return "".join(out), False
            upper = "" if most > cap else str(most)
            out.append(f"(?:{inner}){{{min(least, cap)},{upper}}}")
        elif op in (sre.SUBPATTERN, sre.ATOMIC_GROUP):
            body, inner_flags = (av, flags) if op is sre.ATOMIC_GROUP else (av[3], (flags | av[1]) & ~av[2])
            inner, whole = _translate(body, inner_flags, cap, first_repeat, last)
            out.append(f"(?:{inner})")
            if not whole:
                return "".join(out), False
        elif op is sre.BRANCH:
            branches = [_translate(branch, flags, cap, first_repeat, last) for branch in av[1]]
            out.append("(?:" + "|".join(inner for inner, _ in branches) + ")")
            if not all(whole for _, whole in branches):
                return "".join(out), False
        elif op is sre.ASSERT and av[0] == 1 and index == len(items) - 1:
            # A look-ahead that ends the pattern: what it sees must be there, so consume it and stop.
            inner, _ = _translate(av[1], flags, cap, first_repeat, True)
            out.append(f"(?:{inner})")
            return "".join(out), False
        elif op not in (sre.ASSERT, sre.ASSERT_NOT, sre.AT):
            return "".join(out), False  # back-references and conditionals: the condition ends here
        # Other look-arounds and anchors (`^`, `\b`) are left out: the condition only gets weaker.
    return "".join(out), True


def _leaf(op: Any, av: Any, flags: int) -> str | None:
    """An RE2 class holding every character the one-character item matches (and maybe more)."""
    if op is sre.LITERAL and av >= 128 and not flags & re.IGNORECASE:
        return _re2_char(av)
    return _char_class(*_python_leaf(op, av, flags))


def _python_leaf(op: Any, av: Any, flags: int) -> tuple[str, int, bool]:
    """A one-character item as Python regex source, the flags it is matched under, and whether it may
    match a character beyond ASCII."""
    if op is sre.LITERAL:
        return _python_char(av), flags & re.IGNORECASE, av >= 128
    if op is sre.NOT_LITERAL:
        return f"[^{_python_char(av)}]", flags & re.IGNORECASE, True
    if op is sre.ANY:
        return ".", flags & re.DOTALL, True
    negated = any(kind is sre.NEGATE for kind, _ in av)
    parts = []
    wide = negated
    for kind, value in av:
        if kind is sre.LITERAL:
            parts.append(_python_char(value))
            wide |= value >= 128
        elif kind is sre.RANGE:
            parts.append(f"{_python_char(value[0])}-{_python_char(value[1])}")
            wide |= value[1] >= 128
        elif kind is sre.CATEGORY:
            parts.append(_CATEGORIES[value])
            wide = True
    return f"[{'^' if negated else ''}{''.join(parts)}]", flags & re.IGNORECASE, wide


def first_characters(pattern: str) -> re.Pattern[str] | None:
    """A regex for one character that every match of `pattern` starts with; None when a match may start
    with anything (or be empty). Look-arounds are left out, so it may accept more than it must."""
    parsed = _parser.parse(pattern)
    leaves, empty = _first(parsed.data, parsed.state.flags)
    if leaves is None or empty:
        return None
    scoped = {0: "?:", re.IGNORECASE: "?i:", re.DOTALL: "?s:"}
    return re.compile("|".join(f"({scoped[flags]}{source})" for source, flags, _ in leaves) or "(?!)")


def _first(items: Any, flags: int) -> tuple[list[tuple[str, int, bool]] | None, bool]:
    """(the one-character items a match of `items` can start with, or None for any; whether it can
    match empty)."""
    leaves: list[tuple[str, int, bool]] = []
    for op, av in items:
        if op in _LEAVES:
            return [*leaves, _python_leaf(op, av, flags)], False
        if op in (sre.ASSERT, sre.ASSERT_NOT, sre.AT):
            continue
        if op in (sre.SUBPATTERN, sre.ATOMIC_GROUP):
            parts = [_first(*((av, flags) if op is sre.ATOMIC_GROUP else (av[3], (flags | av[1]) & ~av[2])))]
        elif op is sre.BRANCH:
            parts = [_first(branch, flags) for branch in av[1]]
        elif op in _REPEATS:
            inner, empty = _first(av[2], flags)
            parts = [(inner, empty or av[0] == 0)]
        else:
            return None, False
        for inner, _ in parts:
            if inner is None:
                return None, False
            leaves += inner
        if not any(empty for _, empty in parts):
            return leaves, False
    return leaves, True


@functools.cache
def _char_class(source: str, flags: int, non_ascii: bool) -> str | None:
    """The ASCII characters Python's `source` matches under `flags`, as an RE2 class, plus all other
    characters when `non_ascii` (or when case folding may reach beyond ASCII: `(?i:k)` matches the
    Kelvin sign)."""
    python = re.compile(source, flags)
    members = [code for code in range(128) if python.fullmatch(chr(code))]
    wide = non_ascii or bool(flags & re.IGNORECASE and any(chr(code).isalpha() for code in members))
    if len(members) == 1 and not wide:
        return _re2_char(members[0])
    runs: list[list[int]] = []  # [first, last] of each run of consecutive members
    for code in members:
        if runs and code == runs[-1][1] + 1:
            runs[-1][1] = code
        else:
            runs.append([code, code])
    body = "".join(_re2_char(a) + (f"-{_re2_char(b)}" if b > a else "") for a, b in runs)
    body += _NON_ASCII if wide else ""
    return f"[{body}]" if body else None


def _python_char(code: int) -> str:
    return f"\\U{code:08x}"


def _re2_char(code: int) -> str:
    return f"\\x{{{0xFFFD if 0xD800 <= code <= 0xDFFF else code:x}}}"
