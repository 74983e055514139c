"""GitHub App routes of the local GitHub stand-in, authenticated by the app's JWT (RS256, checked against the
app's public key like GitHub does): ``GET /app``, ``GET /app/installations[/{id}]``,
``GET /repos/{owner}/{name}/installation`` and ``POST /app/installations/{id}/access_tokens``.

Installation tokens are ordinary server tokens acting as ``<slug>[bot]``, limited to the installation's
repositories (REST and git), with an expiry: ``app_token_lifetime_s`` sets it for new tokens and
:meth:`AppSetup.expire_app_tokens` ends the current ones at once (the server then answers 401 Bad
credentials, as GitHub does for an expired installation token).
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable, Iterable
from typing import Any

import jwt

from .github_json import JsonDict
from .github_routing import ApiError
from .github_state import RATE_LIMIT, App, Installation, RecordedRequest, State, Token

Response = tuple[int, dict[str, str], Any]
JWT_MAX_LIFETIME_S = 600  # GitHub refuses a JWT that expires more than 10 minutes ahead
CLOCK_DRIFT_S = 60
DEFAULT_EVENTS = [
    "issues",
    "issue_comment",
    "pull_request",
    "pull_request_review",
    "pull_request_review_comment",
    "check_run",
    "check_suite",
    "status",
]
NEEDED = {
    "contents": "write",
    "issues": "write",
    "pull_requests": "write",
    "checks": "read",
    "actions": "read",
    "metadata": "read",
}


class AppSetup:
    """GitHub App helpers mixed into ``FakeGitHub``."""

    state: State

    def add_app(
        self,
        app_id: int,
        slug: str,
        public_key: bytes,
        permissions: dict[str, str] | None = None,
        events: Iterable[str] = DEFAULT_EVENTS,
        owner: str = "acme",
    ) -> None:
        """Register an app whose JWTs are signed by the private half of ``public_key`` (PEM)."""
        with self.state.lock:
            perms = dict(NEEDED if permissions is None else permissions)
            self.state.apps[app_id] = App(app_id, slug, slug.title(), public_key, perms, list(events), owner)

    def install_app(
        self,
        app_id: int,
        account: str,
        repos: Iterable[str] | None = None,
        permissions: dict[str, str] | None = None,
        suspended: bool = False,
    ) -> int:
        """Install the app on ``account`` (every repository, or ``repos`` by name); its installation id."""
        with self.state.lock:
            app = self.state.apps[app_id]
            selected = None if repos is None else frozenset(f"{account}/{name}".lower() for name in repos)
            perms = dict(app.permissions if permissions is None else permissions)
            installation = Installation(self.state.next_id(), app_id, account, perms, selected, suspended)
            self.state.installations[installation.id] = installation
            return installation.id

    def expire_app_tokens(self) -> None:
        """End every installation token now: GitHub answers 401 to each from here on."""
        with self.state.lock:
            for token in self.state.tokens.values():
                if token.installation is not None:
                    token.expires_epoch = time.time() - 1

    def app_tokens(self, installation_id: int) -> list[str]:
        """The tokens minted for an installation, oldest first."""
        with self.state.lock:
            return list(self.state.installations[installation_id].issued)


# -- routing ---------------------------------------------------------------------------------------
_INSTALLATION = r"/app/installations/(?P<installation>[0-9]+)"
_ROUTES: list[tuple[str, re.Pattern[str], Callable[..., Response]]] = []


def _route(method: str, pattern: str) -> Callable[[Callable[..., Response]], Callable[..., Response]]:
    def register(func: Callable[..., Response]) -> Callable[..., Response]:
        _ROUTES.append((method, re.compile(f"^{pattern}/?$"), func))
        return func

    return register


def answer(state: State, request: RecordedRequest, path: str) -> Response | None:
    """The answer to an app route (``path`` below the API prefix), or None when it is not one."""
    for method, regex, handler in _ROUTES:
        match = regex.match(path)
        if match and method == request.method:
            try:
                with state.lock:
                    return handler(state, _app_of(state, request), **match.groupdict())
            except ApiError as exc:
                return exc.status, {}, exc.body()
    return None


def _app_of(state: State, request: RecordedRequest) -> App:
    """The app whose JWT signs the request, checked as GitHub checks it."""
    scheme, _, credential = (request.header("Authorization") or "").partition(" ")
    if scheme.lower() != "bearer":
        raise _refused(state, "A JSON web token could not be decoded")
    try:
        claims = jwt.decode(credential.strip(), options={"verify_signature": False})
    except jwt.InvalidTokenError as exc:
        raise _refused(state, "A JSON web token could not be decoded") from exc
    app = next((a for a in state.apps.values() if str(a.id) == str(claims.get("iss"))), None)
    if app is None:
        raise _refused(state, "Integration not found")
    try:
        jwt.decode(
            credential.strip(),
            app.public_key,
            algorithms=["RS256"],
            options={"require": ["exp", "iat", "iss"]},
            leeway=CLOCK_DRIFT_S,
        )
    except jwt.InvalidTokenError as exc:
        raise _refused(state, f"A JSON web token could not be decoded ({type(exc).__name__})") from exc
    if int(claims["exp"]) - time.time() > JWT_MAX_LIFETIME_S + CLOCK_DRIFT_S:
        raise _refused(state, "'Expiration time' claim ('exp') is too far in the future")
    return app


def _refused(state: State, message: str) -> ApiError:
    state.rejected_jwts.append(message)
    return ApiError(401, message)


@_route("GET", "/app")
def get_app(state: State, app: App) -> Response:
    return 200, {}, _app_doc(state, app)


@_route("GET", "/app/installations")
def list_installations(state: State, app: App) -> Response:
    mine = [i for i in state.installations.values() if i.app_id == app.id]
    return 200, {}, [_installation_doc(state, app, i) for i in mine]


@_route("GET", _INSTALLATION)
def get_installation(state: State, app: App, installation: str) -> Response:
    return 200, {}, _installation_doc(state, app, _installation(state, app, installation))


@_route("GET", r"/repos/(?P<owner>[^/]+)/(?P<name>[^/]+)/installation")
def repo_installation(state: State, app: App, owner: str, name: str) -> Response:
    repo = state.find_repo(owner, name)
    for found in state.installations.values():
        covers = found.repos is None or f"{owner}/{name}".lower() in found.repos
        if repo is not None and found.app_id == app.id and found.account.lower() == owner.lower() and covers:
            return 200, {}, _installation_doc(state, app, found)
    raise ApiError(404, "Not Found")


@_route("POST", _INSTALLATION + "/access_tokens")
def create_token(state: State, app: App, installation: str) -> Response:
    found = _installation(state, app, installation)
    if found.suspended:
        raise ApiError(403, "This installation has been suspended")
    value = "ghs_" + uuid.uuid4().hex + uuid.uuid4().hex[:4]  # GitHub's shape: ghs_ and 36 characters
    expires = time.time() + state.app_token_lifetime_s
    repos = found.repos
    if repos is None:
        repos = frozenset(
            r.full_name.lower() for r in state.repos.values() if r.owner.lower() == found.account.lower()
        )
    state.tokens[value] = Token(
        value, f"{app.slug}[bot]", None, None, False, reset=int(time.time()) + 3600, remaining=RATE_LIMIT,
        installation=found.id, repos=repos, expires_epoch=expires,
    )  # fmt: skip
    found.issued.append(value)
    doc = {
        "token": value,
        "expires_at": _iso(expires),
        "permissions": found.permissions,
        "repository_selection": "all" if found.repos is None else "selected",
    }
    return 201, {}, doc


def _installation(state: State, app: App, installation: str) -> Installation:
    found = state.installations.get(int(installation))
    if found is None or found.app_id != app.id:
        raise ApiError(404, "Not Found")
    return found


def _app_doc(state: State, app: App) -> JsonDict:
    return {
        "id": app.id,
        "slug": app.slug,
        "node_id": f"A_{app.id}",
        "client_id": f"Iv1.{app.id:016x}",
        "name": app.name,
        "description": "",
        "external_url": state.base_http,
        "html_url": f"{state.base_http}/apps/{app.slug}",
        "owner": {"login": app.owner, "id": state.user_id(app.owner), "type": "Organization"},
        "permissions": app.permissions,
        "events": app.events,
        "installations_count": sum(1 for i in state.installations.values() if i.app_id == app.id),
        "created_at": "2024-01-01T00:00:00Z",
        "updated_at": "2024-01-01T00:00:00Z",
    }


def _installation_doc(state: State, app: App, found: Installation) -> JsonDict:
    return {
        "id": found.id,
        "app_id": app.id,
        "app_slug": app.slug,
        "client_id": f"Iv1.{app.id:016x}",
        "account": {"login": found.account, "id": state.user_id(found.account), "type": "Organization"},
        "target_id": state.user_id(found.account),
        "target_type": "Organization",
        "repository_selection": "all" if found.repos is None else "selected",
        "permissions": found.permissions,
        "events": app.events,
        "access_tokens_url": f"{state.api_url}/app/installations/{found.id}/access_tokens",
        "repositories_url": f"{state.api_url}/installation/repositories",
        "html_url": f"{state.base_http}/organizations/{found.account}/settings/installations/{found.id}",
        "created_at": "2024-01-01T00:00:00Z",
        "updated_at": "2024-01-01T00:00:00Z",
        "single_file_name": None,
        "has_multiple_single_files": False,
        "single_file_paths": [],
        "suspended_at": "2024-06-01T00:00:00Z" if found.suspended else None,
        "suspended_by": None,
        "contact_email": None,
    }


def _iso(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))
