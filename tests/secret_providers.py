"""Random provider-format credentials (built at run time, never committed) for the newer detectors.

Each generator gives (snippet, secret); `PROVIDER_GROUPS` sorts them by the issue's categories.
"""

from __future__ import annotations

import base64
import random
import string
import uuid

from tests.secret_samples import (
    B62,
    B64,
    HEX,
    UPPER_DIGITS,
    URLSAFE,
    Generator,
    Sample,
    one_of,
    pick,
    prefixed,
    same,
    with_digit,
)

LOWER_DIGITS = string.ascii_lowercase + string.digits
BASE32 = string.ascii_uppercase + "234567"


def uid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def joined(*parts: Generator | str) -> Generator:
    """A token made of fixed strings and generated parts, in order."""

    def generate(rng: random.Random) -> Sample:
        return same("".join(part if isinstance(part, str) else part(rng)[0] for part in parts))

    return generate


def chars(alphabet: str, size: int) -> Generator:
    return lambda rng: same(with_digit(rng, alphabet, size))


def onepassword_secret_key(rng: random.Random) -> Sample:
    groups = [pick(rng, UPPER_DIGITS, n) for n in (6, 11, 5, 5, 5)]
    return same("A3-" + "-".join(groups))


def azure_client_secret(rng: random.Random) -> Sample:
    alphabet = B62 + "_~."
    return same(f"{pick(rng, B62, 3)}{rng.randrange(10)}Q~{with_digit(rng, alphabet, 34)}")


def telegram_bot_token(rng: random.Random) -> Sample:
    return same(f"{rng.randrange(10**8, 10**10)}:AA{with_digit(rng, URLSAFE, 33)}")


def teams_webhook(rng: random.Random) -> Sample:
    tenant = pick(rng, string.ascii_lowercase, 8)
    path = f"{uid(rng)}@{uid(rng)}/IncomingWebhook/{pick(rng, HEX, 32)}/{uid(rng)}"
    return f"https://{tenant}.webhook.office.com/webhookb2/{path}", path


def vault_legacy_token(rng: random.Random) -> Sample:
    """Legacy `s.` tokens are too short a prefix to find alone: they are found on a key name."""
    token = f"s.{with_digit(rng, B62, 24)}"
    return f"VAULT_TOKEN={token}", token


def bedrock_key(rng: random.Random) -> Sample:
    body = base64.b64encode(b"BedrockAPIKey-" + rng.randbytes(80)).decode()
    return same("ABSK" + body)


PROVIDER_GROUPS: dict[str, dict[str, Generator]] = {
    "dev_tools": {
        "gitlab_token": one_of(
            prefixed("glptt-", HEX, 40), prefixed("gloas-", HEX, 64), prefixed("GR1348941", URLSAFE, 20)
        ),
        "bitbucket_app_password": prefixed("ATBB", B62, 32),
        "atlassian_api_token": prefixed("ATCTT3", URLSAFE, 180),
        "sourcegraph_token": lambda rng: same(f"sgp_{pick(rng, HEX, 16)}_{with_digit(rng, HEX, 40)}"),
        "sonarqube_token": one_of(prefixed("squ_", HEX, 40), prefixed("sqp_", HEX, 40)),
        "jfrog_api_key": prefixed("AKCp", B62, 69),
        "jfrog_identity_token": prefixed("cmVmdGtuOjAxOj", B62, 64),
        "nuget_api_key": prefixed("oy2", LOWER_DIGITS, 43),
        "docker_hub_token": prefixed("dckr_oat_", URLSAFE, 32),
        "vault_token": vault_legacy_token,
        "onepassword_token": prefixed("ops_eyJ", B64, 250),
        "onepassword_secret_key": onepassword_secret_key,
        "netlify_token": prefixed("nfp_", B62, 36),
        "vercel_token": prefixed("vcp_", B62, 40),
        "fly_token": prefixed("fo1_", URLSAFE, 43),
        "heroku_token": prefixed("HRKU-", URLSAFE, 60),
        "terraform_cloud_token": joined(chars(B62, 14), ".atlasv1.", chars(URLSAFE, 67)),
    },
    "cloud": {
        "aws_access_key_id": prefixed("A3T", UPPER_DIGITS, 17),
        "aws_bedrock_key": bedrock_key,
        "alibaba_access_key_id": prefixed("LTAI", B62, 20),
        "cloudflare_origin_ca_key": joined("v1.0-", chars(HEX, 24), "-", chars(HEX, 146)),
        "azure_client_secret": azure_client_secret,
    },
    "ai": {
        "groq_api_key": prefixed("gsk_", B62, 52),
        "perplexity_api_key": prefixed("pplx-", B62, 48),
        "xai_api_key": prefixed("xai-", B62, 80),
        "together_api_key": prefixed("tgp_v1_", URLSAFE, 43),
        "huggingface_token": prefixed("api_org_", string.ascii_letters, 34),
        "replicate_token": prefixed("r8_", B62, 37),
    },
    "payments": {
        "stripe_secret_key": prefixed("sk_prod_", B62, 40),
        "square_access_token": prefixed("sq0atp-", URLSAFE, 22),
        "braintree_access_token": joined("access_token$production$", chars(B62, 16), "$", chars(HEX, 32)),
        "plaid_access_token": lambda rng: same(f"access-production-{uid(rng)}"),
        "flutterwave_key": joined("FLWSECK-", chars(HEX, 32), "-X"),
        "gocardless_token": prefixed("live_", URLSAFE, 40),
        "shippo_token": prefixed("shippo_live_", HEX, 40),
        "easypost_api_key": prefixed("EZAK", B62, 54),
    },
    "chat": {
        "slack_webhook": joined(
            "https://hooks.slack.com/workflows/T", chars(UPPER_DIGITS, 10), "/A", chars(B62, 40)
        ),
        "telegram_bot_token": telegram_bot_token,
        "teams_webhook": teams_webhook,
        "x_bearer_token": joined("AAAAAAAAAAAAAAAAAAAAA", chars(B62, 30), "%3D", chars(B62, 50)),
        "meta_access_token": prefixed("EAA", B62, 150),
        "instagram_token": prefixed("IGQV", URLSAFE, 160),
    },
    "saas": {
        "brevo_api_key": joined("xkeysib-", chars(HEX, 64), "-", chars(B62, 16)),
        "notion_token": prefixed("secret_", B62, 43),
        "mailgun_key": prefixed("pubkey-", HEX, 32),
        "mailchimp_api_key": joined(chars(HEX, 32), "-us", chars(string.digits, 2)),
        "postman_api_key": joined("PMAK-", chars(B62, 24), "-", chars(B62, 34)),
    },
    "observability": {
        "new_relic_key": one_of(prefixed("NRII-", URLSAFE, 32), joined(chars(HEX, 36), "NRAL")),
        "grafana_token": prefixed("eyJrIjoi", B62, 80),
        "posthog_key": prefixed("phx_", URLSAFE, 43),
        "launchdarkly_key": lambda rng: same(f"api-{uid(rng)}"),
    },
}
PROVIDERS: dict[str, Generator] = {
    name: generator for group in PROVIDER_GROUPS.values() for name, generator in group.items()
}
