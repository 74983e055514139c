"""Secrets by category of the redaction issue, each written in many syntaxes; built at run time.

`SYNTAXES[category]` maps a syntax label to a generator of (text, secret): the text holds the secret
the way that syntax writes it. `PLACEHOLDERS` are texts that must come out unchanged.
"""

from __future__ import annotations

import base64
import json
import random
import string
from collections.abc import Callable

from tests.secret_providers import PROVIDER_GROUPS, uid
from tests.secret_samples import B62, B64, CONTEXTS, HEX, URLSAFE, Sample, b64url, pem, pick, wrap

Syntax = Callable[[random.Random], Sample]
SYMBOLS = "!%*-_.~^"


def password(rng: random.Random) -> str:
    """A short password as people pick them: 6 to 11 characters, a letter and a digit or symbol."""
    size = rng.randrange(6, 12)
    value = pick(rng, B62 + SYMBOLS, size - 2)
    return rng.choice(string.ascii_letters) + value + rng.choice(string.digits + "!%*")


def key_name(rng: random.Random) -> str:
    return rng.choice(["password", "db_password", "DB_PASSWORD", "adminPassword", "passwd", "PASS", "pwd"])


def templated(
    template: str, value: Callable[[random.Random], str], key: Callable[[random.Random], str]
) -> Syntax:
    """A syntax given as a template with {key} and {value}."""

    def generate(rng: random.Random) -> Sample:
        secret = value(rng)
        return template.format(key=key(rng), value=secret), secret

    return generate


def assignment(template: str) -> Syntax:
    return templated(template, password, key_name)


PASSWORDS: dict[str, Syntax] = {
    "env": assignment("{key}={value}\n"),
    "yaml": assignment("database:\n  {key}: {value}\n"),
    "json": assignment('{{"user": "app", "{key}": "{value}"}}'),
    "python": assignment('{key} = "{value}"\n'),
    "php_append": assignment('$password .= "{value}";\n'),
    "go_var": assignment('var {key} string = "{value}"\n'),
    "go_backquote": assignment("{key} := `{value}`\n"),
    "makefile": assignment("{key} ::= {value}\n"),
    "makefile_weak": assignment("{key} ?= {value}\n"),
    "set_property": assignment('props.setProperty("{key}", "{value}");\n'),
    "xml_next_line": assignment("<{key}>\n    {value}\n</{key}>\n"),
    "nuget": assignment('<add key="ClearTextPassword" value="{value}" />\n'),
    "json_escaped": assignment('{{"command": "login --user app {key}={value}\\n"}}'),
    "terraform": assignment('admin_password = "{value}"\n'),
    "sql": assignment("CREATE USER app IDENTIFIED BY '{value}';\n"),
    "sql_with": assignment("ALTER ROLE app WITH PASSWORD '{value}';\n"),
    "cli_long": assignment("$ tool login --password {value} --user app\n"),
    "cli_passphrase": assignment("gpg --batch --passphrase '{value}' -d secrets.gpg\n"),
    "cli_short": assignment("mysql -u root -p{value} orders\n"),
    "curl": assignment("curl -u deploy:{value} https://ci.internal/api\n"),
    "powershell": assignment('$pw = ConvertTo-SecureString "{value}" -AsPlainText -Force\n'),
    "kwarg": assignment('client = connect(host="db", password="{value}")\n'),
}


def key_value(rng: random.Random) -> str:
    """A provider key as a bare value on a key name: UUID-shaped or a lowercase prefixed id."""
    if rng.random() < 0.5:
        return uid(rng)
    return (
        f"{rng.choice(['live', 'prod', 'key', 'pk'])}_{pick(rng, string.ascii_lowercase + string.digits, 24)}"
    )


def key_named_key(rng: random.Random) -> str:
    return rng.choice(["api_key", "HEROKU_API_KEY", "codecov_token", "client_secret", "ACCESS_KEY"])


def api_key(template: str) -> Syntax:
    return templated(template, key_value, key_named_key)


KEY_NAMED: dict[str, Syntax] = {
    "env": api_key("{key}={value}\n"),
    "yaml": api_key("service:\n  {key}: {value}\n"),
    "json": api_key('{{"{key}": "{value}"}}'),
    "python": api_key('{key} = "{value}"\n'),
}


def pem_body(rng: random.Random, label: str = "RSA PRIVATE KEY") -> tuple[str, str]:
    text, _ = pem(rng, label)
    return text, text.split("\n")[1]


def concatenated(style: str) -> Syntax:
    """A PEM key cut into string literals, one per line, as Java, C and Python sources hold them."""

    def generate(rng: random.Random) -> Sample:
        text, first = pem_body(rng)
        lines = text.split("\n")
        if style == "java":
            body = " +\n".join(f'    "{line}\\n"' for line in lines)
            return f"String key =\n{body};\n", first
        if style == "c":
            body = "\n".join(f'    "{line}\\n"' for line in lines)
            return f"static const char *key =\n{body};\n", first
        body = "\n".join(f'    "{line}\\n"' for line in lines)
        return f"KEY = (\n{body}\n)\n", first

    return generate


def base64_pem(rng: random.Random) -> Sample:
    text, _ = pem(rng, rng.choice(["RSA PRIVATE KEY", "PRIVATE KEY", "EC PRIVATE KEY"]))
    encoded = base64.b64encode(text.encode()).decode()
    return f"apiVersion: v1\nkind: ConfigMap\ndata:\n  key.b64: {encoded}\n", encoded


def bare_body(rng: random.Random) -> Sample:
    der = bytes.fromhex("308204a40201000282010100") + rng.randbytes(rng.randrange(600, 1100))
    body = base64.b64encode(der).decode()
    lines = "\n".join(body[i : i + 64] for i in range(0, len(body), 64))
    return f"# the deploy key, markers stripped\n{lines}\n", body[:64]


def jwk(rng: random.Random) -> Sample:
    d = b64url(rng.randbytes(32))
    key = {
        "crv": "P-256",
        "d": d,
        "kty": "EC",
        "x": b64url(rng.randbytes(32)),
        "y": b64url(rng.randbytes(32)),
    }
    return json.dumps(key, indent=rng.choice([None, 2])), d


def nkey(rng: random.Random) -> Sample:
    seed = "S" + rng.choice("UAO") + pick(rng, string.ascii_uppercase + "234567", 56)
    return f"nkey_seed: {seed}\n", seed


def otp(rng: random.Random) -> Sample:
    seed = pick(rng, string.ascii_uppercase + "234567", 32)
    return f"otpauth://totp/Acme:alice?secret={seed}&issuer=Acme\n", seed


def gcp_service_account(rng: random.Random) -> Sample:
    text, first = pem_body(rng, "PRIVATE KEY")
    account = {
        "type": "service_account",
        "project_id": "acme-prod",
        "private_key_id": pick(rng, HEX, 40),
        "private_key": text + "\n",
        "client_email": "deploy@acme-prod.iam.gserviceaccount.com",
    }
    return json.dumps(account, indent=2), first


def kubernetes_secret(rng: random.Random) -> Sample:
    value = base64.b64encode(password(rng).encode()).decode()
    other = base64.b64encode(pick(rng, B62, 12).encode()).decode()
    return (
        f"apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\ntype: Opaque\ndata:\n"
        f"  username: {other}\n  password: {value}\n",
        value,
    )


def putty(rng: random.Random) -> Sample:
    private = base64.b64encode(rng.randbytes(48)).decode()
    public = base64.b64encode(rng.randbytes(51)).decode()
    text = (
        "PuTTY-User-Key-File-3: ssh-ed25519\nEncryption: none\nComment: deploy\nPublic-Lines: 2\n"
        f"{public[:64]}\n{public[64:]}\nPrivate-Lines: 1\n{private}\nPrivate-MAC: {pick(rng, HEX, 64)}\n"
    )
    return text, private


PRIVATE_KEYS: dict[str, Syntax] = {
    "putty": putty,
    "java_concatenated": concatenated("java"),
    "c_literals": concatenated("c"),
    "python_literals": concatenated("python"),
    "base64_pem": base64_pem,
    "bare_body": bare_body,
    "jwk": jwk,
    "nkey": nkey,
    "otp": otp,
    "gcp_service_account": gcp_service_account,
    "kubernetes_secret": kubernetes_secret,
}


def provider_syntaxes(group: str) -> dict[str, Syntax]:
    """Each format of a provider group in each of the shared contexts (env, JSON, YAML, logs...)."""

    def in_context(name: str, kind: str) -> Syntax:
        def generate(rng: random.Random) -> Sample:
            snippet, secret = PROVIDER_GROUPS[group][name](rng)
            return wrap(kind, snippet), secret

        return generate

    return {f"{name}/{kind}": in_context(name, kind) for name in PROVIDER_GROUPS[group] for kind in CONTEXTS}


ANSI_COLOURS = ["\x1b[93m", "\x1b[1;31m", "\x1b[38;5;208m", "\x1b[0m\x1b[32m"]


def coloured(inner: Syntax) -> Syntax:
    """A secret right after a terminal colour code, as coloured logs and test output show it."""

    def generate(rng: random.Random) -> Sample:
        text, secret = inner(rng)
        colour = rng.choice(ANSI_COLOURS)
        return text.replace(secret, f"{colour}{secret}\x1b[0m", 1), secret

    return generate


def github_token_line(rng: random.Random) -> Sample:
    token = "ghp_" + pick(rng, B62, 36)
    return f"Using token {token} for push", token


def aws_key_line(rng: random.Random) -> Sample:
    key = "AKIA" + pick(rng, string.ascii_uppercase + string.digits, 16)
    return f"key id {key} (us-east-1)", key


ANSI: dict[str, Syntax] = {
    "token": coloured(github_token_line),
    "aws": coloured(aws_key_line),
    "password": coloured(PASSWORDS["env"]),
    "provider": coloured(PROVIDER_GROUPS["ai"]["groq_api_key"]),
}

SYNTAXES: dict[str, dict[str, Syntax]] = {
    "password": PASSWORDS,
    "key_named": KEY_NAMED,
    "private_key": PRIVATE_KEYS,
    **{group: provider_syntaxes(group) for group in PROVIDER_GROUPS},
    "ansi": ANSI,
}


def placeholders(rng: random.Random) -> list[str]:
    """Texts that only look like secrets: filler tokens, EXAMPLE keys, empty PEM blocks, references."""
    return [
        "ghp_" + "x" * 36,
        "GITHUB_TOKEN=ghp_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
        "sk_live_" + "a" * 24,
        "AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE",
        "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "glpat-xxxxxxxxxxxxxxxxxxxx",
        "-----BEGIN RSA PRIVATE KEY-----\n-----END RSA PRIVATE KEY-----",
        "-----BEGIN PRIVATE KEY-----\n...\n-----END PRIVATE KEY-----",
        "-----BEGIN OPENSSH PRIVATE KEY-----\n<your key here>\n-----END OPENSSH PRIVATE KEY-----",
        'password = "${DB_PASSWORD}"',
        "password: ${{ secrets.DB_PASSWORD }}",
        'password = os.environ["DB_PASSWORD"]',
        "DB_PASSWORD=<password>",
        "mysql -u root -p$MYSQL_PASSWORD",
        "curl -u admin:$API_TOKEN https://example.com",
        'password = "xxxxxxxx"',
        "api_key: EXAMPLE_KEY_1234567890",
        "def login(self, password: str, token: str | None = None) -> None:",
        "password = getpass.getpass()",
        f"request_id={uid(rng)} user={pick(rng, string.ascii_lowercase, 8)}",
        f"sha256={pick(rng, HEX, 64)}",
        "CREATE USER app IDENTIFIED BY '<password>';",
        f"integrity: sha512-{base64.b64encode(rng.randbytes(64)).decode()}",
        f"ICON = '{pick(rng, B64, 8)}'",
        "-----BEGIN CERTIFICATE-----\n" + pick(rng, B64, 64) + "\n-----END CERTIFICATE-----",
        f"id: {pick(rng, URLSAFE, 8)}",
    ]
