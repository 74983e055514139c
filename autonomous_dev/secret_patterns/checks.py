"""Checks that tell a matched value from a stand-in for one: placeholders, names, references, filler."""

from __future__ import annotations

import base64
import binascii
import math
import re
import string
from collections import Counter
from collections.abc import Callable

Check = Callable[[str], bool]


def shannon_entropy(value: str) -> float:
    """Bits per character of `value` under its own character distribution."""
    if not value:
        return 0.0
    size = len(value)
    return -sum(n / size * math.log2(n / size) for n in Counter(value).values())


_PLACEHOLDER_WORDS = frozenset(
    {
        "none", "null", "nil", "true", "false", "undefined", "password", "passwd", "pass", "pwd", "pw",
        "secret", "token", "changeme", "redacted", "hidden", "masked", "removed", "empty", "default",
        "required", "optional", "string", "str", "bytes", "text", "value", "unknown", "notset", "todo",
    }
)  # fmt: skip
_PLACEHOLDER_HINT = re.compile(
    r"(?i)change[_-]?me|your[_-]|example|placeholder|dummy|redacted|replace[_-]?(?:me|with)|\bfake"
    r"|xxxx|\*\*\*|\.\.\.|<[^>]*>|\$\{|\{\{|%\(\w+\)s|environ\[|getenv|process\.env|\$env:|secretRef"
)
# References and templates that stand in for a value: $VAR, %s, {name}, ****, Key Vault references.
_PLACEHOLDER_FORM = re.compile(r"\$[A-Za-z_]\w*|\$\d|%[sd]|\{[\w.]*\}|\*+|@Microsoft\.KeyVault\(.*\)")
# Names: a word or CamelCase run with at most a few trailing digits (`sha256`, `HTTPServer2`), so that
# random ids, which mix digits into letters, never pass for one.
_NAME = r"(?:[a-z]+|[A-Z]+|[A-Z][a-z]+)(?:[A-Z][a-z]+)*\d{0,3}"
_IDENT = rf"_*{_NAME}(?:_+{_NAME})*_*"
_NOT_RANDOM = re.compile(
    r"_*[A-Za-z]+(?:[-_./: ][A-Za-z]+)*[_:]*"  # words and names without digits: _PasswordType, Error:
    rf"|{_IDENT}(?:\.{_IDENT})+(?:\(\))?"  # dotted names: self._password2, settings.SECRET
    rf"|_*{_NAME}(?:_+{_NAME})+_*"  # snake_Case names, never a random lowercase id
    r"|sha(?:1|256|384|512)-[A-Za-z0-9+/=]+"  # subresource-integrity hashes
    r"|(?:\.{0,2}|~)/[a-z0-9_.-]+(?:/[a-z0-9_.-]*)*|\w+://\S*"  # (lowercase) paths and URLs
)
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
# Filler inside a token's random part: runs (`xxxx`, `aaaaaa`, `000000`), `EXAMPLE`, `...`, `<...>`.
_FILLER = re.compile(r"(?i)(.)\1{7,}|x{4}|example|placeholder|dummy|redacted|\.\.\.|<[^>]*>|\$\{")
_CODE = re.compile(r"[()\[\]{}]|^[@&$]|\\[ntr]|^\d+(?:[.:]\d+)*$")


def is_placeholder(value: str) -> bool:
    """True for values that stand in for a secret: `changeme`, `${VAR}`, `<your-token>`, `xxxx`, `None`."""
    bare = value.strip("'\"")
    return (
        len(set(bare)) <= 2
        or bare.lower() in _PLACEHOLDER_WORDS
        or _PLACEHOLDER_FORM.fullmatch(bare) is not None
        or _PLACEHOLDER_HINT.search(bare) is not None
    )


def is_filler(value: str) -> bool:
    """True for a token whose random part is filler: `ghp_xxxx…`, `sk_live_aaaa…`, `AKIA…EXAMPLE`."""
    return _FILLER.search(value) is not None


def looks_random(value: str) -> bool:
    """A value worth hiding on a secret-sounding key alone: long, high-entropy, not a name or placeholder.

    UUID-shaped values count (many providers issue UUID keys), and so do lowercase ids with underscores.
    """
    if _UUID.fullmatch(value):
        return not is_filler(value)
    hexadecimal = all(char in string.hexdigits for char in value)
    return (
        len(value) >= 12
        and shannon_entropy(value) >= (2.5 if hexadecimal else 3.0)
        and not is_placeholder(value)
        and not is_filler(value)
        and _NOT_RANDOM.fullmatch(value) is None
    )


def is_password(value: str) -> bool:
    """A value on a password key (short ones too): a letter and a digit or symbol, not a name or code.

    Words alone (`password: str`, `pwd = getpass`) and pure numbers (`password_min = 8`) are not taken.
    """
    return (
        len(value) >= 5
        and any(char.isalpha() for char in value)
        and not is_placeholder(value)
        and not is_filler(value)
        and _CODE.search(value) is None
        and _NOT_RANDOM.fullmatch(value) is None
    )


def is_command_password(value: str) -> bool:
    """A password given on a command line (`curl -u user:pw`): anything but a reference or a number."""
    return len(value) >= 4 and not is_placeholder(value) and not value.isdigit() and "(" not in value


def has_letters_and_digits(value: str) -> bool:
    """Random tokens mix both; words and long numbers do not. AWS-style `...EXAMPLE` values are skipped."""
    return any(c.isdigit() for c in value) and any(c.isalpha() for c in value) and "EXAMPLE" not in value


def is_real_password(value: str) -> bool:
    """A password in a URL or connection string, unless it is empty or a placeholder."""
    return not is_placeholder(value)


def is_key_body(value: str) -> bool:
    """A private key block with a body: at least 64 base64 characters between its markers (not `...`)."""
    body = value.split("-----", 2)[-1]
    return len(re.findall(r"[A-Za-z0-9+/]{16,}", body)) >= 3 and not is_filler(body)


def is_encoded_private_key(value: str) -> bool:
    """Base64 text that decodes to a PEM private key block (not a certificate or public key)."""
    head = value[: len(value) // 4 * 4][:96]
    try:
        decoded = base64.b64decode(head + "=" * (-len(head) % 4))
    except (binascii.Error, ValueError):
        return False
    return b"PRIVATE KEY" in decoded
