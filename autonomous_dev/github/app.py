"""GitHub App authentication through PyGithub's app auth: the app's JWT, its installation per repository, and
installation tokens, minted on first use and replaced before they expire, for REST and for git alike."""

from __future__ import annotations

import base64
import hashlib
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar
from urllib.parse import quote, urlsplit

import requests
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat, load_pem_private_key
from github import Auth, GithubException, GithubIntegration
from github.Installation import Installation
from urllib3.util.retry import Retry

from autonomous_dev.errors import CredentialError, GitHubError, InfrastructureError
from autonomous_dev.github.conditional import ConditionalCache
from autonomous_dev.github.pacing import pacer_for
from autonomous_dev.github.session import OUTAGE_HINT, GitHubSession, open_session, unreachable
from autonomous_dev.models import AppReport, InstallationReport
from autonomous_dev.settings.services import GitHubSettings

log = logging.getLogger(__name__)
T = TypeVar("T")

# A token with less than this left is replaced before it is handed out: no request or push outlives it.
REFRESH_BEFORE = timedelta(minutes=5)
MIN_AGE = timedelta(minutes=1)
TIMEOUT_S = 30
KEY_HINT = (
    "set GITHUB_APP_PRIVATE_KEY to the whole .pem file GitHub generated for the app, or "
    "GITHUB_APP_PRIVATE_KEY_FILE to its path (docs/github-app.md)"
)
JWT_HINT = "check GITHUB_APP_ID and that the private key is one of this app's keys (docs/github-app.md)"
INSTALL_HINT = (
    "install the app on the repository (the app's page on GitHub: Install App), or fix "
    "GITHUB_APP_INSTALLATION_ID; see docs/github-app.md"
)


def parse_private_key(text: str) -> str:
    """The app's RSA private key as PEM text; the `\\n` escapes of a one-line .env value are undone."""
    pem = text.strip().replace("\\n", "\n") + "\n"
    try:
        key = load_pem_private_key(pem.encode(), password=None)
    except TypeError:  # cryptography asks for a password: the key is encrypted
        raise CredentialError("the GitHub App private key is encrypted", KEY_HINT) from None
    except ValueError:
        raise CredentialError("the GitHub App private key is not a PEM private key", KEY_HINT) from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise CredentialError("the GitHub App private key is not an RSA key (app JWTs are RS256)", KEY_HINT)
    return pem


def key_fingerprint(pem: str) -> str:
    """The fingerprint GitHub shows next to each of the app's keys (SHA-256 of the public key, base64)."""
    public = load_pem_private_key(pem.encode(), password=None).public_key()
    der = public.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return "SHA256:" + base64.b64encode(hashlib.sha256(der).digest()).decode()


@dataclass(frozen=True)
class IssuedToken:
    value: str
    expires_at: datetime
    permissions: dict[str, str] = field(default_factory=dict)


class InstallationTokens:
    """One installation's access token, shared by the REST session and git: minted on first use, replaced
    when less than REFRESH_BEFORE is left or when GitHub refused it. Single-flight: workers that notice
    together mint one token; `on_token` hears each new value (the redactor must know it before use)."""

    def __init__(
        self,
        mint: Callable[[], IssuedToken],
        on_token: Callable[[str], None],
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._mint = mint
        self._on_token = on_token
        self._clock = clock
        self._lock = threading.Lock()
        self._current: IssuedToken | None = None
        self._minted = datetime.min.replace(tzinfo=UTC)

    def token(self) -> str:
        with self._lock:
            current, now = self._current, self._clock()
            # A token just minted is used even if it looks near its end: with a clock far ahead of
            # GitHub's, every request would otherwise mint another.
            if current is None or (
                current.expires_at - now < REFRESH_BEFORE and now - self._minted > MIN_AGE
            ):
                current = self._replace("it expires soon" if current else "first use")
            return current.value

    def renew(self, stale: str) -> None:
        """GitHub refused `stale` (401): mint another, unless another worker already has."""
        with self._lock:
            if self._current is None or self._current.value == stale:
                self._replace("GitHub refused the current one")

    def _replace(self, why: str) -> IssuedToken:
        fresh = self._mint()
        self._on_token(fresh.value)
        self._current, self._minted = fresh, self._clock()
        log.info(
            "new GitHub App installation token (%s); it expires %s", why, f"{fresh.expires_at:%H:%M:%S %Z}"
        )
        return fresh


class InstallationAuth(Auth.Auth):
    """PyGithub's auth by an installation token, read afresh for every request: a new one is used at once."""

    def __init__(self, tokens: InstallationTokens) -> None:
        self.tokens = tokens

    @property
    def token_type(self) -> str:
        return "token"

    @property
    def token(self) -> str:
        return self.tokens.token()

    @property
    def _masked_token(self) -> str:
        return "token (installation token removed)"


class GitHubApp:
    """One app at one GitHub: its JWT calls (PyGithub's GithubIntegration with AppAuth), installations by
    repository, and one InstallationTokens per installation, kept for the life of the process."""

    def __init__(
        self,
        app_id: str,
        private_key: str,
        settings: GitHubSettings,
        on_token: Callable[[str], None],
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.app_id = app_id
        self.host = urlsplit(settings.api_url).netloc or settings.api_url
        self._integration = GithubIntegration(
            auth=Auth.AppAuth(app_id, parse_private_key(private_key)),
            base_url=settings.api_url.rstrip("/"),
            timeout=TIMEOUT_S,
            retry=Retry(total=3, connect=2, read=1, other=0, backoff_factor=0.5, allowed_methods=None,
                        status_forcelist=range(500, 600)),
            seconds_between_requests=None,
            seconds_between_writes=None,
            lazy=True,
        )  # fmt: skip
        self._on_token = on_token
        self._clock = clock
        self._lock = threading.Lock()
        self._tokens: dict[int, InstallationTokens] = {}
        self._report: AppReport | None = None

    def report(self) -> AppReport:
        """`GET /app`: proves the JWT is accepted; asked once per process."""
        if self._report is None:
            app = self._call("reading the app (GET /app)", self._integration.get_app)
            self._report = AppReport(
                app.id, app.slug, app.name, dict(app.permissions or {}), tuple(app.events or ())
            )
        return self._report

    def installation_of(self, full_name: str) -> InstallationReport:
        """`GET /repos/{owner}/{name}/installation`: the installation that covers the repository."""
        owner, _, name = full_name.partition("/")
        try:
            found = self._call(
                f"looking up the app's installation on {full_name}",
                lambda: self._integration.get_repo_installation(owner, name),
            )
        except GitHubError as exc:
            if exc.status == 404:
                raise CredentialError(
                    f"the GitHub App is not installed on {full_name}", INSTALL_HINT
                ) from None
            raise
        return _installation(found)

    def installation(self, installation_id: int) -> InstallationReport:
        """`GET /app/installations/{id}`."""
        try:
            found = self._call(
                f"reading installation {installation_id}",
                lambda: self._integration.get_app_installation(installation_id),
            )
        except GitHubError as exc:
            if exc.status == 404:
                raise CredentialError(
                    f"the GitHub App has no installation {installation_id}", INSTALL_HINT
                ) from None
            raise
        return _installation(found)

    def tokens(self, installation_id: int) -> InstallationTokens:
        with self._lock:
            if installation_id not in self._tokens:
                mint = lambda: self.mint(installation_id)  # noqa: E731
                self._tokens[installation_id] = InstallationTokens(mint, self._on_token, self._clock)
            return self._tokens[installation_id]

    def mint(self, installation_id: int) -> IssuedToken:
        """`POST /app/installations/{id}/access_tokens`: a token for every repository of the installation."""
        issued = self._call(
            f"getting a token for installation {installation_id}",
            lambda: self._integration.get_access_token(installation_id),
        )
        expires_at = issued.expires_at
        if expires_at.tzinfo is None:
            expires_at = expires_at.replace(tzinfo=UTC)
        return IssuedToken(issued.token, expires_at, dict(issued.permissions or {}))

    def _call(self, what: str, action: Callable[[], T]) -> T:
        """One JWT call, its failures turned into ours: a refused JWT is a credential error."""
        try:
            return action()
        except GithubException as exc:
            message = exc.data.get("message") if isinstance(exc.data, dict) else exc.data
            if exc.status == 401:
                raise CredentialError(
                    f"GitHub rejected the app's JWT (401) while {what}: {message}", JWT_HINT
                ) from None
            if exc.status >= 500 or exc.status == 429:
                raise InfrastructureError(
                    "GitHub",
                    f"GitHub at {self.host} answered {exc.status} while {what}: {message}",
                    OUTAGE_HINT,
                ) from None
            raise GitHubError(
                f"GitHub {what} failed with {exc.status}: {message}", status=exc.status
            ) from None
        except requests.RequestException as exc:
            raise unreachable(self.host, what, exc) from None


def _installation(found: Installation) -> InstallationReport:
    raw: dict[str, Any] = found.raw_data
    account = raw.get("account") or {}
    return InstallationReport(
        id=int(raw["id"]),
        account=str(account.get("login") or ""),
        repository_selection=str(raw.get("repository_selection") or "all"),
        permissions={str(k): str(v) for k, v in (raw.get("permissions") or {}).items()},
        suspended=bool(raw.get("suspended_at")),
    )


_apps: dict[str, GitHubApp] = {}
_apps_lock = threading.Lock()


def app_for(
    app_id: str, private_key: str, settings: GitHubSettings, on_token: Callable[[str], None]
) -> GitHubApp:
    """The process's GitHubApp for these credentials: its tokens outlive a cycle (a new key starts afresh)."""
    key = hashlib.sha256(f"{settings.api_url.rstrip('/')}\n{app_id}\n{private_key}".encode()).hexdigest()
    with _apps_lock:
        if key not in _apps:
            _apps[key] = GitHubApp(app_id, private_key, settings, on_token)
        return _apps[key]


def installation_session(
    app: GitHubApp, installation_id: int, settings: GitHubSettings, cache: ConditionalCache | None = None
) -> GitHubSession:
    """A REST session acting as the installation (as `<slug>[bot]`), paced per installation as GitHub
    limits it, its token replaced before it expires and once on a 401."""
    tokens = app.tokens(installation_id)
    pacer = pacer_for(settings.api_url, f"github-app {app.app_id} installation {installation_id}")
    login = app.report().bot_login
    return open_session(InstallationAuth(tokens), settings, pacer, cache, renewable=tokens, login=login)


def bot_email(session: GitHubSession, login: str) -> str:
    """The no-reply address GitHub links to the bot user: commits by it show as the app's."""
    user = session.read(f"reading the user {login}", lambda: session.conditional(f"/users/{quote(login)}"))
    return f"{user['id']}+{login}@users.noreply.github.com"
