"""The anthropic SDK adapter: one Messages API call per model turn; the only module importing `anthropic`."""

from __future__ import annotations

import typing
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

import anthropic
from anthropic.lib.credentials import AccessToken
from anthropic.types import model_param

from autonomous_dev.claude.oauth import ClaudeAuth, ClaudeTokenSource
from autonomous_dev.core.prompts import repository_part
from autonomous_dev.errors import (
    AutonomousDevError,
    ClaudeError,
    CredentialError,
    InfrastructureError,
    network_reason,
)
from autonomous_dev.models import ModelTurn, ToolCall, Usage
from autonomous_dev.security.redact import Redactor
from autonomous_dev.settings.services import ClaudeSettings

OAUTH_BETA = "oauth-2025-04-20"
OUTAGE_STATUSES = frozenset({408, 429})  # besides every 5xx (529: overloaded)
OUTAGE_HINT = "check ANTHROPIC_BASE_URL and the network; the daemon retries on its own, no attempt is spent"
EPHEMERAL = {"type": "ephemeral"}
REQUEST_TIMEOUT_S = 600.0  # one Messages call; a long reply with max_output_tokens takes minutes at worst


def default_model() -> str:
    """The newest Sonnet model id the installed SDK knows (its literal list is newest first)."""
    literals = [arg for part in typing.get_args(model_param.ModelParam) for arg in typing.get_args(part)]
    sonnets = [name for name in literals if isinstance(name, str) and "sonnet" in name]
    if not sonnets:
        raise ClaudeError("the installed anthropic SDK lists no Sonnet model", "set CLAUDE_MODEL")
    return str(sonnets[0])


class _TokenProvider:
    """Adapts our token source to the SDK's credentials protocol.

    expires_at=0 tells the SDK we keep the cache ourselves: it asks before every request, and after a
    401 it asks again with force_refresh=True and retries once.
    """

    def __init__(self, source: ClaudeTokenSource) -> None:
        self._source = source

    def __call__(self, *, force_refresh: bool = False) -> AccessToken:
        return AccessToken(self._source.token(force_refresh=force_refresh), expires_at=0)


class ClaudeClient:
    """Implements ports.Claude; every request body passes through the redactor first."""

    def __init__(self, auth: ClaudeAuth, redactor: Redactor, settings: ClaudeSettings) -> None:
        max_retries = settings.max_retries
        if auth.api_key:
            credential: dict[str, Any] = {"api_key": auth.api_key}
        elif auth.tokens is not None:
            credential = {"credentials": _TokenProvider(auth.tokens)}
            max_retries = max(max_retries, 1)  # the SDK's retry-after-401-with-a-fresh-token needs one retry
        else:
            raise CredentialError("no Claude credential", "set ANTHROPIC_API_KEY (or CLAUDE_ACCESS_TOKEN)")
        self._client = anthropic.Anthropic(
            **credential,
            base_url=settings.base_url or None,
            max_retries=max_retries,
            timeout=REQUEST_TIMEOUT_S,
            default_headers={} if auth.api_key else {"anthropic-beta": OAUTH_BETA},
        )
        self.model = settings.model or default_model()
        self.max_output_tokens = settings.max_output_tokens
        self.redactor = redactor

    def complete(
        self,
        system: str,
        messages: list[dict[str, object]],
        tools: list[dict[str, object]],
    ) -> ModelTurn:
        redacted = [self._redact_message(m) for m in messages]
        with self._translated_errors():
            response = self._client.messages.create(
                model=self.model,
                max_tokens=self.max_output_tokens,
                system=typing.cast(Any, cached_system(self.redactor.redact_for(system, "claude"))),
                messages=typing.cast(Any, with_moving_breakpoint(redacted)),
                tools=typing.cast(Any, cached_tools(tools)),
            )
        return _to_turn(response)

    def check_model(self) -> str:
        """A cheap authenticated call: the configured model's display name (raises if unknown)."""
        with self._translated_errors():
            return str(self._client.models.retrieve(self.model).display_name)

    @contextmanager
    def _translated_errors(self) -> Iterator[None]:
        """SDK exceptions become ours, with a hint and a redacted message."""
        try:
            yield
        except anthropic.AuthenticationError as exc:
            raise CredentialError(
                "Claude rejected the credential (401)", "check ANTHROPIC_API_KEY or CLAUDE_ACCESS_TOKEN"
            ) from exc
        except anthropic.NotFoundError as exc:
            raise ClaudeError(
                f"the model {self.model!r} does not exist", "set CLAUDE_MODEL to a valid id"
            ) from exc
        except anthropic.APIStatusError as exc:
            detail = self.redactor.redact(exc.message)
            if exc.status_code >= 500 or exc.status_code in OUTAGE_STATUSES:
                raise InfrastructureError(
                    "Anthropic",
                    f"the Claude API at {self._host} answered {exc.status_code} after retries: {detail}",
                    OUTAGE_HINT,
                    _retry_after_s(exc.response.headers),
                    rate_limited=exc.status_code == 429,
                ) from None
            raise ClaudeError(f"Claude API error {exc.status_code}: {detail}") from exc
        except anthropic.APIConnectionError as exc:
            ours = _our_error(exc)  # the SDK wraps what our token source raised (an OAuth outage)
            if ours is not None:
                raise ours from None
            reason = network_reason(exc)
            raise InfrastructureError(
                "Anthropic", f"cannot reach the Claude API at {self._host}: {reason}", OUTAGE_HINT
            ) from None

    @property
    def _host(self) -> str:
        url = str(self._client.base_url)
        return urlsplit(url).netloc or url

    def _redact_message(self, message: dict[str, object]) -> dict[str, object]:
        return typing.cast(dict[str, object], _redact_value(message, self.redactor))


def _our_error(exc: BaseException) -> AutonomousDevError | None:
    cause = exc.__cause__ or exc.__context__
    for _ in range(10):
        if cause is None or isinstance(cause, AutonomousDevError):
            return cause
        cause = cause.__cause__ or cause.__context__
    return None


def _retry_after_s(headers: Any) -> float | None:
    try:
        raw = headers.get("retry-after")
        return max(0.0, float(raw)) if raw is not None else None
    except (TypeError, ValueError):  # an HTTP date: the daemon's own back-off applies
        return None


def cached_tools(tools: list[dict[str, object]]) -> list[dict[str, object]]:
    """Tools come first in the prompt: a breakpoint on the last one caches them for every task."""
    if not tools:
        return tools
    return [*tools[:-1], {**tools[-1], "cache_control": EPHEMERAL}]


def cached_system(system: str) -> list[dict[str, object]]:
    """The system prompt (with the repository's instructions and map, when given) is the same for every
    task of a repository on one commit."""
    split = repository_part(system)
    parts = [system[:split], system[split:]] if split > 0 else [system]
    # The tool's rules are shared by every repository, the repository's part by every task on one commit.
    return [{"type": "text", "text": part, "cache_control": EPHEMERAL} for part in parts]


def with_moving_breakpoint(messages: list[dict[str, object]]) -> list[dict[str, object]]:
    """A breakpoint on the newest block, so each turn reads the whole conversation so far from the cache."""
    if not messages:
        return messages
    last = dict(messages[-1])
    content = last.get("content")
    if isinstance(content, str):
        blocks: list[object] = [{"type": "text", "text": content}]
    else:
        blocks = list(typing.cast(list[object], content or []))
    if not blocks:
        return messages
    blocks[-1] = {**typing.cast(dict[str, object], blocks[-1]), "cache_control": EPHEMERAL}
    last["content"] = blocks
    return [*messages[:-1], last]


def _redact_value(value: object, redactor: Redactor) -> object:
    if isinstance(value, str):
        return redactor.redact_for(value, "claude")
    if isinstance(value, list):
        return [_redact_value(item, redactor) for item in value]
    if isinstance(value, dict):
        return {key: _redact_value(item, redactor) for key, item in value.items()}
    return value


def _to_turn(response: anthropic.types.Message) -> ModelTurn:
    texts: list[str] = []
    calls: list[ToolCall] = []
    raw: list[dict[str, object]] = []
    for block in response.content:
        if block.type == "text":
            texts.append(block.text)
            if block.text:  # the API refuses empty text blocks when they are sent back
                raw.append({"type": "text", "text": block.text})
        elif block.type == "tool_use":
            tool_input = dict(block.input) if isinstance(block.input, dict) else {}
            calls.append(ToolCall(block.id, block.name, tool_input))
            raw.append({"type": "tool_use", "id": block.id, "name": block.name, "input": tool_input})
    usage = response.usage
    return ModelTurn(
        text="\n".join(texts),
        tool_calls=tuple(calls),
        stop_reason=str(response.stop_reason),
        usage=Usage(
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            cache_creation_input_tokens=usage.cache_creation_input_tokens or 0,
            cache_read_input_tokens=usage.cache_read_input_tokens or 0,
        ),
        raw_content=tuple(raw),
    )
