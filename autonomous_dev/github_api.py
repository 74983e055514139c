"""The PyGithub adapter, turning GitHub objects into models; the only module importing `github`."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Any, Self, TypeVar

import github
from github import Auth, Github, GithubException, GithubRetry
from github.PullRequest import PullRequest as GhPull
from github.Repository import Repository
from urllib3.util.retry import Retry

from .errors import CredentialError, GitHubError
from .models import Comment, Issue, PullRequest, RepoAccess, TokenReport
from .ratelimit import RateGate
from .redact import Redactor

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class GitHubOptions:
    api_url: str = "https://api.github.com"
    seconds_between_requests: float = 0.25
    seconds_between_writes: float = 1.0
    timeout_s: int = 30
    retries: int = 6


WRITE_ATTEMPTS = 4
WRITE_RETRY_PAUSE_S = 0.5
IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})


class SharedLimitRetry(GithubRetry):
    """PyGithub's retry, made safe and shared.

    Writes that are not idempotent (POST, PATCH) are retried only after a rate-limit answer, which GitHub
    gives before doing anything; after a 5xx the caller re-checks (comment markers, existing PRs) instead.
    Every limit seen closes the process-wide gate so the other workers wait too.
    """

    def __init__(self, gate: RateGate, **kwargs: Any) -> None:
        self.gate = gate
        super().__init__(**kwargs)

    def new(self, **kw: Any) -> Self:
        kw["gate"] = self.gate
        return super().new(**kw)

    def is_retry(self, method: str, status_code: int, has_retry_after: bool = False) -> bool:
        if method.upper() not in IDEMPOTENT and status_code not in (403, 429):
            return False
        return bool(super().is_retry(method, status_code, has_retry_after))

    def increment(  # type: ignore[override]
        self,
        method: str | None = None,
        url: str | None = None,
        response: Any = None,
        error: Exception | None = None,
        _pool: Any = None,
        _stacktrace: TracebackType | None = None,
    ) -> Retry:
        # raises when a 403 is not a rate limit (a permission error is not worth retrying)
        retry = super().increment(method, url, response, error, _pool, _stacktrace)
        if response is not None and response.status in (403, 429):
            self._close_gate(response.headers)
        return retry

    def _close_gate(self, headers: Any) -> None:
        retry_after = headers.get("Retry-After")
        if headers.get("X-RateLimit-Remaining") == "0" and headers.get("X-RateLimit-Reset"):
            self.gate.block_for(max(0.0, float(headers["X-RateLimit-Reset"]) - time.time()) + 1, "primary")
        else:
            self.gate.secondary_limit(float(retry_after) if retry_after else None)


def connect(token: str, options: GitHubOptions, gate: RateGate | None = None) -> GitHubSession:
    gate = gate or RateGate()
    client = Github(
        auth=Auth.Token(token),
        base_url=options.api_url.rstrip("/"),
        timeout=options.timeout_s,
        seconds_between_requests=options.seconds_between_requests or None,
        seconds_between_writes=options.seconds_between_writes or None,
        per_page=100,
        lazy=True,
        retry=SharedLimitRetry(gate, total=options.retries, backoff_factor=0.5),
    )
    return GitHubSession(client, gate)


@dataclass(frozen=True)
class GitHubSession:
    """The PyGithub client and the gate every call waits at."""

    client: Github
    gate: RateGate

    def call(self, what: str, action: Callable[[], T]) -> T:
        """Run one PyGithub call behind the gate, turning its exceptions into ours with a hint."""
        self.gate.wait()
        try:
            result = action()
        except github.BadCredentialsException as exc:
            raise CredentialError(
                "GitHub rejected the token (401)", "check GITHUB_TOKEN; it may have expired"
            ) from exc
        except github.RateLimitExceededException as exc:
            raise GitHubError(
                f"GitHub {what} was rate limited", "the next cycle will try again", 403
            ) from exc
        except GithubException as exc:
            message = exc.data.get("message") if isinstance(exc.data, dict) else exc.data
            raise GitHubError(
                f"GitHub {what} failed with {exc.status}: {message}", status=exc.status
            ) from exc
        self.gate.succeeded()
        return result


class GitHubRepoClient:
    """Implements ports.GitHubRepo for one repository; all text written is redacted first."""

    def __init__(self, session: GitHubSession, full_name: str, redactor: Redactor) -> None:
        self._redactor = redactor
        self._call = session.call
        self._repo: Repository = self._call(
            f"reading {full_name}", lambda: session.client.get_repo(full_name, lazy=False)
        )

    @property
    def full_name(self) -> str:
        return str(self._repo.full_name)

    @property
    def clone_url(self) -> str:
        return str(self._repo.clone_url)

    @property
    def default_branch(self) -> str:
        return str(self._repo.default_branch)

    @property
    def private(self) -> bool:
        return bool(self._repo.private)

    def label_actor(self, number: int, label: str) -> str | None:
        def fetch() -> str | None:
            actor = None
            for event in self._repo.get_issue(number).get_events():
                if event.event == "labeled" and event.label and event.label.name == label:
                    actor = event.actor.login if event.actor else None
            return actor

        return self._call(f"reading the events of #{number}", fetch)

    def permission(self, login: str) -> str:
        try:
            return str(
                self._call(
                    f"reading {login}'s permission", lambda: self._repo.get_collaborator_permission(login)
                )
            )
        except GitHubError as exc:
            if exc.status == 404:  # not a collaborator at all
                return "none"
            raise

    def labelled_issues(self, label: str) -> list[Issue]:
        def fetch() -> list[Issue]:
            found = self._repo.get_issues(state="open", labels=[label], sort="created", direction="asc")
            return [
                Issue(
                    number=item.number,
                    title=item.title or "",
                    body=item.body or "",
                    labels=tuple(lbl.name for lbl in item.labels),
                    author=item.user.login if item.user else "",
                    url=item.html_url,
                )
                for item in found
                if "/pull/" not in item.html_url  # item.pull_request would cost a request per issue
            ]

        return self._call(f"listing issues labelled {label!r}", fetch)

    def open_pulls(self) -> list[PullRequest]:
        return self._call(
            "listing pull requests", lambda: [_pull(p) for p in self._repo.get_pulls(state="open")]
        )

    def add_label(self, number: int, label: str) -> None:
        # Adding a label twice changes nothing, so a failed POST may simply be repeated.
        self._write(f"labelling #{number}", lambda: self._repo.get_issue(number).add_to_labels(label))

    def remove_label(self, number: int, label: str) -> None:
        try:
            self._call(
                f"removing {label!r} from #{number}",
                lambda: self._repo.get_issue(number).remove_from_labels(label),
            )
        except GitHubError as exc:
            if exc.status != 404:  # 404: the label was not there, nothing to do
                raise

    def comments(self, number: int) -> list[Comment]:
        def fetch() -> list[Comment]:
            items = self._repo.get_issue(number).get_comments()
            return [Comment(c.id, c.body or "", c.user.login if c.user else "") for c in items]

        return self._call(f"reading comments of #{number}", fetch)

    def add_comment(self, number: int, body: str) -> Comment:
        text = self._redactor.redact_for(body, "github")
        made = self._call(
            f"commenting on #{number}", lambda: self._repo.get_issue(number).create_comment(text)
        )
        return Comment(made.id, made.body or "", made.user.login if made.user else "")

    def create_pull(self, title: str, body: str, head: str, base: str, draft: bool = False) -> PullRequest:
        title, body = self._redactor.redact_for(title, "github"), self._redactor.redact_for(body, "github")

        def open_once() -> PullRequest:
            try:
                return _pull(self._repo.create_pull(base, head, title=title, body=body, draft=draft))
            except GithubException as exc:
                # 422: it exists already; 5xx: it may exist since before the error. Look before retrying.
                existing = self._open_pull_from(head) if exc.status == 422 or exc.status >= 500 else None
                if existing is None:
                    raise
                log.info("a pull request from %s already exists: %s", head, existing.url)
                return existing

        return self._write(f"opening a PR from {head}", open_once)

    def _write(self, what: str, action: Callable[[], T]) -> T:
        """A write that is safe to repeat: retried a few times when GitHub fails transiently."""
        for attempt in range(1, WRITE_ATTEMPTS + 1):
            try:
                return self._call(what, action)
            except GitHubError as exc:
                if not exc.transient or attempt == WRITE_ATTEMPTS:
                    raise
                log.info("%s failed (%s); trying again", what, exc.status)
                time.sleep(WRITE_RETRY_PAUSE_S * attempt)
        raise AssertionError("unreachable")

    def _open_pull_from(self, head: str) -> PullRequest | None:
        owner = self.full_name.split("/")[0]
        pulls = list(self._repo.get_pulls(state="open", head=f"{owner}:{head}"))
        return _pull(pulls[0]) if pulls else None


def _pull(pull: GhPull) -> PullRequest:
    return PullRequest(
        number=pull.number,
        url=pull.html_url,
        head=pull.head.ref,
        base=pull.base.ref,
        draft=bool(pull.draft),
    )


def token_report(session: GitHubSession) -> TokenReport:
    """`GET /user`, reading the scopes and expiry headers GitHub sends with it."""
    requester = session.client.requester
    headers, data = session.call("checking the token", lambda: requester.requestJsonAndCheck("GET", "/user"))
    lowered = {key.lower(): value for key, value in headers.items()}
    raw_scopes = lowered.get("x-oauth-scopes")
    scopes = None if raw_scopes is None else tuple(s.strip() for s in raw_scopes.split(",") if s.strip())
    return TokenReport(
        login=str(data.get("login", "")),
        scopes=scopes,
        expires_at=parse_token_expiry(lowered.get("github-authentication-token-expiration")),
    )


def parse_token_expiry(raw: str | None) -> datetime | None:
    """GitHub sends `2026-12-01 10:00:00 UTC` or `2026-12-01 10:00:00 -0700`."""
    if not raw:
        return None
    text = raw.strip().replace(" UTC", " +0000")
    try:
        return datetime.strptime(text, "%Y-%m-%d %H:%M:%S %z")
    except ValueError:
        log.warning("cannot read the token expiry header %r", raw)
        return None


def repo_access(session: GitHubSession, full_name: str) -> RepoAccess:
    """The repository as the token sees it; reads of issues and pulls probe fine-grained permissions."""
    repo = session.call(f"reading {full_name}", lambda: session.client.get_repo(full_name, lazy=False))
    permissions = repo.permissions
    return RepoAccess(
        full_name=repo.full_name,
        private=bool(repo.private),
        push=bool(permissions and permissions.push),
        admin=bool(permissions and permissions.admin),
        can_read_issues=_readable(lambda: repo.get_issues(state="all").get_page(0)),
        can_read_pulls=_readable(lambda: repo.get_pulls(state="all").get_page(0)),
    )


def _readable(action: Callable[[], object]) -> bool:
    try:
        action()
    except GithubException as exc:
        if exc.status in (403, 404):
            return False
        raise GitHubError(f"GitHub answered {exc.status} while probing access") from exc
    return True
