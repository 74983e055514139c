"""The GitHub App rows of `config --validate`: key, JWT, installation per repository, its permissions."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from autonomous_dev.errors import AutonomousDevError
from autonomous_dev.models import AppReport, InstallationReport
from autonomous_dev.settings.validate import Check, Status, failed

# What the tool needs of an installation (metadata read is implied by every installation).
APP_PERMISSIONS = {
    "contents": "write",  # push its branches
    "issues": "write",  # labels and comments
    "pull_requests": "write",  # open, update and merge its PRs; reply to reviews
    "checks": "read",  # failed check runs of its PRs
    "actions": "read",  # the logs of failed Actions jobs
}
# Also fine to have: reading commit statuses (and the `status` event), and metadata.
OPTIONAL_APP_PERMISSIONS = {"statuses": "read", "metadata": "read"}
LEVELS = {"none": 0, "read": 1, "write": 2, "admin": 3}
APP_DOC = "docs/github-app.md"


@dataclass(frozen=True)
class AppProbe:
    """The live GitHub App calls, supplied by the CLI (which owns the real clients)."""

    key: Callable[[], str]  # parses the private key; its fingerprint
    app: Callable[[], AppReport]  # GET /app with the app's JWT
    installation: Callable[[str], InstallationReport]  # the installation used for a repository
    token: Callable[[int], datetime]  # mints an installation token; when it expires
    allowed: Callable[[str], None]  # the repository as `run` would check it (allowedRepos, public)
    repositories: tuple[str, ...]
    allow_workflow: bool = False
    token_also_set: bool = False


def app_checks(probe: AppProbe, now: datetime | None = None) -> list[Check]:
    now = now or datetime.now(UTC)
    try:
        fingerprint = probe.key()
    except AutonomousDevError as exc:
        return [failed("GitHub App key", exc)]
    checks = [Check("GitHub App key", Status.OK, f"RSA private key {fingerprint}")]
    try:
        app = probe.app()
    except AutonomousDevError as exc:
        return [*checks, failed("GitHub App", exc)]
    checks.append(
        Check("GitHub App", Status.OK, f"JWT accepted: {app.name} (app {app.id}), acts as {app.bot_login}")
    )
    if probe.token_also_set:
        checks.append(
            Check(
                "GitHub credential",
                Status.WARN,
                "GITHUB_TOKEN is set too and is not used: the GitHub App takes precedence",
                "unset GITHUB_TOKEN, so that one GitHub credential is configured",
            )
        )
    if not probe.repositories:
        return [*checks, Check("GitHub App installation", Status.SKIP, "no repository configured")]
    seen: set[int] = set()
    for full_name in probe.repositories:
        checks += _repository(probe, full_name, seen, now)
    return checks


def _repository(probe: AppProbe, full_name: str, seen: set[int], now: datetime) -> list[Check]:
    """The installation covering `full_name`; its permissions and a token once per installation."""
    name = f"GitHub App installation ({full_name})"
    try:
        found = probe.installation(full_name)
    except AutonomousDevError as exc:
        return [failed(name, exc)]
    if found.suspended:
        fix = "the account's owner unsuspends it (Settings > Applications > Installed GitHub Apps)"
        return [Check(name, Status.FAIL, f"installation {found.id} on {found.account} is suspended", fix)]
    scope = "all repositories" if found.repository_selection == "all" else "selected repositories"
    checks = [Check(name, Status.OK, f"installation {found.id} on {found.account} ({scope})")]
    if found.id not in seen:
        seen.add(found.id)
        checks += permission_checks(found.id, found.permissions, probe.allow_workflow)
        checks.append(_repository_access(found.id, found.account, found.repository_selection))
        checks.append(_token(probe, found.id, now))
    try:
        probe.allowed(full_name)
    except AutonomousDevError as exc:
        return [*checks, failed(f"GitHub repository allowed ({full_name})", exc)]
    return [*checks, Check(f"GitHub repository allowed ({full_name})", Status.OK, "by security.allowedRepos")]


def _repository_access(installation: int, account: str, selection: str) -> Check:
    """An installation on every repository of the account gives its tokens more than the tool works on."""
    name = f"GitHub App repository access (installation {installation})"
    if selection != "all":
        return Check(name, Status.OK, "selected repositories")
    fix = (
        f"in {account}'s settings, Installed GitHub Apps > Configure, choose Only select repositories and"
        f" pick the ones autonomous-dev works on ({APP_DOC})"
    )
    return Check(name, Status.WARN, f"every repository of {account}, present and future", fix)


def permission_checks(installation: int, granted: dict[str, str], allow_workflow: bool) -> list[Check]:
    """What the tool needs, and any access beyond it: a permission it does not use, even read-only (the
    members of an organisation, its secrets' names), is more than it needs and warns too."""
    name = f"GitHub App permissions (installation {installation})"
    allowed = {
        **OPTIONAL_APP_PERMISSIONS,
        **APP_PERMISSIONS,
        **({"workflows": "write"} if allow_workflow else {}),
    }
    missing = [
        f"{what} {level}"
        for what, level in APP_PERMISSIONS.items()
        if _level(granted.get(what)) < LEVELS[level]
    ]
    if missing:
        fix = (
            f"in the app's settings (Permissions & events) grant {', '.join(missing)}; then accept the new "
            f"permissions on the installation ({APP_DOC})"
        )
        return [
            Check(name, Status.FAIL, f"missing {', '.join(missing)} (has: {_listed(granted.items())})", fix)
        ]
    checks = [Check(name, Status.OK, _listed(granted.items()))]
    excess = [
        f"{what} {level}"
        for what, level in sorted(granted.items())
        if _level(level) > _level(allowed.get(what))
    ]
    if excess:
        fix = f"remove them in the app's settings (Permissions & events): no more is needed ({APP_DOC})"
        checks.append(
            Check(
                f"GitHub App least privilege (installation {installation})",
                Status.WARN,
                f"more than needed: {', '.join(excess)}",
                fix,
            )
        )
    else:
        checks.append(
            Check(
                f"GitHub App least privilege (installation {installation})",
                Status.OK,
                "no access beyond what is needed",
            )
        )
    return checks


def _token(probe: AppProbe, installation: int, now: datetime) -> Check:
    name = f"GitHub App token (installation {installation})"
    try:
        expires_at = probe.token(installation)
    except AutonomousDevError as exc:
        return failed(name, exc)
    minutes = int((expires_at - now).total_seconds() // 60)
    return Check(
        name, Status.OK, f"installation token issued; it expires in {minutes} min and is renewed before"
    )


def _level(level: str | None) -> int:
    return LEVELS.get(level or "none", 0)


def _listed(items: Iterable[tuple[str, str]]) -> str:
    return ", ".join(f"{what}: {level}" for what, level in sorted(items)) or "none"
