"""The Settings model, its sources (flags > env > .env > JSON config > defaults) and their validation."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

from dotenv import dotenv_values
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic.alias_generators import to_camel
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from .endpoints import endpoint_problem
from .errors import ConfigError

DEFAULT_CONFIG_FILE = "autonomous-dev.config.json"
DEFAULT_GITHUB_API_URL = "https://api.github.com"

# A value shaped like a credential: such values belong in the environment, never in the JSON file.
CREDENTIAL_KEY = re.compile(r"(?i)(token|secret|password|passwd|api_?key|credentials?)$")
URL_PASSWORD = re.compile(r"://[^/\s:@]+:[^/\s@]+@")
TOKEN_SHAPE = re.compile(r"^(gh[pousr]_|github_pat_|sk-ant-|sk-|xox[abpr]-)[A-Za-z0-9_\-]{8,}")


def env(name: str) -> Any:
    """Field metadata naming the environment variable that sets this field."""
    return {"env": name}


class Section(BaseModel):
    """A camelCase section of the JSON config file."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True)


class RepoSettings(Section):
    owner: str = Field(
        "", description="Repository owner (user or organisation).", json_schema_extra=env("REPO_OWNER")
    )
    name: str = Field("", description="Repository name.", json_schema_extra=env("REPO_NAME"))
    repos: list[str] = Field(
        [],
        description="More repositories (owner/name each; env: comma-separated); the JSON file may also "
        "give them as a top-level `repos` list.",
        json_schema_extra=env("REPOS"),
    )
    base_branch: str = Field(
        "",
        description="Branch PRs target; empty means the repository's default branch.",
        json_schema_extra=env("REPO_BASE_BRANCH"),
    )

    @field_validator("repos", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        return (
            [part.strip() for part in value.split(",") if part.strip()] if isinstance(value, str) else value
        )

    @field_validator("repos")
    @classmethod
    def _owner_slash_name(cls, value: list[str]) -> list[str]:
        bad = [name for name in value if not re.fullmatch(r"[\w.-]+/[\w.-]+", name)]
        if bad:
            raise ValueError(f"not owner/name: {', '.join(bad)}")
        return value

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.name}"

    def all_full_names(self) -> list[str]:
        """The main repository (if set) and the others, each once, in order."""
        names = [self.full_name] if self.owner and self.name else []
        return list(dict.fromkeys([*names, *self.repos]))


class DiscoverySettings(Section):
    issue_label: str = Field(
        "autonomous-dev",
        min_length=1,
        description="Label that marks issues for the tool.",
        json_schema_extra=env("ISSUE_LABEL"),
    )
    in_progress_label: str = Field(
        "in-progress",
        min_length=1,
        description="Label set while the tool works on an issue.",
        json_schema_extra=env("IN_PROGRESS_LABEL"),
    )


class ExecutionSettings(Section):
    parallel_workers: int = Field(
        2,
        ge=1,
        le=32,
        description="Issues worked on at the same time.",
        json_schema_extra=env("PARALLEL_WORKERS"),
    )
    timeout_minutes: int = Field(
        30,
        ge=1,
        le=480,
        description="Time limit for one issue.",
        json_schema_extra=env("TIMEOUT_MINUTES"),
    )
    work_dir: Path = Field(
        Path("~/.autonomous-dev"),
        validate_default=True,
        description="Where mirrors, worktrees and state live.",
        json_schema_extra=env("WORK_DIR"),
    )
    max_turns: int = Field(
        40,
        ge=1,
        le=500,
        description="Model turns allowed for one issue.",
        json_schema_extra=env("MAX_TURNS"),
    )
    max_tokens_per_task: int = Field(
        2_000_000,
        ge=1000,
        description="Tokens (input + output, cached included) allowed for one issue.",
        json_schema_extra=env("MAX_TOKENS_PER_TASK"),
    )
    max_cost_usd_per_task: float = Field(
        5.0,
        gt=0,
        description="Estimated USD one issue may cost.",
        json_schema_extra=env("MAX_COST_USD_PER_TASK"),
    )
    max_cost_usd_per_day: float = Field(
        50.0,
        gt=0,
        description="Estimated USD per UTC day; when reached no new work is claimed until tomorrow.",
        json_schema_extra=env("MAX_COST_USD_PER_DAY"),
    )
    max_attempts: int = Field(
        3,
        ge=1,
        le=20,
        description="Attempts before an issue is labelled needs-human.",
        json_schema_extra=env("MAX_ATTEMPTS"),
    )
    backoff_minutes: list[float] = Field(
        [10, 60, 360],
        min_length=1,
        description="Wait before retrying after the 1st, 2nd, ... failure (the last repeats).",
        json_schema_extra=env("BACKOFF_MINUTES"),
    )
    per_repo_workers: int = Field(
        0,
        ge=0,
        le=32,
        description="Most workers on one repository at once; 0 means no cap beyond parallelWorkers.",
        json_schema_extra=env("PER_REPO_WORKERS"),
    )

    @field_validator("backoff_minutes", mode="before")
    @classmethod
    def _comma_list(cls, value: object) -> object:
        return (
            [part.strip() for part in value.split(",") if part.strip()] if isinstance(value, str) else value
        )

    @field_validator("work_dir")
    @classmethod
    def _expand(cls, value: Path) -> Path:
        return value.expanduser()


class EvaluationSettings(Section):
    """The project's own checks; unknown keys of the original tool's evaluation section are accepted."""

    model_config = ConfigDict(extra="allow")

    build_command: str = Field(
        "",
        description="Shell command that builds the project; empty: detected.",
        json_schema_extra=env("BUILD_COMMAND"),
    )
    test_command: str = Field(
        "",
        description="Shell command that runs the tests (the model's `run_tests` tool); empty: detected.",
        json_schema_extra=env("TEST_COMMAND"),
    )
    require_build: bool = Field(
        True, description="A failing build blocks the PR.", json_schema_extra=env("REQUIRE_BUILD")
    )
    require_tests: bool = Field(
        True,
        description="A test that passed on the base commit and fails after the change blocks the PR.",
        json_schema_extra=env("REQUIRE_TESTS"),
    )
    max_repair_rounds: int = Field(
        2,
        ge=0,
        le=10,
        description="Times the failing output goes back to the model before giving up.",
        json_schema_extra=env("MAX_REPAIR_ROUNDS"),
    )
    on_failure: Literal["draft", "comment"] = Field(
        "draft",
        description="When the checks still fail: open a draft PR with the evidence, or only comment it.",
        json_schema_extra=env("ON_FAILURE"),
    )
    timeout_seconds: float = Field(
        600,
        ge=1,
        le=7200,
        description="Time limit for one test run.",
        json_schema_extra=env("EVALUATION_TIMEOUT_SECONDS"),
    )


class MergeSettings(Section):
    """Auto-merge; completed by the merge feature."""

    model_config = ConfigDict(extra="allow")


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
        0.25,
        ge=0,
        le=60,
        description="Pause between GitHub API requests (GitHub asks clients to pace them).",
        json_schema_extra=env("GITHUB_SECONDS_BETWEEN_REQUESTS"),
    )
    seconds_between_writes: float = Field(
        1.0,
        ge=0,
        le=60,
        description="Pause between GitHub writes (comments, labels, PRs).",
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


def _comma_separated(value: object) -> object:
    return [part.strip() for part in value.split(",") if part.strip()] if isinstance(value, str) else value


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

    _split_lists = field_validator("allowed_repos", "allowed_hosts", mode="before")(_comma_separated)

    @field_validator("redact_patterns")
    @classmethod
    def _compiles(cls, value: list[RedactPattern]) -> list[RedactPattern]:
        from .redact import Redactor

        Redactor(patterns=[(p.name, p.pattern) for p in value])  # raises ValueError naming the bad one
        return value


class Settings(BaseSettings):
    """Everything the tool can be told. Build it with `load_settings`, which layers the sources."""

    model_config = SettingsConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        frozen=True,
    )

    repo: RepoSettings = Field(default_factory=RepoSettings)  # type: ignore[arg-type]
    discovery: DiscoverySettings = Field(default_factory=DiscoverySettings)  # type: ignore[arg-type]
    execution: ExecutionSettings = Field(default_factory=ExecutionSettings)  # type: ignore[arg-type]
    evaluation: EvaluationSettings = Field(default_factory=EvaluationSettings)  # type: ignore[arg-type]
    merge: MergeSettings = Field(default_factory=MergeSettings)
    daemon: DaemonSettings = Field(default_factory=DaemonSettings)  # type: ignore[arg-type]
    logging: LoggingSettings = Field(default_factory=LoggingSettings)  # type: ignore[arg-type]
    github: GitHubSettings = Field(default_factory=GitHubSettings)  # type: ignore[arg-type]
    claude: ClaudeSettings = Field(default_factory=ClaudeSettings)  # type: ignore[arg-type]
    git: GitSettings = Field(default_factory=GitSettings)  # type: ignore[arg-type]
    security: SecuritySettings = Field(default_factory=SecuritySettings)  # type: ignore[arg-type]
    state: StateSettings = Field(default_factory=StateSettings)  # type: ignore[arg-type]
    pricing: PricingSettings = Field(default_factory=PricingSettings)  # type: ignore[arg-type]

    @model_validator(mode="after")
    def _endpoints_are_safe(self) -> Settings:
        allowed = self.security.allowed_hosts
        for key, url in (
            ("github.apiUrl", self.github.api_url),
            ("claude.baseUrl", self.claude.base_url),
            ("claude.oauthTokenUrl", self.claude.oauth_token_url),
        ):
            if url:
                problem = endpoint_problem(url, allowed)
                if problem:
                    raise ValueError(f"{key} = {url!r}: {problem}")
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        *_other: PydanticBaseSettingsSource,
        **_named: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # load_settings layers flags, env, .env and the JSON file itself (flat env names compatible with the
        # original tool, and provenance for `autonomous-dev config`), then hands the merged values in here.
        return (init_settings,)


@dataclass(frozen=True)
class SettingInfo:
    """One leaf setting: where it lives in the model and the JSON file, and which env var sets it."""

    section: str
    field: str
    json_key: str
    env_var: str
    description: str
    default: object
    allowed: str


def setting_infos() -> Iterator[SettingInfo]:
    """Every leaf setting of the model, in declaration order."""
    for section, section_field in Settings.model_fields.items():
        model = section_field.default_factory() if section_field.default_factory else None  # type: ignore[call-arg]
        if not isinstance(model, Section):
            continue
        for name, info in type(model).model_fields.items():
            extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
            yield SettingInfo(
                section=section,
                field=name,
                json_key=f"{to_camel(section)}.{to_camel(name)}",
                env_var=str(extra.get("env", "")),
                description=info.description or "",
                default=info.default,
                allowed=_allowed(info),
            )


def _allowed(info: FieldInfo) -> str:
    """The allowed values of a field, from its type and constraints, for humans."""
    if get_origin(info.annotation) is Literal:
        return ", ".join(str(arg) for arg in get_args(info.annotation))
    low = next((m.ge for m in info.metadata if getattr(m, "ge", None) is not None), None)
    high = next((m.le for m in info.metadata if getattr(m, "le", None) is not None), None)
    if low is not None and high is not None:
        return f"{low} to {high}"
    if low is not None:
        return f">= {low}"
    return ""


@dataclass(frozen=True)
class SourcePaths:
    """Where the file-based sources are read from."""

    config_file: Path | None = None
    env_file: Path | None = None


Layer = dict[str, dict[str, Any]]


def _from_env_map(values: Mapping[str, str | None]) -> Layer:
    layer: Layer = {}
    for info in setting_infos():
        value = values.get(info.env_var)
        if info.env_var and value is not None and value != "":
            layer.setdefault(info.section, {})[info.field] = value
    return layer


def read_env_file(path: Path | None) -> Layer:
    """Values from a .env file; they never enter os.environ, so no subprocess inherits them."""
    if path is None or not path.is_file():
        return {}
    return _from_env_map(dotenv_values(path))


def read_config_file(path: Path | None) -> Layer:
    """Values from the JSON config file; credentials found there are refused."""
    if path is None or not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(
            f"{path}: not valid JSON: {exc}", "fix the file or point --config elsewhere"
        ) from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a JSON object")
    _refuse_credentials(path, data)
    layer: Layer = {}
    if isinstance(data.get("repos"), list):
        layer["repo"] = {"repos": data.pop("repos")}
    for section, values in data.items():
        if not isinstance(values, dict):
            raise ConfigError(f"{path}: `{section}` must be an object of settings")
        layer.setdefault(_snake_section(section), {}).update(
            {_snake(key): value for key, value in values.items()}
        )
    return layer


def _refuse_credentials(path: Path, data: dict[str, Any]) -> None:
    found = [key for key in data if key in ("credentials", "secrets", "auth")]
    found += [
        f"{section}.{key}"
        for section, key, value in _leaves(data)
        if TOKEN_SHAPE.match(str(value)) or CREDENTIAL_KEY.search(key) or URL_PASSWORD.search(str(value))
    ]
    if found:
        raise ConfigError(
            f"{path}: credentials are not read from the config file (found: {', '.join(found)})",
            "remove them and set GITHUB_TOKEN / ANTHROPIC_API_KEY in the environment or a .env file",
        )


def _leaves(data: dict[str, Any]) -> Iterator[tuple[str, str, object]]:
    for section, values in data.items():
        if isinstance(values, dict):
            for key, value in values.items():
                yield section, key, value


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _snake_section(name: str) -> str:
    return _snake(name)


def default_config_path(cwd: Path) -> Path:
    return cwd / DEFAULT_CONFIG_FILE


@dataclass(frozen=True)
class LoadedSettings:
    """The validated settings and, for every leaf that was set, the source it came from."""

    settings: Settings
    sources: dict[str, str]


def load_settings(
    flags: Mapping[str, Mapping[str, Any]] | None = None,
    environ: Mapping[str, str] | None = None,
    paths: SourcePaths | None = None,
) -> LoadedSettings:
    """Layer the sources (first wins) and validate; raises ConfigError listing every problem."""
    paths = paths or SourcePaths()
    environ = os.environ if environ is None else environ
    layers: list[tuple[str, Layer]] = [
        ("flag", {section: dict(values) for section, values in (flags or {}).items()}),
        ("env", _from_env_map(environ)),
        (f"{paths.env_file}" if paths.env_file else ".env", read_env_file(paths.env_file)),
        (f"{paths.config_file}" if paths.config_file else "config", read_config_file(paths.config_file)),
    ]
    merged: Layer = {}
    sources: dict[str, str] = {}
    for source_name, layer in reversed(layers):
        for section, values in layer.items():
            for key, value in values.items():
                merged.setdefault(section, {})[key] = value
                sources[f"{section}.{key}"] = source_name
    try:
        settings = Settings.model_validate(merged)
    except ValidationError as exc:
        raise ConfigError("\n".join(_describe_problems(exc, merged)), "see docs/configuration.md") from None
    return LoadedSettings(settings, sources)


def _describe_problems(exc: ValidationError, merged: Layer) -> Iterator[str]:
    env_names = {(i.section, i.field): i.env_var for i in setting_infos()}
    for error in exc.errors():
        if not error["loc"]:  # a check across settings: its message names the key itself
            yield f"invalid setting {error['msg'].removeprefix('Value error, ')}"
            continue
        loc = [str(part) for part in error["loc"]]
        section, field = [*loc, "", ""][:2]
        field = _snake(field)
        key = ".".join(to_camel(part) for part in loc)
        env_var = env_names.get((section, field))
        where = f"{key} (env {env_var})" if env_var else key
        value = merged.get(section, {}).get(field, error.get("input"))
        yield f"invalid setting {where} = {value!r}: {error['msg']}"


def reference_markdown() -> str:
    """The configuration reference in docs/configuration.md, generated from the model."""
    lines = [
        "# Configuration reference",
        "",
        "<!-- Generated by `autonomous-dev help-config --markdown`; do not edit by hand. -->",
        "",
        "Sources, first wins: command-line flags, process environment, `.env` (or `--env-file`),",
        f"the JSON config file (`--config PATH`, else `./{DEFAULT_CONFIG_FILE}`), defaults.",
        "Credentials are not settings: they come from the environment, `.env` files or the Postgres",
        "`users` table (see [credentials](credentials.md)); a credential in the JSON file is refused.",
        "",
        "| JSON key | env var | default | allowed | description |",
        "| --- | --- | --- | --- | --- |",
    ]
    for info in setting_infos():
        default = "" if info.default in (None, "") else f"`{info.default}`"
        env_var = f"`{info.env_var}`" if info.env_var else "-"
        lines.append(f"| `{info.json_key}` | {env_var} | {default} | {info.allowed} | {info.description} |")
    return "\n".join(lines) + "\n"
