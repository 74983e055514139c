"""The Settings model, its sources (flags > env > .env > JSON config > defaults) and their validation."""

from __future__ import annotations

import difflib
import json
import logging
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

from dotenv import dotenv_values
from pydantic import BaseModel, Field, ValidationError, model_validator
from pydantic.alias_generators import to_camel
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from autonomous_dev.errors import ConfigError
from autonomous_dev.security.endpoints import endpoint_problem
from autonomous_dev.settings.rounds import CISettings, ReviewSettings
from autonomous_dev.settings.sections import (
    CREDENTIAL_KEY,
    DEFAULT_CONFIG_FILE,
    ORIGINAL_TOOL_KEYS,
    TOKEN_SHAPE,
    URL_PASSWORD,
    AgentSettings,
    DiscoverySettings,
    EvaluationSettings,
    ExecutionSettings,
    MergeSettings,
    ReportSettings,
    RepoSettings,
    Section,
)
from autonomous_dev.settings.services import (
    ClaudeSettings,
    DaemonSettings,
    GitHubSettings,
    GitSettings,
    LoggingSettings,
    PricingSettings,
    SandboxSettings,
    SecuritySettings,
    StateSettings,
    WebhookSettings,
)
from autonomous_dev.settings.trigger import TriggerSettings

log = logging.getLogger(__name__)


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
    trigger: TriggerSettings = Field(default_factory=TriggerSettings)  # type: ignore[arg-type]
    execution: ExecutionSettings = Field(default_factory=ExecutionSettings)  # type: ignore[arg-type]
    evaluation: EvaluationSettings = Field(default_factory=EvaluationSettings)  # type: ignore[arg-type]
    merge: MergeSettings = Field(default_factory=MergeSettings)  # type: ignore[arg-type]
    review: ReviewSettings = Field(default_factory=ReviewSettings)  # type: ignore[arg-type]
    ci: CISettings = Field(default_factory=CISettings)  # type: ignore[arg-type]
    report: ReportSettings = Field(default_factory=ReportSettings)  # type: ignore[arg-type]
    daemon: DaemonSettings = Field(default_factory=DaemonSettings)  # type: ignore[arg-type]
    webhook: WebhookSettings = Field(default_factory=WebhookSettings)  # type: ignore[arg-type]
    logging: LoggingSettings = Field(default_factory=LoggingSettings)  # type: ignore[arg-type]
    github: GitHubSettings = Field(default_factory=GitHubSettings)  # type: ignore[arg-type]
    claude: ClaudeSettings = Field(default_factory=ClaudeSettings)  # type: ignore[arg-type]
    agent: AgentSettings = Field(default_factory=AgentSettings)  # type: ignore[arg-type]
    git: GitSettings = Field(default_factory=GitSettings)  # type: ignore[arg-type]
    security: SecuritySettings = Field(default_factory=SecuritySettings)  # type: ignore[arg-type]
    state: StateSettings = Field(default_factory=StateSettings)  # type: ignore[arg-type]
    pricing: PricingSettings = Field(default_factory=PricingSettings)  # type: ignore[arg-type]
    sandbox: SandboxSettings = Field(default_factory=SandboxSettings)  # type: ignore[arg-type]

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
            known = _snake(section) in Settings.model_fields
            raise ConfigError(
                f"{path}: `{section}` must be an object of settings"
                if known
                else f"unknown setting {section} in {path}{_did_you_mean((section,))}",
                HELP_HINT,
            )
        kept = {key: value for key, value in values.items() if not _original_tool_key(path, section, key)}
        layer.setdefault(_snake(section), {}).update({_snake(key): value for key, value in kept.items()})
    return layer


def _original_tool_key(path: Path, section: str, key: str) -> bool:
    """A key only the original tool had: dropped with a warning, so its config files still load."""
    why = ORIGINAL_TOOL_KEYS.get(f"{section}.{key}")
    if why is not None:
        log.warning("%s: ignoring %s.%s, a setting of the original tool: %s", path, section, key, why)
    return why is not None


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
            "remove them and set GITHUB_TOKEN (or GITHUB_APP_PRIVATE_KEY) / ANTHROPIC_API_KEY in the "
            "environment or a .env file",
        )


def _leaves(data: dict[str, Any]) -> Iterator[tuple[str, str, object]]:
    for section, values in data.items():
        if isinstance(values, dict):
            for key, value in values.items():
                yield section, key, value


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


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
    env_file = f"{paths.env_file}" if paths.env_file else ".env"
    config_file = f"{paths.config_file}" if paths.config_file else "config"
    layers: list[tuple[str, Layer]] = [
        (FLAG, {section: dict(values) for section, values in (flags or {}).items()}),
        (ENV, _from_env_map(environ)),
        (env_file, read_env_file(paths.env_file)),
        (config_file, read_config_file(paths.config_file)),
    ]
    merged: Layer = {}
    sources: dict[str, str] = {}
    for source_name, layer in reversed(layers):
        for section, values in layer.items():
            merged.setdefault(section, {})  # an empty section is still checked: it may be an unknown one
            for key, value in values.items():
                merged[section][key] = value
                sources[f"{section}.{key}"] = source_name
    try:
        settings = Settings.model_validate(merged)
    except ValidationError as exc:
        problems = "\n".join(_describe_problems(exc, merged, sources, config_file))
        raise ConfigError(problems, HELP_HINT) from None
    return LoadedSettings(settings, sources)


FLAG, ENV = "flag", "env"
HELP_HINT = "run `autonomous-dev help-config` for every setting, its env var and allowed values"


def _describe_problems(
    exc: ValidationError, merged: Layer, sources: Mapping[str, str], config_file: str
) -> Iterator[str]:
    env_names = {(i.section, i.field): i.env_var for i in setting_infos()}
    for error in exc.errors():
        if not error["loc"]:  # a check across settings: its message names the key itself
            yield f"invalid setting {error['msg'].removeprefix('Value error, ')}"
            continue
        loc = [str(part) for part in error["loc"]]
        section, field = [*loc, "", ""][:2]
        field = _snake(field)
        key = _json_key(error["loc"])
        if error["type"] == "extra_forbidden":
            yield f"unknown setting {key} in {config_file}{_did_you_mean(error['loc'])}"
            continue
        env_var = env_names.get((section, field), "")
        where = _origin(key, env_var, sources.get(f"{section}.{field}", ""), config_file)
        value = error.get("input")
        if len(loc) == 2:  # the value as given, not as pydantic saw it after a conversion
            value = merged.get(section, {}).get(field, value)
        yield f"invalid setting {where} = {value!r}: {error['msg']}"


def _origin(key: str, env_var: str, source: str, config_file: str) -> str:
    """The key and where its value really came from: a flag, the environment, a .env file, the JSON file."""
    if source == FLAG:
        return f"{key} (command-line flag)"
    if source == ENV:
        return f"{key} (env {env_var})"
    if source == config_file:
        return f"{key} (in {source})"
    return f"{key} ({env_var} in {source})" if source else key


def _did_you_mean(loc: tuple[str | int, ...]) -> str:
    """The valid key closest to the unknown one at `loc`, in the same place, else in another section."""
    parent, unknown = _json_key(loc[:-1]), to_camel(_snake(str(loc[-1])))
    model = _model_at(loc[:-1])
    known = [to_camel(name) for name in model.model_fields] if model else []
    close = [f"{parent}.{name}".lstrip(".") for name in difflib.get_close_matches(unknown, known, n=1)]
    if not close and len(loc) == 2:  # a known key in the wrong section
        close = [info.json_key for info in setting_infos() if info.json_key.endswith(f".{unknown}")][:1]
    return f" (did you mean {close[0]}?)" if close else ""


def _walk(loc: tuple[str | int, ...]) -> Iterator[tuple[str, Any]]:
    """Each part of an error's location as the JSON file spells it, and the type of what sits there."""
    current: Any = Settings
    for part in map(str, loc):
        fields = current.model_fields if isinstance(current, type) and issubclass(current, BaseModel) else {}
        field = fields.get(_snake(part))
        if field is not None:
            part, current = to_camel(_snake(part)), field.annotation
        elif fields:  # a key no model has, as the file spelled it (its section's keys were snake-cased)
            part, current = to_camel(_snake(part)), None
        else:  # an index into a list or a key of a map (a model id)
            current = get_args(current)[-1] if get_origin(current) in (list, dict) else None
        yield part, current


def _json_key(loc: tuple[str | int, ...]) -> str:
    return ".".join(part for part, _ in _walk(loc))


def _model_at(loc: tuple[str | int, ...]) -> type[BaseModel] | None:
    """The model whose keys sit at `loc`: Settings at the top, a section, or a model in a list or map."""
    found = [kind for _, kind in _walk(loc)][-1] if loc else Settings
    return found if isinstance(found, type) and issubclass(found, BaseModel) else None


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
        "A key the file's section does not have is refused, naming the closest valid key; only the original",
        f"tool's keys without a counterpart here ({', '.join(f'`{key}`' for key in ORIGINAL_TOOL_KEYS)})",
        "are ignored, with a warning, so its config files still load.",
        "",
        "| JSON key | env var | default | allowed | description |",
        "| --- | --- | --- | --- | --- |",
    ]
    for info in setting_infos():
        default = "" if info.default in (None, "") else f"`{info.default}`"
        env_var = f"`{info.env_var}`" if info.env_var else "-"
        lines.append(f"| `{info.json_key}` | {env_var} | {default} | {info.allowed} | {info.description} |")
    return "\n".join(lines) + "\n"
