"""Private keys in every shape they leak in: PEM blocks (also cut into string literals or base64-encoded),
bare DER bodies, OpenSSH bodies, NKEY and age seeds, JWKs and Kubernetes Secret data."""

from __future__ import annotations

from .checks import is_encoded_private_key, is_key_body, is_real_password
from .kinds import Contextual, Token

# A block runs to its END line through what string literals add around each line (quotes, `+`, `\n`,
# commas); `is_key_body` then demands a real base64 body, so code naming the markers stays.
_BODY_CHARS = r"[A-Za-z0-9+/=\s\\\"'`,;:.()&|_<-]"
_BODY_BUT_DASH = r"[A-Za-z0-9+/=\s\\\"'`,;:.()&|_<]"
_B64_LINE = r"[A-Za-z0-9+/]{8,}={0,2}[ \t]*(?=\r?\n|\\n|[\"'`]|$)"


def _through(end: str, most: int) -> str:
    """The body up to the first `end` (a marker starting with `-`) at most `most` characters on: what
    `_BODY_CHARS{0,most}?` and `end` match, without the lazy repeat's try of `end` at every character
    (a few µs per key). When the body characters run on for at most `most`, runs without a dash are
    taken whole and a dash only where `end` does not start; the lazy form is kept for longer runs."""
    return (
        rf"(?:(?!{_BODY_CHARS}{{{most + 1}}})(?:{_BODY_BUT_DASH}++|-(?!{end[1:]}))*+{end}"
        rf"|(?={_BODY_CHARS}{{{most + 1}}}){_BODY_CHARS}{{0,{most}}}?{end})"
    )


# A bare body wrapped over lines (real or `\n`-escaped): the first line, then whole base64 lines.
_WRAPPED = r"[A-Za-z0-9+/]{40,}(?:(?:\\n|\r?\n)[ \t]*" + _B64_LINE + ")*"

KEY_TOKENS: tuple[Token, ...] = (
    Token(
        "pgp_private_key",
        ("-----BEGIN PGP PRIVATE KEY BLOCK-----",),
        rf"(?:{_through('-----END PGP PRIVATE KEY BLOCK-----', 65536)}|{_BODY_CHARS}{{64,65536}})",
        check=is_key_body,
        random=False,
    ),
    Token(
        "private_key",
        ("-----BEGIN ",),
        r"(?:[A-Z0-9]+ ){0,3}PRIVATE KEY-----"
        rf"(?:{_through('-----END [A-Z0-9 ]*PRIVATE KEY-----', 16384)}|{_BODY_CHARS}{{64,16384}})",
        check=is_key_body,
        random=False,
    ),
    # Base64 of `-----BEGIN ...`: Kubernetes data, CI variables, env files. Certificates do not pass.
    Token(
        "private_key",
        ("LS0tLS1CRUdJTi",),
        r"[A-Za-z0-9+/]{60,}={0,2}",
        check=is_encoded_private_key,
        random=False,
    ),
    # DER bodies without their markers: PKCS#1 RSA, PKCS#8, SEC1 EC (P-256, P-384), OpenSSH.
    Token("private_key", ("MII",), r"[A-Za-z0-9+/]{3}IBA(?:AK|DAN)" + _WRAPPED, True, random=False),
    Token("private_key", ("MHcCAQEE", "MIGkAgEBBD", "MC4CAQAwBQYDK2Vw"), _WRAPPED, True, random=False),
    Token("private_key", ("b3BlbnNzaC1rZXktdjE",), _WRAPPED, True, random=False),
    # Through the last `Private-MAC:` within 40 lines, where `[^\n]*(?:\r?\n[^\n]*){0,40}?` ends too (a lazy
    # repeat tries its next line before shortening this one), without stepping back through each line.
    Token("putty_private_key", ("PuTTY-User-Key-File-",), r"(?:[^\n]*+\n){0,40}[^\n]*Private-MAC: \w+"),
    # NATS NKEY seeds: `S` and the key type, then 56 base32 characters.
    Token("nkey_seed", ("SU", "SA", "SO", "SN", "SC", "SX"), r"[A-Z2-7]{56}(?![A-Za-z0-9])", True),
    Token(
        "otp_seed",
        ("otpauth://",),
        r"[th]otp/[^\s\"'?]*\?(?:[^\s\"'#]*?&)?secret=(?P<secret>[A-Za-z2-7]{16,}=*)",
    ),
)

# JWK members that hold private material (RSA d, p, q, dp, dq, qi; EC/OKP d; symmetric k).
_JWK = r"\"(?:d|p|q|dp|dq|qi|k)\"[ \t]*:[ \t]*\"(?P<secret>[A-Za-z0-9_-]{20,})\""
# A value in it: up to the blanks (and `\r`) ending its line, or a closing quote. What `[^\n"']*?` before
# `["']?[ \t]*\r?$` takes, without trying the line's end after each character of 2 KB base64 values.
_DATA_VALUE = (
    r"(?m)^[ \t]+[\w.-]+:[ \t]*[\"']?"
    r"(?P<v>[^\s\"'#](?:[^\n\"' \t\r]++|(?![ \t]*\r?$)[ \t\r])*+)[\"']?[ \t]*\r?$"
)
KEY_CONTEXTUAL: tuple[Contextual, ...] = (
    Contextual("jwk_private_key", _JWK, near=r"\"kty\"", window=2000),
    # A Kubernetes Secret's `data:`/`stringData:` block: every value in it, keys left readable.
    Contextual(
        "kubernetes_secret",
        r"(?:string)?[Dd]ata:[ \t]*\r?\n(?P<secret>(?:[ \t]+[\w.-]+:[ \t]*[^\s#][^\n]*\r?\n?)+)",
        is_real_password,
        near=r"kind:[ \t]*Secret\b",
        window=4000,
        each=_DATA_VALUE,
    ),
)
# Keywords that wake the contextual key detectors, each with what must follow it.
KEY_TRIGGERS: tuple[tuple[str, str], ...] = (
    # `"d` also opens `"dp"` and `"dq"`, `"q` opens `"qi"`.
    *((f'"{member}', r'(?=[pqi]?"[ \t]*:[ \t]*"[A-Za-z0-9_-]{20})') for member in "dpqk"),
    ("data:", r"(?=[ \t]*\r?\n[ \t])"),
)
