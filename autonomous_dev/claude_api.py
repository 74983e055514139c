"""The anthropic SDK adapter: one Messages API call per model turn; the only module importing `anthropic`."""

from __future__ import annotations

import typing
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import anthropic
from anthropic.lib.credentials import AccessToken
from anthropic.types import model_param

from .errors import ClaudeError, CredentialError
from .models import ModelTurn, ToolCall, Usage
from .oauth import ClaudeTokenSource
from .redact import Redactor

OAUTH_BETA = "oauth-2025-04-20"


def default_model() -> str:
    """The newest Sonnet model id the installed SDK knows (its literal list is newest first)."""
    literals = [arg for part in typing.get_args(model_param.ModelParam) for arg in typing.get_args(part)]
    sonnets = [name for name in literals if isinstance(name, str) and "sonnet" in name]
    if not sonnets:
        raise ClaudeError("the installed anthropic SDK lists no Sonnet model", "set CLAUDE_MODEL")
    return str(sonnets[0])


@dataclass(frozen=True)
class ClaudeAuth:
    """An API key (preferred) or an OAuth access token source (Bearer, refreshed as needed)."""

    api_key: str | None = None
    tokens: ClaudeTokenSource | None = None


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

    def __init__(
        self,
        auth: ClaudeAuth,
        redactor: Redactor,
        model: str = "",
        base_url: str = "",
        max_retries: int = 4,
        max_output_tokens: int = 8192,
        timeout_s: float = 600.0,
    ) -> None:
        if auth.api_key:
            credential: dict[str, Any] = {"api_key": auth.api_key}
        elif auth.tokens is not None:
            credential = {"credentials": _TokenProvider(auth.tokens)}
            max_retries = max(max_retries, 1)  # the SDK's retry-after-401-with-a-fresh-token needs one retry
        else:
            raise CredentialError("no Claude credential", "set ANTHROPIC_API_KEY (or CLAUDE_ACCESS_TOKEN)")
        self._client = anthropic.Anthropic(
            **credential,
            base_url=base_url or None,
            max_retries=max_retries,
            timeout=timeout_s,
            default_headers={} if auth.api_key else {"anthropic-beta": OAUTH_BETA},
        )
        self.model = model or default_model()
        self.max_output_tokens = max_output_tokens
        self.redactor = redactor

    def complete(
        self,
        system: str,
        messages: list[dict[str, object]],
        tools: list[dict[str, object]],
    ) -> ModelTurn:
        with self._translated_errors():
            response = self._client.messages.create(
                model=self.model,
                max_tokens=self.max_output_tokens,
                system=self.redactor.redact_for(system, "claude"),
                messages=typing.cast(Any, [self._redact_message(m) for m in messages]),
                tools=typing.cast(Any, tools),
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
            raise ClaudeError(
                f"Claude API error {exc.status_code}: {self.redactor.redact(exc.message)}"
            ) from exc
        except anthropic.APIConnectionError as exc:
            raise ClaudeError(f"cannot reach the Claude API: {exc}", "check ANTHROPIC_BASE_URL") from exc

    def _redact_message(self, message: dict[str, object]) -> dict[str, object]:
        return typing.cast(dict[str, object], _redact_value(message, self.redactor))


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
