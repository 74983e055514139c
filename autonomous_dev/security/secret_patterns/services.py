"""Fixed-prefix tokens of code hosts, clouds and SaaS providers (the formats the tool met first)."""

from __future__ import annotations

from .checks import has_letters_and_digits
from .kinds import Token

_B62 = "[A-Za-z0-9]"
_URLSAFE = "[A-Za-z0-9_-]"
_SLACK = "[A-Za-z0-9-]{20,}"
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
    Token(
        "slack_webhook",
        ("https://hooks.slack.com/", "http://hooks.slack.com/", "hooks.slack.com/"),
        r"(?:services|workflows|triggers)/[A-Za-z0-9_/+-]{20,}",
    ),
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
    Token("stripe_secret_key", ("sk_prod_", "rk_prod_"), _B62 + "{24,}"),
    Token("stripe_webhook_secret", ("whsec_",), r"[A-Za-z0-9+/=]{32,}"),
    Token("npm_token", ("npm_",), _B62 + "{36}(?![A-Za-z0-9])", True),
    Token("pypi_token", ("pypi-AgEIcHlwaS5vcmc", "pypi-AgENdGVzdC5weXBpLm9yZw"), _URLSAFE + "{50,}"),
    Token("huggingface_token", ("hf_",), _B62 + "{34,}", True),
    Token("gitlab_token", ("glpat-",), _URLSAFE + "{20,}"),
    Token(
        "gitlab_token",
        ("gloas-", "glptt-", "glft-", "glimt-", "glagent-", "glsoat-", "glffct-", "glcbt-", "glrtr-"),
        r"[A-Za-z0-9_-]{20,}",
    ),
    Token("gitlab_token", ("GR1348941",), _URLSAFE + "{20,}"),
    Token("gitlab_runner_token", ("glrt-",), _URLSAFE + "{20,}"),
    Token("gitlab_deploy_token", ("gldt-",), _URLSAFE + "{20,}"),
    Token("jwt", ("eyJ",), r"[A-Za-z0-9_-]{8,}\.ey[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*"),
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
    Token("atlassian_api_token", ("ATATT3", "ATCTT3"), r"[A-Za-z0-9_=-]{150,}"),
    Token("bitbucket_app_password", ("ATBB",), r"[A-Za-z0-9_=-]{28,}", True),
    Token("linear_api_key", ("lin_api_",), _B62 + "{40}"),
    Token("doppler_token", ("dp.pt.", "dp.st.", "dp.ct.", "dp.sa.", "dp.scim."), _B62 + "{40,44}"),
    Token("vault_token", ("hvs.", "hvb.", "hvr."), _URLSAFE + "{24,}", True),
    Token(
        "databricks_token", ("dapi",), r"[a-f0-9]{32}(?:-\d)?(?![A-Za-z0-9])", True, has_letters_and_digits
    ),
    Token("sentry_token", ("sntrys_", "sntryu_"), r"[A-Za-z0-9_=+/-]{40,}"),
    Token("grafana_token", ("glsa_", "glc_"), r"[A-Za-z0-9_=+/-]{32,}"),
    Token("postman_api_key", ("PMAK-",), "[A-Za-z0-9]{24}-[A-Za-z0-9]{34}"),
    Token("age_secret_key", ("AGE-SECRET-KEY-1",), "[QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L]{58}"),
    Token("new_relic_key", ("NRAK-", "NRII-", "NRJS-", "NRIQ-", "NRRA-", "NRAA-"), "[A-Za-z0-9_-]{27,40}"),
    Token("new_relic_key", ("eu01xx",), r"[a-f0-9]{34}(?![A-Za-z0-9])", True),
    Token("pulumi_token", ("pul-",), r"[a-f0-9]{40}(?![A-Za-z0-9])", True),
    Token("tailscale_key", ("tskey-",), r"[a-z]+-[A-Za-z0-9]{8,}-[A-Za-z0-9]{16,}"),
    Token("docker_hub_token", ("dckr_pat_", "dckr_oat_"), _URLSAFE + "{27,}"),
    Token("rubygems_api_key", ("rubygems_",), "[a-f0-9]{48}"),
    Token("supabase_token", ("sbp_",), r"[a-f0-9]{40}(?![A-Za-z0-9])", True),
    Token("planetscale_token", ("pscale_tkn_", "pscale_pw_", "pscale_oauth_"), r"[A-Za-z0-9_=.-]{32,}"),
    Token("mapbox_secret_token", ("sk.eyJ",), r"[A-Za-z0-9_-]{50,}\.[A-Za-z0-9_-]{20,}"),
    Token("figma_token", ("figd_",), _URLSAFE + "{40,}"),
)
