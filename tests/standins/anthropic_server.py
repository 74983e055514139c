"""Local stand-in for the Anthropic Messages API, served over loopback HTTP.

`FakeAnthropic` is a threaded HTTP server on 127.0.0.1 that the real ``anthropic.Anthropic`` client talks
to unmodified (``base_url=server.url``). It replays scripted conversations (`Script`), validates requests
like the API does at a basic level, estimates token usage, simulates prompt caching, records every request
and injects faults (429 / 529 ...) through a hook. Deliberate deviations from the real API: no streaming
(``"stream": true`` gets a 400); ``Authorization: Bearer <key>`` is accepted for keys in ``api_keys`` as
well as ``x-api-key``, because the installed SDK (2.12) sends ``api_key`` as a bearer token; token counts
are estimates (characters / 4) and the prompt cache never expires; 408 / 409 / 429 / 5xx replies carry
``retry-after-ms: 10`` unless the fault hook sets its own, so SDK retries are fast.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import secrets
import socket
import string
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeAlias, cast, get_args
from urllib.parse import parse_qs, unquote, urlsplit

from anthropic.types.model_param import ModelParam

JSON: TypeAlias = dict[str, Any]
Step: TypeAlias = Callable[[JSON], JSON | list[JSON]] | JSON | list[JSON]
FaultReply: TypeAlias = tuple[int, dict[str, str], JSON]

USAGE_KEYS = ("input_tokens", "output_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")
MAX_CACHE_BREAKPOINTS = 4
CACHE_LOOKBACK_BLOCKS = 20
ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
               404: "not_found_error", 405: "invalid_request_error", 413: "request_too_large",
               429: "rate_limit_error", 500: "api_error", 529: "overloaded_error"}  # fmt: skip
_ALNUM = string.ascii_letters + string.digits


@dataclass(frozen=True)
class RecordedRequest:
    """One HTTP request as the server saw it (header names lower-cased, body parsed from JSON)."""

    method: str
    path: str
    headers: dict[str, str]
    body: JSON | None
    query: dict[str, list[str]] = field(default_factory=dict)
    received_at: float = field(default_factory=time.monotonic)  # the benchmarks time the first request


FaultHook: TypeAlias = Callable[[RecordedRequest, int], FaultReply | None]


class _ApiError(Exception):
    """An error reply: HTTP status plus the API's error type and message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


def _check(ok: object, message: str, status: int = 400) -> None:
    if not ok:
        raise _ApiError(status, message)


def _new_id(prefix: str) -> str:
    return prefix + "01" + "".join(secrets.choice(_ALNUM) for _ in range(22))


def error_body(type_: str, message: str, request_id: str | None = None) -> JSON:
    """The API's error JSON: ``{"type": "error", "error": {"type", "message"}, "request_id"}``."""
    error = {"type": type_, "message": message}
    return {"type": "error", "error": error, "request_id": request_id or _new_id("req_")}


def overloaded(message: str = "Overloaded") -> JSON:
    """The error JSON of a 529 ``overloaded_error``."""
    return error_body("overloaded_error", message)


def fault_reply(status: int = 529, message: str | None = None) -> FaultReply:
    """A whole fault-hook reply ``(status, headers, error JSON)``; its headers make the SDK retry at once."""
    kind = ERROR_TYPES.get(status, "api_error")
    body = error_body(kind, message or f"simulated {kind}")
    return status, {"retry-after-ms": "10", "retry-after": "0"}, body


def text_block(text: str) -> JSON:
    """A text content block."""
    return {"type": "text", "text": text}


def tool_use(name: str, **input_: Any) -> JSON:
    """A tool_use content block; the server fills in ``id``."""
    return {"type": "tool_use", "name": name, "input": input_}


def text_editor(command: str, **kw: Any) -> JSON:
    """A tool_use block for the ``str_replace_based_edit_tool`` text editor tool."""
    return tool_use("str_replace_based_edit_tool", command=command, **kw)


def default_models() -> list[str]:
    """The model ids named by the SDK's ``ModelParam`` literal."""
    return [value for arg in get_args(ModelParam) for value in get_args(arg) if isinstance(value, str)]


def _blocks(content: Any) -> list[Any]:
    if isinstance(content, str):
        return [text_block(content)]
    return list(content) if isinstance(content, list) else []


def first_user_text(request: JSON) -> str:
    """The text of the first user message of a request (its text blocks, newline-joined)."""
    for message in request.get("messages") or []:
        if isinstance(message, dict) and message.get("role") == "user":
            texts = [b.get("text") for b in _blocks(message.get("content")) if isinstance(b, dict)]
            return "\n".join(t for t in texts if isinstance(t, str))
    return ""


class Script:
    """One scripted conversation: the step served is the number of assistant turns already in the request."""

    def __init__(self, steps: list[Step], match: str | None = None, repeat_last: bool = False) -> None:
        self.steps = steps
        self.match = match
        self.repeat_last = repeat_last

    def matches(self, request: JSON) -> bool:
        """Whether `match` occurs in the text of the request's first user message."""
        return self.match is None or self.match in first_user_text(request)

    def step_for(self, request: JSON) -> Step | None:
        """The step answering `request`; None once the script is exhausted (the server then says "Done.")."""
        turns = [m for m in request.get("messages") or [] if isinstance(m, dict)]
        index: int = sum(m.get("role") == "assistant" for m in turns)
        if index < len(self.steps):
            return self.steps[index]
        return self.steps[-1] if self.repeat_last and self.steps else None


def _tokens(chars: int) -> int:
    return (chars + 3) // 4


def _canonical(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _canonical(v) for k, v in value.items() if k != "cache_control"}
    return [_canonical(v) for v in value] if isinstance(value, list) else value


def _prompt_pieces(body: JSON) -> tuple[list[str], list[int]]:
    """Canonical prompt pieces in the API's prefix order (tools, system, messages) and breakpoint indexes."""
    items: list[tuple[str, Any]] = [("tool", tool) for tool in body.get("tools") or []]
    items += [("system", block) for block in _blocks(body.get("system"))]
    for i, message in enumerate(body.get("messages") or []):
        items += [(f"{message.get('role')}.{i}", block) for block in _blocks(message.get("content"))]
    pieces = [json.dumps([kind, _canonical(it)], sort_keys=True, separators=(",", ":")) for kind, it in items]
    breakpoints = [i for i, (_, it) in enumerate(items) if isinstance(it, dict) and it.get("cache_control")]
    if body.get("cache_control") and pieces and len(pieces) - 1 not in breakpoints:
        breakpoints.append(len(pieces) - 1)  # top-level cache_control marks the last cacheable block
    return pieces, breakpoints


def _validate_messages(messages: list[Any]) -> None:
    """Roles alternate starting with user; every tool_use is answered by a tool_result in the next message."""
    pending: set[str] = set()
    for i, msg in enumerate(messages):
        role, content, at = ("user", "assistant")[i % 2], msg.get("content"), f"messages.{i}"
        _check(msg.get("role") == role, f'{at}.role: expected "{role}" (roles alternate, "user" first)')
        blocks = _blocks(content)
        typed = all(isinstance(b, dict) and "type" in b for b in blocks)
        _check(isinstance(content, str | list) and typed, f"{at}.content: expected a string or a block list")
        _check(blocks or i == len(messages) - 1, f"{at}: only the final assistant message may be empty")
        results = {str(b.get("tool_use_id")) for b in blocks if b["type"] == "tool_result"}
        missing, unexpected = ", ".join(sorted(pending - results)), ", ".join(sorted(results - pending))
        no_result = f"{at}: `tool_use` ids were found without `tool_result` blocks immediately after"
        _check(not missing, f"{no_result}: {missing}. Each `tool_use` block needs a matching `tool_result`.")
        no_use = f"{at}: unexpected `tool_use_id` found in `tool_result` blocks: {unexpected}"
        _check(not unexpected, f"{no_use}. Each `tool_result` block needs a `tool_use` block before it.")
        pending = {str(b.get("id")) for b in blocks if b["type"] == "tool_use"}


def _display_name(model_id: str) -> str:
    return model_id.replace("-", " ").title()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    fake: FakeAnthropic
    live: set[Any]  # open connections, so that stop() also ends idle keep-alive ones

    def process_request(self, request: Any, client_address: Any) -> None:
        self.live.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        self.live.discard(request)
        super().shutdown_request(request)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in separate writes
    timeout = 60

    def do_GET(self) -> None:
        """Answer any request; `FakeAnthropic.handle` routes by method and path."""
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        status, extra, payload = cast(_Server, self.server).fake.handle(self.command, self.path, headers, raw)
        data = json.dumps(payload).encode()
        self.send_response(status)
        extra |= {"content-type": "application/json", "content-length": str(len(data))}
        for name, value in extra.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

    def log_message(self, format: str, *args: Any) -> None:
        """Stay quiet: tests inspect `FakeAnthropic.requests` instead."""


class FakeAnthropic:
    """A scripted Anthropic API on 127.0.0.1; use it as a context manager or call `start` / `stop`.

    ``fault(request, seq)`` runs first for every request (``seq`` counts from 1, before authentication);
    a ``(status, headers, json)`` it returns is sent instead of the normal answer.
    """

    def __init__(
        self,
        scripts: list[Script] | None = None,
        api_keys: Iterable[str] = ("sk-ant-test",),
        bearer_tokens: Iterable[str] = (),
        models: list[str] | None = None,
    ) -> None:
        self.scripts: list[Script] = scripts if scripts is not None else []
        self.api_keys, self.bearer_tokens = set(api_keys), set(bearer_tokens)
        self.models: list[str] = list(models) if models is not None else default_models()
        self.requests: list[RecordedRequest] = []
        self.fault: FaultHook | None = None
        self.latency_s = 0.0
        self.min_cache_tokens = 0  # the API caches nothing shorter than ~1024 tokens; 0 keeps tests small
        self._lock = threading.Lock()
        self._cache: set[str] = set()
        self._usage = dict.fromkeys(USAGE_KEYS, 0)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> FakeAnthropic:
        """Bind an ephemeral loopback port and serve from a daemon thread."""
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.fake, self._server.live = self, set()
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and release the port."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            for connection in list(self._server.live):
                with contextlib.suppress(OSError):
                    connection.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = self._thread = None

    def __enter__(self) -> FakeAnthropic:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """Base URL for the SDK, e.g. ``http://127.0.0.1:54321``."""
        if self._server is None:
            raise RuntimeError("FakeAnthropic is not running; call start() first")
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def message_requests(self) -> list[JSON]:
        """Bodies of all ``POST /v1/messages`` requests, in arrival order."""
        with self._lock:
            records = list(self.requests)
        return [r.body for r in records if r.method == "POST" and r.path == "/v1/messages" and r.body]

    def usage_totals(self) -> dict[str, int]:
        """Summed usage of every message reply served so far."""
        with self._lock:
            return dict(self._usage)

    def handle(self, method: str, target: str, headers: dict[str, str], raw: bytes) -> FaultReply:
        """Record one HTTP request, then answer it with ``(status, headers, JSON payload)``."""
        split = urlsplit(target)
        try:
            parsed: Any = json.loads(raw) if raw else None
        except ValueError:
            parsed = ValueError
        body = parsed if isinstance(parsed, dict) else None
        record = RecordedRequest(method, split.path, headers, body, parse_qs(split.query))
        with self._lock:
            self.requests.append(record)
            seq = len(self.requests)
        request_id = _new_id("req_")
        retry = {"retry-after-ms": "10", "retry-after": "0"}
        try:
            reply = self.fault(record, seq) if self.fault is not None else None
            if reply is not None:
                status, extra, payload = reply
                retriable = status in (408, 409, 429) or status >= 500
                return status, {**(retry if retriable else {}), **extra, "request-id": request_id}, payload
            self._authenticate(headers)
            _check(parsed is not ValueError, "There was an error parsing the body: invalid JSON")
            _check("anthropic-version" in headers, "anthropic-version: header is required")
            return 200, {"request-id": request_id}, self._route(method, record)
        except _ApiError as exc:
            error = error_body(ERROR_TYPES.get(exc.status, "api_error"), exc.message, request_id)
            return exc.status, {"request-id": request_id}, error
        except Exception as exc:  # a failing step callable or fault hook: report it and stop the SDK retrying
            error = error_body("api_error", f"stand-in failure: {exc!r}", request_id)
            return 500, {"x-should-retry": "false", "request-id": request_id}, error

    def _authenticate(self, headers: dict[str, str]) -> None:
        scheme, _, token = headers.get("authorization", "").partition(" ")
        bearer_ok = scheme.lower() == "bearer" and (token in self.bearer_tokens or token in self.api_keys)
        _check(headers.get("x-api-key") in self.api_keys or bearer_ok, "invalid x-api-key", 401)

    def _route(self, method: str, record: RecordedRequest) -> JSON:
        path = record.path.rstrip("/")
        routes: dict[str, tuple[str, Callable[[RecordedRequest], JSON]]] = {
            "/v1/messages": ("POST", self._create_message),
            "/v1/messages/count_tokens": ("POST", self._count_tokens),
            "/v1/models": ("GET", self._list_models),
        }
        if path.startswith("/v1/models/"):
            routes[path] = ("GET", self._retrieve_model)
        _check(path in routes, f"Not Found: {method} {record.path}", 404)
        allowed, handler = routes[path]
        _check(method == allowed, f"Method Not Allowed: {method} {record.path}", 405)
        return handler(record)

    def _create_message(self, record: RecordedRequest) -> JSON:
        if self.latency_s > 0:
            time.sleep(self.latency_s)
        body = self._validate(record.body, count_only=False)
        script = next((s for s in list(self.scripts) if s.matches(body)), None)
        if script is None:
            first = first_user_text(body)[:80]
            raise _ApiError(400, f"no scripted conversation matches (first user message: {first!r})")
        step = script.step_for(body)
        reply = step(copy.deepcopy(body)) if callable(step) else step
        reply = copy.deepcopy(reply) if reply is not None else [text_block("Done.")]
        override: JSON = reply if isinstance(reply, dict) else {"content": reply}
        content = [self._fill_block(b) for b in _blocks(override.pop("content", []))]
        usage: JSON = {**self._prompt_usage(body), "output_tokens": max(1, _tokens(len(json.dumps(content))))}
        usage.update(override.pop("usage", None) or {})
        stop_reason = "tool_use" if any(b.get("type") == "tool_use" for b in content) else "end_turn"
        message: JSON = {"id": _new_id("msg_"), "type": "message", "role": "assistant"}
        message |= {"model": body["model"], "content": content, "stop_reason": stop_reason}
        message |= {"stop_sequence": None, "usage": usage} | override
        with self._lock:
            for key in USAGE_KEYS:
                self._usage[key] += int(usage.get(key) or 0)
        return message

    @staticmethod
    def _fill_block(block: Any) -> JSON:
        if isinstance(block, str):
            return text_block(block)
        if not isinstance(block, dict):
            raise TypeError(f"scripted content blocks must be dicts, got {block!r}")
        if block.get("type") == "tool_use":
            block.setdefault("id", _new_id("toolu_"))
            block.setdefault("input", {})
        return block

    def _count_tokens(self, record: RecordedRequest) -> JSON:
        pieces, _ = _prompt_pieces(self._validate(record.body, count_only=True))
        return {"input_tokens": _tokens(sum(len(p) for p in pieces))}

    def _prompt_usage(self, body: JSON) -> dict[str, int]:
        """Input-side usage; prompt caching is simulated with cumulative hashes of the canonical prefix.

        Each breakpoint writes its prefix to the (server-wide) cache. The longest previously cached prefix
        ending at a breakpoint or up to 20 blocks before one (the API's lookback) is read; the rest up to the
        last breakpoint is written, and what follows it is plain input.
        """
        pieces, breakpoints = _prompt_pieces(body)
        digest = hashlib.sha256(str(body["model"]).encode())
        hashes: list[str] = []
        ends: list[int] = []
        for piece in pieces:
            digest.update(piece.encode() + b"\x00")
            hashes.append(digest.hexdigest())
            ends.append((ends[-1] if ends else 0) + len(piece))
        total = _tokens(ends[-1]) if ends else 0
        read = written = 0
        if breakpoints and _tokens(ends[max(breakpoints)]) >= self.min_cache_tokens:
            lookback = {i for b in breakpoints for i in range(max(0, b - CACHE_LOOKBACK_BLOCKS + 1), b + 1)}
            with self._lock:
                hit = max((i for i in lookback if hashes[i] in self._cache), default=-1)
                self._cache.update(hashes[b] for b in breakpoints)
            read = _tokens(ends[hit]) if hit >= 0 else 0
            written = _tokens(ends[max(breakpoints)]) - read
        usage = {"input_tokens": total - read - written, "cache_creation_input_tokens": written}
        return usage | {"cache_read_input_tokens": read}

    def _validate(self, body: JSON | None, *, count_only: bool) -> JSON:
        """Basic request validation mirroring the API's 400 / 404 answers."""
        if body is None:
            raise _ApiError(400, "The request body must be a JSON object")
        _check(not body.get("stream"), "stream: streaming is not supported by this stand-in")
        model = body.get("model")
        _check(isinstance(model, str) and model, "model: Field required")
        _check(model in self.models, f"model: {model}", 404)
        max_tokens = body.get("max_tokens")
        _check(count_only or (type(max_tokens) is int and max_tokens >= 1), "max_tokens: must be >= 1")
        tools = body.get("tools") or []
        _check(isinstance(tools, list), "tools: Input should be a list")
        named = all(isinstance(t, dict) and isinstance(t.get("name"), str) for t in tools)
        _check(named, "tools: each tool must be an object with a name")
        _check(len({t["name"] for t in tools}) == len(tools), "tools: Tool names must be unique.")
        _check(isinstance(body.get("system", ""), str | list), "system: Input should be a string or a list")
        messages = body.get("messages")
        well_formed = isinstance(messages, list) and messages and all(isinstance(m, dict) for m in messages)
        _check(well_formed, "messages: Field required (a list of at least one message object)")
        _validate_messages(cast(list[Any], messages))
        found = len(_prompt_pieces(body)[1])
        too_many = f"A maximum of {MAX_CACHE_BREAKPOINTS} blocks with cache_control may be provided."
        _check(found <= MAX_CACHE_BREAKPOINTS, f"{too_many} Found {found}.")
        return body

    def _list_models(self, record: RecordedRequest) -> JSON:
        query = {key: values[-1] for key, values in record.query.items()}
        limit = int(query.get("limit", "20")) if query.get("limit", "20").isdigit() else 0
        _check(1 <= limit <= 1000, "limit: Input should be an integer between 1 and 1000")
        lifecycle = record.query.get("lifecycle[]", []) + record.query.get("lifecycle", [])
        ids = list(self.models) if not lifecycle or "active" in lifecycle else []
        after, before = query.get("after_id", ""), query.get("before_id", "")
        _check(all(c in ids for c in (after, before) if c), "after_id / before_id: unknown model id")
        if before:
            start = max(0, ids.index(before) - limit)
            page, has_more = ids[start : ids.index(before)], start > 0
        else:
            start = ids.index(after) + 1 if after else 0
            page, has_more = ids[start : start + limit], start + limit < len(ids)
        first, last = (page[0], page[-1]) if page else (None, None)
        data = [self._model_info(m) for m in page]
        return {"data": data, "has_more": has_more, "first_id": first, "last_id": last}

    def _retrieve_model(self, record: RecordedRequest) -> JSON:
        model_id = unquote(record.path.rstrip("/").removeprefix("/v1/models/"))
        _check(model_id in self.models, f"model: {model_id}", 404)
        return self._model_info(model_id)

    def _model_info(self, model_id: str) -> JSON:
        released = datetime(2026, 1, 1, tzinfo=UTC) - timedelta(days=14 * self.models.index(model_id))
        info: JSON = {"type": "model", "id": model_id, "display_name": _display_name(model_id)}
        info |= {"lifecycle": "active", "deprecated_at": None, "retires_at": None, "max_tokens": 64_000}
        return info | {"created_at": released.strftime("%Y-%m-%dT%H:%M:%SZ"), "max_input_tokens": 200_000}
