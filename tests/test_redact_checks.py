"""The checks' shortcuts answer exactly what the plain checks do.

`are_filler` asks a block's token tails at once and `_is_stand_in` asks for placeholder and filler
words in one pass; both must agree with `is_filler` and `is_placeholder` on every value, here on
generated values full of the words they look for, runs, quotes, newlines and non-ASCII characters.
`shannon_entropy` looks its terms up in a table: the same float as computing each.
"""

from __future__ import annotations

import math
import random
import string
from collections import Counter

from autonomous_dev.security.secret_patterns import checks

SEED = 7
# Characters whose case folding reaches ASCII letters: long s, Kelvin sign, dotted capital I.
_FOLDING = ("\u017f", "\u212a", "\u0130")
_WORDS = [
    *checks._PLACEHOLDER_WORDS_IN,
    *checks._FILLER_WORDS,
    *checks._PLACEHOLDER_WORDS,
    *("aaaaaaaa", "xxxxxxxx", "        ", "<x>", "%(a)s", "${A}", "'", '"', "\n", *_FOLDING),
]
_ALPHABET = string.ascii_letters + string.digits + "'\"<>%()_-.$ {}*\n\u00e9" + "".join(_FOLDING)


def values(rng: random.Random, count: int) -> list[str]:
    """Values made of the words the checks look for (any case), random characters and quotes."""
    out = []
    for _ in range(count):
        parts = []
        for _ in range(rng.randrange(5)):
            if rng.random() < 0.4:
                word = rng.choice(_WORDS)
                parts.append(word.upper() if rng.random() < 0.3 else word)
            else:
                parts.append("".join(rng.choices(_ALPHABET, k=rng.randrange(12))))
        value = "".join(parts)
        if rng.random() < 0.3:
            value = rng.choice(["'", '"', "''"]) + value + rng.choice(["'", '"', ""])
        out.append(value)
    return out


def test_asking_a_block_of_values_at_once_answers_as_asking_each() -> None:
    rng = random.Random(SEED)
    pool = values(rng, 5_000)
    assert checks.are_filler(pool) == [checks.is_filler(value) for value in pool]
    for _ in range(500):
        some = rng.sample(pool, rng.randrange(8))
        assert checks.are_filler(some) == [checks.is_filler(value) for value in some]
    assert checks.are_filler([]) == []
    assert checks.are_filler(["", "ghp_xxxxxxxxxxxx", ""]) == [False, True, False]


def test_one_pass_for_placeholder_and_filler_words_answers_as_both_checks() -> None:
    for value in values(random.Random(SEED + 1), 50_000):
        assert checks._is_stand_in(value) == (checks.is_placeholder(value) or checks.is_filler(value)), value


def test_entropy_from_a_table_of_terms_is_the_same_float_as_computed_term_by_term() -> None:
    rng = random.Random(SEED + 2)
    for value in [*values(rng, 20_000), "".join(rng.choices(_ALPHABET, k=300)), "a" * 256, "ab" * 128]:
        size = len(value)
        plain = -sum(n / size * math.log2(n / size) for n in Counter(value).values()) if value else 0.0
        assert checks.shannon_entropy(value) == plain, value
