"""The PyGithub connection of one token: retries, GitHub's pacing and rate limits, errors turned into ours."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self, TypeVar
from urllib.parse import urlsplit

import github
import requests
from github import Auth, Github, GithubException, GithubRetry
from urllib3.util.retry import Retry

from autonomous_dev.errors import CredentialError, GitHubError, InfrastructureError, network_reason
from autonomous_dev.github.conditional import ConditionalCache
from autonomous_dev.github.pacing import TokenPacer, pacer_for
from autonomous_dev.github.ratelimit import RateGate
from autonomous_dev.ports import TokenSource
from autonomous_dev.settings.services import GitHubSettings

log = logging.getLogger(__name__)
T = TypeVar("T")

TIMEOUT_S = 30
RETRIES = 6  # 5xx and rate limits; at most ~25 s of back-off for 5xx in all (BACKOFF_MAX_S)
# A refused connection or an unknown host does not heal in seconds: fail fast and let the cycle back off.
CONNECT_RETRIES = 2
READ_RETRIES = 1
BACKOFF_MAX_S = 8.0
OUTAGE_HINT = "check GITHUB_API_URL and the network; the daemon retries on its own"
IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
LIMIT_STATUSES = (403, 429)


class SharedLimitRetry(GithubRetry):
    """PyGithub's retry, made safe and shared.

    Writes that are not idempotent (POST, PATCH) are retried only after a rate-limit answer, which GitHub
    gives before doing anything; after a 5xx the caller re-checks (comment markers, existing PRs) instead.
    Every limit seen closes the token's gate, and the retry waits there like every other worker: for
    Retry-After, until the primary limit resets, or at least a minute for a secondary limit.
    """

    def __init__(self, gate: RateGate, **kwargs: Any) -> None:
        self.gate = gate
        super().__init__(**kwargs)

    def new(self, **kw: Any) -> Self:
        kw["gate"] = self.gate
        return super().new(**kw)

    def is_retry(self, method: str, status_code: int, has_retry_after: bool = False) -> bool:
        if method.upper() not in IDEMPOTENT and status_code not in LIMIT_STATUSES:
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
        if response is not None and response.status in LIMIT_STATUSES:
            self._close_gate(response.headers)
        return retry

    def sleep(self, response: Any = None) -> None:
        """After a limit, wait at the gate (its clock, and Ctrl-C, apply); else urllib3's back-off."""
        if response is not None and response.status in LIMIT_STATUSES:
            self.gate.wait()
        else:
            super().sleep(response)

    def _close_gate(self, headers: Any) -> None:
        retry_after = headers.get("Retry-After")
        if headers.get("X-RateLimit-Remaining") == "0" and headers.get("X-RateLimit-Reset"):
            self.gate.block_for(max(0.0, float(headers["X-RateLimit-Reset"]) - time.time()) + 1, "primary")
        else:
            self.gate.secondary_limit(float(retry_after) if retry_after else None)


def connect(
    token: str,
    settings: GitHubSettings,
    cache: ConditionalCache | None = None,
    pacer: TokenPacer | None = None,
) -> GitHubSession:
    """A session for `token`; its pacing is the process's for that token unless `pacer` is given."""
    pacer = pacer or pacer_for(settings.api_url, token)
    return open_session(Auth.Token(token), settings, pacer, cache)


def open_session(
    auth: Auth.Auth,
    settings: GitHubSettings,
    pacer: TokenPacer,
    cache: ConditionalCache | None = None,
    renewable: TokenSource | None = None,
    login: str | None = None,
) -> GitHubSession:
    """A session authenticated by `auth`. `renewable`: the token behind it, replaced once when GitHub
    answers 401 (an installation token GitHub says has expired); `login`: who the token acts as, when
    known without asking (an app's `<slug>[bot]`, whose token cannot read `/user`)."""
    client = Github(
        auth=auth,
        base_url=settings.api_url.rstrip("/"),
        timeout=TIMEOUT_S,
        seconds_between_requests=None,  # the pacer spaces requests, per token and across threads
        seconds_between_writes=None,
        per_page=100,
        lazy=True,
        retry=SharedLimitRetry(
            pacer.gate,
            total=RETRIES,
            connect=CONNECT_RETRIES,
            read=READ_RETRIES,
            other=0,  # TLS failures and the like: retrying changes nothing
            backoff_factor=0.5,
            backoff_max=BACKOFF_MAX_S,
            status_forcelist=[*range(500, 600), 429],  # GithubRetry adds 403, read as a limit or not
        ),
    )
    host = urlsplit(settings.api_url).netloc or settings.api_url
    identity = _Identity(login=login.lower() if login else None)
    return GitHubSession(client, settings, pacer, cache or ConditionalCache(), host, identity, renewable)


@dataclass
class _Identity:
    """Who the token acts as, asked once per process (`GET /user`)."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    login: str | None = None


@dataclass(frozen=True)
class GitHubSession:
    """The PyGithub client; every call goes through `read` or `write`, which take the token's turn."""

    client: Github
    settings: GitHubSettings
    pacer: TokenPacer
    cache: ConditionalCache  # ETags of polled lists: unchanged ones cost no rate limit
    host: str = "api.github.com"
    identity: _Identity = field(default_factory=_Identity)
    renewable: TokenSource | None = None  # an installation token: replaced once on a 401

    def own_logins(self) -> frozenset[str]:
        """The token's login, lower-case; a GitHub App's `<slug>[bot]`, given when the session was opened."""
        with self.identity.lock:
            if self.identity.login is None:
                # conditional: with the ETag kept in WORK_DIR, a later run's look costs no rate limit
                data = self.read("reading who the token belongs to", lambda: self.conditional("/user"))
                self.identity.login = str(data.get("login") or "").lower()
            return frozenset({self.identity.login} - {""})

    def get_json(self, url: str, headers: dict[str, str]) -> tuple[Mapping[str, Any], Any]:
        """One GET through PyGithub's requester (auth, retries); the JSON is None for a 304."""
        return self.client.requester.requestJsonAndCheck("GET", url, headers=headers)

    def conditional(self, url: str) -> Any:
        return self.cache.get(self.get_json, url)[0]

    def conditional_list(self, url: str) -> list[Any]:
        return self.cache.get_all(self.get_json, url)

    def read(self, what: str, action: Callable[[], T]) -> T:
        """A call that changes nothing (GETs, GraphQL queries): not spaced, unless GitHub asks."""
        return self._call(what, action, write=False)

    def write(self, what: str, action: Callable[[], T]) -> T:
        """A call that changes something: it waits for the token's write gap first."""
        return self._call(what, action, write=True)

    def _call(self, what: str, action: Callable[[], T], write: bool) -> T:
        """Run one PyGithub call in the token's turn; a refused installation token is replaced once (a 401
        changed nothing on GitHub's side, so even a write is safe to send again)."""
        with self.pacer.turn(self.settings, write):
            try:
                used = self.renewable.token() if self.renewable else ""
                try:
                    result = self._translated_call(what, action)
                except CredentialError as exc:
                    if self.renewable is None or not isinstance(
                        exc.__cause__, github.BadCredentialsException
                    ):
                        raise
                    log.info(
                        "GitHub refused the installation token while %s; trying once with a new one", what
                    )
                    self.renewable.renew(used)
                    result = self._translated_call(what, action)
            finally:
                self._heed_primary_limit()
        self.pacer.gate.succeeded()
        return result

    def _translated_call(self, what: str, action: Callable[[], T]) -> T:
        """Turn a PyGithub call's exceptions into ours, with a hint."""
        try:
            return action()
        except github.BadCredentialsException as exc:
            who = "the GitHub App's installation token" if self.renewable else "the token"
            hint = (
                "check GITHUB_APP_ID and that the app is still installed"
                if self.renewable
                else ("check GITHUB_TOKEN; it may have expired")
            )
            raise CredentialError(f"GitHub rejected {who} (401)", hint) from exc
        except GithubException as exc:
            raise self._translated(what, exc) from None
        except requests.RequestException as exc:
            raise unreachable(self.host, what, exc) from None

    def _heed_primary_limit(self) -> None:
        """The last answer said no requests are left: nobody asks again before the limit resets."""
        remaining, _ = self.client.requester.rate_limiting
        wait = self.client.requester.rate_limiting_resettime - time.time()
        if remaining == 0 and wait > 0:
            self.pacer.gate.block_for(wait + 1, "primary")

    def _translated(self, what: str, exc: GithubException) -> GitHubError | InfrastructureError:
        """A rate limit or a server error (after the retries) is an outage; anything else a refusal."""
        message = exc.data.get("message") if isinstance(exc.data, dict) else exc.data
        headers = {key.lower(): value for key, value in (exc.headers or {}).items()}
        limited = _rate_limited(exc.status, headers, str(message))
        if limited or exc.status >= 500:
            retry_after = _retry_after_s(headers) if limited else None
            reason = "rate limit reached" if limited else f"answered {exc.status}"
            return InfrastructureError(
                "GitHub",
                f"GitHub at {self.host} {reason} while {what}: {message}",
                OUTAGE_HINT,
                retry_after,
                rate_limited=limited,
            )
        return GitHubError(f"GitHub {what} failed with {exc.status}: {message}", status=exc.status)


def unreachable(host: str, what: str, exc: requests.RequestException) -> InfrastructureError:
    """GitHub could not be reached, or urllib3 gave up on its 5xx answers: an outage, no task's fault."""
    if isinstance(exc, requests.exceptions.RetryError):
        reason = getattr(exc.args[0], "reason", None) if exc.args else None
        return InfrastructureError(
            "GitHub", f"GitHub at {host} kept failing while {what}: {reason or exc}", OUTAGE_HINT
        )
    return InfrastructureError("GitHub", f"cannot reach GitHub at {host}: {network_reason(exc)}", OUTAGE_HINT)


def _rate_limited(status: int, headers: Mapping[str, str], message: str) -> bool:
    """Only GitHub's own signals make a 403 a rate limit; any other 403 is a permission error."""
    if status == 429:
        return True
    if status != 403:
        return False
    lowered = message.lower()
    return (
        headers.get("x-ratelimit-remaining") == "0"
        or "retry-after" in headers
        or "rate limit" in lowered
        or "abuse detection" in lowered
    )


def _retry_after_s(headers: Mapping[str, str]) -> float | None:
    try:
        if "retry-after" in headers:
            return max(0.0, float(headers["retry-after"]))
        if headers.get("x-ratelimit-remaining") == "0" and "x-ratelimit-reset" in headers:
            return max(0.0, float(headers["x-ratelimit-reset"]) - time.time()) + 1
    except ValueError:
        return None
    return None
