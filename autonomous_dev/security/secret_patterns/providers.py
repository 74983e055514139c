"""Fixed-prefix tokens of dev tools, clouds, AI, payment, chat, mail and observability providers.

Formats learned from providers' documentation and public rule catalogues; the regexes are our own.
"""

from __future__ import annotations

from .checks import has_letters_and_digits, has_no_zero_runs
from .kinds import Token

_B62 = "[A-Za-z0-9]"
_URLSAFE = "[A-Za-z0-9_-]"
_END = "(?![A-Za-z0-9_-])"
_UUID = "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"

DEV_TOOLS: tuple[Token, ...] = (
    Token("sourcegraph_token", ("sgp_",), r"(?:[A-Fa-f0-9]{16}_|local_)?[A-Fa-f0-9]{40}" + _END, True),
    Token("sonarqube_token", ("squ_", "sqp_", "sqa_"), r"[A-Fa-f0-9]{40}" + _END, True),
    Token("jfrog_api_key", ("AKCp",), _B62 + "{60,}", True),
    Token("jfrog_identity_token", ("cmVmdGtuOjAxOj",), r"[A-Za-z0-9+/=]{50,}", True),
    Token("nuget_api_key", ("oy2",), "[a-z0-9]{43}" + _END, True, has_letters_and_digits),
    Token("onepassword_token", ("ops_eyJ",), r"[A-Za-z0-9+/=_-]{100,}", True),
    Token(
        "onepassword_secret_key",
        ("A3-",),
        r"[A-Z0-9]{6}-(?:[A-Z0-9]{11}|[A-Z0-9]{6}-[A-Z0-9]{5})-[A-Z0-9]{5}-[A-Z0-9]{5}-[A-Z0-9]{5}",
        True,
    ),
    Token("netlify_token", ("nfp_",), _B62 + "{36,}", True),
    Token("vercel_token", ("vcp_", "vci_", "vca_", "vcr_", "vck_"), _B62 + "{24,}", True),
    Token("fly_token", ("fo1_", "fm1r_", "fm1a_", "fm2_"), r"[A-Za-z0-9_+/=-]{40,}", True),
    Token("heroku_token", ("HRKU-",), r"[A-Za-z0-9_-]{40,}", True),
)
CLOUD: tuple[Token, ...] = (
    Token("aws_access_key_id", ("A3T",), r"[A-Z0-9]{17}(?![A-Za-z0-9])", True),
    Token("aws_bedrock_key", ("ABSKQmVkcm9ja0FQSUtleS",), r"[A-Za-z0-9+/=]{40,}"),
    Token("aws_bedrock_key", ("bedrock-api-key-YmVkcm9jay5hbWF6b25hd3MuY29t",), r"[A-Za-z0-9+/=%&_.-]{40,}"),
    Token("alibaba_access_key_id", ("LTAI",), _B62 + "{12,24}(?![A-Za-z0-9])", True, has_letters_and_digits),
    Token("cloudflare_origin_ca_key", ("v1.0-",), "[a-f0-9]{24}-[a-f0-9]{146}", True),
)
AI: tuple[Token, ...] = (
    Token("groq_api_key", ("gsk_",), _B62 + "{48,}", True),
    Token("perplexity_api_key", ("pplx-",), _B62 + "{40,}", True),
    Token("xai_api_key", ("xai-",), _B62 + "{70,}", True),
    Token("together_api_key", ("tgp_v1_",), _URLSAFE + "{40,}"),
    Token("huggingface_token", ("api_org_",), _B62 + "{30,}", True),
    Token("replicate_token", ("r8_",), _B62 + "{37}" + _END, True, has_letters_and_digits),
)
PAYMENTS: tuple[Token, ...] = (
    Token("square_access_token", ("sq0atp-",), _URLSAFE + "{22,}"),
    Token("braintree_access_token", ("access_token$production$", "access_token$sandbox$"), r"\w{16}\$\w{32}"),
    Token("plaid_access_token", ("access-production-", "access-sandbox-", "access-development-"), _UUID),
    Token("flutterwave_key", ("FLWSECK-", "FLWSECK_TEST-", "FLWSECK_TEST"), r"[A-Za-z0-9]{12,}(?:-X)?"),
    Token("gocardless_token", ("live_",), _URLSAFE + "{40}" + _END, True, has_letters_and_digits),
    Token("shippo_token", ("shippo_live_", "shippo_test_"), "[a-fA-F0-9]{40}"),
    Token("easypost_api_key", ("EZAK", "EZTK"), "[A-Za-z0-9]{54}", True),
)
CHAT: tuple[Token, ...] = (
    Token(
        "teams_webhook",
        (".webhook.office.com/webhookb2/", "outlook.office.com/webhook/"),
        r"[A-Za-z0-9@/_-]{60,}",
    ),
    Token("x_bearer_token", ("AAAAAAAAAAAAAAAAAAAAA",), r"[A-Za-z0-9%]{60,}"),
    Token("meta_access_token", ("EAA",), _B62 + "{90,}", True, has_no_zero_runs),
    Token("instagram_token", ("IGQV",), _URLSAFE + "{100,}", True),
)
SAAS: tuple[Token, ...] = (
    Token("brevo_api_key", ("xkeysib-", "xsmtpsib-"), "[a-f0-9]{64}-[A-Za-z0-9]{16}"),
    Token("notion_token", ("secret_",), _B62 + "{43}" + _END, True, has_letters_and_digits),
    Token("mailgun_key", ("pubkey-",), "[a-f0-9]{32}", True),
)
OBSERVABILITY: tuple[Token, ...] = (
    Token("grafana_token", ("eyJrIjoi",), r"[A-Za-z0-9+/]{50,}={0,2}", True),
    Token("posthog_key", ("phx_", "phc_"), _URLSAFE + "{40,}", True),
    Token("launchdarkly_key", ("api-", "sdk-", "mob-"), _UUID, True),
)
PROVIDER_TOKENS = DEV_TOOLS + CLOUD + AI + PAYMENTS + CHAT + SAAS + OBSERVABILITY
