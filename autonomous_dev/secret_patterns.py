"""The secret formats the redactor knows: fixed-prefix tokens, context-bound values and their checks."""

from __future__ import annotations

import math
import re
import string
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

Check = Callable[[str], bool]


@dataclass(frozen=True)
class Token:
    """A credential that starts with a fixed literal prefix; `tail` is the regex for the rest of it.

    `bounded` tokens must not follow a letter or digit (short prefixes that could sit inside a word).
    A `(?P<secret>...)` group in `tail` limits the replacement to that part.
    """

    name: str
    prefixes: tuple[str, ...]
    tail: str
    bounded: bool = False
    check: Check | None = None


@dataclass(frozen=True)
class Contextual:
    """A credential recognised by its surroundings; only its `(?P<secret>...)` group is replaced.

    They are tried only where a `TRIGGERS` keyword occurs followed by what that trigger requires, and
    where the word holding it starts (at most 32 characters before), so every pattern must begin at
    one of those two places and match only where its trigger's condition holds.
    """

    name: str
    pattern: str
    check: Check | None = None
    near: str | None = None  # a regex that must also occur on the same line


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
    }
)  # fmt: skip
_PLACEHOLDER_HINT = re.compile(
    r"(?i)change[_-]?me|your[_-]|example|placeholder|dummy|redacted|replace[_-]?(?:me|with)"
    r"|xxxx|\*\*\*|\.\.\.|<[^>]*>|\$\{|\{\{|%\(\w+\)s|environ\[|getenv|process\.env"
)
# References and templates that stand in for a value: $VAR, %s, {name}, ****, Key Vault references.
_PLACEHOLDER_FORM = re.compile(r"\$[A-Za-z_]\w*|%[sd]|\{[\w.]*\}|\*+|@Microsoft\.KeyVault\(.*\)")
_NOT_RANDOM = re.compile(
    r"_*[A-Za-z]+(?:[-_./: ][A-Za-z]+)*[_:]*"  # words and names without digits: _PasswordType, Error:
    r"|[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+(?:\(\))?"  # dotted names: self.password2, settings.SECRET
    r"|_*(?:[a-z0-9]+|[A-Z0-9]+|[A-Z][a-z0-9]+)(?:_+(?:[a-z0-9]+|[A-Z0-9]+|[A-Z][a-z0-9]+))+_*"  # snake_Case
    r"|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"  # UUIDs
    r"|sha(?:1|256|384|512)-[A-Za-z0-9+/=]+"  # subresource-integrity hashes
    r"|(?:\.{0,2}|~)/[a-z0-9_.-]+(?:/[a-z0-9_.-]*)*|\w+://\S*"  # (lowercase) paths and URLs
)


def is_placeholder(value: str) -> bool:
    """True for values that stand in for a secret: `changeme`, `${VAR}`, `<your-token>`, `xxxx`, `None`."""
    bare = value.strip("'\"")
    return (
        len(set(bare)) <= 2
        or bare.lower() in _PLACEHOLDER_WORDS
        or _PLACEHOLDER_FORM.fullmatch(bare) is not None
        or _PLACEHOLDER_HINT.search(bare) is not None
    )


def looks_random(value: str) -> bool:
    """A value worth hiding on context alone: long, high-entropy, and not a name, path or placeholder."""
    hexadecimal = all(char in string.hexdigits for char in value)
    return (
        len(value) >= 12
        and shannon_entropy(value) >= (2.5 if hexadecimal else 3.0)
        and not is_placeholder(value)
        and _NOT_RANDOM.fullmatch(value) is None
    )


def has_letters_and_digits(value: str) -> bool:
    """Random tokens mix both; words and long numbers do not. AWS-style `...EXAMPLE` values are skipped."""
    return any(c.isdigit() for c in value) and any(c.isalpha() for c in value) and "EXAMPLE" not in value


def is_real_password(value: str) -> bool:
    """A password in a URL or connection string, unless it is empty or a placeholder."""
    return not is_placeholder(value)


_B62 = "[A-Za-z0-9]"
_URLSAFE = "[A-Za-z0-9_-]"
_SLACK = "[A-Za-z0-9-]{20,}"
# A key block runs to its END line, never past a quote (code that merely names the markers); a block
# cut short still loses what there is of its body.
_PEM_BODY = r"[A-Za-z0-9+/=\s\\:,.-]{64,}"

TOKENS: tuple[Token, ...] = (
    Token("github_token", ("ghp_",), _B62 + "{30,}"),
    Token("github_oauth_token", ("gho_",), _B62 + "{30,}"),
    Token("github_user_token", ("ghu_",), _B62 + "{30,}"),
    # Installation tokens grow into `ghs_<app id>_<JWT>` (~520 characters, dots and dashes).
    Token("github_app_token", ("ghs_",), r"[A-Za-z0-9._-]{29,}[A-Za-z0-9_]"),
    Token("github_refresh_token", ("ghr_",), _B62 + "{30,}"),
    Token("github_fine_grained_token", ("github_pat_",), r"[A-Za-z0-9_]{40,}"),
    Token("slack_bot_token", ("xoxb-",), _SLACK),
    Token("slack_user_token", ("xoxp-",), _SLACK),
    Token("slack_workspace_token", ("xoxa-",), _SLACK),
    Token("slack_refresh_token", ("xoxr-",), _SLACK),
    Token("slack_config_token", ("xoxe.xoxp-", "xoxe.xoxb-", "xoxe-"), _SLACK),
    Token("slack_app_token", ("xapp-",), _SLACK),
    Token("slack_webhook", ("https://hooks.slack.com/services/",), r"T[A-Z0-9]{6,}/B[A-Z0-9]{6,}/\w{20,}"),
    Token("aws_access_key_id", ("AKIA", "ASIA", "ABIA", "ACCA"), r"[A-Z0-9]{16}(?![A-Za-z0-9])", True),
    Token("anthropic_api_key", ("sk-ant-api",), r"\d\d-[A-Za-z0-9_-]{20,}"),
    Token("anthropic_admin_key", ("sk-ant-admin",), r"\d\d-[A-Za-z0-9_-]{20,}"),
    Token("anthropic_oauth_token", ("sk-ant-oat",), r"\d\d-[A-Za-z0-9_-]{20,}"),
    Token("anthropic_refresh_token", ("sk-ant-ort",), r"\d\d-[A-Za-z0-9_-]{20,}"),
    Token("openai_project_key", ("sk-proj-",), _URLSAFE + "{40,}"),
    Token("openai_service_account_key", ("sk-svcacct-",), _URLSAFE + "{40,}"),
    Token("openai_admin_key", ("sk-admin-",), _URLSAFE + "{40,}"),
    Token("openai_key", ("sk-",), r"(?!ant-)[A-Za-z0-9_-]{32,}", True, has_letters_and_digits),
    Token("google_api_key", ("AIza",), r"[A-Za-z0-9_-]{35}(?![A-Za-z0-9_-])", True),
    Token("google_oauth_client_secret", ("GOCSPX-",), _URLSAFE + "{28}"),
    Token("google_oauth_token", ("ya29.",), _URLSAFE + "{30,}", True),
    Token("stripe_secret_key", ("sk_live_",), _B62 + "{24,}"),
    Token("stripe_restricted_key", ("rk_live_",), _B62 + "{24,}"),
    Token("stripe_test_key", ("sk_test_", "rk_test_"), _B62 + "{24,}"),
    Token("stripe_webhook_secret", ("whsec_",), r"[A-Za-z0-9+/=]{32,}"),
    Token("npm_token", ("npm_",), _B62 + "{36}(?![A-Za-z0-9])", True),
    Token("pypi_token", ("pypi-AgEIcHlwaS5vcmc", "pypi-AgENdGVzdC5weXBpLm9yZw"), _URLSAFE + "{50,}"),
    Token("huggingface_token", ("hf_",), _B62 + "{34,}", True),
    Token("gitlab_token", ("glpat-",), _URLSAFE + "{20,}"),
    Token("gitlab_runner_token", ("glrt-",), _URLSAFE + "{20,}"),
    Token("gitlab_deploy_token", ("gldt-",), _URLSAFE + "{20,}"),
    Token("jwt", ("eyJ",), r"[A-Za-z0-9_-]{8,}\.ey[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*"),
    Token(
        "pgp_private_key",
        ("-----BEGIN PGP PRIVATE KEY BLOCK-----",),
        rf"(?:[^\"'`]{{0,65536}}?-----END PGP PRIVATE KEY BLOCK-----|{_PEM_BODY})",
    ),
    Token(
        "private_key",
        ("-----BEGIN ",),
        r"(?:RSA |EC |DSA |OPENSSH |ENCRYPTED )?PRIVATE KEY-----"
        rf"(?:[^\"'`]{{0,16384}}?-----END [A-Z ]*PRIVATE KEY-----|{_PEM_BODY})",
    ),
    Token("sendgrid_api_key", ("SG.",), r"[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}", True),
    Token("twilio_api_key", ("SK",), r"[0-9a-f]{32}(?![A-Za-z0-9])", True, has_letters_and_digits),
    Token(
        "discord_bot_token",
        ("M", "N", "O"),
        r"[A-Za-z0-9_-]{23,27}\.[A-Za-z0-9_-]{6}\.[A-Za-z0-9_-]{27,40}",
        True,
        has_letters_and_digits,
    ),
    Token(
        "discord_webhook",
        ("https://discord.com/api/webhooks/", "https://discordapp.com/api/webhooks/"),
        r"\d{17,20}/[A-Za-z0-9_-]{60,70}",
    ),
    Token("digitalocean_token", ("dop_v1_", "doo_v1_", "dor_v1_"), "[a-f0-9]{64}"),
    Token("azure_storage_key", ("AccountKey=",), r"(?P<secret>[A-Za-z0-9+/]{86}==)"),
    Token("azure_shared_access_key", ("SharedAccessKey=",), r"(?P<secret>[A-Za-z0-9+/]{42,43}=)"),
    Token("shopify_token", ("shpat_", "shpca_", "shppa_", "shpss_"), "[a-fA-F0-9]{32}"),
    Token("mailgun_api_key", ("key-",), r"[0-9a-f]{32}(?![A-Za-z0-9])", True, has_letters_and_digits),
    Token(
        "square_access_token", ("EAAA",), r"[A-Za-z0-9_-]{60}(?![A-Za-z0-9_-])", True, has_letters_and_digits
    ),
    Token("square_oauth_secret", ("sq0csp-",), _URLSAFE + "{43}"),
    Token("atlassian_api_token", ("ATATT3",), r"[A-Za-z0-9_=-]{150,}"),
    Token("linear_api_key", ("lin_api_",), _B62 + "{40}"),
    Token("doppler_token", ("dp.pt.", "dp.st.", "dp.ct.", "dp.sa.", "dp.scim."), _B62 + "{40,44}"),
    Token("vault_token", ("hvs.", "hvb."), _URLSAFE + "{24,}", True),
    Token(
        "databricks_token", ("dapi",), r"[a-f0-9]{32}(?:-\d)?(?![A-Za-z0-9])", True, has_letters_and_digits
    ),
    Token("sentry_token", ("sntrys_", "sntryu_"), r"[A-Za-z0-9_=+/-]{40,}"),
    Token("grafana_token", ("glsa_", "glc_"), r"[A-Za-z0-9_=+/-]{32,}"),
    Token("postman_api_key", ("PMAK-",), "[a-f0-9]{24}-[a-f0-9]{34}"),
    Token("age_secret_key", ("AGE-SECRET-KEY-1",), "[QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L]{58}"),
    Token("new_relic_key", ("NRAK-",), "[A-Z0-9]{27}"),
    Token("pulumi_token", ("pul-",), r"[a-f0-9]{40}(?![A-Za-z0-9])", True),
    Token("tailscale_key", ("tskey-",), r"[a-z]+-[A-Za-z0-9]{8,}-[A-Za-z0-9]{16,}"),
    Token("docker_hub_token", ("dckr_pat_",), _URLSAFE + "{27,}"),
    Token("rubygems_api_key", ("rubygems_",), "[a-f0-9]{48}"),
    Token("supabase_token", ("sbp_",), r"[a-f0-9]{40}(?![A-Za-z0-9])", True),
    Token("planetscale_token", ("pscale_tkn_", "pscale_pw_", "pscale_oauth_"), r"[A-Za-z0-9_=.-]{32,}"),
    Token("mapbox_secret_token", ("sk.eyJ",), r"[A-Za-z0-9_-]{50,}\.[A-Za-z0-9_-]{20,}"),
    Token("figma_token", ("figd_",), _URLSAFE + "{40,}"),
)

# Keywords (case-insensitive) that wake the contextual detectors for the text around them, each with
# what must follow it for any detector to match there. Most keywords are part of a key, so the rest of
# the key, an optional closing quote or bracket, then `=` or `:` follow; `bearer` is followed by a
# blank and `://` by `user:password@`. A keyword in prose or a bare URL wakes nothing.
_KEY_FOLLOWS = r"(?=[\w.-]*[\\\"'\]]*[ \t]*[:=])"
TRIGGERS: tuple[tuple[str, str], ...] = (
    *(
        (keyword, _KEY_FOLLOWS)
        for keyword in (
            "secret", "token", "passw", "pwd", "passphrase", "api_key", "api-key", "apikey", "app_key",
            "application_key", "access_key", "access-key", "accesskey", "private_key", "private-key",
            "privatekey", "auth_key", "authorization",
        )
    ),
    ("bearer", r"(?=[ \t])"),
    ("://", r"(?=[^\s:/@?#'\"]*:[^\s@/'\"]+@)"),
)  # fmt: skip

# The end of a key (closing quote or bracket), then `=` (after an optional type annotation) or `:`.
_KEY_END = r"\\?[\"']?\]?"
_EQUALS = _KEY_END + r"(?:[ \t]*:[ \t]*[A-Za-z_][\w.\[\], |]{0,40}?)?[ \t]*(?:=|:=|=>)[ \t]*"
_COLON = _KEY_END + r"[ \t]*:[ \t]*"
_ASSIGN = f"(?:{_EQUALS}|{_COLON})"
_QUOTED = r"[bru]?\\?[\"'](?P<secret>[^\"'\s\\]{12,})\\?[\"']"
# An unquoted value; an @ ends it only before a host name (user:token@host).
_BARE = r"(?P<secret>(?:[\w+/=.~!#$%^*:?|-]|@(?![\w.-]+\.[a-z]{2,}\b)){12,})"
_VALUE_END = r"(?=[\s\"'<>\]},;@&]|$)"
_LINE_END = r"(?=[ \t]*(?:#[^\n]*)?(?:\r?\n|$))"  # YAML style `key: value`, never `name: Type,` in code
# A libpq value: 'quoted' (may hold spaces) or bare up to whitespace or a quote, never `key=` itself.
_LIBPQ_VALUE = r"'?(?P<secret>(?<=')(?:[^'\\\n]|\\.)+(?=')|(?<!')(?!\w+=)[^\s'\"(),;]+(?=[\s'\";]|$))"
_KEYWORD = (
    r"(?i:secret|token|passw(?:or)?d|pwd|passphrase|api[_-]?key|app(?:lication)?_key|access[_-]?key"
    r"|private[_-]?key|auth_key)[A-Za-z0-9_.-]*"
)
CONTEXTUAL: tuple[Contextual, ...] = (
    Contextual(
        "aws_secret_access_key",
        r"(?i:aws_?secret_?(?:access_?)?key|secret_?access_?key)"
        + _ASSIGN
        + r"[\\\"']*(?P<secret>[A-Za-z0-9/+]{40})(?![\w/+=])",
    ),
    Contextual(
        "aws_session_token",
        r"(?i:(?:aws_?)?session_?token)" + _ASSIGN + r"[\\\"']*(?P<secret>[A-Za-z0-9/+=]{100,})",
    ),
    Contextual(
        "datadog_api_key",
        r"(?i:(?:dd|datadog)_?(?:api|app(?:lication)?)_?key)"
        + _ASSIGN
        + r"[\\\"']*(?P<secret>[a-f0-9]{32,40})\b",
    ),
    Contextual(
        "database_url",
        r"(?i:postgres(?:ql)?|mysql|mariadb|mongodb(?:\+srv)?|rediss?|amqps?|mssql|sqlserver|cockroachdb)"
        r"(?:\+\w+)?://[^\s:/@?#'\"]*:(?P<secret>[^\s@/'\"]+)@",
        is_real_password,
    ),
    Contextual(
        "url_password",
        r"\b[A-Za-z][A-Za-z0-9+.-]*://[^\s:/@?#'\"]*:(?P<secret>[^\s@/'\"]+)@",
        is_real_password,
    ),
    Contextual(
        "libpq_password",
        r"(?<![\w.])password[ \t]*=[ \t]*" + _LIBPQ_VALUE,
        is_real_password,
        near=r"\b(?:host|hostaddr|port|dbname|user|sslmode|application_name)\s*=",
    ),
    Contextual(
        "authorization",
        r"(?i:(?:proxy-)?authorization)[\\\"']*[ \t]*[:=][ \t]*[\\\"']*(?i:basic|bearer|token|apikey)[ \t]+"
        r"(?P<secret>[A-Za-z0-9._~+/=-]{8,})",
        is_real_password,
    ),
    Contextual("bearer_token", r"\b(?i:bearer)[ \t]+(?P<secret>[A-Za-z0-9._~+/-]{16,}=*)", looks_random),
    Contextual(
        "generic_secret",
        _KEYWORD + _ASSIGN + _QUOTED,
        looks_random,
    ),
    Contextual("generic_secret", _KEYWORD + _EQUALS + _BARE + _VALUE_END, looks_random),
    Contextual("generic_secret", _KEYWORD + _COLON + _BARE + _LINE_END, looks_random),
)
