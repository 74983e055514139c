"""The checks behind `config --validate`: files, credential sources, the webhook, live GitHub, Claude and
Postgres."""

from __future__ import annotations

import enum
import stat
import subprocess
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from autonomous_dev.errors import AutonomousDevError, CredentialError, ExitStatus, GitHubError
from autonomous_dev.models import PostgresReport, RepoAccess, TokenReport

EXPIRY_WARNING = timedelta(days=7)
EXCESS_SCOPES = ("delete_repo", "site_admin")
EXCESS_PREFIXES = ("admin:", "write:", "delete:")
REPO_NOT_FOUND_HINT = "check REPO_OWNER/REPO_NAME and that the token can see it"
IGNORED_FILES = (".env", ".env.production", "autonomous-dev.config.json")
MIN_WEBHOOK_SECRET = 20  # characters; `openssl rand -hex 32` gives 64
WEBHOOK_ROTATION_DOC = "docs/webhooks.md#rotating-the-secret"


class Status(enum.StrEnum):
    OK = "ok"
    WARN = "warn"
    FAIL = "fail"
    SKIP = "skip"


@dataclass(frozen=True)
class Check:
    name: str
    status: Status
    detail: str
    fix: str = ""
    exit_status: ExitStatus = ExitStatus.OK  # of a failed check: what its error would exit with in `run`


def failed(name: str, exc: AutonomousDevError, fix: str = "") -> Check:
    """A failed check from the error its probe raised: message, hint and exit status kept."""
    return Check(name, Status.FAIL, exc.message, exc.hint or fix, exc.exit_status)


def mask(secret: str) -> str:
    """At most the first 4 characters and the length."""
    shown = secret[:4] if len(secret) >= 16 else ""
    return f"{shown}… ({len(secret)} chars)"


def env_file_checks(paths: Iterable[Path]) -> list[Check]:
    """.env files hold credentials: only their owner may read them."""
    checks = []
    for path in paths:
        if not path.is_file():
            continue
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            checks.append(
                Check(f"{path.name} permissions", Status.WARN, f"mode {mode:04o}", f"chmod 600 {path}")
            )
        else:
            checks.append(Check(f"{path.name} permissions", Status.OK, f"mode {mode:04o}"))
    return checks


def gitignore_check(cwd: Path) -> Check:
    """In a git checkout, .env files and the config file must be ignored."""
    inside = subprocess.run(
        ["git", "rev-parse", "--is-inside-work-tree"], cwd=cwd, capture_output=True, text=True, check=False
    )
    if inside.stdout.strip() != "true":
        return Check(".gitignore", Status.SKIP, "not a git checkout")
    exposed = [
        name
        for name in IGNORED_FILES
        if subprocess.run(["git", "check-ignore", "-q", "--no-index", name], cwd=cwd, check=False).returncode
    ]
    if exposed:
        return Check(
            ".gitignore", Status.WARN, f"not ignored: {', '.join(exposed)}", "add `.env*` and the config file"
        )
    return Check(".gitignore", Status.OK, "covers .env* and autonomous-dev.config.json")


def webhook_checks(url: str | None, secrets: Callable[[], list[str]]) -> list[Check]:
    """What `start` needs to take deliveries at `url` (None: webhook.port is not set here): WEBHOOK_SECRET,
    long enough, and no previous secret left accepted after a rotation."""
    try:
        secret, *previous = secrets()
    except CredentialError as exc:
        if url is None:
            return [Check("webhook", Status.SKIP, "webhook.port not set: the daemon polls only")]
        return [failed("webhook", exc)]
    where = f"deliveries on {url}" if url else "webhook.port not set here (`start --webhook-port PORT`)"
    checks = [Check("webhook", Status.OK, f"{where}; WEBHOOK_SECRET set")]
    if len(secret) < MIN_WEBHOOK_SECRET:
        checks.append(
            Check(
                "webhook secret",
                Status.WARN,
                f"WEBHOOK_SECRET is {len(secret)} characters, under {MIN_WEBHOOK_SECRET}",
                "use a long random one (openssl rand -hex 32) and set it on GitHub too "
                f"({WEBHOOK_ROTATION_DOC})",
            )
        )
    if previous:
        checks.append(
            Check(
                "webhook secret rotation",
                Status.WARN,
                "WEBHOOK_SECRET_PREVIOUS is accepted too: a rotation in progress",
                "once GitHub's webhook has the new secret, unset it and reload the daemon "
                f"({WEBHOOK_ROTATION_DOC})",
            )
        )
    return checks


def scope_checks(scopes: tuple[str, ...], private_repo: bool, allow_workflow: bool) -> list[Check]:
    """Classic token scopes: what is needed, and what is more than needed."""
    checks = []
    if "repo" in scopes:
        note = "" if private_repo else "public_repo would do for a public repository"
        checks.append(Check("GitHub scope", Status.WARN if note else Status.OK, "repo", note))
    elif "public_repo" in scopes and not private_repo:
        checks.append(Check("GitHub scope", Status.OK, "public_repo"))
    else:
        checks.append(
            Check(
                "GitHub scope",
                Status.FAIL,
                f"missing repo (has: {', '.join(scopes) or 'none'})",
                "create a token with the repo scope",
            )
        )
    excess = [
        s
        for s in scopes
        if s in EXCESS_SCOPES or s.startswith(EXCESS_PREFIXES) or (s == "workflow" and not allow_workflow)
    ]
    if excess:
        checks.append(
            Check(
                "GitHub least privilege",
                Status.WARN,
                f"unneeded scopes: {', '.join(excess)}",
                "create a new token without them, then revoke this one",
            )
        )
    else:
        checks.append(Check("GitHub least privilege", Status.OK, "no unneeded scopes"))
    return checks


def expiry_check(expires_at: datetime | None, now: datetime) -> Check:
    if expires_at is None:
        return Check(
            "GitHub token expiry", Status.WARN, "no expiry date", "prefer tokens that expire (30-90 days)"
        )
    left = expires_at - now
    when = expires_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    if left <= timedelta(0):
        return Check("GitHub token expiry", Status.FAIL, f"expired {when}", "rotate the token now")
    if left < EXPIRY_WARNING:
        return Check(
            "GitHub token expiry", Status.WARN, f"expires {when} ({left.days} days)", "rotate it soon"
        )
    return Check("GitHub token expiry", Status.OK, f"expires {when} ({left.days} days)")


def access_checks(access: RepoAccess, fine_grained: bool) -> list[Check]:
    missing = [
        what
        for what, ok in (
            ("contents write (push)", access.push),
            ("issues read", access.can_read_issues),
            ("pull requests read", access.can_read_pulls),
        )
        if not ok
    ]
    if missing:
        fix = (
            "grant Contents, Issues and Pull requests: read and write"
            if fine_grained
            else "give the token's user write access to the repository"
        )
        return [
            Check("GitHub repository", Status.FAIL, f"{access.full_name}: missing {', '.join(missing)}", fix)
        ]
    detail = f"{access.full_name} ({'private' if access.private else 'public'}) reachable and pushable"
    checks = [Check("GitHub repository", Status.OK, detail)]
    if fine_grained:
        checks.append(
            Check(
                "GitHub write permissions",
                Status.SKIP,
                "fine-grained write access to issues and pull requests cannot be probed without writing",
                "grant Issues and Pull requests: read and write",
            )
        )
    return checks


@dataclass(frozen=True)
class GitHubProbe:
    """The live GitHub calls, supplied by the CLI (which owns the real client)."""

    token: Callable[[], TokenReport]
    repository: Callable[[], RepoAccess] | None
    allow_workflow: bool
    allowed: Callable[[RepoAccess], None] = lambda access: None  # raises what `run` would refuse with


def github_checks(probe: GitHubProbe, now: datetime | None = None) -> list[Check]:
    now = now or datetime.now(UTC)
    try:
        report = probe.token()
    except AutonomousDevError as exc:
        return [failed("GitHub token", exc, "check GITHUB_TOKEN")]
    checks = [Check("GitHub token", Status.OK, f"accepted for {report.login}")]
    access = _probe(probe.repository)
    if isinstance(access, Check):
        checks.append(access)
    fine_grained = report.scopes is None
    if not fine_grained:
        private = access.private if isinstance(access, RepoAccess) else True
        checks += scope_checks(report.scopes or (), private, probe.allow_workflow)
    checks.append(expiry_check(report.expires_at, now))
    if isinstance(access, RepoAccess):
        checks += access_checks(access, fine_grained)
        checks.append(_policy_check(probe, access))
    return checks


def _policy_check(probe: GitHubProbe, access: RepoAccess) -> Check:
    """security.allowedRepos / allowPublicRepos, decided by the very function `run` uses."""
    try:
        probe.allowed(access)
    except AutonomousDevError as exc:
        return failed("GitHub repository allowed", exc)
    return Check("GitHub repository allowed", Status.OK, "by security.allowedRepos / allowPublicRepos")


def _probe(repository: Callable[[], RepoAccess] | None) -> RepoAccess | Check:
    if repository is None:
        return Check(
            "GitHub repository", Status.SKIP, "no repository configured", "set REPO_OWNER and REPO_NAME"
        )
    try:
        return repository()
    except GitHubError as exc:
        if exc.status == 404:
            return Check("GitHub repository", Status.FAIL, exc.message, REPO_NOT_FOUND_HINT, exc.exit_status)
        return failed("GitHub repository", exc, "check REPO_OWNER/REPO_NAME")
    except AutonomousDevError as exc:
        return failed("GitHub repository", exc, "check REPO_OWNER/REPO_NAME")


def claude_checks(check_model: Callable[[], str], model: str, oauth: bool) -> list[Check]:
    checks = []
    try:
        name = check_model()
        checks.append(Check("Claude", Status.OK, f"credential accepted; model {model} ({name})"))
    except AutonomousDevError as exc:
        checks.append(failed("Claude", exc))
    if oauth:
        checks.append(
            Check(
                "Claude auth method",
                Status.WARN,
                "OAuth access token in use",
                "prefer ANTHROPIC_API_KEY: consumer subscription tokens are meant for Anthropic's own apps",
            )
        )
    return checks


# When checks fail for different reasons, the exit status names the one to fix first.
FAILURE_ORDER = (ExitStatus.AUTH, ExitStatus.CONFIG, ExitStatus.TASK_FAILED, ExitStatus.UNAVAILABLE)


def exit_code(checks: list[Check], strict: bool) -> ExitStatus:
    """4 for a rejected credential, 3 for settings `run` refuses, 1 for other failures, 5 when only
    services were unreachable; warnings fail (1) under --strict."""
    failures = {c.exit_status or ExitStatus.TASK_FAILED for c in checks if c.status is Status.FAIL}
    for status in FAILURE_ORDER:
        if status in failures:
            return status
    if strict and any(c.status is Status.WARN for c in checks):
        return ExitStatus.TASK_FAILED
    return ExitStatus.OK


def postgres_checks(
    report: Callable[[], PostgresReport], email: str | None, refresh_used: bool
) -> list[Check]:
    try:
        found = report()
    except AutonomousDevError as exc:
        return [failed("Postgres", exc)]
    checks = [Check("Postgres", Status.OK, f"connected to {found.host}")]
    loopback = found.host in ("localhost", "127.0.0.1", "::1", "local socket")
    if found.ssl_warning:
        checks.append(Check("Postgres SSL", Status.WARN, found.ssl_warning, "add sslmode=verify-full"))
    elif not found.ssl and not loopback:
        checks.append(
            Check("Postgres SSL", Status.FAIL, "connection is not encrypted", "require sslmode=verify-full")
        )
    else:
        checks.append(Check("Postgres SSL", Status.OK, "in use" if found.ssl else "not needed on loopback"))
    if email:
        status = Status.OK if found.row_found else Status.FAIL
        checks.append(
            Check(
                "Postgres user row",
                status,
                f"users row for {email}",
                "" if found.row_found else "insert the row or fix USER_EMAIL",
            )
        )
    excess = [*found.extra_privileges, *(["superuser"] if found.superuser else [])]
    if excess:
        checks.append(
            Check(
                "Postgres least privilege",
                Status.WARN,
                f"role has {', '.join(excess)}",
                "REVOKE them; GRANT only SELECT (and UPDATE (claude_auth)) ON users",
            )
        )
    else:
        checks.append(Check("Postgres least privilege", Status.OK, "no privileges beyond what is needed"))
    if refresh_used and not found.can_update_claude_auth:
        checks.append(
            Check(
                "Postgres token write-back",
                Status.FAIL,
                "no UPDATE on users.claude_auth",
                "GRANT UPDATE (claude_auth) ON users TO the role",
            )
        )
    return checks
