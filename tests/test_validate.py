"""`config --validate`: the live pre-rotation check, against the GitHub, Claude and Postgres stand-ins."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.conftest import ANTHROPIC_KEY, GITHUB_TOKEN, OWNER, Stage, insert_user
from tests.helpers import run_cli


def expiry_in(days: float) -> str:
    return (datetime.now(UTC) + timedelta(days=days)).strftime("%Y-%m-%d %H:%M:%S UTC")


def validate(stage: Stage, *extra: str, **env: str) -> tuple[int, dict[str, dict[str, str]], str]:
    result = run_cli(["config", "--validate", "--json", *extra], cwd=stage.cwd, env=stage.env(**env))
    checks = {c["name"]: c for c in json.loads(result.stdout)} if result.stdout.strip() else {}
    return result.returncode, checks, result.stdout + result.stderr


@pytest.fixture
def good_token(stage: Stage) -> Stage:
    stage.github.add_token(GITHUB_TOKEN, login="octobot", scopes="repo", expires_at=expiry_in(60))
    return stage


def test_token_with_repo_scope_passes(good_token: Stage) -> None:
    code, checks, output = validate(good_token)
    assert code == 0, output
    assert checks["GitHub token"]["status"] == "ok" and "octobot" in checks["GitHub token"]["detail"]
    assert checks["GitHub scope"]["status"] == "ok"
    assert checks["GitHub least privilege"]["status"] == "ok"
    assert checks["GitHub token expiry"]["status"] == "ok"
    assert checks["GitHub repository"]["status"] == "ok"
    assert checks["Claude"]["status"] == "ok"
    assert checks["source of GITHUB_TOKEN"]["detail"] == "env"
    assert any(r.path.startswith("/v1/models/") for r in good_token.claude.requests)


def test_over_privileged_scopes_are_flagged(stage: Stage) -> None:
    excess = ["delete_repo", "admin:org", "write:packages", "workflow"]
    stage.github.add_token(GITHUB_TOKEN, scopes=", ".join(["repo", *excess]), expires_at=expiry_in(60))
    code, checks, _ = validate(stage)
    assert code == 0
    assert checks["GitHub least privilege"]["status"] == "warn"
    assert checks["GitHub least privilege"]["detail"] == f"unneeded scopes: {', '.join(excess)}"
    strict_code, _, _ = validate(stage, "--strict")
    assert strict_code == 1


def test_workflow_scope_is_fine_when_workflow_changes_are_enabled(stage: Stage) -> None:
    stage.github.add_token(GITHUB_TOKEN, scopes="repo, workflow", expires_at=expiry_in(60))
    _, checks, _ = validate(stage, ALLOW_WORKFLOW_CHANGES="true")
    assert checks["GitHub least privilege"]["status"] == "ok"


def test_missing_repo_scope_fails(stage: Stage) -> None:
    stage.github.add_token(GITHUB_TOKEN, scopes="read:user", expires_at=expiry_in(60))
    code, checks, _ = validate(stage)
    assert code == 1
    assert checks["GitHub scope"]["status"] == "fail"


def test_expiry_three_days_away_warns_and_past_expiry_fails(stage: Stage) -> None:
    stage.github.add_token(GITHUB_TOKEN, scopes="repo", expires_at=expiry_in(3))
    code, checks, _ = validate(stage)
    assert (code, checks["GitHub token expiry"]["status"]) == (0, "warn")
    assert "rotate" in checks["GitHub token expiry"]["fix"]
    stage.github.add_token(GITHUB_TOKEN, scopes="repo", expires_at=expiry_in(-1))
    code, checks, _ = validate(stage)
    assert (code, checks["GitHub token expiry"]["status"]) == (1, "fail")


def test_rejected_token_fails_with_a_hint_and_exits_4(stage: Stage) -> None:
    wrong = "ghp_" + "Wr0ngToken" * 4
    code, checks, output = validate(stage, GITHUB_TOKEN=wrong)
    assert code == 4
    assert checks["GitHub token"]["status"] == "fail"
    assert "401" in checks["GitHub token"]["detail"] and "GITHUB_TOKEN" in checks["GitHub token"]["fix"]
    assert wrong[4:12] not in output


def test_fine_grained_token_is_probed_for_repository_access(stage: Stage) -> None:
    stage.github.add_token(GITHUB_TOKEN, scopes=None, fine_grained=True, expires_at=expiry_in(60))
    _, checks, _ = validate(stage)
    assert "GitHub scope" not in checks
    assert checks["GitHub repository"]["status"] == "ok"
    assert checks["GitHub write permissions"]["status"] == "skip"
    stage.github.set_permission("acme", "widgets", "octobot", "read")
    code, checks, _ = validate(stage)
    assert code == 1 and "push" in checks["GitHub repository"]["detail"]


def test_claude_check_uses_the_messages_api(good_token: Stage) -> None:
    code, checks, _ = validate(good_token, ANTHROPIC_API_KEY="sk-ant-api03-" + "N0pe" * 8)
    assert code == 4  # a rejected credential, as in `run`
    assert checks["Claude"]["status"] == "fail" and "401" in checks["Claude"]["detail"]
    code, checks, _ = validate(good_token, CLAUDE_MODEL="claude-no-such-model")
    assert code == 1 and "does not exist" in checks["Claude"]["detail"]


def test_oauth_use_is_warned(good_token: Stage) -> None:
    token = "sk-ant-oat01-" + "W" * 40
    good_token.claude.bearer_tokens.add(token)
    env = {"ANTHROPIC_API_KEY": "", "CLAUDE_ACCESS_TOKEN": token}
    _, checks, _ = validate(good_token, **env)
    assert checks["Claude"]["status"] == "ok"
    assert checks["Claude auth method"]["status"] == "warn"


def test_world_readable_env_file_warns(good_token: Stage) -> None:
    env_file = good_token.cwd / ".env"
    env_file.write_text("LOG_LEVEL=INFO\n")
    os.chmod(env_file, 0o644)
    _, checks, _ = validate(good_token)
    assert checks[".env permissions"]["status"] == "warn"
    assert "chmod 600" in checks[".env permissions"]["fix"]
    os.chmod(env_file, 0o600)
    _, checks, _ = validate(good_token)
    assert checks[".env permissions"]["status"] == "ok"


def test_missing_credentials_exit_4(stage: Stage) -> None:
    code, checks, _ = validate(stage, "--offline", GITHUB_TOKEN="")
    assert code == 4
    assert checks["GITHUB_TOKEN"]["status"] == "fail"


def test_postgres_store_is_checked(good_token: Stage, pg_dsn: str) -> None:
    insert_user(pg_dsn, "dev@example.test", None, None)
    code, checks, output = validate(good_token, DATABASE_URL=pg_dsn, USER_EMAIL="dev@example.test")
    assert checks["Postgres"]["status"] == "ok", output
    assert checks["Postgres SSL"]["status"] == "ok"
    assert checks["Postgres user row"]["status"] == "ok"
    # the test role is a superuser: more than the tool needs
    assert checks["Postgres least privilege"]["status"] == "warn"
    code, _, output = validate(good_token, DATABASE_URL=pg_dsn, USER_EMAIL="ghost@example.test")
    assert code == 4 and "no row in users for USER_EMAIL=ghost@example.test" in output


def test_no_credential_value_in_any_output(good_token: Stage, tmp_path: Path) -> None:
    outputs = []
    for args in (
        ["config"],
        ["config", "--json"],
        ["config", "--validate"],
        ["config", "--validate", "--json"],
    ):
        result = run_cli(args, cwd=good_token.cwd, env=good_token.env())
        outputs.append(result.stdout + result.stderr)
    everything = "\n".join(outputs)
    for secret in (GITHUB_TOKEN, ANTHROPIC_KEY):
        for i in range(len(secret) - 7):
            assert secret[i : i + 8] not in everything, secret[i : i + 8]


def test_token_in_config_file_exits_3_and_works_from_env(good_token: Stage) -> None:
    config = good_token.cwd / "autonomous-dev.config.json"
    config.write_text(json.dumps({"github": {"token": GITHUB_TOKEN}}))
    result = run_cli(["config", "--validate"], cwd=good_token.cwd, env=good_token.env())
    assert result.returncode == 3
    assert "environment" in result.stderr and "GITHUB_TOKEN" in result.stderr
    assert GITHUB_TOKEN[4:12] not in result.stderr
    config.write_text(json.dumps({"discovery": {"issueLabel": "autonomous-dev"}}))
    code, checks, _ = validate(good_token)
    assert code == 0 and checks["GitHub token"]["status"] == "ok"


def test_unreachable_github_is_a_row_and_exits_5(good_token: Stage, unused_port: int) -> None:
    result = run_cli(
        ["config", "--validate"],
        cwd=good_token.cwd,
        env=good_token.env(GITHUB_API_URL=f"http://127.0.0.1:{unused_port}", LOG_LEVEL="INFO"),
    )
    assert result.returncode == 5, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    row = _row(result.stdout, "GitHub token")
    assert "✗" in row and f"127.0.0.1:{unused_port}" in row and "connection refused" in row.lower()
    assert "✓" in _row(result.stdout, "Claude")  # the other checks went on


def test_unreachable_claude_and_postgres_are_rows_naming_the_host(
    good_token: Stage, unused_port: int
) -> None:
    closed = f"127.0.0.1:{unused_port}"
    code, checks, output = validate(
        good_token, ANTHROPIC_BASE_URL=f"http://{closed}", DATABASE_URL=f"postgresql://u@{closed}/db"
    )
    assert code != 0 and "Traceback" not in output
    assert checks["GitHub token"]["status"] == "ok" and checks["GitHub repository"]["status"] == "ok"
    assert checks["Claude"]["status"] == "fail" and "reach" in checks["Claude"]["detail"]
    assert checks["Postgres"]["status"] == "fail" and "127.0.0.1" in checks["Postgres"]["detail"]


def _row(table: str, name: str) -> str:
    return next(line for line in table.splitlines() if line.startswith(f"│ {name} "))


def test_a_public_repository_fails_as_run_would_refuse_it(stage: Stage, source_repo: Path) -> None:
    stage.github.add_token(GITHUB_TOKEN, login="octobot", scopes="repo", expires_at=expiry_in(60))
    stage.github.create_repo(OWNER, "public-widgets", source=source_repo, private=False)
    code, checks, _ = validate(stage, REPO_NAME="public-widgets")
    row = checks["GitHub repository allowed"]
    assert code == 3 and row["status"] == "fail"
    assert "is public" in row["detail"] and "ALLOW_PUBLIC_REPOS" in row["fix"]
    run = run_cli(["run"], cwd=stage.cwd, env=stage.env(REPO_NAME="public-widgets"))
    assert row["detail"] in run.stderr and row["fix"] in run.stderr  # the same words as run
    code, checks, _ = validate(stage, REPO_NAME="public-widgets", ALLOW_PUBLIC_REPOS="true")
    assert code == 0 and checks["GitHub repository allowed"]["status"] == "ok"


def test_a_repository_the_token_cannot_see_gets_a_hint(good_token: Stage) -> None:
    code, checks, _ = validate(good_token, REPO_NAME="no-such-repo")
    assert code == 1 and "404" in checks["GitHub repository"]["detail"]
    assert checks["GitHub repository"]["fix"] == "check REPO_OWNER/REPO_NAME and that the token can see it"


def test_run_against_a_repository_that_is_not_there_gives_the_validate_hint(good_token: Stage) -> None:
    env = good_token.env(REPO_NAME="no-such-repo")
    result = run_cli(["run"], cwd=good_token.cwd, env=env)
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "404" in output and "check REPO_OWNER/REPO_NAME and that the token can see it" in output, output
    _, checks, _ = validate(good_token, REPO_NAME="no-such-repo")
    assert "that the token can see it" in str(checks["GitHub repository"]), checks


def test_an_unreachable_credential_store_is_a_row_and_the_other_checks_go_on(
    good_token: Stage, unused_port: int
) -> None:
    closed = f"127.0.0.1:{unused_port}"
    url = f"postgresql://bot:Pw-For-Tests@{closed}/db"
    env = good_token.env(DATABASE_URL=url, USER_EMAIL="d@example.test")
    result = run_cli(["config", "--validate"], cwd=good_token.cwd, env=env)
    output = result.stdout + result.stderr
    assert result.returncode == 5, output
    assert "Traceback" not in output and "error:" not in output and "Pw-For-Tests" not in output, output
    row = _row(result.stdout, "Postgres")
    assert "✗" in row and closed in row and "refused" in row, output
    assert "✓" in _row(result.stdout, "GitHub token") and "✓" in _row(result.stdout, "Claude")


def test_with_the_credential_store_down_a_missing_token_is_its_own_row(
    good_token: Stage, unused_port: int
) -> None:
    env = {"DATABASE_URL": f"postgresql://u@127.0.0.1:{unused_port}/db", "USER_EMAIL": "d@example.test"}
    code, checks, output = validate(good_token, GITHUB_TOKEN="", **env)
    assert code == 4, output
    assert checks["Postgres"]["status"] == "fail" and "refused" in checks["Postgres"]["detail"]
    assert checks["GITHUB_TOKEN"]["status"] == "fail" and checks["Claude"]["status"] == "ok"


def test_a_webhook_port_needs_its_secret_and_the_row_says_where_deliveries_go(stage: Stage) -> None:
    code, checks, output = validate(stage, "--offline", WEBHOOK_PORT="8787")
    row = checks["webhook"]
    assert code == 4, output  # as `start --webhook-port` without the secret
    assert row["status"] == "fail" and "needs WEBHOOK_SECRET" in row["detail"]
    assert "export WEBHOOK_SECRET" in row["fix"]
    secret = "a-long-random-webhook-secret-0123456789"
    code, checks, output = validate(
        stage, "--offline", WEBHOOK_PORT="8787", WEBHOOK_PATH="/github", WEBHOOK_SECRET=secret
    )
    assert code == 0, output
    assert checks["webhook"] == {
        "name": "webhook",
        "status": "ok",
        "detail": "deliveries on http://127.0.0.1:8787/github; WEBHOOK_SECRET set",
        "fix": "",
        "exit_status": 0,
    }
    assert "webhook secret" not in checks and "webhook secret rotation" not in checks
    assert secret not in output


def test_without_a_webhook_port_the_row_is_skipped_and_a_secret_is_still_checked(stage: Stage) -> None:
    code, checks, output = validate(stage, "--offline")
    assert code == 0, output
    assert checks["webhook"]["status"] == "skip" and "polls only" in checks["webhook"]["detail"]
    _, checks, _ = validate(stage, "--offline", WEBHOOK_SECRET="a-long-random-webhook-secret-0123456789")
    assert checks["webhook"]["status"] == "ok" and "start --webhook-port" in checks["webhook"]["detail"]


def test_a_short_webhook_secret_and_a_rotation_left_open_warn(stage: Stage) -> None:
    env = {"WEBHOOK_PORT": "8787", "WEBHOOK_SECRET": "short-secret", "WEBHOOK_SECRET_PREVIOUS": "the-old-one"}
    code, checks, output = validate(stage, "--offline", **env)
    assert code == 0, output
    short = checks["webhook secret"]
    assert short["status"] == "warn" and short["detail"] == "WEBHOOK_SECRET is 12 characters, under 20"
    assert "openssl rand -hex 32" in short["fix"]
    rotation = checks["webhook secret rotation"]
    assert rotation["status"] == "warn" and "WEBHOOK_SECRET_PREVIOUS" in rotation["detail"]
    assert "docs/webhooks.md#rotating-the-secret" in rotation["fix"]
    assert "short-secret" not in output and "the-old-one" not in output
    assert validate(stage, "--offline", "--strict", **env)[0] == 1
