"""A local OAuth 2.0 token endpoint answering the refresh_token grant, counting what it is asked."""

from __future__ import annotations

import itertools
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs


class FakeTokenEndpoint:
    """POST /oauth/token with grant_type=refresh_token; each valid refresh token may be used once."""

    def __init__(
        self, client_id: str = "autonomous-dev-test", delay_s: float = 0.0, expires_in: int = 3600
    ) -> None:
        self.client_id = client_id
        self.delay_s = delay_s
        self.expires_in = expires_in
        self.valid_refresh_tokens: set[str] = set()
        self.issued: list[dict[str, Any]] = []
        self.requests: list[dict[str, str]] = []
        self._lock = threading.Lock()
        self._counter = itertools.count(1)
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}/oauth/token"

    def start(self) -> FakeTokenEndpoint:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
                status, body = fake.answer(self.path, form)
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def __enter__(self) -> FakeTokenEndpoint:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def answer(self, path: str, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        with self._lock:
            self.requests.append(form)
        time.sleep(self.delay_s)
        if path != "/oauth/token":
            return 404, {"error": "not_found"}
        if form.get("grant_type") != "refresh_token" or form.get("client_id") != self.client_id:
            return 400, {"error": "invalid_client"}
        with self._lock:
            if form.get("refresh_token") not in self.valid_refresh_tokens:
                return 400, {"error": "invalid_grant"}
            self.valid_refresh_tokens.discard(form["refresh_token"])
            number = next(self._counter)
            tokens = {
                "access_token": f"sk-ant-oat01-refreshed{number:04d}-" + "Q" * 40,
                "refresh_token": f"sk-ant-ort01-rotated{number:04d}-" + "R" * 40,
                "expires_in": self.expires_in,
                "token_type": "Bearer",
            }
            self.valid_refresh_tokens.add(tokens["refresh_token"])
            self.issued.append(tokens)
        return 200, tokens
