"""Claude OAuth tokens: refreshed near expiry or after a 401, one refresh at a time, written back."""

from __future__ import annotations

import json
import logging
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Protocol

from autonomous_dev.errors import CredentialError, InfrastructureError, network_reason

log = logging.getLogger(__name__)

REFRESH_WINDOW_S = 600
RECENT_REFRESH_S = 30
MILLISECONDS_THRESHOLD = 100_000_000_000  # an epoch above this is in milliseconds (year 5138 in seconds)


@dataclass(frozen=True)
class ClaudeTokens:
    access_token: str
    refresh_token: str | None = None
    expires_at: float | None = None  # epoch seconds
    expiry_in_ms: bool = True  # the unit the source stores expiresAt in; kept on write-back

    def near_expiry(self, now: float | None = None) -> bool:
        if self.expires_at is None:
            return False
        return self.expires_at - (now if now is not None else time.time()) < REFRESH_WINDOW_S

    def stored_expiry(self) -> int | None:
        if self.expires_at is None:
            return None
        return int(self.expires_at * 1000) if self.expiry_in_ms else int(self.expires_at)


def parse_expiry(raw: str | float | None) -> tuple[float | None, bool]:
    """`expiresAt` in seconds or milliseconds -> (epoch seconds, was it milliseconds)."""
    if raw is None or raw == "":
        return None, True
    try:
        value = float(raw)
    except ValueError:
        raise CredentialError(
            f"CLAUDE_EXPIRES_AT is not a number: {raw!r}", "use epoch seconds or milliseconds"
        ) from None
    if value > MILLISECONDS_THRESHOLD:
        return value / 1000, True
    return value, False


@dataclass(frozen=True)
class OAuthEndpoint:
    """A standard OAuth 2.0 token endpoint and the client id the user registered for this tool."""

    token_url: str
    client_id: str
    timeout_s: float = 30.0

    def refresh(self, refresh_token: str, previous: ClaudeTokens) -> ClaudeTokens:
        """The `refresh_token` grant (RFC 6749 section 6)."""
        if not self.token_url.startswith(("https://", "http://")):
            raise CredentialError(f"the OAuth token URL must be http(s): {self.token_url!r}")
        form = {"grant_type": "refresh_token", "refresh_token": refresh_token, "client_id": self.client_id}
        request = urllib.request.Request(  # noqa: S310 - the URL is checked by the endpoint guard in config
            self.token_url,
            data=urllib.parse.urlencode(form).encode(),
            headers={"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"},
            method="POST",
        )
        try:
            # The URL passed the endpoint guard when the settings were loaded: https, loopback or allowed.
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:  # noqa: S310  # nosec B310
                body = json.loads(response.read())
        except urllib.error.HTTPError as exc:
            if exc.code >= 500 or exc.code == 429:
                raise self._outage(
                    f"the OAuth token endpoint at {self.host} answered HTTP {exc.code}"
                ) from None
            raise CredentialError(
                f"refreshing the Claude token failed with HTTP {exc.code} ({_oauth_error(exc)})",
                "sign in again and update CLAUDE_ACCESS_TOKEN / CLAUDE_REFRESH_TOKEN",
            ) from None
        except (urllib.error.URLError, OSError) as exc:  # refused, DNS, TLS, timeout
            raise self._outage(
                f"cannot reach the OAuth token endpoint at {self.host}: {network_reason(exc)}"
            ) from None
        except json.JSONDecodeError:
            raise CredentialError(
                f"the OAuth token endpoint {self.host} answered something that is not JSON",
                "check CLAUDE_OAUTH_TOKEN_URL",
            ) from None
        return _tokens_from(body, previous)

    @property
    def host(self) -> str:
        return urllib.parse.urlsplit(self.token_url).netloc or self.token_url

    def _outage(self, message: str) -> InfrastructureError:
        return InfrastructureError(
            "OAuth",
            message,
            "check CLAUDE_OAUTH_TOKEN_URL and the network; the daemon retries on its own",
        )


def _tokens_from(body: object, previous: ClaudeTokens) -> ClaudeTokens:
    if not isinstance(body, dict) or not isinstance(body.get("access_token"), str):
        raise CredentialError("the OAuth token endpoint answered without an access_token")
    expires_in = body.get("expires_in")
    return replace(
        previous,
        access_token=body["access_token"],
        refresh_token=body.get("refresh_token") or previous.refresh_token,
        expires_at=time.time() + float(expires_in) if isinstance(expires_in, int | float) else None,
    )


def _oauth_error(exc: urllib.error.HTTPError) -> str:
    try:
        return str(json.loads(exc.read()).get("error", "no error code"))
    except (ValueError, AttributeError):
        return "no error code"


Refresher = Callable[[ClaudeTokens], ClaudeTokens]


class TokenStore(Protocol):
    """Where refreshed tokens go back to."""

    def refresh(self, stale: ClaudeTokens, refresher: Refresher) -> ClaudeTokens:
        """Refresh unless someone else already did; persist the result."""
        ...


class MemoryTokenStore:
    """For tokens from the environment or a .env file: kept in memory, and the user is told."""

    def refresh(self, stale: ClaudeTokens, refresher: Refresher) -> ClaudeTokens:
        fresh = refresher(stale)
        log.warning(
            "the Claude access token was refreshed and is kept in memory only; the refresh token in your "
            "environment may now be invalid: sign in again or keep credentials in the Postgres users table"
        )
        return fresh


class ClaudeTokenSource:
    """Hands out a valid access token; at most one refresh at a time in this process."""

    def __init__(
        self,
        tokens: ClaudeTokens,
        endpoint: OAuthEndpoint | None,
        store: TokenStore,
        on_refresh: Callable[[ClaudeTokens], None] = lambda tokens: None,
    ) -> None:
        self._tokens = tokens
        self._endpoint = endpoint
        self._store = store
        self._on_refresh = on_refresh  # lets the redactor learn the new values before anything logs them
        self._lock = threading.Lock()
        self._refreshed_at = 0.0

    def token(self, force_refresh: bool = False) -> str:
        """The current token; refreshed first when it is near expiry or was just rejected (force)."""
        with self._lock:
            recently = time.monotonic() - self._refreshed_at < RECENT_REFRESH_S
            wanted = (force_refresh and not recently) or self._tokens.near_expiry()
            if wanted and self._can_refresh():
                self._tokens = self._store.refresh(self._tokens, self._refresh)
                self._on_refresh(self._tokens)
                self._refreshed_at = time.monotonic()
            elif force_refresh and not recently:
                raise CredentialError(
                    "Claude rejected the access token and it cannot be refreshed",
                    "set CLAUDE_REFRESH_TOKEN, CLAUDE_OAUTH_TOKEN_URL and CLAUDE_OAUTH_CLIENT_ID, "
                    "or use an API key",
                )
            return self._tokens.access_token

    def _can_refresh(self) -> bool:
        return self._endpoint is not None and bool(self._tokens.refresh_token)

    def _refresh(self, stale: ClaudeTokens) -> ClaudeTokens:
        assert self._endpoint is not None and stale.refresh_token
        log.info("refreshing the Claude access token")
        return self._endpoint.refresh(stale.refresh_token, stale)


@dataclass(frozen=True)
class ClaudeAuth:
    """An API key (preferred) or an OAuth access token source (Bearer, refreshed as needed)."""

    api_key: str | None = None
    tokens: ClaudeTokenSource | None = None
