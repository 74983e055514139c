"""Where credentials come from (environment > .env file > Postgres `users` table), each with its source."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from dotenv import dotenv_values

from autonomous_dev.claude.oauth import ClaudeTokens, Refresher, parse_expiry
from autonomous_dev.errors import CredentialError, InfrastructureError, network_reason, postgres_unreachable
from autonomous_dev.models import PostgresReport
from autonomous_dev.settings.app_credentials import (
    GITHUB_APP_GROUP,
    GITHUB_APP_ID,
    GITHUB_APP_PRIVATE_KEY,
    GITHUB_APP_PRIVATE_KEY_FILE,
    AppCredentials,
    app_credentials,
    read_key_file,
)

if TYPE_CHECKING:
    import psycopg  # imported when a connection is made: it costs start-up time of every command

log = logging.getLogger(__name__)

GITHUB_TOKEN = "GITHUB_TOKEN"
ANTHROPIC_API_KEY = "ANTHROPIC_API_KEY"
CLAUDE_ACCESS_TOKEN = "CLAUDE_ACCESS_TOKEN"
CLAUDE_REFRESH_TOKEN = "CLAUDE_REFRESH_TOKEN"
CLAUDE_EXPIRES_AT = "CLAUDE_EXPIRES_AT"
DATABASE_URL = "DATABASE_URL"
USER_EMAIL = "USER_EMAIL"
WEBHOOK_SECRET = "WEBHOOK_SECRET"
WEBHOOK_SECRET_PREVIOUS = "WEBHOOK_SECRET_PREVIOUS"  # still accepted while a new secret is rolled out
CREDENTIAL_VARS = (
    GITHUB_TOKEN,
    *GITHUB_APP_GROUP,
    ANTHROPIC_API_KEY,
    CLAUDE_ACCESS_TOKEN,
    CLAUDE_REFRESH_TOKEN,
    CLAUDE_EXPIRES_AT,
    DATABASE_URL,
    USER_EMAIL,
    WEBHOOK_SECRET,
    WEBHOOK_SECRET_PREVIOUS,
)
# The OAuth triple travels together: refresh and expiry come from the source of the access token.
CLAUDE_OAUTH_GROUP = (CLAUDE_ACCESS_TOKEN, CLAUDE_REFRESH_TOKEN, CLAUDE_EXPIRES_AT)
SECRET_VARS = (
    GITHUB_TOKEN,
    GITHUB_APP_PRIVATE_KEY,
    ANTHROPIC_API_KEY,
    CLAUDE_ACCESS_TOKEN,
    CLAUDE_REFRESH_TOKEN,
    DATABASE_URL,
    WEBHOOK_SECRET,
    WEBHOOK_SECRET_PREVIOUS,
)
LOOPBACK_HOSTS = {"localhost", "127.0.0.1", "::1", ""}

# to_jsonb(u): the optional columns (github_app_id, github_app_private_key, github_app_installation_id,
# webhook_secret) are read when the table has them; the original schema has not.
USER_QUERY = "SELECT id, github_access_token, claude_auth, to_jsonb(u) FROM users u WHERE email = %s"


@dataclass(frozen=True)
class Credential:
    name: str
    value: str
    source: str


@dataclass(frozen=True)
class Credentials:
    """The credentials found, by variable name, and the Postgres user row id when one was read."""

    found: dict[str, Credential] = field(default_factory=dict)
    user_id: str | None = None
    store_error: InfrastructureError | None = None  # the users table was unreachable (only if allowed)

    def get(self, name: str) -> str | None:
        credential = self.found.get(name)
        return credential.value if credential else None

    def source(self, name: str) -> str:
        credential = self.found.get(name)
        return credential.source if credential else "not set"

    def secrets(self) -> list[str]:
        """Every secret value, for the redactor (a GitHub App key read from its file too)."""
        values = [c.value for c in self.found.values() if c.name in SECRET_VARS]
        database_url = self.get(DATABASE_URL)
        password = urlsplit(database_url).password if database_url else None
        key_file = self.get(GITHUB_APP_PRIVATE_KEY_FILE)
        key = read_key_file(key_file) if key_file and not self.get(GITHUB_APP_PRIVATE_KEY) else None
        return values + [value for value in (password, key) if value]

    def github_app(self) -> AppCredentials | None:
        """The GitHub App's credentials when GITHUB_APP_ID is set; they then take precedence over
        GITHUB_TOKEN (short-lived tokens scoped to the installation, and the app's own identity)."""
        return app_credentials(self.get)

    def require_github(self) -> None:
        """GITHUB_TOKEN or a GitHub App is there (`github_app` checks the app's values when it is used)."""
        if self.get(GITHUB_TOKEN) or self.get(GITHUB_APP_ID):
            return
        raise CredentialError(
            "GITHUB_TOKEN is not set",
            "export GITHUB_TOKEN (or the GitHub App's GITHUB_APP_ID and GITHUB_APP_PRIVATE_KEY), add it to "
            ".env, or configure the users table",
        )

    def github_cache_key(self) -> str | None:
        """What the GitHub ETag cache is kept per: the token, or the app (whose tokens change hourly)."""
        app_id = self.get(GITHUB_APP_ID)
        return f"github-app:{app_id}" if app_id else self.get(GITHUB_TOKEN)

    def webhook_secrets(self) -> list[str]:
        """The secrets a delivery's signature may use: WEBHOOK_SECRET, and the previous one while the
        secret is being rotated. CredentialError when WEBHOOK_SECRET is not set."""
        secret = self.get(WEBHOOK_SECRET)
        if not secret:
            raise CredentialError(
                "a webhook port needs WEBHOOK_SECRET, the secret GitHub signs each delivery with",
                "export WEBHOOK_SECRET (or add it to .env or the users row's webhook_secret), the same "
                "value as the webhook's secret on GitHub; or start without --webhook-port",
            )
        previous = self.get(WEBHOOK_SECRET_PREVIOUS)
        return [secret, previous] if previous else [secret]

    def require_claude(self) -> None:
        if not (self.get(ANTHROPIC_API_KEY) or self.get(CLAUDE_ACCESS_TOKEN)):
            raise CredentialError(
                "ANTHROPIC_API_KEY is not set", "export ANTHROPIC_API_KEY (or CLAUDE_ACCESS_TOKEN)"
            )


def env_file_for(cwd: Path, environ: Mapping[str, str], env_name: str | None, env_file: Path | None) -> Path:
    """`--env-file PATH`, else `.env.NAME` for `--env NAME` / AUTONOMOUS_DEV_ENV, else `.env`."""
    if env_file is not None:
        return env_file
    name = env_name or environ.get("AUTONOMOUS_DEV_ENV")
    return cwd / (f".env.{name}" if name else ".env")


def load_credentials(
    environ: Mapping[str, str], env_file: Path | None, store_may_be_down: bool = False
) -> Credentials:
    """Collect credentials, first source wins: environment, the .env file, then the Postgres users table.

    With `store_may_be_down` an unreachable users table is kept in `store_error` instead of raised, so
    `config --validate` can report it as one row and check the rest with what the other sources gave.
    """
    layers: list[tuple[str, Mapping[str, str | None]]] = [("env", environ)]
    if env_file is not None and env_file.is_file():
        layers.append((env_file.name, dotenv_values(env_file)))
    found = _first_wins(layers)
    database_url, email = found.get(DATABASE_URL), found.get(USER_EMAIL)
    if database_url is None or email is None:
        return Credentials(found)
    try:
        row = read_user(database_url.value, email.value)
    except InfrastructureError as exc:
        if not store_may_be_down:
            raise
        return Credentials(found, store_error=exc)
    layers.append((f"postgres users ({email.value})", row.as_variables()))
    return Credentials(_first_wins(layers), user_id=row.id)


def _first_wins(layers: list[tuple[str, Mapping[str, str | None]]]) -> dict[str, Credential]:
    found: dict[str, Credential] = {}
    grouped = {*CLAUDE_OAUTH_GROUP, *GITHUB_APP_GROUP}
    for name in CREDENTIAL_VARS:
        if name in grouped:
            continue
        for source, values in layers:
            value = values.get(name)
            if value:
                found[name] = Credential(name, value.strip(), source)
                break
    for group in (CLAUDE_OAUTH_GROUP, GITHUB_APP_GROUP):  # each group from the source of its first member
        for source, values in layers:
            if values.get(group[0]):
                for name in group:
                    value = values.get(name)
                    if value:
                        found[name] = Credential(name, str(value).strip(), source)
                break
    return found


@dataclass(frozen=True)
class UserRow:
    id: str
    github_access_token: str | None
    claude_auth: dict[str, Any]
    columns: dict[str, Any] = field(default_factory=dict)  # the whole row, for the optional app columns

    def as_variables(self) -> dict[str, str | None]:
        expires = self.claude_auth.get("expiresAt")
        app = {name: self.columns.get(name.lower()) for name in GITHUB_APP_GROUP}
        return {
            GITHUB_TOKEN: self.github_access_token,
            **{name: _text(value) for name, value in app.items()},
            CLAUDE_ACCESS_TOKEN: self.claude_auth.get("accessToken"),
            CLAUDE_REFRESH_TOKEN: self.claude_auth.get("refreshToken"),
            CLAUDE_EXPIRES_AT: str(expires) if expires is not None else None,
            WEBHOOK_SECRET: _text(self.columns.get("webhook_secret")),
        }


def _text(value: object) -> str | None:
    return str(value) if value is not None else None


def connect(database_url: str, **kwargs: Any) -> psycopg.Connection[Any]:
    """Open a connection; errors name the host, never the password."""
    import psycopg

    warn_if_unverified_ssl(database_url)
    try:
        return psycopg.connect(database_url, connect_timeout=10, **kwargs)
    except psycopg.OperationalError as exc:
        host = urlsplit(database_url).hostname or "the local socket"
        if postgres_unreachable(exc):
            where = urlsplit(database_url).netloc.rpartition("@")[2] or host  # host:port, no password
            raise InfrastructureError(
                "Postgres",
                f"cannot reach the Postgres credential store at {where}: {network_reason(exc)}",
                "check DATABASE_URL and that the server is up; the daemon retries on its own",
            ) from None
        raise CredentialError(
            f"cannot connect to the Postgres credential store on {host}: {_first_line(exc)}",
            "check DATABASE_URL and that the server is reachable",
        ) from None


def read_user(database_url: str, email: str) -> UserRow:
    """Read one user's credentials by e-mail with a parameterised query."""
    import psycopg

    with connect(database_url) as conn:
        try:
            row = conn.execute(USER_QUERY, (email,)).fetchone()
        except psycopg.Error as exc:
            raise CredentialError(
                f"cannot read the users table: {_first_line(exc)}",
                "check the schema and that the role has SELECT on users (docs/credentials.md)",
            ) from None
    if row is None:
        raise CredentialError(
            f"no row in users for USER_EMAIL={email}", "check USER_EMAIL or add the user row"
        )
    return UserRow(str(row[0]), row[1], parse_claude_auth(row[2]), row[3] if isinstance(row[3], dict) else {})


def parse_claude_auth(value: object) -> dict[str, Any]:
    if value is None:
        return {}
    if isinstance(value, str):
        value = json.loads(value)
    if not isinstance(value, dict):
        raise CredentialError("users.claude_auth is not a JSON object", "fix the row's claude_auth column")
    return value


def ssl_warning(database_url: str) -> str | None:
    """A warning when a remote server is used without certificate verification."""
    parts = urlsplit(database_url)
    query = dict(p.split("=", 1) for p in parts.query.split("&") if "=" in p)
    sslmode = query.get("sslmode") or os.environ.get("PGSSLMODE", "prefer")
    if (parts.hostname or "") in LOOPBACK_HOSTS or sslmode == "verify-full":
        return None
    return (
        f"DATABASE_URL points at {parts.hostname} with sslmode={sslmode}: the server certificate is not "
        "verified; use sslmode=verify-full with sslrootcert"
    )


def warn_if_unverified_ssl(database_url: str) -> None:
    warning = ssl_warning(database_url)
    if warning:
        log.warning("%s", warning)


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def claude_tokens(credentials: Credentials) -> ClaudeTokens | None:
    """The OAuth token set, when CLAUDE_ACCESS_TOKEN was found."""
    access = credentials.get(CLAUDE_ACCESS_TOKEN)
    if not access:
        return None
    expires_at, in_ms = parse_expiry(credentials.get(CLAUDE_EXPIRES_AT))
    return ClaudeTokens(access, credentials.get(CLAUDE_REFRESH_TOKEN), expires_at, in_ms)


class PostgresTokenStore:
    """Refreshes under an advisory lock on the user's row, so processes sharing the store refresh once."""

    def __init__(self, database_url: str, user_id: str) -> None:
        self.database_url = database_url
        self.user_id = user_id

    def refresh(self, stale: ClaudeTokens, refresher: Refresher) -> ClaudeTokens:
        from psycopg.types.json import Json

        with connect(self.database_url) as conn, conn.transaction():
            conn.execute(
                "SELECT pg_advisory_xact_lock(hashtext(%s))", (f"autonomous-dev:claude:{self.user_id}",)
            )
            row = conn.execute(
                "SELECT claude_auth FROM users WHERE id = %s FOR UPDATE", (self.user_id,)
            ).fetchone()
            if row is None:
                raise CredentialError(f"the users row {self.user_id} disappeared", "check the users table")
            auth = parse_claude_auth(row[0])
            expires_at, in_ms = parse_expiry(auth.get("expiresAt"))
            current = ClaudeTokens(auth.get("accessToken") or "", auth.get("refreshToken"), expires_at, in_ms)
            if (
                current.access_token
                and current.access_token != stale.access_token
                and not current.near_expiry()
            ):
                log.info("another process already refreshed the Claude token; using it")
                return current
            fresh = refresher(current if current.refresh_token else stale)
            # Read-modify-write under the row lock: fields we do not know about are preserved.
            auth.update(
                accessToken=fresh.access_token,
                refreshToken=fresh.refresh_token,
                expiresAt=fresh.stored_expiry(),
            )
            conn.execute("UPDATE users SET claude_auth = %s WHERE id = %s", (Json(auth), self.user_id))
        log.info("the refreshed Claude token was written back to the users table")
        return fresh


PRIVILEGE_QUERY = """
SELECT p.privilege
FROM unnest(ARRAY['INSERT', 'DELETE', 'TRUNCATE', 'REFERENCES', 'TRIGGER']) AS p(privilege)
WHERE has_table_privilege(current_user, 'users', p.privilege)
"""


def postgres_report(database_url: str, email: str | None) -> PostgresReport:
    with connect(database_url) as conn:
        ssl_row = conn.execute("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()").fetchone()
        superuser = conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user").fetchone()
        extra = [row[0] for row in conn.execute(PRIVILEGE_QUERY).fetchall()]
        update_row = conn.execute(
            "SELECT has_column_privilege(current_user, 'users', 'claude_auth', 'UPDATE')"
        ).fetchone()
        found = conn.execute(USER_QUERY, (email,)).fetchone() if email else None
    return PostgresReport(
        host=urlsplit(database_url).hostname or "local socket",
        ssl=bool(ssl_row and ssl_row[0]),
        ssl_warning=ssl_warning(database_url),
        row_found=found is not None,
        superuser=bool(superuser and superuser[0]),
        extra_privileges=tuple(extra),
        can_update_claude_auth=bool(update_row and update_row[0]),
    )
