"""Credential sources and their order, the Postgres users table, and OAuth refresh with write-back."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psycopg
import pytest

from autonomous_dev.claude.oauth import (
    ClaudeTokens,
    ClaudeTokenSource,
    MemoryTokenStore,
    OAuthEndpoint,
    parse_expiry,
)
from autonomous_dev.errors import CredentialError
from autonomous_dev.settings.credentials import (
    Credentials,
    PostgresTokenStore,
    claude_tokens,
    env_file_for,
    load_credentials,
    read_user,
    ssl_warning,
)
from tests.conftest import insert_user
from tests.helpers import run_cli
from tests.standins.oauth_server import FakeTokenEndpoint

ENV_TOKEN = "ghp_" + "EnvTokenValue1" * 3
DOTENV_TOKEN = "github_pat_11ABCDEFG0" + "DotenvTokenValue" * 4
PG_TOKEN = "ghp_" + "PostgresToken9" * 3
API_KEY = "sk-ant-api03-" + "Zz9_" * 20


def test_environment_beats_dotenv(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text(f"GITHUB_TOKEN={DOTENV_TOKEN}\nANTHROPIC_API_KEY={API_KEY}\n")
    found = load_credentials({"GITHUB_TOKEN": ENV_TOKEN}, env_file)
    assert (found.get("GITHUB_TOKEN"), found.source("GITHUB_TOKEN")) == (ENV_TOKEN, "env")
    assert (found.get("ANTHROPIC_API_KEY"), found.source("ANTHROPIC_API_KEY")) == (API_KEY, ".env")


def test_named_environment_selects_its_file(tmp_path: Path) -> None:
    assert env_file_for(tmp_path, {}, None, None) == tmp_path / ".env"
    assert (
        env_file_for(tmp_path, {"AUTONOMOUS_DEV_ENV": "production"}, None, None)
        == tmp_path / ".env.production"
    )
    assert (
        env_file_for(tmp_path, {"AUTONOMOUS_DEV_ENV": "production"}, "staging", None)
        == tmp_path / ".env.staging"
    )
    explicit = tmp_path / "secrets.env"
    assert env_file_for(tmp_path, {}, "staging", explicit) == explicit


def test_cli_env_name_reads_env_production(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(f"GITHUB_TOKEN={ENV_TOKEN}\n")
    (tmp_path / ".env.production").write_text(f"GITHUB_TOKEN={DOTENV_TOKEN}\n")
    result = run_cli(["--env", "production", "config", "--json"], cwd=tmp_path, env={})
    assert result.returncode == 0, result.stderr
    row = next(r for r in json.loads(result.stdout) if r["key"] == "credential GITHUB_TOKEN")
    assert row["source"] == ".env.production"
    assert row["value"] == f"gith… ({len(DOTENV_TOKEN)} chars)"
    assert DOTENV_TOKEN[4:12] not in result.stdout


def test_real_format_tokens_are_accepted(tmp_path: Path) -> None:
    for token in ("ghp_" + "a" * 36, "github_pat_" + "B" * 82, "sk-ant-api03-" + "c-_" * 30):
        found = load_credentials({"GITHUB_TOKEN": token, "ANTHROPIC_API_KEY": token}, None)
        found.require_github()
        assert found.get("GITHUB_TOKEN") == token
        found.require_claude()


def test_missing_github_token_names_the_variable() -> None:
    with pytest.raises(CredentialError, match="GITHUB_TOKEN"):
        Credentials().require_github()


def test_expiry_in_seconds_or_milliseconds() -> None:
    assert parse_expiry("1893456000") == (1893456000.0, False)
    assert parse_expiry("1893456000000") == (1893456000.0, True)
    assert parse_expiry(None) == (None, True)
    with pytest.raises(CredentialError, match="CLAUDE_EXPIRES_AT"):
        parse_expiry("tomorrow")


def test_ssl_warning_only_for_unverified_remote_hosts() -> None:
    assert ssl_warning("postgresql://u@127.0.0.1/db") is None
    assert ssl_warning("postgresql://u@db.internal/db?sslmode=verify-full") is None
    warning = ssl_warning("postgresql://u:pw@db.internal/db?sslmode=require")
    assert warning and "verify-full" in warning and "pw" not in warning


# -- Postgres users table ----------------------------------------------------------------------------------


def test_postgres_row_is_read_by_email_and_ranks_last(tmp_path: Path, pg_dsn: str) -> None:
    auth = {"accessToken": "sk-ant-oat01-" + "P" * 40, "refreshToken": "sk-ant-ort01-" + "S" * 40,
            "expiresAt": 1893456000000, "scopes": ["user:inference"]}  # fmt: skip
    insert_user(pg_dsn, "someone@else.test", "ghp_" + "o" * 36, None)
    user_id = insert_user(pg_dsn, "dev@example.test", PG_TOKEN, auth)
    base = {"DATABASE_URL": pg_dsn, "USER_EMAIL": "dev@example.test"}

    from_pg = load_credentials(base, None)
    assert from_pg.user_id == user_id
    assert (from_pg.get("GITHUB_TOKEN"), from_pg.source("GITHUB_TOKEN")) == (
        PG_TOKEN,
        "postgres users (dev@example.test)",
    )
    assert from_pg.get("CLAUDE_REFRESH_TOKEN") == auth["refreshToken"]

    env_file = tmp_path / ".env"
    env_file.write_text(f"GITHUB_TOKEN={DOTENV_TOKEN}\n")
    assert load_credentials(base, env_file).source("GITHUB_TOKEN") == ".env"
    assert load_credentials({**base, "GITHUB_TOKEN": ENV_TOKEN}, env_file).source("GITHUB_TOKEN") == "env"


def test_unknown_email_is_a_credential_error(pg_dsn: str) -> None:
    with pytest.raises(CredentialError, match="no row in users"):
        read_user(pg_dsn, "nobody@example.test")


def test_query_is_parameterised(pg_dsn: str) -> None:
    insert_user(pg_dsn, "dev@example.test", PG_TOKEN, None)
    with pytest.raises(CredentialError, match="no row"):
        read_user(pg_dsn, "x' OR '1'='1")


def _oauth_user(dsn: str, endpoint: FakeTokenEndpoint, expires_at_ms: int) -> tuple[str, dict[str, object]]:
    auth: dict[str, object] = {
        "accessToken": "sk-ant-oat01-original-" + "A" * 40,
        "refreshToken": "sk-ant-ort01-original-" + "B" * 40,
        "expiresAt": expires_at_ms,
        "subscriptionType": "team",
        "scopes": ["user:inference", "user:profile"],
    }
    endpoint.valid_refresh_tokens.add(str(auth["refreshToken"]))
    return insert_user(dsn, "dev@example.test", PG_TOKEN, auth), auth


def _stored_auth(dsn: str, user_id: str) -> dict[str, object]:
    with psycopg.connect(dsn) as conn:
        row = conn.execute("SELECT claude_auth FROM users WHERE id = %s", (user_id,)).fetchone()
    assert row is not None
    return dict(row[0])


def test_refresh_writes_back_and_preserves_unknown_fields(pg_dsn: str) -> None:
    with FakeTokenEndpoint() as endpoint:
        user_id, auth = _oauth_user(pg_dsn, endpoint, int((time.time() + 120) * 1000))
        credentials = load_credentials({"DATABASE_URL": pg_dsn, "USER_EMAIL": "dev@example.test"}, None)
        tokens = claude_tokens(credentials)
        assert tokens is not None and tokens.near_expiry()
        source = ClaudeTokenSource(tokens, OAuthEndpoint(endpoint.url, endpoint.client_id),
                                   PostgresTokenStore(pg_dsn, user_id))  # fmt: skip
        fresh = source.token()
        assert fresh == endpoint.issued[0]["access_token"]
        assert source.token() == fresh and len(endpoint.requests) == 1
    stored = _stored_auth(pg_dsn, user_id)
    assert stored["accessToken"] == fresh
    assert stored["refreshToken"] == endpoint.issued[0]["refresh_token"]
    assert stored["subscriptionType"] == "team" and stored["scopes"] == auth["scopes"]
    assert isinstance(stored["expiresAt"], int) and stored["expiresAt"] > time.time() * 1000 + 3_000_000


def test_failed_refresh_leaves_the_row_untouched(pg_dsn: str) -> None:
    with FakeTokenEndpoint() as endpoint:
        user_id, auth = _oauth_user(pg_dsn, endpoint, int((time.time() + 60) * 1000))
        endpoint.valid_refresh_tokens.clear()
        tokens = ClaudeTokens(str(auth["accessToken"]), str(auth["refreshToken"]), time.time() + 60)
        source = ClaudeTokenSource(tokens, OAuthEndpoint(endpoint.url, endpoint.client_id),
                                   PostgresTokenStore(pg_dsn, user_id))  # fmt: skip
        with pytest.raises(CredentialError, match="invalid_grant"):
            source.token()
    assert _stored_auth(pg_dsn, user_id) == auth


REFRESH_SCRIPT = textwrap.dedent(
    """
    import sys, time
    from autonomous_dev.settings.credentials import PostgresTokenStore, claude_tokens, load_credentials
    from autonomous_dev.claude.oauth import ClaudeTokenSource, OAuthEndpoint
    dsn, url, client_id, start_at = sys.argv[1:5]
    credentials = load_credentials({"DATABASE_URL": dsn, "USER_EMAIL": "dev@example.test"}, None)
    source = ClaudeTokenSource(claude_tokens(credentials), OAuthEndpoint(url, client_id),
                               PostgresTokenStore(dsn, credentials.user_id))
    time.sleep(max(0.0, float(start_at) - time.time()))
    print(source.token())
    """
)


def test_two_processes_refreshing_at_once_make_one_refresh_request(pg_dsn: str) -> None:
    with FakeTokenEndpoint(delay_s=0.5) as endpoint:
        user_id, _ = _oauth_user(pg_dsn, endpoint, int((time.time() + 60) * 1000))
        start_at = str(time.time() + 1.5)
        args = [sys.executable, "-c", REFRESH_SCRIPT, pg_dsn, endpoint.url, endpoint.client_id, start_at]
        workers = [
            subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for _ in range(2)
        ]
        outputs = [worker.communicate(timeout=60) for worker in workers]
    assert [w.returncode for w in workers] == [0, 0], outputs
    assert len(endpoint.requests) == 1
    tokens = {out.strip() for out, _ in outputs}
    assert tokens == {endpoint.issued[0]["access_token"]}
    assert _stored_auth(pg_dsn, user_id)["accessToken"] == endpoint.issued[0]["access_token"]


def test_env_only_tokens_refresh_in_memory_and_say_so(caplog: pytest.LogCaptureFixture) -> None:
    with FakeTokenEndpoint() as endpoint:
        endpoint.valid_refresh_tokens.add("sk-ant-ort01-env-" + "E" * 40)
        tokens = ClaudeTokens("sk-ant-oat01-env-" + "D" * 40, "sk-ant-ort01-env-" + "E" * 40, time.time() - 5)
        source = ClaudeTokenSource(
            tokens, OAuthEndpoint(endpoint.url, endpoint.client_id), MemoryTokenStore()
        )
        assert source.token() == endpoint.issued[0]["access_token"]
    assert "kept in memory only" in caplog.text


def test_forced_refresh_without_refresh_token_is_a_clear_error() -> None:
    source = ClaudeTokenSource(ClaudeTokens("sk-ant-oat01-" + "F" * 40), None, MemoryTokenStore())
    assert source.token().startswith("sk-ant-oat01-")
    with pytest.raises(CredentialError, match="cannot be refreshed"):
        source.token(force_refresh=True)


def test_the_webhook_secret_comes_from_the_sources_and_an_optional_users_column(pg_dsn: str) -> None:
    import psycopg

    insert_user(pg_dsn, "dev@example.test", PG_TOKEN, None)
    base = {"DATABASE_URL": pg_dsn, "USER_EMAIL": "dev@example.test"}
    without = load_credentials(base, None)  # the original tool's table has no such column
    assert without.get("WEBHOOK_SECRET") is None and without.get("GITHUB_TOKEN") == PG_TOKEN
    with pytest.raises(CredentialError, match="a webhook port needs WEBHOOK_SECRET"):
        without.webhook_secrets()
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute("ALTER TABLE users ADD COLUMN webhook_secret text")
        conn.execute("UPDATE users SET webhook_secret = 'from-the-row-0123456789'")
    from_row = load_credentials(base, None)
    assert from_row.webhook_secrets() == ["from-the-row-0123456789"]
    assert from_row.source("WEBHOOK_SECRET") == "postgres users (dev@example.test)"
    assert "from-the-row-0123456789" in from_row.secrets()  # redacted like every secret
    rotating = load_credentials(
        {**base, "WEBHOOK_SECRET": "new-one", "WEBHOOK_SECRET_PREVIOUS": "old-one"}, None
    )
    assert rotating.webhook_secrets() == ["new-one", "old-one"] and "old-one" in rotating.secrets()


APP_KEY = "-----BEGIN RSA PRIVATE KEY-----\nAppKeyBodyForTests0123456789\n-----END RSA PRIVATE KEY-----\n"


def test_github_app_values_travel_together_from_the_source_of_the_app_id(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text(
        "GITHUB_APP_ID=77\nGITHUB_APP_PRIVATE_KEY=dotenv-key-of-app-77\nGITHUB_APP_INSTALLATION_ID=5\n"
    )
    environ = {"GITHUB_APP_ID": "12", "GITHUB_APP_PRIVATE_KEY": APP_KEY}
    app = load_credentials(environ, env_file).github_app()
    assert app is not None and (app.app_id, app.private_key, app.installation_id) == (
        "12",
        APP_KEY.strip(),
        None,
    )
    found = load_credentials({}, env_file)
    assert found.source("GITHUB_APP_PRIVATE_KEY") == ".env"
    assert found.github_app() == type(app)("77", "dotenv-key-of-app-77", 5)
    only_id = load_credentials({"GITHUB_APP_ID": "12"}, env_file)  # the key of app 77 never signs for 12
    with pytest.raises(CredentialError, match="GITHUB_APP_PRIVATE_KEY is not set"):
        only_id.github_app()


def test_the_app_needs_no_token_and_its_key_file_is_redacted(tmp_path: Path) -> None:
    key_file = tmp_path / "app.pem"
    key_file.write_text(APP_KEY)
    found = load_credentials({"GITHUB_APP_ID": "12", "GITHUB_APP_PRIVATE_KEY_FILE": str(key_file)}, None)
    found.require_github()  # no GITHUB_TOKEN: the app is enough
    app = found.github_app()
    assert app is not None and app.private_key == APP_KEY
    assert APP_KEY in found.secrets()  # the redactor learns the key read from the file
    assert found.github_cache_key() == "github-app:12"
    bad = load_credentials(
        {"GITHUB_APP_ID": "12", "GITHUB_APP_PRIVATE_KEY": APP_KEY, "GITHUB_APP_INSTALLATION_ID": "x1"}, None
    )
    with pytest.raises(CredentialError, match="GITHUB_APP_INSTALLATION_ID is not a number"):
        bad.github_app()


def test_github_app_columns_of_the_users_table_are_read_when_present(pg_dsn: str) -> None:
    insert_user(pg_dsn, "dev@example.test", None, None)
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(
            "ALTER TABLE users ADD COLUMN github_app_id bigint, ADD COLUMN github_app_private_key text"
        )
        conn.execute("UPDATE users SET github_app_id = 99, github_app_private_key = %s", (APP_KEY,))
    found = load_credentials({"DATABASE_URL": pg_dsn, "USER_EMAIL": "dev@example.test"}, None)
    assert found.source("GITHUB_APP_ID") == "postgres users (dev@example.test)"
    app = found.github_app()
    assert app is not None and (app.app_id, app.private_key) == ("99", APP_KEY.strip())
    assert APP_KEY.strip() in found.secrets()
