"""The anthropic adapter against the Messages API stand-in: auth headers, redaction, usage, errors."""

from __future__ import annotations

import typing

import pytest
from anthropic.types import model_param

from autonomous_dev.claude.client import OAUTH_BETA, ClaudeAuth, ClaudeClient, default_model
from autonomous_dev.claude.oauth import ClaudeTokens, ClaudeTokenSource, MemoryTokenStore, OAuthEndpoint
from autonomous_dev.core.tools import tool_definitions
from autonomous_dev.errors import CredentialError
from autonomous_dev.security.redact import Redactor
from autonomous_dev.settings.services import ClaudeSettings
from tests.conftest import ANTHROPIC_KEY
from tests.standins.anthropic_server import FakeAnthropic, Script, text_block, text_editor


def test_default_model_is_a_sonnet_the_sdk_knows() -> None:
    known = [a for part in typing.get_args(model_param.ModelParam) for a in typing.get_args(part)]
    assert default_model() in known
    assert "sonnet" in default_model()


def test_api_key_request_carries_tools_and_is_redacted(claude: FakeAnthropic) -> None:
    claude.scripts[:] = [Script([[text_block("checking"), text_editor("view", path="a.py")]])]
    secret = "hunter2-but-longer-secret"
    client = ClaudeClient(
        ClaudeAuth(api_key=ANTHROPIC_KEY), Redactor([secret]), ClaudeSettings(base_url=claude.url)
    )
    turn = client.complete(
        "system", [{"role": "user", "content": f"the password is {secret}"}], tool_definitions()
    )
    assert turn.stop_reason == "tool_use"
    assert turn.tool_calls[0].input == {"command": "view", "path": "a.py"}
    assert turn.usage.total_tokens > turn.usage.output_tokens > 0  # input is written to the cache
    [request] = claude.message_requests()
    assert secret not in str(request)
    assert {"type": "text_editor_20250728", "name": "str_replace_based_edit_tool"} in request["tools"]
    assert "anthropic-beta" not in claude.requests[-1].headers


def test_oauth_access_token_is_sent_as_bearer_with_the_beta_header() -> None:
    token = "sk-ant-oat01-" + "A" * 40
    with FakeAnthropic(api_keys=(), bearer_tokens={token}, scripts=[Script([[text_block("hi")]])]) as server:
        source = ClaudeTokenSource(ClaudeTokens(token), endpoint=None, store=MemoryTokenStore())
        client = ClaudeClient(
            ClaudeAuth(tokens=source), Redactor([token]), ClaudeSettings(base_url=server.url)
        )
        assert client.complete("s", [{"role": "user", "content": "hello"}], []).text == "hi"
        headers = server.requests[-1].headers
    assert headers["authorization"] == f"Bearer {token}"
    assert OAUTH_BETA in headers["anthropic-beta"]


def test_rejected_key_is_a_credential_error(claude: FakeAnthropic) -> None:
    client = ClaudeClient(
        ClaudeAuth(api_key="sk-ant-api03-wrong-key-000000"), Redactor(), ClaudeSettings(base_url=claude.url)
    )
    with pytest.raises(CredentialError, match="401"):
        client.complete("s", [{"role": "user", "content": "x"}], [])


def test_a_401_refreshes_the_oauth_token_once_and_retries() -> None:
    from tests.standins.oauth_server import FakeTokenEndpoint

    old = "sk-ant-oat01-revoked-" + "O" * 40
    with FakeTokenEndpoint() as endpoint:
        endpoint.valid_refresh_tokens.add("sk-ant-ort01-" + "R" * 40)
        new = "sk-ant-oat01-refreshed0001-" + "Q" * 40  # what the endpoint issues first
        with FakeAnthropic(
            api_keys=(), bearer_tokens={new}, scripts=[Script([[text_block("hi")]])]
        ) as server:
            tokens = ClaudeTokens(old, "sk-ant-ort01-" + "R" * 40, expires_at=None)
            source = ClaudeTokenSource(
                tokens, OAuthEndpoint(endpoint.url, endpoint.client_id), MemoryTokenStore()
            )
            client = ClaudeClient(
                ClaudeAuth(tokens=source), Redactor([old]), ClaudeSettings(base_url=server.url, max_retries=0)
            )
            assert client.complete("s", [{"role": "user", "content": "x"}], []).text == "hi"
            sent = [r.headers["authorization"] for r in server.requests]
    assert sent == [f"Bearer {old}", f"Bearer {new}"]
    assert len(endpoint.requests) == 1
