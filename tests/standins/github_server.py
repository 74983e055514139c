"""A local stand-in for GitHub: REST API for PyGithub plus real git over smart HTTP.

:class:`FakeGitHub` runs a threaded ``http.server`` on 127.0.0.1 (random port) that

* answers the GitHub REST API below ``/api/v3`` (like GitHub Enterprise), so the real client works
  with ``github.Github(auth=github.Auth.Token(tok), base_url=server.api_url)``;
* serves the bare repositories under ``root`` at ``{base_http}/git/{owner}/{name}.git`` through the
  system's ``git http-backend`` CGI, so real git / GitPython can clone and push with HTTP Basic auth
  (any user name, password = a known token; a known token as user name with an empty password is
  accepted too).

Check runs, commit statuses and scripted CI: :mod:`.github_checks` (``set_check_run``, ``set_status``,
``set_ci``, ``check_reads``); failed runs' annotations and Actions job logs behind a 302 to a signed
link: :mod:`.github_actions` (``set_failed_run``); review comments and replies: :mod:`.github_reviews`
(``add_review_comment``, ``submit_review``); mergeability, branch protection, reviews and
``PUT pulls/{n}/merge``: :mod:`.github_merge` (``protect_branch``, ``approve``, ``merge_method``).
Closing keywords are not emulated: merging a pull request leaves the issues it references open.

Permissions: the repo owner login is admin; other logins get what :meth:`FakeGitHub.set_permission`
gave them and otherwise ``write`` (``DEFAULT_PERMISSION``) so simple tests need no set-up. Unlike
GitHub, ``none`` on a private repo does not hide it (404): the repo stays readable with all
``permissions`` false, but label changes need triage, and git push / ref changes need write (403).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import logging
import re
import socket
import subprocess
import tempfile
import threading
import time
import traceback
import uuid
from collections.abc import Iterable, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Self
from urllib.parse import unquote, urlsplit

from . import (
    github_actions,
    github_api,
    github_api_git,
    github_apps,
    github_checks,
    github_graphql,
    github_merge,
    github_reviews,
)
from .github_json import DOCS, Render
from .github_routing import ApiError, Ctx, Router, parse_query
from .github_state import (
    PERMISSION_LEVELS,
    RATE_LIMIT,
    FaultHook,
    PullInfo,
    RecordedRequest,
    Repo,
    State,
    Token,
    branch_sha,
    git_env,
    http_backend_command,
    pull_shas,
    read_branches,
    run_git,
)

API_PREFIX = "/api/v3"
GRAPHQL_PATH = "/api/graphql"  # where GitHub Enterprise serves GraphQL, next to /api/v3
# github_merge before github_api_git: "branches/{b}/protection" would otherwise match "branches/{b}".
_ROUTER = Router(
    github_api.router,
    github_merge.router,
    github_checks.router,
    github_reviews.router,
    github_actions.router,
    github_api_git.router,
)
_GIT_PATH = re.compile(r"^/git/(?P<owner>[^/]+)/(?P<name>[^/]+?)(?:\.git)?(?P<rest>/.+)$")
__all__ = ["API_PREFIX", "FakeGitHub", "FaultHook", "RecordedRequest"]


class FakeGitHub(
    github_actions.ActionsSetup, github_merge.MergeSetup, github_reviews.ReviewSetup, github_apps.AppSetup
):
    """Local GitHub imitation; see the module docstring. Use as a context manager or start()/stop()."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.state = State(self.root)
        self.render = Render(self.state)
        self.requests: list[RecordedRequest] = []
        self.errors: list[str] = []  # tracebacks / git http-backend failures, for debugging tests
        self.fault: FaultHook | None = None
        self.api_url = ""
        self.base_http = ""
        self._requests_lock = threading.Lock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._backend = http_backend_command()

    # -- lifecycle --------------------------------------------------------------------------------
    def start(self) -> Self:
        if self._server is not None:
            return self
        self._server = _Server(self)
        port = self._server.server_address[1]
        self.base_http = f"http://127.0.0.1:{port}"
        self.api_url = f"{self.base_http}{API_PREFIX}"
        self.state.base_http, self.state.api_url = self.base_http, self.api_url
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"fake-github-{port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.close_connections()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- set-up -----------------------------------------------------------------------------------
    def add_token(
        self,
        token: str,
        login: str = "octobot",
        scopes: str | None = "repo",
        expires_at: str | None = None,
        fine_grained: bool = False,
    ) -> None:
        with self.state.lock:
            self.state.tokens[token] = Token(
                token, login, scopes, expires_at, fine_grained, reset=int(time.time()) + 3600
            )

    def create_repo(
        self,
        owner: str,
        name: str,
        source: Path | None = None,
        default_branch: str = "main",
        private: bool = True,
    ) -> Path:
        """Create ``root/owner/name.git`` (push enabled); push all branches and tags of ``source`` into it."""
        with self.state.lock:
            if self.state.find_repo(owner, name) is not None:
                raise ValueError(f"repository {owner}/{name} already exists")
            path = self.root / owner / f"{name}.git"
            path.parent.mkdir(parents=True, exist_ok=True)
            run_git("init", "--bare", "--quiet", f"--initial-branch={default_branch}", str(path))
            run_git("-C", str(path), "config", "http.receivepack", "true")
            if source is not None:
                run_git(
                    "-C",
                    str(source),
                    "push",
                    "--quiet",
                    str(path),
                    "+refs/heads/*:refs/heads/*",
                    "+refs/tags/*:refs/tags/*",
                )
            repo = Repo(
                self.state.next_id(),
                owner,
                name,
                path,
                default_branch,
                private,
                time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            )
            self.state.repos[(owner.lower(), name.lower())] = repo
            return path

    def set_permission(self, owner: str, name: str, login: str, permission: str) -> None:
        if permission not in PERMISSION_LEVELS:
            raise ValueError(f"permission must be one of {PERMISSION_LEVELS}")
        with self.state.lock:
            self.state.repo(owner, name).permissions[login.lower()] = permission

    def add_issue(
        self,
        owner: str,
        name: str,
        title: str,
        body: str = "",
        labels: Sequence[str] = (),
        user: str = "alice",
        labeled_by: str | None = None,
    ) -> int:
        """Create an issue; each label gets a ``labeled`` event by ``labeled_by`` (default: ``user``)."""
        with self.state.lock:
            repo = self.state.repo(owner, name)
            issue = self.state.new_issue(repo, title, body, user)
            self.state.add_labels(repo, issue, labels, labeled_by or user)
            return issue.number

    def add_pull(
        self, owner: str, name: str, head: str, head_sha: str, user: str, head_owner: str | None = None
    ) -> int:
        """A pull request `user` opened from `head` at `head_sha` into the default branch; from a fork of
        `head_owner`'s when given (the branch then lives there, not here)."""
        with self.state.lock:
            repo = self.state.repo(owner, name)
            base = repo.default_branch
            base_sha = branch_sha(repo.path, base)
            assert base_sha is not None
            pull = PullInfo(head, base, head_owner or repo.owner, head_sha, base_sha)
            return self.state.new_issue(repo, f"Changes from {head}", "", user, pull).number

    def add_comment(self, owner: str, name: str, number: int, body: str, user: str = "alice") -> int:
        with self.state.lock:
            repo, issue = self.state.issue(owner, name, number)
            return self.state.add_comment(repo, issue, body, user).id

    def add_label(self, owner: str, name: str, number: int, label: str, user: str = "alice") -> None:
        """Label an existing issue as ``user`` (a ``labeled`` event by them)."""
        with self.state.lock:
            repo, issue = self.state.issue(owner, name, number)
            self.state.add_labels(repo, issue, [label], user)

    def remove_label(self, owner: str, name: str, number: int, label: str, user: str = "alice") -> None:
        with self.state.lock:
            repo, issue = self.state.issue(owner, name, number)
            self.state.remove_label(repo, issue, label, user)

    def edit_issue(
        self, owner: str, name: str, number: int, user: str, body: str | None = None, title: str | None = None
    ) -> None:
        """Edit as ``user`` would on GitHub: a body revision (GraphQL history) or a ``renamed`` event."""
        with self.state.lock:
            _, issue = self.state.issue(owner, name, number)
            if title is not None:
                self.state.rename(issue, title, user)
            if body is not None:
                self.state.edit_text(issue, body, user)

    def edit_comment(self, owner: str, name: str, comment_id: int, body: str, user: str) -> None:
        with self.state.lock:
            self.state.edit_text(self.state.repo(owner, name).comments[comment_id], body, user)

    # -- inspection -------------------------------------------------------------------------------
    def issue(self, owner: str, name: str, number: int) -> dict[str, Any]:
        """Snapshot of an issue (or pull request): title, body, state, labels (names), user, ..."""
        with self.state.lock:
            _, issue = self.state.issue(owner, name, number)
            return {
                "number": issue.number,
                "title": issue.title,
                "body": issue.body,
                "state": issue.state,
                "state_reason": issue.state_reason,
                "labels": list(issue.labels),
                "user": issue.user,
                "locked": issue.locked,
                "is_pull_request": issue.pull is not None,
                "created_at": issue.created_at,
                "updated_at": issue.updated_at,
                "closed_at": issue.closed_at,
            }

    def issues(self, owner: str, name: str) -> list[dict[str, Any]]:
        """Snapshots of every issue (not pull request), by number."""
        with self.state.lock:
            found = self.state.repo(owner, name).issues.values()
            numbers = sorted(issue.number for issue in found if issue.pull is None)
        return [self.issue(owner, name, number) for number in numbers]

    def comments(self, owner: str, name: str, number: int) -> list[dict[str, Any]]:
        with self.state.lock:
            repo, issue = self.state.issue(owner, name, number)
            return [
                {
                    "id": c.id,
                    "body": c.body,
                    "user": c.user,
                    "created_at": c.created_at,
                    "updated_at": c.updated_at,
                }
                for c in self.state.issue_comments(repo, issue.number)
            ]

    def events(self, owner: str, name: str, number: int) -> list[dict[str, Any]]:
        """Timeline events of an issue: ``{"event", "actor", "label", "created_at"}`` (label may be None)."""
        with self.state.lock:
            _, issue = self.state.issue(owner, name, number)
            return [
                {
                    "id": e.id,
                    "event": e.event,
                    "actor": e.actor,
                    "label": e.label_name,
                    "created_at": e.created_at,
                }
                for e in issue.events
            ]

    def pulls(self, owner: str, name: str) -> list[dict[str, Any]]:
        with self.state.lock:
            repo = self.state.repo(owner, name)
            return [
                {
                    "number": i.number,
                    "title": i.title,
                    "body": i.body,
                    "head": i.pull.head,
                    "base": i.pull.base,
                    "state": i.state,
                    "draft": i.pull.draft,
                    "merged": i.pull.merged,
                    "merged_at": i.pull.merged_at,
                    "merged_by": i.pull.merged_by,
                    "merge_commit_sha": i.pull.merge_commit_sha,
                    "merge_method": i.pull.merge_method,
                    "user": i.user,
                    "labels": list(i.labels),
                    "head_sha": pull_shas(repo, i.pull)[0],
                }
                for i in sorted(repo.issues.values(), key=lambda i: i.number)
                if i.pull is not None
            ]

    def branches(self, owner: str, name: str) -> dict[str, str]:
        return read_branches(self._repo_path(owner, name))

    def file_at(self, owner: str, name: str, ref: str, path: str) -> str:
        return run_git("-C", str(self._repo_path(owner, name)), "show", f"{ref}:{path}").stdout

    def _repo_path(self, owner: str, name: str) -> Path:
        with self.state.lock:
            return self.state.repo(owner, name).path

    # -- used by the request handler --------------------------------------------------------------
    def _record(self, request: RecordedRequest) -> int:
        with self._requests_lock:
            self.requests.append(request)
            return len(self.requests)

    def _token_for(self, request: RecordedRequest) -> Token | None:
        """A live token from ``token X`` / ``Bearer X`` or HTTP Basic (password, or user with empty
        password); an expired installation token is none."""
        token = self._credential_of(request)
        return None if token is None or token.expired() else token

    def _credential_of(self, request: RecordedRequest) -> Token | None:
        scheme, _, credential = (request.header("Authorization") or "").partition(" ")
        credential = credential.strip()
        with self.state.lock:
            tokens = self.state.tokens
            if scheme.lower() in ("token", "bearer"):
                return tokens.get(credential)
            if scheme.lower() != "basic":
                return None
            try:
                user, _, password = base64.b64decode(credential, validate=True).decode().partition(":")
            except ValueError:
                return None
            if password in tokens:
                return tokens[password]
            return tokens.get(user) if password in ("", "x-oauth-basic") else None

    def _common_headers(self, token: Token | None) -> dict[str, str]:
        with self.state.lock:
            remaining = token.remaining if token else RATE_LIMIT
            reset = token.reset if token else int(time.time()) + 3600
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "X-RateLimit-Limit": str(RATE_LIMIT),
            "X-RateLimit-Remaining": str(remaining),
            "X-RateLimit-Reset": str(reset),
            "X-RateLimit-Used": str(RATE_LIMIT - remaining),
            "X-RateLimit-Resource": "core",
            "X-GitHub-Media-Type": "github.v3; format=json",
            "X-GitHub-Request-Id": uuid.uuid4().hex[:20].upper(),
        }
        if token is not None and token.scopes is not None and not token.fine_grained:
            headers["X-OAuth-Scopes"] = token.scopes
        if token is not None and token.expires_at:
            headers["github-authentication-token-expiration"] = token.expires_at
        return headers


def _etag(doc: Any, login: str) -> str:
    """A weak validator of the representation, per user (GitHub's vary by Authorization)."""
    digest = hashlib.sha256(json.dumps([login, doc], sort_keys=True).encode()).hexdigest()
    return f'W/"{digest[:40]}"'


def _tags(header: str | None) -> set[str]:
    """The entity tags of an If-None-Match header; a strong tag also matches its weak form."""
    tags = {part.strip() for part in (header or "").split(",") if part.strip()}
    return tags | {f"W/{tag}" for tag in tags if not tag.startswith("W/")}


def _merge_headers(base: dict[str, str], extra: dict[str, str]) -> dict[str, str]:
    lowered = {key.lower() for key in extra}
    return {k: v for k, v in base.items() if k.lower() not in lowered} | extra


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, fake: FakeGitHub) -> None:
        self.fake = fake
        self._connections: set[Any] = set()
        self._connections_lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), _Handler)

    def track(self, connection: Any, alive: bool) -> None:
        with self._connections_lock:
            if alive:
                self._connections.add(connection)
            else:
                self._connections.discard(connection)

    def close_connections(self) -> None:
        """Drop idle keep-alive connections so their handler threads end."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in separate writes: no 40 ms delayed-ACK stall
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection, True)
        self._responded = False

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.track(self.connection, False)

    def log_message(self, format: str, *args: Any) -> None:
        pass

    # -- request entry point ----------------------------------------------------------------------
    def _handle(self) -> None:
        fake = self.server.fake
        self._responded = False
        try:
            body = self._read_body()
        except (ValueError, ConnectionError):
            self.close_connection = True
            return
        request = RecordedRequest(self.command, self.path, dict(self.headers.items()), body)
        sequence = fake._record(request)
        try:
            if fake.fault is not None:
                result = fake.fault(request, sequence)
                if result is not None:
                    status, headers, doc = result
                    if isinstance(doc, bytes):  # a body as it is (a log, an HTML error page)
                        self._send(status, headers.items(), doc)
                    else:
                        self._send_json(status, headers, doc, fake._token_for(request))
                    return
            path = request.route
            if path.startswith("/git/"):
                self._git(request)
            elif path == GRAPHQL_PATH and request.method == "POST":
                self._graphql(request)
            elif path == API_PREFIX or path.startswith(API_PREFIX + "/"):
                self._api(request)
            elif path.startswith(github_actions.BLOB_PREFIX) and request.method == "GET":
                status, data = github_actions.serve_blob(fake.state, request)
                self._send(status, [("Content-Type", "text/plain; charset=utf-8")], data)
            else:
                self._send_json(404, {}, {"message": "Not Found", "documentation_url": DOCS}, None)
        except Exception:  # report any stand-in bug to the client, the log and fake.errors
            logging.getLogger(__name__).exception("fake GitHub failed on %s %s", request.method, request.path)
            fake.errors.append(traceback.format_exc())
            if self._responded:
                self.close_connection = True
            else:
                self._send_json(500, {}, {"message": "stand-in error, see FakeGitHub.errors"}, None)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _handle

    def _read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            return self._read_chunked()
        return self._read_exactly(int(self.headers.get("Content-Length") or 0))

    def _read_exactly(self, length: int) -> bytes:
        buf = bytearray()
        while len(buf) < length:
            chunk = self.rfile.read(min(1 << 16, length - len(buf)))
            if not chunk:
                raise ConnectionError("client closed the connection mid-body")
            buf += chunk
        return bytes(buf)

    def _read_chunked(self) -> bytes:
        buf = bytearray()
        while True:
            line = self.rfile.readline(1 << 16)
            if not line:
                raise ConnectionError("client closed the connection mid-body")
            size = int(line.split(b";", 1)[0].strip(), 16)
            if size == 0:
                while self.rfile.readline(1 << 16) not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return bytes(buf)
            buf += self._read_exactly(size)
            self._read_exactly(2)  # CRLF after each chunk

    # -- responses --------------------------------------------------------------------------------
    def _send_json(self, status: int, extra: dict[str, str], doc: Any, token: Token | None) -> None:
        data = b"" if doc is None or status in (204, 304) else json.dumps(doc).encode()
        headers = _merge_headers(self.server.fake._common_headers(token), extra)
        self._send(status, headers.items(), data)

    def _send_text(self, status: int, text: str, extra: dict[str, str] | None = None) -> None:
        headers = {"Content-Type": "text/plain; charset=utf-8"} | (extra or {})
        self._send(status, headers.items(), text.encode())

    def _send(self, status: int, headers: Iterable[tuple[str, str]], data: bytes) -> None:
        self._responded = True
        self.send_response(status)
        for key, value in headers:
            if key.lower() not in ("content-length", "transfer-encoding", "connection"):
                self.send_header(key, value)
        if status not in (204, 304):
            self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD" and status not in (204, 304):
            self.wfile.write(data)

    # -- REST API ---------------------------------------------------------------------------------
    def _api(self, request: RecordedRequest) -> None:
        fake = self.server.fake
        app_answer = github_apps.answer(fake.state, request, urlsplit(request.path).path[len(API_PREFIX) :])
        if app_answer is not None:  # authenticated by the app's JWT, not by a token
            self._send_json(*app_answer, None)
            return
        token = fake._token_for(request)
        if token is None:
            self._send_json(401, {}, {"message": "Bad credentials", "documentation_url": DOCS}, None)
            return
        split = urlsplit(request.path)
        ctx = Ctx(
            fake.state,
            fake.render,
            request.method,
            split.path[len(API_PREFIX) :] or "/",
            split.path,
            parse_query(split.query),
            request.body,
            token,
        )
        try:
            status, headers, doc = _ROUTER.dispatch(ctx)
        except ApiError as exc:
            status, headers, doc = exc.status, {}, exc.body()
        if request.method == "GET" and status == 200:
            tag = _etag(doc, token.login)
            headers = {**headers, "ETag": tag, "Vary": "Accept, Authorization"}
            if tag in _tags(request.header("If-None-Match")):
                status, doc = 304, None
        if status != 304 and split.path != f"{API_PREFIX}/rate_limit":
            with fake.state.lock:  # charged once the answer is known (never a 304, like GitHub)
                token.remaining = max(0, token.remaining - 1)
        self._send_json(status, headers, doc, token)

    def _graphql(self, request: RecordedRequest) -> None:
        fake = self.server.fake
        token = fake._token_for(request)
        if token is None:
            self._send_json(401, {}, {"message": "Bad credentials", "documentation_url": DOCS}, None)
            return
        with fake.state.lock:
            token.remaining = max(0, token.remaining - 1)
        try:
            body = json.loads(request.body or b"null")
        except ValueError:
            body = None
        self._send_json(200, {}, github_graphql.answer(fake.state, token.login, body), token)

    # -- git smart HTTP ---------------------------------------------------------------------------
    def _git(self, request: RecordedRequest) -> None:
        fake = self.server.fake
        token = fake._token_for(request)
        if token is None:
            self._send_text(401, "Invalid username or token.\n", {"WWW-Authenticate": 'Basic realm="GitHub"'})
            return
        split = urlsplit(request.path)
        match = _GIT_PATH.match(unquote(split.path))
        with fake.state.lock:
            repo = fake.state.find_repo(match["owner"], match["name"]) if match else None
        if match is None or repo is None or not token.sees(repo):
            self._send_text(404, "Repository not found.\n")
            return
        push = "service=git-receive-pack" in split.query or match["rest"].endswith("/git-receive-pack")
        if not fake.state.has_permission(repo, token.login, "write" if push else "read"):
            self._send_text(403, f"Permission to {repo.full_name}.git denied to {token.login}.\n")
            return
        self._run_backend(request, repo, match["rest"], split.query, token.login)

    def _run_backend(self, request: RecordedRequest, repo: Repo, rest: str, query: str, login: str) -> None:
        fake = self.server.fake
        env = git_env() | {
            "GIT_PROJECT_ROOT": str(fake.root),
            "GIT_HTTP_EXPORT_ALL": "1",
            "PATH_INFO": f"/{repo.path.relative_to(fake.root).as_posix()}{rest}",
            "QUERY_STRING": query,
            "REQUEST_METHOD": request.method,
            "CONTENT_TYPE": request.header("Content-Type") or "",
            "CONTENT_LENGTH": str(len(request.body)),
            "REMOTE_USER": login,
            "REMOTE_ADDR": self.client_address[0],
            "GATEWAY_INTERFACE": "CGI/1.1",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "SERVER_SOFTWARE": "fake-github",
        }
        for header, variable in (
            ("Content-Encoding", "HTTP_CONTENT_ENCODING"),
            ("Git-Protocol", "HTTP_GIT_PROTOCOL"),
        ):
            value = request.header(header)
            if value:
                env[variable] = value
        with tempfile.TemporaryFile() as stdin, tempfile.TemporaryFile() as stderr:
            stdin.write(request.body)
            stdin.seek(0)
            proc = subprocess.Popen(
                fake._backend, stdin=stdin, stdout=subprocess.PIPE, stderr=stderr, env=env
            )
            assert proc.stdout is not None
            try:
                self._relay_cgi(proc.stdout)
            finally:
                proc.stdout.close()
                code = proc.wait()
            if code != 0:
                stderr.seek(0)
                fake.errors.append(
                    f"git http-backend exited {code} for {request.method} {request.path}: "
                    f"{stderr.read().decode(errors='replace')}"
                )

    def _relay_cgi(self, stdout: IO[bytes]) -> None:
        """Send the CGI response: parse its header block (``Status:``), then stream the body chunked."""
        status, headers = 200, []
        while True:
            line = stdout.readline()
            if line in (b"\r\n", b"\n", b""):
                break
            key, _, value = line.decode("latin-1").partition(":")
            if key.strip().lower() == "status":
                status = int(value.split()[0])
            else:
                headers.append((key.strip(), value.strip()))
        self._responded = True
        self.send_response(status)
        for key, value in headers:
            self.send_header(key, value)
        length = next((v for k, v in headers if k.lower() == "content-length"), None)
        if length is None:
            self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        read = getattr(stdout, "read1", stdout.read)
        while data := read(1 << 16):
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data) if length is None else data)
        if length is None:
            self.wfile.write(b"0\r\n\r\n")
