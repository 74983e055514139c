"""Checks that tell a matched value from a stand-in for one: placeholders, names, references, filler."""

from __future__ import annotations

import base64
import binascii
import bisect
import functools
import itertools
import math
import re
import string
from collections import Counter
from collections.abc import Callable, Sequence

import re2

from .prefilter import Spans, match_spans

Check = Callable[[str], bool]


def shannon_entropy(value: str) -> float:
    """Bits per character of `value` under its own character distribution."""
    if not value:
        return 0.0
    size = len(value)
    if size > _TABLED_SIZES:
        return -sum(n / size * math.log2(n / size) for n in Counter(value).values())
    # The same terms, added in the same order, looked up instead of computed (this runs for every value
    # on a secret-sounding key): the same float to the last bit.
    return -sum(map(_entropy_terms(size).__getitem__, Counter(value).values()))


_TABLED_SIZES = 256


@functools.cache
def _entropy_terms(size: int) -> tuple[float, ...]:
    """`n / size * log2(n / size)` for each count n from 0 to size (0 itself is never looked up)."""
    return (0.0, *(n / size * math.log2(n / size) for n in range(1, size + 1)))


_PLACEHOLDER_WORDS = frozenset(
    {
        "none", "null", "nil", "true", "false", "undefined", "password", "passwd", "pass", "pwd", "pw",
        "secret", "token", "changeme", "redacted", "hidden", "masked", "removed", "empty", "default",
        "required", "optional", "string", "str", "bytes", "text", "value", "unknown", "notset", "todo",
    }
)  # fmt: skip
_LONGEST_WORD = max(map(len, _PLACEHOLDER_WORDS))
# Hints, looked for in the lowercased value (plain `in` is many times faster than a case-blind regex).
_PLACEHOLDER_WORDS_IN = (
    "changeme", "change_me", "change-me", "your_", "your-", "example", "placeholder", "dummy", "redacted",
    "replaceme", "replace_me", "replace-me", "replace_with", "replacewith", "fake", "xxxx", "***", "...",
    "${", "{{", "environ[", "getenv", "process.env", "$env:", "secretref",
)  # fmt: skip
_PLACEHOLDER_IN = re.compile("|".join(map(re.escape, _PLACEHOLDER_WORDS_IN)))
_PLACEHOLDER_HINT = re.compile(r"<[^>]*>|%\(\w+\)s")
# References and templates that stand in for a value: $VAR, %s, {name}, ****, Key Vault references.
_PLACEHOLDER_FORM = re.compile(r"\$[A-Za-z_]\w*|\$\d|%[sd]|\{[\w.]*\}|\*+|@Microsoft\.KeyVault\(.*\)")
# Names: a word or CamelCase run with at most a few trailing digits (`sha256`, `HTTPServer2`), so that
# random ids, which mix digits into letters, never pass for one.
_NAME = r"(?:[a-z]+|[A-Z]+|[A-Z][a-z]+)(?:[A-Z][a-z]+)*\d{0,3}"
_IDENT = rf"_*{_NAME}(?:_+{_NAME})*_*"
_WORDS = r"_*[A-Za-z]+(?:[-_./: ][A-Za-z]+)*[_:]*"  # words and names without digits: _PasswordType
_WORD = r"(?:[a-z]+|[A-Z]+|[A-Z][a-z]+)(?:[A-Z][a-z]+)*"
_DOTTED = rf"_*{_WORD}(?:_+(?:{_WORD}|\d+))*(?:\.{_IDENT})+(?:\(\))?"  # self._password2, settings.SECRET
_SNAKE = rf"_*{_NAME}(?:_+{_NAME})+_*|[a-z]{{3,}}(?:\d[a-z]{{3,}})+"  # snake_Case, symbol2label
_ELSE = (
    r"sha(?:1|256|384|512)-[A-Za-z0-9+/=]+"  # subresource-integrity hashes
    r"|(?:\.{0,2}|~)/[a-z0-9_.-]+(?:/[a-z0-9_.-]*)*|\w+://\S*"  # (lowercase) paths and URLs
)
_NOT_RANDOM = re.compile(f"{_WORDS}|{_DOTTED}|{_SNAKE}|{_ELSE}")
# A short password may well look like a snake_case name (`db_Pass7`); only these are names there.
_NOT_PASSWORD = re.compile(f"{_WORDS}|{_DOTTED}|{_ELSE}")
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
# Filler inside a token's random part: runs (`xxxxxx`, `aaaaaaaa`, `00000000`), `EXAMPLE`, `...`, `<...>`.
_FILLER_WORDS = ("xxxxxx", "example", "placeholder", "dummy", "redacted", "...", "${")
# One search for all the words (in the lowercased value): a token is checked per match.
_FILLER_IN = re.compile("|".join(map(re.escape, _FILLER_WORDS)))
# The backreference spelled out: `(.)\1{7}` costs twice as much per character (private keys are long).
_RUN = re.compile(r"(.)\1\1\1\1\1\1\1")
_ANGLED = re.compile(r"<[^>]*>")
_BASE64_RUN = re.compile(r"[A-Za-z0-9+/]{16,}")
_HEX = frozenset(string.hexdigits)
_DIGITS = frozenset(string.digits)
_LETTERS = frozenset(string.ascii_letters)


def _ascii_pattern(words: tuple[str, ...], runs: bool = False) -> Spans:
    """RE2's match of one of `words` in any case (or, with `runs`, a run like `_RUN`'s) in ASCII text.

    One linear RE2 pass: the backtracking engine tries its alternation at every position, and every
    token and private key body passes through these checks. No word or run holds a newline."""
    spelled = ["(?i:" + "".join(f"\\x{{{ord(char):x}}}" for char in word) + ")" for word in words]
    if runs:  # `(.)` takes any character but a newline
        spelled += [f"\\x{{{code:x}}}{{8}}" for code in range(128) if code != ord("\n")]
    return match_spans(re2.compile("|".join(spelled)))


def _holds(spans: Spans) -> Callable[[str], bool]:
    """Whether an ASCII value holds a match of `spans`' pattern."""
    return lambda value: spans(value.encode(), 0, len(value))[0][0] >= 0


# The searches above, for ASCII values (the lowercasing is then ASCII's, which RE2's folding equals).
_HOLDS_PLACEHOLDER_WORD = _holds(_ascii_pattern(_PLACEHOLDER_WORDS_IN))
_FILLER_SPANS = _ascii_pattern(_FILLER_WORDS, runs=True)
_HOLDS_FILLER = _holds(_FILLER_SPANS)
_HOLDS_STAND_IN_WORD = _holds(_ascii_pattern(_PLACEHOLDER_WORDS_IN + _FILLER_WORDS, runs=True))
# Code, format strings and addresses, never a credential: calls, `%s`, `\n`, `/^regex`, `host:port`.
_CODE = re.compile(r"[()\[\]{}]|^[@&$]|\\[ntr]|%s|^/\^|^[\w.-]+:\d+$")
# Values that tests and docs use for a password: they name it (`my-password`) or start like a sample.
_SAMPLE = re.compile(r"(?i)pass|^(?:test|sample|demo|foo|bar|secret)")


def is_placeholder(value: str) -> bool:
    """True for values that stand in for a secret: `changeme`, `${VAR}`, `<your-token>`, `xxxx`, `None`."""
    bare = value.strip("'\"")
    return _placeholder_shape(bare) or (
        _HOLDS_PLACEHOLDER_WORD(bare) if bare.isascii() else _PLACEHOLDER_IN.search(bare.lower()) is not None
    )


def _placeholder_shape(bare: str) -> bool:
    """`is_placeholder` but for the words it looks for inside the value (unquoted)."""
    return (
        _at_most_two_characters(bare)
        # (lowercasing never shortens a string: a longer value cannot lower to one of the words)
        or (len(bare) <= _LONGEST_WORD and bare.lower() in _PLACEHOLDER_WORDS)
        or _PLACEHOLDER_FORM.fullmatch(bare) is not None
        or (("<" in bare or "%(" in bare) and _PLACEHOLDER_HINT.search(bare) is not None)
    )


def _is_stand_in(value: str) -> bool:
    """`is_placeholder(value) or is_filler(value)`, which a value on a secret-sounding key must not be.

    For an ASCII value one RE2 pass looks for the placeholder words, the filler words and runs at once
    (no word holds a quote, so the value holds one exactly when its unquoted form does)."""
    if not value.isascii():
        return is_placeholder(value) or is_filler(value)
    bare = value.strip("'\"")
    return _placeholder_shape(bare) or _holds_angled(value) or _HOLDS_STAND_IN_WORD(value)


def _at_most_two_characters(value: str) -> bool:
    """`len(set(value)) <= 2` without a set of every character (values can be kilobytes of base64)."""
    rest = value.replace(value[:1], "") if value else ""
    return not rest or not rest.replace(rest[0], "")


def is_filler(value: str) -> bool:
    """True for a token whose random part is filler: `ghp_xxxx…`, `sk_live_aaaa…`, `AKIA…EXAMPLE`."""
    held = _HOLDS_FILLER(value) if value.isascii() else _holds_filler_beyond_ascii(value)
    return held or _holds_angled(value)


def are_filler(values: Sequence[str]) -> list[bool]:
    """`is_filler` of each value, by one RE2 pass over all the ASCII ones.

    Dense text holds a token every few lines, and one RE2 call per token costs several times the
    scan of its few dozen characters; a block's tokens joined by newlines (which no filler word or
    run holds, so no match spans two) cost one call plus one per token that holds filler."""
    plain = [value for value in values if value.isascii()]
    held = iter(_each_holds_filler(plain))
    return [
        (next(held) if value.isascii() else _holds_filler_beyond_ascii(value)) or _holds_angled(value)
        for value in values
    ]


def _each_holds_filler(values: list[str]) -> list[bool]:
    """Whether each ASCII value holds a filler word or run (`_HOLDS_FILLER`), in one pass over all."""
    joined = "\n".join(values).encode()
    ends = list(itertools.accumulate(len(value) + 1 for value in values))  # each value's end, plus one
    held = [False] * len(values)
    start = 0
    while start < len(joined) and (hit := _FILLER_SPANS(joined, start, len(joined))[0][0]) >= 0:
        index = bisect.bisect_right(ends, hit)  # the value the match starts (and so ends) in
        held[index] = True
        start = ends[index]
    return held


def _holds_filler_beyond_ascii(value: str) -> bool:
    return _FILLER_IN.search(value.lower()) is not None or _RUN.search(value) is not None


def _holds_angled(value: str) -> bool:
    return "<" in value and _ANGLED.search(value) is not None


def looks_random(value: str) -> bool:
    """A value worth hiding on a secret-sounding key alone: long, high-entropy, not a name or placeholder.

    UUID-shaped values count (many providers issue UUID keys), and so do lowercase ids with underscores.
    """
    if _UUID.fullmatch(value):
        return not is_filler(value)
    hexadecimal = _HEX.issuperset(value)
    return (
        len(value) >= 12
        and shannon_entropy(value) >= (2.5 if hexadecimal else 3.0)
        and not _is_stand_in(value)
        and _CODE.search(value) is None
        and _NOT_RANDOM.fullmatch(value) is None
    )


def is_password(value: str) -> bool:
    """A value on a password key (short ones too): a letter and a digit or symbol, not a name or code.

    Words alone (`password: str`, `pwd = getpass`) and pure numbers (`password_min = 8`) are not taken.
    """
    return (
        len(value) >= 5
        and _has_letter(value)
        and not _is_stand_in(value)
        and _CODE.search(value) is None
        and _SAMPLE.search(value) is None
        and _NOT_PASSWORD.fullmatch(value) is None
    )


def is_command_password(value: str) -> bool:
    """A password given on a command line (`curl -u user:pw`): anything but a reference or a number."""
    return len(value) >= 4 and not is_placeholder(value) and not value.isdigit() and "(" not in value


def has_no_zero_runs(value: str) -> bool:
    """Random base62 tokens; not base64 of binary data, where zero bytes leave `AAA` runs."""
    return "AAA" not in value[3:]


def has_letters_and_digits(value: str) -> bool:
    """Random tokens mix both; words and long numbers do not. AWS-style `...EXAMPLE` values are skipped."""
    # For ASCII values the same test by a set operation in C.
    digit = not _DIGITS.isdisjoint(value) if value.isascii() else any(char.isdigit() for char in value)
    return digit and _has_letter(value) and "EXAMPLE" not in value


def _has_letter(value: str) -> bool:
    if value.isascii():
        return not _LETTERS.isdisjoint(value)
    return any(char.isalpha() for char in value)


def is_real_password(value: str) -> bool:
    """A password in a URL or connection string, unless it is empty or a placeholder."""
    return not is_placeholder(value)


def is_key_body(value: str) -> bool:
    """A private key block with a body: at least 64 base64 characters between its markers (not `...`)."""
    body = value.split("-----", 2)[-1]
    return sum(1 for _ in itertools.islice(_BASE64_RUN.finditer(body), 3)) == 3 and not is_filler(body)


def is_encoded_private_key(value: str) -> bool:
    """Base64 text that decodes to a PEM private key block (not a certificate or public key)."""
    head = value[: len(value) // 4 * 4][:96]
    try:
        decoded = base64.b64decode(head + "=" * (-len(head) % 4))
    except (binascii.Error, ValueError):
        return False
    return b"PRIVATE KEY" in decoded
