"""The RE2 prefilter and the per-character regexes find exactly what trying every position would.

The scanner only tries the Python regexes where the prefilter says a match can start; these tests try
every position instead (the definition of what the scanner must find) on generated texts full of
literal fragments, non-ASCII characters, lone surrogates and filler runs, and compare.
"""

from __future__ import annotations

import random
import re
import string
from collections.abc import Iterator

import pytest
import re2

from autonomous_dev.security.redact import Redactor
from autonomous_dev.security.secret_patterns import CONTEXTUAL, TOKENS, TRIGGERS
from autonomous_dev.security.secret_patterns.prefilter import first_characters, match_spans
from autonomous_dev.security.secret_patterns.scanner import (
    CONTEXT_RANK,
    TOKEN_RANK,
    Scanner,
    context_matcher,
    scanner,
    search,
)
from tests.secret_categories import SYNTAXES, placeholders
from tests.secret_providers import PROVIDERS
from tests.secret_samples import B62, CONTEXTS, FIXED, wrap

SEED = 20261205
ROOM = 64  # the scanner's _PREFIX_ROOM: matches deep inside a long token are part of it
KNOWN = ["ghp_" + "Ab1" * 12, "s\u00e9cretvalue\u2192x", "plainsecret123"]
# Pieces of text that start or end matches: literals of every kind, and what breaks them.
FRAGMENTS = [
    *(prefix for token in TOKENS for prefix in token.prefixes),
    *(keyword for keyword, _ in TRIGGERS),
    *KNOWN,
    "\u2192", "\u00e9", "\udcff", "\u017fecret", "\u212a", "\uff10", "=", ":", '"', "'", " ", "\n", "\t",
    "-----BEGIN ", "PRIVATE KEY-----", "-----END RSA PRIVATE KEY-----", "://", "@", "\x1b[93m", "_", "-",
    ".", "xxxxxxxx", "00000000", "M", "N", "O", "Q~", ":AA", "\\n", "${",
]  # fmt: skip
ALPHABETS = [B62, B62 + "_-", string.hexdigits, string.ascii_uppercase + "234567", string.printable]


def reference(scan: Scanner, text: str) -> Iterator[tuple[str, tuple[int, int]]]:
    """What the scanner must find: every position tried, in order, but the insides of long tokens."""
    skip_from = skip_to = 0
    for position, char in enumerate(text):
        matcher = scan.matcher(char)
        if matcher is None or skip_from <= position < skip_to:
            continue
        if (match := matcher.regex.match(text, position)) is not None:
            alt = matcher.alts[match.lastindex or 0]
            yield alt.name, match.span()
            if TOKEN_RANK <= alt.rank < CONTEXT_RANK and match.end() - match.start() > 2 * ROOM:
                skip_from, skip_to = match.start() + ROOM, match.end() - ROOM


def junk(rng: random.Random, parts: int = 200) -> str:
    pieces = []
    for _ in range(rng.randrange(parts // 10, parts)):
        if rng.random() < 0.4:
            pieces.append(rng.choice(FRAGMENTS))
        else:
            pieces.append("".join(rng.choices(rng.choice(ALPHABETS), k=rng.randrange(1, 70))))
    return "".join(pieces)


def samples(rng: random.Random) -> Iterator[str]:
    """Real secrets of every category and format in their syntaxes, placeholders, and junk."""
    yield from syntax_texts(rng)
    for generate in [*FIXED.values(), *PROVIDERS.values()]:
        yield wrap(rng.choice(CONTEXTS), generate(rng)[0])
    yield "\n".join(placeholders(rng))
    for _ in range(250):
        yield junk(rng)


def found(scan: Scanner, text: str) -> list[tuple[str, tuple[int, int]]]:
    return [(alt.name, match.span()) for alt, match in search(scan, text)]


@pytest.mark.parametrize("known", [(), tuple((value, "credential") for value in KNOWN)])
def test_the_scanner_finds_what_trying_every_position_finds(known: tuple[tuple[str, str], ...]) -> None:
    scan = scanner(known)
    rng = random.Random(SEED)
    texts = list(samples(rng))
    texts.append("".join(texts[:40]))  # one long text: hits far apart and close together
    differ = [text for text in texts if found(scan, text) != list(reference(scan, text))]
    assert not differ, differ[:2]


def test_a_token_deep_inside_a_long_token_is_part_of_it_and_one_near_its_start_is_not() -> None:
    scan = scanner(())
    body = "".join(random.Random(SEED).choices(B62, k=2000))
    near, deep = "ghp_" + "q1W2e3R4t5" * 4, "npm_" + "Z9y8X7w6v5" * 4
    text = f"-----BEGIN PRIVATE KEY-----\n{near}{body[:500]}{deep}{body[500:]}\n-----END PRIVATE KEY-----\n"
    names = [name for name, _ in found(scan, text)]
    assert names == [name for name, _ in reference(scan, text)]
    assert "github_token" in names and "npm_token" not in names


def test_the_prefilter_works_through_the_public_re2_search_too() -> None:
    # google-re2 exposes its RE2 object only as a private attribute; without it the module's own
    # `search` is used, with the same answers.
    class PublicOnly:
        def __init__(self, compiled: object) -> None:
            self.search = compiled.search  # type: ignore[attr-defined]

    compiled = re2.compile("ab|b[0-9]")
    direct, public = match_spans(compiled), match_spans(PublicOnly(compiled))
    data = b"xxab b1 zz b"
    assert [tuple(direct(data, start, len(data))[0]) for start in range(len(data))] == [
        tuple(public(data, start, len(data))[0]) for start in range(len(data))
    ]
    assert public(data, 8, len(data))[0][0] == -1


def first_context_match(text: str, start: int) -> tuple[str, tuple[int, int]] | None:
    """The first contextual detector, in rank order, whose own regex matches at `start`."""
    for detector in CONTEXTUAL:
        if match := re.compile(detector.pattern).match(text, start):
            return detector.name, match.span()
    return None


def syntax_texts(rng: random.Random) -> list[str]:
    return [generate(rng)[0] for syntaxes in SYNTAXES.values() for generate in syntaxes.values()]


def test_contextual_detectors_tried_by_first_character_pick_what_all_of_them_would() -> None:
    rng = random.Random(SEED)
    texts = syntax_texts(rng) + [junk(rng, parts=30) for _ in range(10)]
    picked = 0
    for text in texts:
        for start in range(len(text)):
            matcher = context_matcher(text[start])
            match = matcher.regex.match(text, start) if matcher else None
            got = (matcher.alts[match.lastindex or 0].name, match.span()) if matcher and match else None
            assert got == first_context_match(text, start), (text, start)
            picked += got is not None
    assert picked > 100


def test_every_contextual_detector_admits_the_characters_its_matches_start_with() -> None:
    texts = syntax_texts(random.Random(SEED))
    for detector in CONTEXTUAL:
        first, regex = first_characters(detector.pattern), re.compile(detector.pattern)
        starts = [(text, start) for text in texts for start in range(len(text)) if regex.match(text, start)]
        assert all(first is None or first.fullmatch(text[start]) for text, start in starts), detector.name


def test_redaction_of_text_with_characters_beyond_ascii_is_unchanged_by_them() -> None:
    # Byte offsets of UTF-8 text are mapped back to characters: a secret after non-ASCII text is found
    # at its place, and the text around it is kept exactly.
    token = "ghp_" + "".join(random.Random(SEED).choices(B62, k=36))
    for prefix in ("", "caf\u00e9 \u2192 ", "\U0001f600" * 3, "\udcff lone surrogate "):
        text = f"{prefix}token={token} {prefix}"
        assert Redactor().redact(text) == f"{prefix}token=[REDACTED:github_token:1] {prefix}"
