"""The webhook port: the standard library's threading HTTP server with its limits made explicit (body and
header sizes, one deadline for reading a whole request, a cap on connections and on large bodies held at
once), answering deliveries through the Receiver, and /healthz and /metrics when given the pages."""

from __future__ import annotations

import functools
import http.client
import io
import logging
import re
import socket
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

from autonomous_dev.webhook.events import CONTENT_TYPES
from autonomous_dev.webhook.receiver import Answer, Receiver

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 25 * 1024 * 1024  # GitHub caps payloads at 25 MB
MAX_HEAD_BYTES = 64 * 1024  # request line and headers; GitHub's are a few kB
READ_DEADLINE_S = 10.0  # for a whole request, however slowly it trickles in; GitHub waits 10 s for an answer
MAX_CONNECTIONS = 32  # one thread each; more are refused at once
LARGE_BODY_BYTES = 1024 * 1024  # bodies above this are read one at a time
DRAIN_BYTES = 64 * 1024  # read after refusing a body, so the client sees the answer rather than a reset
HEADERS = ("X-Hub-Signature-256", "X-GitHub-Event", "X-GitHub-Delivery")
BUSY = b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"

Page = tuple[int, str, bytes]  # status, content type, body


class _HeadTooLarge(http.client.LineTooLong):
    """More than MAX_HEAD_BYTES before the end of the headers (parse_request answers 431)."""

    def __init__(self) -> None:
        super().__init__("request head")


class _DeadlineReader(io.RawIOBase):
    """The socket, read within one deadline for the whole request (a client sending a byte a second
    cannot hold a thread) and, until the head is read, within MAX_HEAD_BYTES."""

    def __init__(self, sock: socket.socket, deadline: float) -> None:
        self.sock = sock
        self.deadline = deadline
        self.head_limit: int | None = MAX_HEAD_BYTES
        self.consumed = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview | bytearray) -> int:  # type: ignore[override]
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("the request was not read within its deadline")
        view = memoryview(buffer)
        if self.head_limit is not None:
            room = self.head_limit - self.consumed
            if room <= 0:
                raise _HeadTooLarge()
            view = view[:room]
        self.sock.settimeout(left)
        count = self.sock.recv_into(view)
        self.consumed += count
        return count


class WebhookServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 64

    def __init__(
        self,
        host: str,
        port: int,
        path: str,
        receiver: Receiver,
        pages: Callable[[str], Page | None] | None,
        read_deadline_s: float = READ_DEADLINE_S,
    ) -> None:
        self.read_deadline_s = read_deadline_s
        if ":" in host:
            self.address_family = socket.AF_INET6
        super().__init__((host, port), _Handler)
        self.path = path
        self.receiver = receiver
        self.pages = pages
        self.connections = threading.BoundedSemaphore(MAX_CONNECTIONS)
        self.large_bodies = threading.BoundedSemaphore(1)
        self._large_buffer: bytearray | None = None
        self.serving: threading.Thread | None = None

    def large_buffer(self) -> bytearray:
        """The buffer large bodies are read into (the holder of `large_bodies` uses it), made once."""
        if self._large_buffer is None:
            self._large_buffer = bytearray(MAX_BODY_BYTES)
        return self._large_buffer

    def start(self) -> None:
        serve = functools.partial(self.serve_forever, poll_interval=0.2)  # how long a stop waits for it
        self.serving = threading.Thread(target=serve, name="webhook-port", daemon=True)
        self.serving.start()

    def close(self) -> None:
        if self.serving is not None:
            self.shutdown()
        self.server_close()

    def process_request(self, request: socket.socket, client_address: object) -> None:  # type: ignore[override]
        """A thread per connection, up to MAX_CONNECTIONS; past that a 503 at once and no thread."""
        if not self.connections.acquire(blocking=False):
            try:
                request.setblocking(False)
                request.send(BUSY)
            except OSError:
                pass
            self.shutdown_request(request)
            return
        super().process_request(request, client_address)

    def handle_error(self, request: object, client_address: object) -> None:
        log.exception("webhook port: a request failed")

    def process_request_thread(self, request: socket.socket, client_address: object) -> None:  # type: ignore[override]
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.connections.release()


class _Handler(BaseHTTPRequestHandler):
    server: WebhookServer
    server_version = "autonomous-dev"
    sys_version = ""
    protocol_version = "HTTP/1.1"  # every answer says Connection: close
    error_message_format = "%(code)d %(message)s\n"
    error_content_type = "text/plain; charset=utf-8"

    def setup(self) -> None:
        self.connection = self.request
        self.reader = _DeadlineReader(self.connection, time.monotonic() + self.server.read_deadline_s)
        self.rfile = io.BufferedReader(self.reader)
        self.wfile = self.connection.makefile("wb", buffering=0)
        self.command, self.request_version = "", "HTTP/1.1"  # until parse_request reads them

    def handle(self) -> None:
        self.close_connection = True
        try:
            self.raw_requestline = self.rfile.readline(MAX_HEAD_BYTES + 1)
            if not self.raw_requestline or not self.parse_request():
                return  # the client closed, or parse_request answered (400, 431, ...)
            self.reader.head_limit = None
            self.connection.settimeout(self.server.read_deadline_s)  # for writing the answer
            self._route()
        except _HeadTooLarge:
            self._refuse(431, "request header fields too large")
        except TimeoutError:
            log.debug("webhook port: a client was too slow; closing its connection")
        except (ConnectionError, BrokenPipeError):
            log.debug("webhook port: a client closed its connection early")

    def _route(self) -> None:
        path = urlsplit(self.path).path
        if path == self.server.path:
            if self.command != "POST":
                self._refuse(405, "deliveries are POSTed")
                return
            self._delivery()
            return
        page = self.server.pages(path) if self.server.pages and self.command in ("GET", "HEAD") else None
        if page is None:
            self._refuse(404, "not found")
            return
        status, content_type, body = page
        self._answer(status, body, content_type)

    def _delivery(self) -> None:
        length = self.headers.get("Content-Length", "")
        if self.headers.get("Transfer-Encoding") or not re.fullmatch(r"[0-9]{1,12}", length):
            self._refuse(411, "a delivery needs a Content-Length")
            return
        if int(length) > MAX_BODY_BYTES:
            self._refuse(413, f"the body is over {MAX_BODY_BYTES // (1024 * 1024)} MB")
            return
        content_type = self.headers.get_content_type()
        if content_type not in CONTENT_TYPES:
            self._refuse(415, "send application/json (or application/x-www-form-urlencoded)")
            return
        answer = self._read_and_accept(int(length), content_type)
        if answer is not None:
            self._answer(answer.status, answer.text)

    def _read_and_accept(self, length: int, content_type: str) -> Answer | None:
        """The body handed to the receiver; None when the client closed before sending it all. A large
        body is read into the one buffer kept for them, one at a time, so memory stays bounded (each
        thread allocating its own would leave the memory in that thread's malloc arena)."""
        if length <= LARGE_BODY_BYTES:
            body: bytes | memoryview | None = self.rfile.read(length)
            return self._accept(body, content_type) if body is not None and len(body) == length else None
        if not self.server.large_bodies.acquire(timeout=max(0.0, self.reader.deadline - time.monotonic())):
            return Answer(503, "busy: redeliver later")
        try:
            body = self._read_into(self.server.large_buffer(), length)
            return self._accept(body, content_type) if body is not None else None
        finally:
            self.server.large_bodies.release()

    def _read_into(self, buffer: bytearray, length: int) -> memoryview | None:
        view = memoryview(buffer)[:length]
        filled = 0
        while filled < length:
            count = self.rfile.readinto(view[filled:])
            if not count:
                return None
            filled += count
        return view

    def _accept(self, body: bytes | memoryview, content_type: str) -> Answer:
        headers = {name: self.headers.get(name, "") for name in HEADERS}
        return self.server.receiver.accept(headers, body, content_type)

    def _refuse(self, status: int, text: str) -> None:
        """Answer without reading the body, then read a little of what the client still sends before
        closing (at most DRAIN_BYTES, for a second), so it gets the answer rather than a connection reset."""
        self._answer(status, text)
        try:
            self.connection.shutdown(socket.SHUT_WR)
            self.connection.settimeout(1.0)
            drained = 0
            while drained < DRAIN_BYTES and (chunk := self.connection.recv(DRAIN_BYTES - drained)):
                drained += len(chunk)
        except OSError:
            pass

    def _answer(
        self, status: int, text: str | bytes, content_type: str = "text/plain; charset=utf-8"
    ) -> None:
        data = text.encode() if isinstance(text, str) else text
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(0 if status == 204 else len(data)))
        self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD" and status != 204:
            self.wfile.write(data)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        log.debug("webhook port: %s answered %s", self.command, code)

    def log_message(self, format: str, *args: object) -> None:
        return None  # the request line is the client's text: log_request says what matters
