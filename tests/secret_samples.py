"""Random, realistically shaped credentials for every detector, and the contexts they leak through."""

from __future__ import annotations

import base64
import json
import random
import string
from collections.abc import Callable

B62 = string.ascii_letters + string.digits
URLSAFE = B62 + "-_"
B64 = B62 + "+/"
HEX = "0123456789abcdef"
UPPER_DIGITS = string.ascii_uppercase + string.digits
BECH32 = "QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L"
PASSWORD = B62 + "-_.~!*"

# A sample is (snippet, secret): the snippet goes into the text, the secret must not come out.
Sample = tuple[str, str]
Generator = Callable[[random.Random], Sample]


def pick(rng: random.Random, alphabet: str, size: int) -> str:
    return "".join(rng.choice(alphabet) for _ in range(size))


def with_digit(rng: random.Random, alphabet: str, size: int) -> str:
    """Random text that contains a digit, like nearly every generated secret of this size."""
    digits = [char for char in alphabet if char.isdigit()]
    if not digits:
        return pick(rng, alphabet, size)
    value = pick(rng, alphabet, size - 1)
    cut = rng.randrange(size)
    return value[:cut] + rng.choice(digits) + value[cut:]


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def jwt(rng: random.Random) -> str:
    header = {"alg": rng.choice(["HS256", "RS256", "ES256"]), "typ": "JWT", "kid": pick(rng, HEX, 8)}
    claims = {"sub": pick(rng, B62, 12), "iat": rng.randrange(1_600_000_000, 1_800_000_000), "scope": "repo"}
    segments = [b64url(json.dumps(part).encode()) for part in (header, claims)]
    return ".".join([*segments, pick(rng, URLSAFE, 43)])


def same(snippet: str) -> Sample:
    return snippet, snippet


def pem(rng: random.Random, label: str) -> Sample:
    body = base64.b64encode(rng.randbytes(rng.randrange(300, 1200))).decode()
    lines = "\n".join(body[i : i + 64] for i in range(0, len(body), 64))
    return same(f"-----BEGIN {label}-----\n{lines}\n-----END {label}-----")


def private_key(rng: random.Random) -> Sample:
    kind = rng.choice(["RSA ", "EC ", "DSA ", "OPENSSH ", "ENCRYPTED ", ""])
    return pem(rng, f"{kind}PRIVATE KEY")


def github_app_token(rng: random.Random) -> Sample:
    if rng.random() < 0.5:
        return same("ghs_" + pick(rng, B62, 36))
    return same(f"ghs_{rng.randrange(10**5, 10**8)}_{jwt(rng)}")


def discord_bot_token(rng: random.Random) -> Sample:
    user_id = str(rng.randrange(10**17, 10**19)).encode()
    return same(f"{b64url(user_id)}.{pick(rng, URLSAFE, 6)}.{with_digit(rng, URLSAFE, 38)}")


def azure_storage_key(rng: random.Random) -> Sample:
    key = pick(rng, B64, 86) + "=="
    account = pick(rng, string.ascii_lowercase, 10)
    return (
        f"DefaultEndpointsProtocol=https;AccountName={account};AccountKey={key};EndpointSuffix=core.windows.net",
        key,
    )


def azure_shared_access_key(rng: random.Random) -> Sample:
    key = pick(rng, B64, 43) + "="
    namespace = pick(rng, string.ascii_lowercase, 8)
    return (
        f"Endpoint=sb://{namespace}.servicebus.windows.net/;SharedAccessKeyName=RootManageSharedAccessKey;"
        f"SharedAccessKey={key}",
        key,
    )


def mapbox_secret_token(rng: random.Random) -> Sample:
    claims = {"u": pick(rng, string.ascii_lowercase, 10), "a": pick(rng, URLSAFE, 25)}
    return same(f"sk.{b64url(json.dumps(claims).encode())}.{pick(rng, URLSAFE, 22)}")


def slack_token(prefix: str) -> Generator:
    digits = string.digits
    return lambda rng: same(f"{prefix}{pick(rng, digits, 11)}-{pick(rng, digits, 13)}-{pick(rng, B62, 24)}")


def prefixed(prefix: str, alphabet: str, size: int) -> Generator:
    return lambda rng: same(prefix + with_digit(rng, alphabet, size))


def one_of(*generators: Generator) -> Generator:
    return lambda rng: rng.choice(generators)(rng)


FIXED: dict[str, Generator] = {
    "github_token": prefixed("ghp_", B62, 36),
    "github_oauth_token": prefixed("gho_", B62, 36),
    "github_user_token": prefixed("ghu_", B62, 36),
    "github_app_token": github_app_token,
    "github_refresh_token": prefixed("ghr_", B62, 76),
    "github_fine_grained_token": lambda rng: same(f"github_pat_{pick(rng, B62, 22)}_{pick(rng, B62, 59)}"),
    "slack_bot_token": slack_token("xoxb-"),
    "slack_user_token": lambda rng: same(
        f"xoxp-{pick(rng, string.digits, 11)}-{pick(rng, string.digits, 12)}-{pick(rng, string.digits, 13)}-"
        + pick(rng, HEX, 32)
    ),
    "slack_workspace_token": slack_token("xoxa-2-"),
    "slack_refresh_token": slack_token("xoxr-"),
    "slack_config_token": one_of(prefixed("xoxe.xoxp-1-", B62, 140), prefixed("xoxe-1-", B62, 140)),
    "slack_app_token": lambda rng: same(
        f"xapp-1-A{pick(rng, UPPER_DIGITS, 10)}-{pick(rng, string.digits, 13)}-{pick(rng, HEX, 64)}"
    ),
    "slack_webhook": lambda rng: same(
        f"https://hooks.slack.com/services/T{pick(rng, UPPER_DIGITS, 8)}/B{pick(rng, UPPER_DIGITS, 10)}/"
        + pick(rng, B62, 24)
    ),
    "aws_access_key_id": lambda rng: same(rng.choice(["AKIA", "ASIA"]) + pick(rng, UPPER_DIGITS, 16)),
    "anthropic_api_key": prefixed("sk-ant-api03-", URLSAFE, 95),
    "anthropic_admin_key": prefixed("sk-ant-admin01-", URLSAFE, 95),
    "anthropic_oauth_token": prefixed("sk-ant-oat01-", URLSAFE, 95),
    "anthropic_refresh_token": prefixed("sk-ant-ort01-", URLSAFE, 95),
    "openai_project_key": lambda rng: same(
        f"sk-proj-{pick(rng, URLSAFE, 74)}T3BlbkFJ{pick(rng, URLSAFE, 74)}"
    ),
    "openai_service_account_key": prefixed("sk-svcacct-", URLSAFE, 156),
    "openai_admin_key": prefixed("sk-admin-", URLSAFE, 156),
    "openai_key": lambda rng: same(f"sk-{pick(rng, B62, 20)}T3BlbkFJ{pick(rng, B62, 20)}"),
    "google_api_key": prefixed("AIza", URLSAFE, 35),
    "google_oauth_client_secret": prefixed("GOCSPX-", URLSAFE, 28),
    "google_oauth_token": prefixed("ya29.", URLSAFE, 150),
    "stripe_secret_key": lambda rng: same("sk_live_" + with_digit(rng, B62, rng.choice([24, 99]))),
    "stripe_restricted_key": prefixed("rk_live_", B62, 99),
    "stripe_test_key": one_of(prefixed("sk_test_", B62, 99), prefixed("rk_test_", B62, 99)),
    "stripe_webhook_secret": prefixed("whsec_", B62, 32),
    "npm_token": prefixed("npm_", B62, 36),
    "pypi_token": lambda rng: same("pypi-AgEIcHlwaS5vcmc" + pick(rng, URLSAFE, rng.randrange(60, 180))),
    "huggingface_token": prefixed("hf_", string.ascii_letters, 34),
    "gitlab_token": prefixed("glpat-", URLSAFE, 20),
    "gitlab_runner_token": prefixed("glrt-", URLSAFE, 26),
    "gitlab_deploy_token": prefixed("gldt-", URLSAFE, 26),
    "jwt": lambda rng: same(jwt(rng)),
    "pgp_private_key": lambda rng: pem(rng, "PGP PRIVATE KEY BLOCK"),
    "private_key": private_key,
    "sendgrid_api_key": lambda rng: same(f"SG.{pick(rng, URLSAFE, 22)}.{pick(rng, URLSAFE, 43)}"),
    "twilio_api_key": prefixed("SK", HEX, 32),
    "discord_bot_token": discord_bot_token,
    "discord_webhook": lambda rng: same(
        f"https://discord.com/api/webhooks/{pick(rng, string.digits, 18)}/{pick(rng, URLSAFE, 68)}"
    ),
    "digitalocean_token": one_of(prefixed("dop_v1_", HEX, 64), prefixed("doo_v1_", HEX, 64)),
    "azure_storage_key": azure_storage_key,
    "azure_shared_access_key": azure_shared_access_key,
    "shopify_token": one_of(prefixed("shpat_", HEX, 32), prefixed("shpss_", HEX, 32)),
    "mailgun_api_key": prefixed("key-", HEX, 32),
    "square_access_token": prefixed("EAAA", URLSAFE, 60),
    "square_oauth_secret": prefixed("sq0csp-", URLSAFE, 43),
    "atlassian_api_token": prefixed("ATATT3", URLSAFE + "=", 186),
    "linear_api_key": prefixed("lin_api_", B62, 40),
    "doppler_token": prefixed("dp.pt.", B62, 43),
    "vault_token": prefixed("hvs.", URLSAFE, 90),
    "databricks_token": prefixed("dapi", HEX, 32),
    "sentry_token": one_of(
        prefixed("sntryu_", HEX, 64), lambda rng: same("sntrys_" + b64url(rng.randbytes(90)))
    ),
    "grafana_token": lambda rng: same(f"glsa_{pick(rng, B62, 32)}_{pick(rng, HEX, 8)}"),
    "postman_api_key": lambda rng: same(f"PMAK-{pick(rng, HEX, 24)}-{pick(rng, HEX, 34)}"),
    "age_secret_key": prefixed("AGE-SECRET-KEY-1", BECH32, 58),
    "new_relic_key": prefixed("NRAK-", UPPER_DIGITS, 27),
    "pulumi_token": prefixed("pul-", HEX, 40),
    "tailscale_key": lambda rng: same(f"tskey-auth-k{pick(rng, B62, 10)}CNTRL-{pick(rng, B62, 33)}"),
    "docker_hub_token": prefixed("dckr_pat_", URLSAFE, 27),
    "rubygems_api_key": prefixed("rubygems_", HEX, 48),
    "supabase_token": prefixed("sbp_", HEX, 40),
    "planetscale_token": prefixed("pscale_tkn_", URLSAFE, 43),
    "mapbox_secret_token": mapbox_secret_token,
    "figma_token": prefixed("figd_", URLSAFE, 40),
}


def aws_secret_access_key(rng: random.Random) -> Sample:
    secret = pick(rng, B64, 40)
    key = rng.choice(["aws_secret_access_key", "AWS_SECRET_ACCESS_KEY", "SecretAccessKey"])
    return f"{key}{rng.choice(['=', ' = ', ': '])}{secret}", secret


def database_url(rng: random.Random) -> Sample:
    scheme = rng.choice(
        [
            "postgres",
            "postgresql",
            "postgresql+psycopg",
            "mysql",
            "mongodb",
            "mongodb+srv",
            "redis",
            "rediss",
            "amqp",
        ]
    )
    password = with_digit(rng, PASSWORD, rng.randrange(12, 28))
    host = f"db-{pick(rng, string.ascii_lowercase, 6)}.internal"
    return f"{scheme}://app_user:{password}@{host}:5432/orders", password


def url_password(rng: random.Random) -> Sample:
    password = with_digit(rng, PASSWORD, rng.randrange(12, 28))
    return f"https://deploy:{password}@git.example.com/acme/widgets.git", password


def libpq_password(rng: random.Random) -> Sample:
    password = with_digit(rng, PASSWORD, rng.randrange(10, 24))
    if rng.random() < 0.5:
        return (
            f"host=db.internal port=5432 dbname=orders user=app password={password} sslmode=require",
            password,
        )
    return f"password={password} host=db.internal dbname=orders", password


def authorization(rng: random.Random) -> Sample:
    if rng.random() < 0.5:
        value = base64.b64encode(f"deploy:{with_digit(rng, B62, 20)}".encode()).decode()
        return f"Authorization: Basic {value}", value
    value = with_digit(rng, URLSAFE + ".~", rng.randrange(24, 64))
    return f"Authorization: {rng.choice(['Bearer', 'token'])} {value}", value


def aws_session_token(rng: random.Random) -> Sample:
    secret = pick(rng, B64, 300) + "=="
    return f"aws_session_token = {secret}", secret


def datadog_api_key(rng: random.Random) -> Sample:
    secret = with_digit(rng, HEX, 32)
    return f"DD_API_KEY={secret}", secret


# Context-bound formats: the snippet carries its own context, so it survives any wrapper below.
CONTEXTUAL: dict[str, Generator] = {
    "aws_secret_access_key": aws_secret_access_key,
    "aws_session_token": aws_session_token,
    "datadog_api_key": datadog_api_key,
    "database_url": database_url,
    "url_password": url_password,
    "libpq_password": libpq_password,
    "authorization": authorization,
}


def wrap(kind: str, snippet: str) -> str:
    """Embed a snippet the way credentials leak: config files, payloads, logs, diffs, tracebacks."""
    if kind == "env":
        return f"# service settings\nSERVICE_CREDENTIAL={snippet}\nLOG_LEVEL=info\n"
    if kind == "json":
        return json.dumps({"name": "billing", "credential": snippet, "retries": 3}, indent=2)
    if kind == "yaml":
        return f"service:\n  name: billing\n  credential: {snippet}\n  retries: 3\n"
    if kind == "python":
        return f'import os\n\nCREDENTIAL = "{snippet}"\nTIMEOUT = 30\n'
    if kind == "url":
        return f"GET https://api.example.com/v1/items?access={snippet}&page=2 HTTP/1.1"
    if kind == "header":
        return (
            f"POST /v1/charges HTTP/1.1\r\nHost: api.example.com\r\nX-Service-Credential: {snippet}\r\n\r\n"
        )
    if kind == "log":
        return (
            f"2024-05-01T12:00:00.123Z WARN worker-3 upstream refused credential={snippet} status=401 retry=2"
        )
    if kind == "markdown":
        return f"To reproduce:\n\n```bash\nexport SERVICE_CREDENTIAL='{snippet}'\n./run.sh\n```\n"
    if kind == "diff":
        header = "--- a/.env\n+++ b/.env\n@@ -1,2 +1,2 @@\n LOG_LEVEL=info\n-SERVICE_CREDENTIAL=\n"
        return f"{header}+SERVICE_CREDENTIAL={snippet}\n"
    if kind == "traceback":
        return (
            'Traceback (most recent call last):\n  File "app.py", line 12, in <module>\n    connect()\n'
            f"ValueError: bad token {snippet!r}\n"
        )
    raise ValueError(kind)


CONTEXTS = ("env", "json", "yaml", "python", "url", "header", "log", "markdown", "diff", "traceback")


def generic_assignment(rng: random.Random, kind: str) -> Sample:
    """A high-entropy value assigned to a secret-sounding name, written the way `kind` writes it."""
    alphabet = rng.choice([B62, HEX, B64, URLSAFE])
    secret = with_digit(rng, alphabet, rng.randrange(16, 48))
    name = rng.choice(
        ["secret", "client_secret", "api_key", "apiKey", "access_key", "private_key", "password"]
    )
    name = rng.choice([name, name.upper(), f"stripe_{name}", "db_passwd", "auth_token"])
    forms = {
        "env": f"{name.upper()}={secret}\n",
        "env_quoted": f'export {name.upper()}="{secret}"\n',
        "json": json.dumps({"service": "billing", name: secret}),
        "yaml": f"billing:\n  {name}: {secret}\n",
        "yaml_quoted": f"billing:\n  {name}: '{secret}'\n",
        "python": f'{name} = "{secret}"\n',
        "python_kwarg": f'client = Client(region="eu", {name}="{secret}")\n',
        "python_annotated": f'{name}: str = "{secret}"\n',
        "diff": f"@@ -3 +3 @@\n-{name.upper()}=\n+{name.upper()}={secret}\n",
        "log": f"2024-05-01 12:00:00 DEBUG config loaded {name}={secret} region=eu",
    }
    return forms[kind], secret


GENERIC_FORMS = (
    "env", "env_quoted", "json", "yaml", "yaml_quoted",
    "python", "python_kwarg", "python_annotated", "diff", "log",
)  # fmt: skip
