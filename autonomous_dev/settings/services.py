"""The sections about where the tool runs and what it talks to: the daemon, its webhook port, the state
store, logging, GitHub, Claude, git's identity, prices, security and the sandbox."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator

from autonomous_dev.settings.sections import DEFAULT_GITHUB_API_URL, Section, env, split_commas


class DaemonSettings(Section):
    loop_interval_ms: int = Field(
        60_000,
        ge=100,
        le=86_400_000,
        description="Pause between daemon cycles.",
        json_schema_extra=env("LOOP_INTERVAL_MS"),
    )
    shutdown_grace_seconds: float = Field(
        60,
        ge=0,
        le=3600,
        description="On the first SIGINT/SIGTERM, how long in-flight tasks may finish.",
        json_schema_extra=env("SHUTDOWN_GRACE_SECONDS"),
    )
    lease_seconds: float = Field(
        120,
        ge=1,
        le=3600,
        description="A claim expires this long after its last heartbeat; then another worker may take it.",
        json_schema_extra=env("LEASE_SECONDS"),
    )


class WebhookSettings(Section):
    """GitHub webhook deliveries wake the daemon; the secret is WEBHOOK_SECRET (docs/webhooks.md)."""

    port: int | None = Field(
        None,
        ge=0,
        le=65535,
        description="`start` serves GitHub webhook deliveries on this port (`--webhook-port`); none: it "
        "only polls. Needs the WEBHOOK_SECRET credential.",
        json_schema_extra=env("WEBHOOK_PORT"),
    )
    path: str = Field(
        "/webhook",
        pattern=r"^/[A-Za-z0-9/_.-]{0,200}$",
        description="URL path deliveries are posted to; /healthz and /metrics are served on the same port "
        "unless `--metrics-port` is given.",
        json_schema_extra=env("WEBHOOK_PATH"),
    )
    host: str = Field(
        "127.0.0.1",
        min_length=1,
        description="Address the webhook port listens on: loopback behind a TLS reverse proxy (recommended), "
        "or `0.0.0.0` to take deliveries directly.",
        json_schema_extra=env("WEBHOOK_HOST"),
    )


class StateSettings(Section):
    backend: Literal["sqlite", "postgres"] = Field(
        "sqlite",
        description="Durable state store: embedded SQLite, or Postgres for several daemons.",
        json_schema_extra=env("STATE_BACKEND"),
    )
    sqlite_path: Path | None = Field(
        None,
        description="SQLite file; default WORK_DIR/state.db.",
        json_schema_extra=env("STATE_SQLITE_PATH"),
    )


class LoggingSettings(Section):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        "INFO",
        description="Log level.",
        json_schema_extra=env("LOG_LEVEL"),
    )
    format: Literal["text", "json"] = Field(
        "text",
        description="`json` prints one JSON object per line.",
        json_schema_extra=env("LOG_FORMAT"),
    )
    file: Path | None = Field(
        None,
        description="Also append JSON lines (audit events included) to this file, e.g. for a SIEM agent.",
        json_schema_extra=env("LOG_FILE"),
    )

    @field_validator("level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value


class GitHubSettings(Section):
    api_url: str = Field(
        DEFAULT_GITHUB_API_URL,
        description="GitHub REST API base URL (GitHub Enterprise: https://HOST/api/v3).",
        json_schema_extra=env("GITHUB_API_URL"),
    )
    seconds_between_requests: float = Field(
        0.0,
        ge=0,
        le=60,
        description="Pause between any two GitHub API requests made with one token. 0: reads are not "
        "spaced, as GitHub asks (a token's requests go one at a time, and GitHub's Retry-After and "
        "rate-limit answers still pause them); set it only for a server that asks for it.",
        json_schema_extra=env("GITHUB_SECONDS_BETWEEN_REQUESTS"),
    )
    seconds_between_writes: float = Field(
        1.0,
        ge=0,
        le=60,
        description="Pause between two GitHub writes (labels, comments, PRs, merges) made with one token, "
        "shared by every worker and repository of the process; GitHub asks for at least 1 s.",
        json_schema_extra=env("GITHUB_SECONDS_BETWEEN_WRITES"),
    )


class ClaudeSettings(Section):
    model: str = Field(
        "",
        description="Claude model id; empty means the newest Sonnet the installed anthropic SDK knows.",
        json_schema_extra=env("CLAUDE_MODEL"),
    )
    base_url: str = Field(
        "",
        description="Messages API base URL; empty means Anthropic's.",
        json_schema_extra=env("ANTHROPIC_BASE_URL"),
    )
    max_retries: int = Field(
        4,
        ge=0,
        le=10,
        description="SDK retries on 429/5xx.",
        json_schema_extra=env("CLAUDE_MAX_RETRIES"),
    )
    oauth_token_url: str = Field(
        "",
        description="OAuth 2.0 token endpoint used to refresh CLAUDE_ACCESS_TOKEN (your own OAuth client).",
        json_schema_extra=env("CLAUDE_OAUTH_TOKEN_URL"),
    )
    oauth_client_id: str = Field(
        "",
        description="Client id registered for this tool at that endpoint.",
        json_schema_extra=env("CLAUDE_OAUTH_CLIENT_ID"),
    )
    max_output_tokens: int = Field(
        8192,
        ge=256,
        le=32_000,
        description="max_tokens of one model reply.",
        json_schema_extra=env("CLAUDE_MAX_OUTPUT_TOKENS"),
    )


class GitSettings(Section):
    author_name: str = Field(
        "autonomous-dev[bot]",
        min_length=1,
        description="Commit author name.",
        json_schema_extra=env("GIT_BOT_NAME"),
    )
    author_email: str = Field(
        "autonomous-dev@users.noreply.github.com",
        min_length=3,
        description="Commit author e-mail.",
        json_schema_extra=env("GIT_BOT_EMAIL"),
    )


class ModelPrices(Section):
    """USD per million tokens for one model."""

    input: float = Field(ge=0)
    output: float = Field(ge=0)
    cache_write: float = Field(ge=0)
    cache_read: float = Field(ge=0)


class PricingSettings(Section):
    models: dict[str, ModelPrices] = Field(
        {},
        description="Per-model prices in USD per million tokens, "
        '{"model-id": {"input", "output", "cacheWrite", "cacheRead"}}; '
        "other models use their family's list price (sonnet, haiku, opus).",
    )


class RedactPattern(Section):
    pattern: str
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")


class SecuritySettings(Section):
    allow_workflow_changes: bool = Field(
        False,
        description="Let the tool change .github/workflows (a token then needs the `workflow` scope).",
        json_schema_extra=env("ALLOW_WORKFLOW_CHANGES"),
    )
    allowed_repos: list[str] = Field(
        [],
        description="Patterns such as `myorg/*`; when set, every configured repository must match one.",
        json_schema_extra=env("ALLOWED_REPOS"),
    )
    allow_public_repos: bool = Field(
        False,
        description="Work on public repositories too (anyone can write issues there).",
        json_schema_extra=env("ALLOW_PUBLIC_REPOS"),
    )
    require_author_permission: bool = Field(
        False,
        description="Also require the issue's author to have write permission, not only the labeller.",
        json_schema_extra=env("REQUIRE_AUTHOR_PERMISSION"),
    )
    allowed_hosts: list[str] = Field(
        [],
        description="Hosts the GitHub, Claude and OAuth endpoints may use besides https and loopback.",
        json_schema_extra=env("ALLOWED_HOSTS"),
    )
    redact_patterns: list[RedactPattern] = Field(
        [], description='Extra secrets to redact: [{"pattern": REGEX, "name": NAME}].'
    )
    max_issue_chars: int = Field(
        20_000,
        ge=1000,
        le=500_000,
        description="Longer issue bodies and comments are cut before they reach the model.",
        json_schema_extra=env("MAX_ISSUE_CHARS"),
    )

    _split_lists = field_validator("allowed_repos", "allowed_hosts", mode="before")(split_commas)

    @field_validator("redact_patterns")
    @classmethod
    def _compiles(cls, value: list[RedactPattern]) -> list[RedactPattern]:
        from autonomous_dev.security.redact import Redactor

        Redactor(patterns=[(p.name, p.pattern) for p in value])  # raises ValueError naming the bad one
        return value


class SandboxSettings(Section):
    """Where repository code (build, tests, the model's `run_tests`) runs; see docs/security.md."""

    backend: Literal["auto", "bwrap", "docker", "podman", "none"] = Field(
        "auto",
        description="`auto`: bubblewrap when it is installed (else the tool refuses to run repository code); "
        "`docker`/`podman`: a container of `sandbox.image`; `none`: directly on the host (needs "
        "`sandbox.allowUnsandboxed` for `start`).",
        json_schema_extra=env("SANDBOX_BACKEND"),
    )
    image: str = Field(
        "",
        description="Container image for the docker and podman backends (holding the project's toolchain).",
        json_schema_extra=env("SANDBOX_IMAGE"),
    )
    allow_unsandboxed: bool = Field(
        False,
        description="Let the daemon start with `sandbox.backend = none`: repository code then sees the "
        "daemon's files and the network.",
        json_schema_extra=env("SANDBOX_ALLOW_UNSANDBOXED"),
    )
    memory_mb: int = Field(
        4096,
        ge=0,
        le=1_048_576,
        description="Memory one command may allocate (RLIMIT_DATA; containers: --memory); 0: no limit.",
        json_schema_extra=env("SANDBOX_MEMORY_MB"),
    )
    max_processes: int = Field(
        512,
        ge=0,
        le=100_000,
        description="Processes one command may run at once (RLIMIT_NPROC, not enforced for root; "
        "containers: --pids-limit); 0: no limit.",
        json_schema_extra=env("SANDBOX_MAX_PROCESSES"),
    )
    setup_network: bool = Field(
        True,
        description="Let the set-up step (installing dependencies) use the network; build, tests and the "
        "shell tool never have it.",
        json_schema_extra=env("SANDBOX_SETUP_NETWORK"),
    )
    read_only_paths: list[str] = Field(
        [],
        description="More host paths the sandbox shows read-only (env: comma-separated), e.g. a toolchain "
        "under HOME such as `~/.rustup`; the system directories and the PATH's directories are shown "
        "already.",
        json_schema_extra=env("SANDBOX_READ_ONLY_PATHS"),
    )

    _split = field_validator("read_only_paths", mode="before")(split_commas)
