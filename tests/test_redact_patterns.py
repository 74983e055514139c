"""The quicker spellings of the key patterns match exactly what their lazy forms matched.

A lazy repeat tries what follows it after every character: through a private key's body, a PuTTY
file's lines and a Kubernetes value that is most of the time per match. The patterns in
`secret_patterns.keys` take runs whole instead; here they are compared with the lazy forms they
replace (spans and groups of every match, from several starts and ends) on generated texts made of the
markers, separators and characters those patterns care about. The word before a trigger keyword is
found by stripping word characters off the text before it instead of a regex over it reversed, and
spans are merged after three stable sorts instead of one on a key tuple.
"""

from __future__ import annotations

import random
import re

from autonomous_dev.security import redact
from autonomous_dev.security.secret_patterns import keys

SEED = 11
_PEM_END = "-----END [A-Z0-9 ]*PRIVATE KEY-----"
_PGP_END = "-----END PGP PRIVATE KEY BLOCK-----"
_PEM_PARTS = [
    "-----END RSA PRIVATE KEY-----", "-----END PRIVATE KEY-----", "------END PRIVATE KEY-----",
    "-----END  PRIVATE KEY-----", "-----END PGP PRIVATE KEY BLOCK-----", "-----END ", "PRIVATE KEY-----",
    "-", "--", "ab", "AB12", " ", "\n", "\r", "\t", "\\n", '"', "'", "#", "\u00e9", "X",
]  # fmt: skip
_PUTTY_PARTS = ["PuTTY-User-Key-File-", "Private-MAC: ", "ab", "12", "\n", "\r\n", "\r", " ", "P", "\u00e9"]
_DATA_PARTS = [
    "  ", " ", "\t", "a", "k.v-1", ":", '"', "'", "\n", "\r", "\r\n", "#", "v=", "AAAA+/", "x y", "\u00e9",
]  # fmt: skip


def _texts(rng: random.Random, parts: list[str], count: int, longest: int) -> list[str]:
    return ["".join(rng.choices(parts, k=rng.randrange(longest))) for _ in range(count)]


def _same_matches(
    lazy: re.Pattern[str], quick: re.Pattern[str], texts: list[str], rng: random.Random
) -> None:
    for text in texts:
        for start in range(0, len(text) + 1, max(1, len(text) // 6)):
            end = rng.randint(start, len(text))
            assert [(m.span(), m.groups()) for m in quick.finditer(text, start, end)] == [
                (m.span(), m.groups()) for m in lazy.finditer(text, start, end)
            ], (text, start, end)
            one, other = quick.match(text, start), lazy.match(text, start)
            assert (one and (one.span(), one.groups())) == (other and (other.span(), other.groups())), text


def test_a_key_body_runs_to_its_first_end_marker_within_the_limit() -> None:
    rng = random.Random(SEED)
    body = keys._BODY_CHARS
    for end in (_PEM_END, _PGP_END):
        for most in (12, 40):  # bodies longer than the limit take the lazy form's way
            lazy = re.compile(f"X(?:{body}{{0,{most}}}?{end}|{body}{{10,{most}}})")
            quick = re.compile(f"X(?:{keys._through(end, most)}|{body}{{10,{most}}})")
            _same_matches(lazy, quick, _texts(rng, _PEM_PARTS, 4_000, 40), rng)


def test_the_private_key_token_matches_as_its_lazy_form_did() -> None:
    rng = random.Random(SEED + 1)
    body = keys._BODY_CHARS
    lazy_tail = f"(?:[A-Z0-9]+ ){{0,3}}PRIVATE KEY-----(?:{body}{{0,16384}}?{_PEM_END}|{body}{{64,16384}})"
    (token,) = (token for token in keys.KEY_TOKENS if token.prefixes == ("-----BEGIN ",))
    lazy, quick = (re.compile(f"-----BEGIN {tail}") for tail in (lazy_tail, token.tail))
    parts = [*_PEM_PARTS, "-----BEGIN RSA PRIVATE KEY-----", "-----BEGIN PRIVATE KEY-----", "A" * 30]
    _same_matches(lazy, quick, _texts(rng, parts, 3_000, 60), rng)


def test_a_putty_file_runs_to_the_last_mac_line_within_forty_lines() -> None:
    rng = random.Random(SEED + 2)
    (token,) = (token for token in keys.KEY_TOKENS if token.name == "putty_private_key")
    lazy = re.compile(r"PuTTY-User-Key-File-[^\n]*(?:\r?\n[^\n]*){0,40}?Private-MAC: \w+")
    quick = re.compile(f"PuTTY-User-Key-File-{token.tail}")
    _same_matches(lazy, quick, _texts(rng, _PUTTY_PARTS, 3_000, 60), rng)
    _same_matches(lazy, quick, _texts(rng, [*_PUTTY_PARTS, "\n", "\n", "\n"], 300, 400), rng)


def test_a_kubernetes_value_ends_where_the_lazy_value_did() -> None:
    rng = random.Random(SEED + 3)
    lazy = re.compile(r"(?m)^[ \t]+[\w.-]+:[ \t]*[\"']?(?P<v>[^\s\"'#][^\n\"']*?)[\"']?[ \t]*\r?$")
    _same_matches(lazy, re.compile(keys._DATA_VALUE), _texts(rng, _DATA_PARTS, 6_000, 40), rng)


def test_the_word_before_a_trigger_starts_where_the_reversed_search_found_it() -> None:
    rng = random.Random(SEED + 4)
    backwards = re.compile(r"[A-Za-z0-9_+.~-]{1,40}")  # matched on the 40 characters before, reversed
    alphabets = ["ab_.-~+9 =\n\"'\u00e9\u2192\udcff", "ab_."]
    for _ in range(20_000):
        text = "".join(rng.choices(rng.choice(alphabets), k=rng.randrange(120)))
        triggers = sorted(rng.sample(range(len(text)), min(len(text), rng.randrange(8))))
        expected = set(triggers)
        for position in triggers:
            before = text[max(0, position - 40) : position][::-1]
            if position and text[position - 1] in redact._WORD_CHARS and (word := backwards.match(before)):
                expected.add(position - word.end())
        assert redact._starts(text, triggers) == expected, (text, triggers)


def test_spans_are_merged_in_the_order_of_start_then_longest_then_rank() -> None:
    rng = random.Random(SEED + 5)
    for _ in range(20_000):
        spans = []
        for _ in range(rng.randrange(12)):
            start, rank = rng.randrange(30), rng.choice([0, 1, 100])
            spans.append(redact._Span(start, start + rng.randrange(6), rank, rng.choice("abc")))
        by_one_key = sorted(spans, key=lambda span: (span.start, -span.end, span.rank))
        merged: list[redact._Span] = []
        for span in by_one_key:
            if merged and span.start < merged[-1].end:
                if span.end > merged[-1].end:
                    merged[-1] = merged[-1]._replace(end=span.end)
            else:
                merged.append(span)
        assert redact._merge(spans) == merged, spans
