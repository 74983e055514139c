"""The live half of `config --validate`: builds real clients and hands them to the checks in validate.py."""

from __future__ import annotations

import functools
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING, TypeVar

from autonomous_dev.errors import AutonomousDevError, CredentialError
from autonomous_dev.security.redact import Redactor
from autonomous_dev.settings.app_checks import AppProbe, app_checks
from autonomous_dev.settings.app_credentials import GITHUB_APP_ID
from autonomous_dev.settings.credentials import (
    DATABASE_URL,
    GITHUB_TOKEN,
    USER_EMAIL,
    Credentials,
    postgres_report,
)
from autonomous_dev.settings.validate import (
    Check,
    GitHubProbe,
    Status,
    claude_checks,
    failed,
    github_checks,
    postgres_checks,
)

from .build import check_repository_allowed, claude_client
from .github_auth import github_app, github_session

if TYPE_CHECKING:
    from autonomous_dev.models import InstallationReport, RepoAccess
    from autonomous_dev.settings.model import Settings

T = TypeVar("T")


def live_checks(settings: Settings, credentials: Credentials, redactor: Redactor) -> list[Check]:
    checks: list[Check] = []
    token = credentials.get(GITHUB_TOKEN)
    if credentials.get(GITHUB_APP_ID):  # the app takes precedence, as in `run`
        checks += _github_app(settings, credentials, redactor)
    elif token:
        checks += _github(settings, token)
    if credentials.get("ANTHROPIC_API_KEY") or credentials.get("CLAUDE_ACCESS_TOKEN"):
        checks += _claude(settings, credentials, redactor)
    if credentials.store_error is not None:  # already the Postgres row: no second wait for that server
        return checks
    database_url = credentials.get(DATABASE_URL)
    if database_url:
        email = credentials.get(USER_EMAIL)
        refresh_used = credentials.source("CLAUDE_ACCESS_TOKEN").startswith("postgres")
        checks += postgres_checks(lambda: postgres_report(database_url, email), email, refresh_used)
    else:
        checks.append(Check("Postgres", Status.SKIP, "DATABASE_URL not set"))
    return checks


def _github(settings: Settings, token: str) -> list[Check]:
    from autonomous_dev.github.client import repo_access, token_report

    client = github_session(settings, token)
    configured = settings.repo.owner and settings.repo.name
    security = settings.security

    def allowed(access: RepoAccess) -> None:
        check_repository_allowed(
            access.full_name, access.private, security.allowed_repos, security.allow_public_repos
        )

    repository = partial(repo_access, client, settings.repo.full_name) if configured else None
    probe = GitHubProbe(
        token=partial(token_report, client),  # the adapter turns connection failures into outages
        repository=repository,
        allow_workflow=security.allow_workflow_changes,
        allowed=allowed,
    )
    return github_checks(probe)


def _github_app(settings: Settings, credentials: Credentials, redactor: Redactor) -> list[Check]:
    from autonomous_dev.github.app import installation_session, key_fingerprint, parse_private_key
    from autonomous_dev.github.client import repo_access

    try:
        found = credentials.github_app()
    except AutonomousDevError as exc:
        return [failed("GitHub App key", exc)]
    assert found is not None  # GITHUB_APP_ID is set
    app = functools.cache(lambda: github_app(settings, found, redactor))

    @functools.cache
    def installation(full_name: str) -> InstallationReport:
        covering = app().installation_of(full_name)
        if found.installation_id is not None and covering.id != found.installation_id:
            raise CredentialError(
                f"{full_name} is in installation {covering.id}, not GITHUB_APP_INSTALLATION_ID="
                f"{found.installation_id}",
                "correct GITHUB_APP_INSTALLATION_ID, or unset it to look the installation up per repository",
            )
        return covering

    def token(installation_id: int) -> datetime:
        issued = app().mint(installation_id)
        redactor.add_secret(issued.value)
        return issued.expires_at

    def allowed(full_name: str) -> None:
        session = installation_session(app(), installation(full_name).id, settings.github)
        access = repo_access(session, full_name)
        security = settings.security
        check_repository_allowed(
            access.full_name, access.private, security.allowed_repos, security.allow_public_repos
        )

    probe = AppProbe(
        key=lambda: key_fingerprint(parse_private_key(found.private_key)),
        app=lambda: app().report(),
        installation=installation,
        token=token,
        allowed=allowed,
        repositories=tuple(settings.repo.all_full_names()),
        allow_workflow=settings.security.allow_workflow_changes,
        token_also_set=bool(credentials.get(GITHUB_TOKEN)),
    )
    return app_checks(probe)


def _claude(settings: Settings, credentials: Credentials, redactor: Redactor) -> list[Check]:
    oauth = not credentials.get("ANTHROPIC_API_KEY")
    try:
        client = claude_client(settings, credentials, redactor)
    except AutonomousDevError as exc:
        return [Check("Claude", Status.FAIL, exc.message, exc.hint)]
    return claude_checks(client.check_model, client.model, oauth)
