"""The combined regex: every fixed-format detector, known value and trigger keyword, found in one pass.

One RE2 pass (see `prefilter`) finds where a literal can start a match; there the alternatives anchored
on that position's character are tried, as one compiled regex per anchor character.
"""

from __future__ import annotations

import functools
import re
import string
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

from . import CONTEXTUAL, TOKENS, TRIGGERS, Check, Contextual
from .prefilter import Literal, Prefilter, build, first_characters

# Rough share (%) of characters in code and prose; unlisted ones are rare. Each alternative of the
# combined regex starts at one character of its literal prefix (the rest is checked around it), and
# these shares pick rare ones, so the engine's first-character scan skips most positions.
_CHAR_SHARE = {
    " ": 28.2, "e": 6.7, "s": 4.6, "t": 4.5, "a": 3.5, "r": 3.5, "o": 2.9, "n": 2.9, "i": 2.9, "l": 2.8,
    "\n": 2.7, "f": 2.0, "c": 1.8, "d": 1.8, ".": 1.6, "_": 1.6, "(": 1.5, ")": 1.5, "p": 1.4, "u": 1.4,
    ",": 1.3, "'": 1.3, "m": 1.2, "h": 1.0, '"': 1.5, "g": 0.8, "=": 0.7, "b": 0.7, ":": 1.0, "x": 0.6,
    "E": 0.6, "y": 0.6, "T": 0.5, "w": 0.4, "k": 0.4, "-": 0.4, "I": 0.4, "#": 0.4, "v": 0.3, "A": 0.3,
    "N": 0.3, "R": 0.3, "L": 0.3, "S": 0.3, "C": 0.3, "q": 0.2,
    # Digits are rare in prose but every hash, id and timestamp is full of them.
    **dict.fromkeys("0123456789", 0.8),
}  # fmt: skip
_RARE_SHARE = 0.1
# When detectors claim exactly the same text, the lowest rank names it.
KNOWN_RANK, CUSTOM_RANK, TOKEN_RANK, CONTEXT_RANK = 0, 1, 100, 1000
_PREFIX_ROOM = 64


@dataclass(frozen=True)
class Alt:
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
_Piece = tuple[str, str, Alt, bool]


@dataclass(frozen=True)
class Matcher:
    """A compiled alternation and, by `Match.lastindex`, the alternative that matched."""

    regex: re.Pattern[str]
    alts: dict[int, Alt]


# One alternative of a combined regex: (its anchor and lead, the regex after them, what it stands for).
_Branch = tuple[str, str, Alt]


@dataclass(frozen=True)
class Scanner:
    """The fixed-format detectors, known values and trigger keywords: their alternatives by anchor
    character (a match starts at its anchor), and the prefilter that says where trying them can succeed.

    Each character's alternatives are compiled into one regex when first needed (most texts need a few).
    """

    branches: dict[str, tuple[_Branch, ...]]
    prefilter: Prefilter
    matchers: dict[str, Matcher] = field(default_factory=dict)  # compiled so far

    def matcher(self, char: str) -> Matcher | None:
        matcher = self.matchers.get(char)
        if matcher is None and char in self.branches:
            matcher = self.matchers[char] = _compiled(self.branches[char])
        return matcher


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


def _anchored(piece: _Piece, at: int) -> list[_Branch]:
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


def _compile(branches: list[_Branch]) -> Matcher:
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
    return Matcher(regex, alts)


def _leads(by_lead: dict[str, list[str]]) -> str:
    return "|".join(
        f"{re.escape(lead)}(?:{'|'.join(bodies)})" if lead else "|".join(bodies)
        for lead, bodies in by_lead.items()
    )


# A format whose end no letter or digit may follow (`npm_` and 36 characters) still ends where a run
# of filler is glued to it (`npm_<36 random>xxxxxx…`): the run is filler, not more of the token.
_NOT_FOLLOWED = re.compile(r"\(\?!\[[^\]]*\]\)$")
_GLUED_RUN = "|".join(f"{char}{{6}}" for char in string.ascii_letters + string.digits)


def _glued(tail: str) -> str:
    return _NOT_FOLLOWED.sub(lambda end: f"(?:{end.group(0)}|(?={_GLUED_RUN}))", tail)


def _fixed_pieces() -> list[_Piece]:
    pieces: list[_Piece] = []
    for rank, token in enumerate(TOKENS, start=TOKEN_RANK):
        alt = Alt(token.name, rank, check=token.check)
        pieces += [
            (
                prefix,
                f"(?:{_glued(token.tail) if token.random else token.tail})",
                replace(alt, skip=len(prefix) if token.random else -1),
                token.bounded,
            )
            for prefix in token.prefixes
        ]
    # Lowercase keywords match in any case; ones written with capitals (`NRAL`, `Q~`) or starting with
    # punctuation (`"d"`, `--pass`, `-p`) only as written.
    trigger = Alt("trigger", CONTEXT_RANK, trigger=True)
    return pieces + [
        (keyword, follows, replace(trigger, fold=keyword[0].isalpha() and keyword == keyword.lower()), False)
        for keyword, follows in TRIGGERS
    ]


def _context_alt(detector: Contextual, rank: int) -> Alt:
    return Alt(
        detector.name,
        rank,
        check=detector.check,
        near=re.compile(detector.near) if detector.near else None,
        window=detector.window,
        each=re.compile(detector.each) if detector.each else None,
    )


# What each contextual detector's match can start with (None: anything).
_CONTEXT_FIRST = tuple(first_characters(detector.pattern) for detector in CONTEXTUAL)


@functools.lru_cache(maxsize=4096)
def context_matcher(char: str, after: int = CONTEXT_RANK - 1) -> Matcher | None:
    """The contextual detectors ranked after `after` whose match can start with `char`, combined in rank
    order (None when there are none).

    At a position holding `char` the others cannot match, so this picks what all of them combined would;
    a smaller alternation is quicker to try and to make a match object of. `after` is for when the pick's
    check refuses its value and the detectors ranked after it get their turn."""
    ranks = tuple(
        rank
        for rank, first in enumerate(_CONTEXT_FIRST, CONTEXT_RANK)
        if rank > after and (first is None or first.fullmatch(char))
    )
    return _context_compiled(ranks) if ranks else None


@functools.lru_cache(maxsize=256)
def _context_compiled(ranks: tuple[int, ...]) -> Matcher:
    """One regex for these contextual detectors (characters with the same ones share it)."""
    return _compile(
        [
            ("", CONTEXTUAL[r - CONTEXT_RANK].pattern, _context_alt(CONTEXTUAL[r - CONTEXT_RANK], r))
            for r in ranks
        ]
    )


@functools.lru_cache(maxsize=1024)
def _compiled(branches: tuple[_Branch, ...]) -> Matcher:
    """The regex for one anchor character's alternatives (scanners with other known values share it)."""
    return _compile(list(branches))


_FIXED = _fixed_pieces()


@functools.lru_cache(maxsize=64)
def scanner(known: tuple[tuple[str, str], ...]) -> Scanner:
    """The matchers and prefilter for the fixed-format detectors, trigger keywords and known values."""
    pieces = [(form, "", Alt(name, KNOWN_RANK), False) for form, name in known] + _FIXED
    anchors = _choose_anchors(pieces)
    # Where literals share an anchor, the one starting earliest, then the longest, is tried first.
    order = sorted(range(len(pieces)), key=lambda i: (-anchors[i], -len(pieces[i][0])))
    by_anchor: dict[str, list[_Branch]] = {}
    for branch in (branch for i in order for branch in _anchored(pieces[i], anchors[i])):
        by_anchor.setdefault(branch[0][:1], []).append(branch)
    literals = [
        Literal(literal, rest, alt.fold, at, bounded, TOKEN_RANK <= alt.rank < CONTEXT_RANK)
        for (literal, rest, alt, bounded), at in zip(pieces, anchors, strict=True)
    ]
    return Scanner({char: tuple(branches) for char, branches in by_anchor.items()}, build(literals))


# Scanning.


def search(scanner: Scanner, text: str) -> list[tuple[Alt, re.Match[str]]]:
    """Every match in the order of its anchor, including ones that start inside an earlier match, except
    deep inside a long token.

    What starts more than `_PREFIX_ROOM` characters into a fixed-format token and before its last
    `_PREFIX_ROOM` is part of it (a private key's body is not searched for more); prefixes of other
    tokens starting near its start are still found. A list, not a generator: dense text holds a match
    every few lines, and resuming a generator for each costs more than appending it.
    """
    matchers = scanner.matchers
    found: list[tuple[Alt, re.Match[str]]] = []
    skip_from, skip_to, last = 0, 0, -1
    for position in scanner.prefilter.candidates(text):
        if position == last or skip_from <= position < skip_to:
            continue
        last = position
        matcher = matchers.get(text[position]) or scanner.matcher(text[position])
        if matcher is None or (match := matcher.regex.match(text, position)) is None:
            continue
        alt = matcher.alts[match.lastindex or 0]
        found.append((alt, match))
        if TOKEN_RANK <= alt.rank < CONTEXT_RANK and match.end() - position > 2 * _PREFIX_ROOM:
            skip_from, skip_to = position + _PREFIX_ROOM, match.end() - _PREFIX_ROOM
    return found


def alt_of(matcher: Matcher, match: re.Match[str]) -> Alt:
    return matcher.alts[match.lastindex or 0]
