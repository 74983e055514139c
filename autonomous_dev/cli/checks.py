"""The live half of `config --validate`: builds real clients and hands them to the checks in validate.py."""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, TypeVar

from autonomous_dev.errors import AutonomousDevError
from autonomous_dev.security.redact import Redactor
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
    github_checks,
    postgres_checks,
)

from .build import check_repository_allowed, claude_client, github_session

if TYPE_CHECKING:
    from autonomous_dev.models import RepoAccess
    from autonomous_dev.settings.model import Settings

T = TypeVar("T")


def live_checks(settings: Settings, credentials: Credentials, redactor: Redactor) -> list[Check]:
    checks: list[Check] = []
    token = credentials.get(GITHUB_TOKEN)
    if token:
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


def _claude(settings: Settings, credentials: Credentials, redactor: Redactor) -> list[Check]:
    oauth = not credentials.get("ANTHROPIC_API_KEY")
    try:
        client = claude_client(settings, credentials, redactor)
    except AutonomousDevError as exc:
        return [Check("Claude", Status.FAIL, exc.message, exc.hint)]
    return claude_checks(client.check_model, client.model, oauth)
