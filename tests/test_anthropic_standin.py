"""Tests for the Anthropic API stand-in, driven by the real ``anthropic`` SDK over loopback HTTP."""

from __future__ import annotations

import json
import math
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import anthropic
import pytest
from anthropic.types import MessageParam, TextBlock, ToolTextEditor20250728Param, ToolUseBlock

from tests.standins.anthropic_server import (
    FakeAnthropic,
    RecordedRequest,
    Script,
    default_models,
    fault_reply,
    overloaded,
    text_block,
    text_editor,
)

API_KEY = "sk-ant-test"
MODEL = "claude-haiku-4-5"
EDITOR: ToolTextEditor20250728Param = {"type": "text_editor_20250728", "name": "str_replace_based_edit_tool"}


@pytest.fixture
def fake() -> Iterator[FakeAnthropic]:
    with FakeAnthropic() as server:
        yield server


@pytest.fixture
def client(fake: FakeAnthropic) -> Iterator[anthropic.Anthropic]:
    with anthropic.Anthropic(api_key=API_KEY, base_url=fake.url, max_retries=0) as sdk:
        yield sdk


def ask(client: anthropic.Anthropic, messages: list[MessageParam], **kw: Any) -> anthropic.types.Message:
    message = client.messages.create(model=MODEL, max_tokens=1024, messages=messages, **kw)
    assert isinstance(message, anthropic.types.Message)
    return message


def text_of(message: anthropic.types.Message) -> str:
    return "".join(block.text for block in message.content if isinstance(block, TextBlock))


def test_tool_use_round_trip(fake: FakeAnthropic, client: anthropic.Anthropic) -> None:
    tool_step = [text_block("Let me look."), text_editor("view", path="README.md")]
    fake.scripts.append(Script([tool_step, [text_block("All done.")]]))
    messages: list[MessageParam] = [{"role": "user", "content": "Fix issue #7"}]
    first = ask(client, messages, tools=[EDITOR])
    assert first.stop_reason == "tool_use" and first.id.startswith("msg_") and first.model == MODEL
    tool = first.content[1]
    assert isinstance(tool, ToolUseBlock)
    assert tool.id.startswith("toolu_") and tool.name == "str_replace_based_edit_tool"
    assert tool.input == {"command": "view", "path": "README.md"}
    assert first.usage.input_tokens > 0 and first.usage.output_tokens > 0

    result: MessageParam = {
        "role": "user",
        "content": [{"type": "tool_result", "tool_use_id": tool.id, "content": "# Project"}],
    }
    messages += [first.to_param(), result]
    second = ask(client, messages, tools=[EDITOR])
    assert second.stop_reason == "end_turn" and text_of(second) == "All done."

    bodies = fake.message_requests()
    assert bodies[0]["tools"] == [EDITOR]
    assert bodies[1]["messages"][1]["content"][1]["id"] == tool.id
    messages += [second.to_param(), {"role": "user", "content": "Anything else?"}]
    assert text_of(ask(client, messages, tools=[EDITOR])) == "Done."  # past the end of the script


def test_scripts_matched_by_first_user_message(fake: FakeAnthropic, client: anthropic.Anthropic) -> None:
    fake.scripts += [
        Script([[text_block("A1")], [text_block("A2")]], match="issue #1"),
        Script([[text_block("B1")], [text_block("B2")]], match="issue #2"),
    ]
    a: list[MessageParam] = [{"role": "user", "content": "Resolve issue #1"}]
    b: list[MessageParam] = [{"role": "user", "content": [{"type": "text", "text": "Resolve issue #2"}]}]
    replies = []
    for history in (a, b, a, b):
        reply = ask(client, history)
        replies.append(text_of(reply))
        history += [reply.to_param(), {"role": "user", "content": "go on"}]
    assert replies == ["A1", "B1", "A2", "B2"]

    with pytest.raises(anthropic.BadRequestError, match="no scripted conversation matches"):
        ask(client, [{"role": "user", "content": "Resolve issue #3"}])


def test_callable_and_dict_steps(fake: FakeAnthropic, client: anthropic.Anthropic) -> None:
    seen: list[dict[str, Any]] = []

    def echo(request: dict[str, Any]) -> list[dict[str, Any]]:
        seen.append(request)
        return [text_block("echo: " + request["messages"][-1]["content"])]

    truncated = {"content": "partial", "stop_reason": "max_tokens", "usage": {"output_tokens": 7}}
    fake.scripts.append(Script([echo, truncated]))
    first = ask(client, [{"role": "user", "content": "ping"}])
    assert text_of(first) == "echo: ping" and seen[0]["model"] == MODEL
    second = ask(
        client, [{"role": "user", "content": "ping"}, first.to_param(), {"role": "user", "content": "."}]
    )
    assert second.stop_reason == "max_tokens" and text_of(second) == "partial"
    assert second.usage.output_tokens == 7


def test_step_errors_are_reported_not_retried(fake: FakeAnthropic) -> None:
    def broken(request: dict[str, Any]) -> dict[str, Any]:
        raise RuntimeError("script bug")

    fake.scripts.append(Script([broken]))
    with (
        anthropic.Anthropic(api_key=API_KEY, base_url=fake.url, max_retries=2) as sdk,
        pytest.raises(anthropic.InternalServerError, match="script bug"),
    ):
        ask(sdk, [{"role": "user", "content": "hi"}])
    assert len(fake.requests) == 1


def test_unknown_api_key_is_rejected(fake: FakeAnthropic) -> None:
    with (
        anthropic.Anthropic(api_key="sk-ant-wrong", base_url=fake.url, max_retries=2) as sdk,
        pytest.raises(anthropic.AuthenticationError) as info,
    ):
        sdk.models.list()
    assert info.value.status_code == 401
    assert isinstance(info.value.body, dict) and info.value.body["error"]["type"] == "authentication_error"
    assert len(fake.requests) == 1  # recorded, and not retried
    assert fake.requests[0].headers["authorization"] == "Bearer sk-ant-wrong"


def test_bearer_token_auth() -> None:
    with (
        FakeAnthropic(api_keys=(), bearer_tokens={"oauth-token"}) as fake,
        anthropic.Anthropic(auth_token="oauth-token", base_url=fake.url, max_retries=0) as sdk,
    ):
        assert sdk.models.retrieve(MODEL).id == MODEL
        with pytest.raises(anthropic.AuthenticationError):
            sdk.with_options(auth_token="stolen-token").models.retrieve(MODEL)
    sent = [r.headers["authorization"] for r in fake.requests]
    assert sent == ["Bearer oauth-token", "Bearer stolen-token"]


def test_x_api_key_header(fake: FakeAnthropic) -> None:
    headers = {"x-api-key": API_KEY, "anthropic-version": "2023-06-01"}
    request = urllib.request.Request(f"{fake.url}/v1/models?limit=2", headers=headers)
    with urllib.request.urlopen(request, timeout=5) as response:
        page = json.load(response)
        assert response.headers["request-id"].startswith("req_")
    assert [m["id"] for m in page["data"]] == default_models()[:2] and page["has_more"] is True
    assert page["last_id"] == default_models()[1]


def test_overloaded_then_retry_succeeds(fake: FakeAnthropic) -> None:
    fake.scripts.append(Script([[text_block("ok")]]))
    fake.fault = lambda request, seq: (529, {}, overloaded()) if seq == 1 else None
    with anthropic.Anthropic(api_key=API_KEY, base_url=fake.url, max_retries=2) as sdk:
        started = time.monotonic()
        reply = ask(sdk, [{"role": "user", "content": "hi"}])
        elapsed = time.monotonic() - started
    assert text_of(reply) == "ok"
    assert [r.headers["x-stainless-retry-count"] for r in fake.requests] == ["0", "1"]
    assert elapsed < 0.35  # retry-after-ms: 10 was honoured (the SDK's own backoff waits >= 0.375 s)


def test_fault_exhausts_retries(fake: FakeAnthropic) -> None:
    fake.fault = lambda request, seq: fault_reply(429) if request.path == "/v1/messages" else None
    with anthropic.Anthropic(api_key=API_KEY, base_url=fake.url, max_retries=1) as sdk:
        with pytest.raises(anthropic.RateLimitError) as info:
            ask(sdk, [{"role": "user", "content": "hi"}])
        assert sdk.models.retrieve(MODEL).id == MODEL
    assert info.value.request_id is not None and len(fake.requests) == 3


def test_prompt_cache_simulation(fake: FakeAnthropic, client: anthropic.Anthropic) -> None:
    fake.scripts.append(Script([[text_block("ok")]], repeat_last=True))
    system: Any = [
        {"type": "text", "text": "You are a careful engineer. " * 40, "cache_control": {"type": "ephemeral"}}
    ]
    messages: list[MessageParam] = [{"role": "user", "content": "Fix issue #3"}]
    first = ask(client, messages, system=system).usage
    second = ask(client, messages, system=system).usage
    assert first.cache_creation_input_tokens and first.cache_read_input_tokens == 0
    assert second.cache_read_input_tokens == first.cache_creation_input_tokens
    assert second.cache_creation_input_tokens == 0 and second.input_tokens == first.input_tokens
    counted = client.messages.count_tokens(model=MODEL, system=system, messages=messages).input_tokens
    assert counted == first.input_tokens + first.cache_creation_input_tokens

    # A longer conversation with its breakpoint on the newest block reads the cached system prefix.
    newest: MessageParam = {
        "role": "user",
        "content": [{"type": "text", "text": "Now run the tests.", "cache_control": {"type": "ephemeral"}}],
    }
    longer: list[MessageParam] = [*messages, {"role": "assistant", "content": "ok"}, newest]
    third = ask(client, longer, system=system).usage
    assert third.cache_read_input_tokens == first.cache_creation_input_tokens
    assert third.cache_creation_input_tokens and third.input_tokens == 0
    totals = fake.usage_totals()
    assert totals["cache_read_input_tokens"] == 2 * first.cache_creation_input_tokens
    assert totals["output_tokens"] == first.output_tokens + second.output_tokens + third.output_tokens


def test_count_tokens_and_models(fake: FakeAnthropic, client: anthropic.Anthropic) -> None:
    count = client.messages.count_tokens(model=MODEL, messages=[{"role": "user", "content": "hello"}])
    assert count.input_tokens > 0
    info = client.models.retrieve(MODEL)
    assert info.id == MODEL and info.type == "model" and info.display_name
    assert [m.id for m in client.models.list(limit=5)] == default_models()  # SDK auto-pagination
    assert sum(r.path == "/v1/models" for r in fake.requests) == math.ceil(len(default_models()) / 5)
    with pytest.raises(anthropic.NotFoundError):
        client.models.retrieve("claude-imaginary-1")
    with pytest.raises(anthropic.NotFoundError):
        client.messages.create(
            model="claude-imaginary-1", max_tokens=5, messages=[{"role": "user", "content": "."}]
        )


def test_missing_tool_result_is_rejected(fake: FakeAnthropic, client: anthropic.Anthropic) -> None:
    fake.scripts.append(Script([[text_editor("view", path="app.py")]]))
    messages: list[MessageParam] = [{"role": "user", "content": "Fix issue #9"}]
    first = ask(client, messages, tools=[EDITOR])
    tool = first.content[0]
    assert isinstance(tool, ToolUseBlock)
    messages += [first.to_param(), {"role": "user", "content": "I did not run the tool."}]
    with pytest.raises(anthropic.BadRequestError, match="tool_result") as info:
        ask(client, messages, tools=[EDITOR])
    assert tool.id in info.value.message and info.value.status_code == 400


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"messages": [{"role": "assistant", "content": "hi"}]}, "roles alternate"),
        ({"messages": [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}]}, "alternate"),
        ({"messages": [{"role": "user", "content": "hi"}], "stream": True}, "streaming is not supported"),
        ({"messages": [], "max_tokens": 0}, "max_tokens"),
    ],
)
def test_invalid_requests(client: anthropic.Anthropic, kwargs: dict[str, Any], error: str) -> None:
    with pytest.raises(anthropic.BadRequestError, match=error):
        client.messages.create(**{"model": MODEL, "max_tokens": 16, **kwargs})


def test_requests_are_recorded(fake: FakeAnthropic, client: anthropic.Anthropic) -> None:
    fake.scripts.append(Script([[text_block("hi")]]))
    ask(client, [{"role": "user", "content": "hi"}], extra_headers={"anthropic-beta": "test-beta-1"})
    (record,) = fake.requests
    assert isinstance(record, RecordedRequest) and (record.method, record.path) == ("POST", "/v1/messages")
    assert record.headers["anthropic-beta"] == "test-beta-1" and "anthropic-version" in record.headers
    assert record.body == {
        "model": MODEL,
        "max_tokens": 1024,
        "messages": [{"role": "user", "content": "hi"}],
    }
    assert API_KEY not in json.dumps(record.body)


def test_parallel_conversations(fake: FakeAnthropic, client: anthropic.Anthropic) -> None:
    fake.latency_s = 0.05
    fake.scripts.extend(Script([[text_block(f"reply {n}")]], match=f"#{n}.") for n in range(8))
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=8) as pool:
        replies = list(
            pool.map(lambda n: text_of(ask(client, [{"role": "user", "content": f"#{n}."}])), range(8))
        )
    assert replies == [f"reply {n}" for n in range(8)]
    assert time.monotonic() - started < 0.35  # served concurrently (one after another takes >= 0.4 s)


def test_stop_closes_the_port() -> None:
    fake = FakeAnthropic().start()
    with anthropic.Anthropic(api_key=API_KEY, base_url=fake.url, max_retries=0) as sdk:
        assert sdk.models.retrieve(MODEL).id == MODEL  # leaves a keep-alive connection in the pool
        fake.stop()
        with pytest.raises(anthropic.APIConnectionError):
            sdk.models.retrieve(MODEL)
    with pytest.raises(RuntimeError):
        _ = fake.url
