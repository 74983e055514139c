"""`config --validate` with a GitHub App: key, JWT, installation per repository, permissions, with hints."""

from __future__ import annotations

import json
import os
from pathlib import Path

from tests.app_helpers import APP_ID, BOT, add_app, app_env, key_pair
from tests.conftest import GITHUB_TOKEN, NAME, OWNER, Stage
from tests.helpers import run_cli
from tests.test_validate import validate

FULL = f"{OWNER}/{NAME}"


def app_validate(stage: Stage, *extra: str, **env: str) -> tuple[int, dict[str, dict[str, str]], str]:
    return validate(stage, *extra, **(app_env(stage) | env))


def test_a_well_set_up_app_passes_and_json_has_its_rows(stage: Stage) -> None:
    installation = add_app(stage.github, repos=[NAME])
    code, checks, output = app_validate(stage, "--strict")
    assert code == 0, output
    assert checks["GitHub App key"]["status"] == "ok" and "SHA256:" in checks["GitHub App key"]["detail"]
    assert checks["GitHub App"]["status"] == "ok" and BOT in checks["GitHub App"]["detail"]
    row = checks[f"GitHub App installation ({FULL})"]
    assert row["status"] == "ok" and f"installation {installation} on {OWNER}" in row["detail"]
    permissions = checks[f"GitHub App permissions (installation {installation})"]
    assert permissions["status"] == "ok"
    assert "contents: write" in permissions["detail"] and "actions: read" in permissions["detail"]
    assert checks[f"GitHub App least privilege (installation {installation})"]["status"] == "ok"
    access = checks[f"GitHub App repository access (installation {installation})"]
    assert (access["status"], access["detail"]) == ("ok", "selected repositories")
    assert checks[f"GitHub App token (installation {installation})"]["status"] == "ok"
    assert checks[f"GitHub repository allowed ({FULL})"]["status"] == "ok"
    assert "GITHUB_TOKEN" not in checks and "GitHub token" not in checks  # the app is the credential
    assert checks["source of GITHUB_APP_PRIVATE_KEY"]["detail"] == "env"
    assert key_pair().private_pem.splitlines()[1] not in output
    for token in stage.github.app_tokens(installation):
        assert token[4:12] not in output


def test_an_installation_on_every_repository_of_the_account_warns(stage: Stage) -> None:
    installation = add_app(stage.github)  # "All repositories"
    code, checks, output = app_validate(stage)
    row = checks[f"GitHub App repository access (installation {installation})"]
    assert code == 0, output
    assert (row["status"], row["detail"]) == ("warn", f"every repository of {OWNER}, present and future")
    assert "Only select repositories" in row["fix"] and "docs/github-app.md" in row["fix"]
    assert app_validate(stage, "--strict")[0] == 1


def test_missing_permissions_fail_with_what_to_grant(stage: Stage) -> None:
    permissions = {"contents": "read", "issues": "write", "pull_requests": "write", "metadata": "read"}
    installation = add_app(stage.github, permissions=permissions)
    code, checks, _ = app_validate(stage)
    row = checks[f"GitHub App permissions (installation {installation})"]
    assert code == 1 and row["status"] == "fail"
    assert row["detail"].startswith("missing contents write, checks read, actions read")
    assert (
        "grant contents write, checks read, actions read" in row["fix"] and "docs/github-app.md" in row["fix"]
    )


def test_access_beyond_what_is_needed_warns_read_only_too(stage: Stage) -> None:
    extra = {"administration": "write", "checks": "write", "workflows": "write", "members": "read"}
    granted = {"contents": "write", "issues": "write", "pull_requests": "write", "actions": "read"} | extra
    installation = add_app(stage.github, permissions=granted)
    code, checks, _ = app_validate(stage)
    row = checks[f"GitHub App least privilege (installation {installation})"]
    assert code == 0 and row["status"] == "warn"
    excess = "administration write, checks write, members read, workflows write"
    assert row["detail"] == f"more than needed: {excess}"
    assert "remove them" in row["fix"]
    assert app_validate(stage, "--strict")[0] == 1
    _, checks, _ = app_validate(stage, ALLOW_WORKFLOW_CHANGES="true")
    assert "workflows" not in checks[f"GitHub App least privilege (installation {installation})"]["detail"]


def test_a_repository_without_the_installation_fails_with_the_install_hint_and_exits_4(
    stage: Stage, source_repo: Path
) -> None:
    stage.github.create_repo(OWNER, "gadgets", source=source_repo)
    add_app(stage.github, repos=[NAME])
    code, checks, output = app_validate(stage, REPOS="acme/widgets,acme/gadgets")
    assert code == 4, output
    assert checks[f"GitHub App installation ({FULL})"]["status"] == "ok"
    row = checks["GitHub App installation (acme/gadgets)"]
    assert row["status"] == "fail" and "not installed on acme/gadgets" in row["detail"]
    assert "Install App" in row["fix"]


def test_an_installation_id_that_does_not_cover_the_repository_fails(stage: Stage) -> None:
    installation = add_app(stage.github)
    code, checks, _ = app_validate(stage, GITHUB_APP_INSTALLATION_ID=str(installation + 100))
    row = checks[f"GitHub App installation ({FULL})"]
    assert code == 4 and row["status"] == "fail"
    assert (
        f"is in installation {installation}" in row["detail"] and "GITHUB_APP_INSTALLATION_ID" in row["fix"]
    )


def test_an_unparsable_key_fails_first_with_a_hint_and_exits_4(stage: Stage) -> None:
    add_app(stage.github)
    code, checks, output = app_validate(stage, GITHUB_APP_PRIVATE_KEY="NotAKeyAtAll-0123456789abcdef")
    assert code == 4
    assert (
        checks["GitHub App key"]["status"] == "fail"
        and "not a PEM private key" in checks["GitHub App key"]["detail"]
    )
    assert "GITHUB_APP_PRIVATE_KEY_FILE" in checks["GitHub App key"]["fix"]
    assert "GitHub App" not in checks  # nothing to sign a JWT with
    assert "NotAKeyAtAll" not in output


def test_a_key_of_another_app_is_refused_by_github_and_exits_4(stage: Stage) -> None:
    add_app(stage.github)
    code, checks, _ = app_validate(stage, GITHUB_APP_PRIVATE_KEY=key_pair(1).private_pem)
    assert code == 4
    assert checks["GitHub App key"]["status"] == "ok"  # it parses; GitHub says it is not this app's
    assert checks["GitHub App"]["status"] == "fail" and "401" in checks["GitHub App"]["detail"]
    assert "GITHUB_APP_ID" in checks["GitHub App"]["fix"]


def test_a_key_file_is_read_and_must_be_private(stage: Stage, tmp_path: Path) -> None:
    add_app(stage.github)
    key_file = tmp_path / "app.pem"
    key_file.write_text(key_pair().private_pem)
    os.chmod(key_file, 0o644)
    env = {"GITHUB_APP_PRIVATE_KEY": "", "GITHUB_APP_PRIVATE_KEY_FILE": str(key_file)}
    code, checks, output = app_validate(stage, **env)
    assert code == 0, output
    assert checks["GitHub App"]["status"] == "ok"
    assert (
        checks["app.pem permissions"]["status"] == "warn"
        and "chmod 600" in checks["app.pem permissions"]["fix"]
    )
    assert key_pair().private_pem.splitlines()[1] not in output
    code, checks, _ = app_validate(
        stage, **(env | {"GITHUB_APP_PRIVATE_KEY_FILE": str(tmp_path / "gone.pem")})
    )
    assert code == 4 and "cannot read GITHUB_APP_PRIVATE_KEY_FILE" in checks["GitHub App key"]["detail"]


def test_a_token_set_beside_the_app_is_flagged_as_unused(stage: Stage) -> None:
    add_app(stage.github)
    code, checks, _ = app_validate(stage, GITHUB_TOKEN=GITHUB_TOKEN)
    assert code == 0
    row = checks["GitHub credential"]
    assert (
        row["status"] == "warn" and "takes precedence" in row["detail"] and "unset GITHUB_TOKEN" in row["fix"]
    )


def test_an_unreachable_github_is_a_row_and_exits_5(stage: Stage, unused_port: int) -> None:
    code, checks, output = app_validate(stage, GITHUB_API_URL=f"http://127.0.0.1:{unused_port}/api/v3")
    assert code == 5, output
    assert (
        checks["GitHub App"]["status"] == "fail"
        and f"127.0.0.1:{unused_port}" in checks["GitHub App"]["detail"]
    )
    assert checks["Claude"]["status"] == "ok"  # the other checks went on


def test_a_suspended_installation_fails(stage: Stage) -> None:
    stage.github.add_app(APP_ID, "autodev-test", key_pair().public_pem)
    stage.github.install_app(APP_ID, OWNER, suspended=True)
    code, checks, _ = app_validate(stage)
    row = checks[f"GitHub App installation ({FULL})"]
    assert code == 1 and row["status"] == "fail" and "suspended" in row["detail"]


def test_the_private_key_in_the_config_file_is_refused_with_exit_3(stage: Stage) -> None:
    add_app(stage.github)
    body = key_pair().private_pem.splitlines()[1]
    for settings in ({"github": {"appPrivateKey": "see env"}}, {"repo": {"note": key_pair().private_pem}}):
        (stage.cwd / "autonomous-dev.config.json").write_text(json.dumps(settings))
        result = run_cli(["config", "--validate"], cwd=stage.cwd, env=app_env(stage))
        assert result.returncode == 3, result.stdout + result.stderr
        assert "credentials are not read from the config file" in result.stderr
        assert body not in result.stdout + result.stderr


def test_config_shows_where_the_app_credentials_come_from_with_the_key_masked(stage: Stage) -> None:
    result = run_cli(["config", "--json"], cwd=stage.cwd, env=app_env(stage))
    assert result.returncode == 0, result.stderr
    rows = {row["key"]: row for row in json.loads(result.stdout)}
    assert rows["credential GITHUB_APP_ID"]["value"] == str(APP_ID)
    key = rows["credential GITHUB_APP_PRIVATE_KEY"]
    assert key["source"] == "env" and key["value"] == f"----… ({len(key_pair().private_pem.strip())} chars)"
    assert key_pair().private_pem.splitlines()[1][:20] not in result.stdout + result.stderr
