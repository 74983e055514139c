"""The GitHub credential in use, per repository: GITHUB_TOKEN, or a GitHub App's installation token (the app
wins when both are set): the REST session, the token git gets through askpass, and the commit identity."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from autonomous_dev.security.redact import Redactor
from autonomous_dev.settings.app_credentials import AppCredentials
from autonomous_dev.settings.credentials import GITHUB_TOKEN, Credentials

if TYPE_CHECKING:
    from autonomous_dev.git.workspace import GitIdentity
    from autonomous_dev.github.app import GitHubApp
    from autonomous_dev.github.conditional import ConditionalCache
    from autonomous_dev.github.session import GitHubSession
    from autonomous_dev.ports import TokenSource
    from autonomous_dev.settings.model import Settings


@dataclass(frozen=True)
class RepoCredential:
    """How the tool acts on one repository."""

    session: GitHubSession
    git_token: str | TokenSource
    identity: GitIdentity


def github_session(settings: Settings, token: str, cache: ConditionalCache | None = None) -> GitHubSession:
    from autonomous_dev.github.session import connect

    return connect(token, settings.github, cache=cache)


def github_app(settings: Settings, app: AppCredentials, redactor: Redactor) -> GitHubApp:
    """The process's app for these credentials; the redactor learns every installation token it mints."""
    from autonomous_dev.github.app import app_for

    return app_for(app.app_id, app.private_key, settings.github, lambda token: redactor.add_secret(token))


def github_auth(
    settings: Settings, credentials: Credentials, redactor: Redactor, cache: ConditionalCache | None = None
) -> Callable[[str], RepoCredential]:
    """A function from `owner/name` to its credential; CredentialError when there is none."""
    from autonomous_dev.git.workspace import GitIdentity

    app_credentials = credentials.github_app()
    if app_credentials is None:
        credentials.require_github()
        token = str(credentials.get(GITHUB_TOKEN))
        session = github_session(settings, token, cache)
        identity = GitIdentity(settings.git.author_name, settings.git.author_email)
        return lambda full_name: RepoCredential(session, token, identity)
    app = github_app(settings, app_credentials, redactor)
    sessions: dict[int, GitHubSession] = {}

    def for_repo(full_name: str) -> RepoCredential:
        from autonomous_dev.github.app import installation_session

        installation = app_credentials.installation_id or app.installation_of(full_name).id
        if installation not in sessions:
            sessions[installation] = installation_session(app, installation, settings.github, cache)
        session = sessions[installation]
        return RepoCredential(session, app.tokens(installation), app_identity(settings, app, session))

    return for_repo


def app_identity(settings: Settings, app: GitHubApp, session: GitHubSession) -> GitIdentity:
    """Commits by the app's bot user (`<slug>[bot]`, its no-reply address), unless git.authorName or
    git.authorEmail was set."""
    from autonomous_dev.git.workspace import GitIdentity
    from autonomous_dev.github.app import bot_email
    from autonomous_dev.settings.services import GitSettings

    configured = settings.git
    if configured != GitSettings.model_validate({}):
        return GitIdentity(configured.author_name, configured.author_email)
    login = app.report().bot_login
    return GitIdentity(login, bot_email(session, login))
