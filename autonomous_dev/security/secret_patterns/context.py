"""Values recognised by their surroundings: keys, assignments and command lines in many languages.

Each detector is tried only where one of `TRIGGERS` occurs (see `Contextual`), so the cost of a rich
grammar here is paid at a few places per file, not at every character.
"""

from __future__ import annotations

from .checks import (
    is_command_password,
    is_password,
    is_real_password,
    looks_random,
)
from .kinds import Contextual

# What may follow a key's keyword before its value: the rest of the key, a closing quote or bracket,
# then an operator (`=`, `:`, `.=`, `>` closing an XML tag, `, "` between call arguments), or a blank
# before a quote (SQL's `PASSWORD '...'`), `value=` (XML attributes) or a string type (Go's
# `var password string = ...`). A keyword in running prose or code (`for token in tokens`) wakes nothing.
_KEY_FOLLOWS = (
    r"(?=[\w.-]*[\\\"'`\]]*(?:[ \t]*(?:[:=>]|[.?+]=|<-|,[ \t]*\\?[\"'])"
    r"|[ \t]+(?:[\"'`]|value[ \t]*=|(?:string|String|str|\[\]byte|char|SecureString)\b)))"
)
_KEYWORDS = (
    "secret", "token", "passw", "pwd", "passphrase", "pass", "api_key", "api-key", "apikey", "app_key",
    "application_key", "access_key", "access-key", "accesskey", "private_key", "private-key",
    "privatekey", "auth_key", "authorization", "account_key", "accountkey", "storage_key",
    "master_key", "signing_key", "encryption_key", "consumer_key", "license_key",
)  # fmt: skip
TRIGGERS: tuple[tuple[str, str], ...] = (
    *((keyword, _KEY_FOLLOWS) for keyword in _KEYWORDS),
    ("--pass", r"(?=[a-z]*[ \t=])"),
    ("--pwd", r"(?=[ \t=])"),
    ("bearer", r"(?=[ \t])"),
    ("ssws", r"(?=[ \t])"),
    ("://", r"(?=[^\s:/@?#'\"]*:[^\s@/'\"]+@)"),
    ("-p", r"(?<=[\s\"']-p)(?=[ \t]?[\"']?[^\s\"'-])"),
    ("-u", r"(?<=[\s\"']-u)(?=[ \t]*[\"']?[^\s:\"']+:[^\s\"'])"),
    ("--user", r"(?=[ \t=]+[\"']?[^\s:\"']+:[^\s\"'])"),
    ("IDENTIFIED", r"(?=[ \t]+BY[ \t])"),
    ("ConvertTo-SecureString", r"(?=[ \t])"),
    # Formats whose fixed part comes after the start of the value.
    ("Q~", r"(?=[A-Za-z0-9_~.-]{31})"),
    (":AA", r"(?=[A-Za-z0-9_-]{33})"),
    ("-us", r"(?=\d{1,2}(?![\w-]))"),
    ("NRAL", r"(?![A-Za-z0-9])"),
    (".atlasv1.", r"(?=[A-Za-z0-9_=-]{60})"),
)  # fmt: skip

# Key syntax: its end (closing quote or bracket), then how a value is bound to it.
_KEY_END = r"\\?[\"'`]?\]?"
_TYPE = r"[A-Za-z_][\w.\[\]<>*, |]{0,40}?"
_OPERATOR = r"(?:=|:=|::=|:::=|\?=|\+=|\.=|=>|<-)"
# A Go-style type between name and `=` (`var password string = ...`): only string types, so that
# `token-svc request_id=...` in a log line is not read as one.
_GO_TYPE = r"[ \t]+(?:string|String|str|\[\]byte|char\*?|SecureString)"
_EQUALS = _KEY_END + rf"(?:[ \t]*:[ \t]*{_TYPE}|{_GO_TYPE})?[ \t]*{_OPERATOR}[ \t]*"
_COLON = _KEY_END + r"[ \t]*:[ \t]*"
_PAIR = r"\\?[\"'][ \t]*\)?[ \t]*,[ \t]*"  # setProperty("DB_PASSWORD", "..."), define('X', '...')
_ATTRIBUTE = r"[\"'][ \t]+value[ \t]*=[ \t]*"  # <add key="ClearTextPassword" value="..." />
_ANY_ASSIGN = f"(?:{_EQUALS}|{_COLON}|{_PAIR}|{_ATTRIBUTE})"
_BARE_ASSIGN = f"(?:{_EQUALS}|{_COLON})"


def _quoted(least: int) -> str:
    return rf"(?:[bruf@]|\\)?\\?[\"'`](?P<secret>[^\"'`\s\\]{{{least},}})\\?[\"'`]"


def _bare(least: int) -> str:
    """An unquoted value; an @ ends it only before a host name (user:token@host)."""
    return rf"(?P<secret>(?:[\w+/=.~!#$%^*:?|-]|@(?![\w.-]+\.[a-z]{{2,}}\b)){{{least},}})"


# A bare value ends at a blank, quote, bracket, separator or a JSON-escaped `\n`; after `key:` (YAML)
# it must end the line, so `name: Type,` in code is never a value.
_VALUE_END = r"(?=[\s\"'<>\]},;@&\\]|$)"
_LINE_END = r"(?=[ \t]*(?:#[^\n]*)?(?:\r?\n|\\n|$))"
# A libpq value: 'quoted' (may hold spaces) or bare up to whitespace or a quote, never `key=` itself.
_LIBPQ_VALUE = r"'?(?P<secret>(?<=')(?:[^'\\\n]|\\.)+(?=')|(?<!')(?!\w+=)[^\s'\"(),;]+(?=[\s'\";]|$))"
# Keys whose value is a secret however short: they end with the keyword (`DB_PASSWORD`, `pwd`).
_STRONG_KEY = r"(?:(?i:passw(?:or)?d|passphrase|secret)|(?<![a-z])(?i:pwd|pass))\d{0,2}"
# Keys whose value is hidden when it looks random: the keyword anywhere in the key.
_KEYWORD = (
    r"(?i:secret|token|passw(?:or)?d|pwd|passphrase|api[_-]?key|app(?:lication)?_key|access[_-]?key"
    r"|private[_-]?key|auth_key|account_?key|storage_key|master_key|signing_key"
    r"|encryption_key|consumer_key|license_key)[A-Za-z0-9_.-]*"
)
_XML_VALUE = r"(?:[ \t][^<>\n]*)?>[ \t]*(?:\r?\n[ \t]*)?(?P<secret>[^<>\s]{5,})[ \t]*(?:\r?\n[ \t]*)?</"
# A command-line value, quoted or not.
_FLAG_VALUE = r"[\"'`]?(?P<secret>[^\s\"'`\\]{4,})(?=[\s\"'`<>\]},;&\\]|$)"

PASSWORDS: tuple[Contextual, ...] = (
    Contextual("password", _STRONG_KEY + _ANY_ASSIGN + _quoted(5), is_password),
    Contextual("password", _STRONG_KEY + _EQUALS + _bare(5) + _VALUE_END, is_password),
    Contextual("password", _STRONG_KEY + _COLON + _bare(5) + _LINE_END, is_password),
    Contextual("password", _STRONG_KEY + _KEY_END + _XML_VALUE, is_password),
    Contextual(
        "password", r"--?(?i:pass(?:word|wd|phrase)?|pwd)[ \t]*[ \t=][ \t]*" + _FLAG_VALUE, is_password
    ),
    Contextual("password", r"(?i:password)[ \t]+" + _quoted(4), is_command_password),
    Contextual(
        "password",
        r"-p[ \t]?" + _FLAG_VALUE,
        is_command_password,
        near=r"(?:^|\s)(?:-u|--user(?:name)?)[ \t=]|\b(?:sshpass|mysql\w*|mariadb)\b",
    ),
    Contextual(
        "password",
        r"--?u(?:ser)?[ \t=]+[\"']?[^\s:\"'@]+:(?P<secret>[^\s\"'@]+)",
        is_command_password,
    ),
    Contextual(
        "password",
        r"(?i:identified[ \t]+by)[ \t]+(?:(?i:password)[ \t]+)?" + _FLAG_VALUE,
        is_command_password,
    ),
    Contextual(
        "password",
        r"(?i:convertto-securestring)[ \t]+(?:-String[ \t]+)?" + _quoted(4),
        is_command_password,
    ),
)
SUFFIXED: tuple[Contextual, ...] = (
    Contextual(
        "azure_client_secret",
        r"(?P<secret>[A-Za-z0-9_~.]{3}\dQ~[A-Za-z0-9_~.-]{31,34})(?![A-Za-z0-9_~.-])",
    ),
    Contextual("telegram_bot_token", r"(?:bot)?(?P<secret>\d{8,10}:AA[A-Za-z0-9_-]{33})(?![A-Za-z0-9_-])"),
    Contextual("mailchimp_api_key", r"(?P<secret>[0-9a-f]{32}-us\d{1,2})(?![\w-])"),
    Contextual("new_relic_key", r"(?P<secret>[a-f0-9]{36}NRAL)"),
    Contextual("terraform_cloud_token", r"(?P<secret>[A-Za-z0-9]{14}\.atlasv1\.[A-Za-z0-9_=-]{60,})"),
)
CONTEXTUAL: tuple[Contextual, ...] = (
    Contextual(
        "aws_secret_access_key",
        r"(?i:aws_?secret_?(?:access_?)?key|secret_?access_?key)"
        + _BARE_ASSIGN
        + r"[\\\"']*(?P<secret>[A-Za-z0-9/+]{40})(?![\w/+=])",
        is_real_password,
    ),
    Contextual(
        "aws_session_token",
        r"(?i:(?:aws_?)?session_?token)" + _BARE_ASSIGN + r"[\\\"']*(?P<secret>[A-Za-z0-9/+=]{100,})",
        is_real_password,
    ),
    Contextual(
        "datadog_api_key",
        r"(?i:(?:dd|datadog)_?(?:api|app(?:lication)?)_?key)"
        + _BARE_ASSIGN
        + r"[\\\"']*(?P<secret>[a-f0-9]{32,40})\b",
        is_real_password,
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
        r"(?i:(?:proxy-)?authorization)[\\\"']*[ \t]*[:=][ \t]*[\\\"']*(?i:basic|bearer|token|apikey|ssws)"
        r"[ \t]+(?P<secret>[A-Za-z0-9._~+/=-]{8,})",
        is_real_password,
    ),
    Contextual("bearer_token", r"\b(?i:bearer|ssws)[ \t]+(?P<secret>[A-Za-z0-9._~+/-]{16,}=*)", looks_random),
    *PASSWORDS,
    Contextual("generic_secret", _KEYWORD + _ANY_ASSIGN + _quoted(10), looks_random),
    Contextual("generic_secret", _KEYWORD + _EQUALS + _bare(10) + _VALUE_END, looks_random),
    Contextual("generic_secret", _KEYWORD + _COLON + _bare(10) + _LINE_END, looks_random),
    Contextual("generic_secret", _KEYWORD + _KEY_END + _XML_VALUE, looks_random),
    *SUFFIXED,
)
