"""GitHub App authentication: the real PyGithub app auth against the GitHub stand-in (JWT checked with the
app's public key), installation tokens for REST and git, replaced before expiry and once on a 401."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from autonomous_dev.cli.github_auth import github_auth
from autonomous_dev.errors import CredentialError, ExitStatus, InfrastructureError
from autonomous_dev.git.workspace import GitIdentity, GitWorkspaces
from autonomous_dev.github.app import GitHubApp, installation_session, key_fingerprint, parse_private_key
from autonomous_dev.github.client import GitHubRepoClient
from autonomous_dev.security.redact import Redactor
from autonomous_dev.settings.credentials import load_credentials
from autonomous_dev.settings.model import load_settings
from autonomous_dev.settings.services import GitHubSettings
from tests.app_helpers import APP_ID, BOT, add_app, key_pair
from tests.conftest import NAME, OWNER
from tests.standins.github_server import FakeGitHub
from tests.standins.github_state import RecordedRequest

FULL_NAME = f"{OWNER}/{NAME}"


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


def make_app(github: FakeGitHub, key: str | None = None, clock: Clock | None = None) -> GitHubApp:
    settings = GitHubSettings(api_url=github.api_url, seconds_between_writes=0)
    private = key or key_pair().private_pem
    return GitHubApp(str(APP_ID), private, settings, lambda token: None, clock or Clock())


def token_requests(github: FakeGitHub) -> list[RecordedRequest]:
    return [r for r in github.requests if r.route.endswith("/access_tokens")]


def test_the_app_reads_a_repository_as_its_bot_with_an_installation_token(github: FakeGitHub) -> None:
    installation = add_app(github)
    app = make_app(github)
    assert app.report().bot_login == BOT
    assert app.installation_of(FULL_NAME).id == installation
    session = installation_session(app, installation, GitHubSettings(api_url=github.api_url))
    repo = GitHubRepoClient(session, FULL_NAME, Redactor())
    assert repo.full_name == FULL_NAME
    assert repo.own_logins() == frozenset({BOT})  # without `GET /user`, which an installation cannot read
    [token] = github.app_tokens(installation)
    reads = [r for r in github.requests if r.route == f"/api/v3/repos/{FULL_NAME}"]
    assert reads and all(r.header("Authorization") == f"token {token}" for r in reads)
    [mint] = token_requests(github)
    assert mint.header("Authorization", "").startswith("Bearer ")  # the JWT, signed with the app's key
    assert github.state.rejected_jwts == []


def test_the_token_is_replaced_before_it_expires(github: FakeGitHub) -> None:
    installation = add_app(github)
    clock = Clock()
    app = make_app(github, clock=clock)
    session = installation_session(app, installation, GitHubSettings(api_url=github.api_url))
    tokens = app.tokens(installation)

    def read() -> str:
        session.read("reading", lambda: session.get_json(f"/repos/{FULL_NAME}", {}))
        return github.requests[-1].header("Authorization", "")

    first = tokens.token()
    assert read() == f"token {first}"  # an hour left: kept
    clock.now += timedelta(minutes=54)  # 6 minutes left
    assert read() == f"token {first}"
    clock.now += timedelta(minutes=2)  # 4 minutes left: replaced before use
    used = read()
    [_, second] = github.app_tokens(installation)
    assert used == f"token {second}"
    reads = [r for r in github.requests if r.route == f"/api/v3/repos/{FULL_NAME}"]
    assert len(reads) == 3  # one request each: nothing was refused and sent again


def test_a_401_on_an_expired_token_gets_one_new_token_and_the_call_goes_through(github: FakeGitHub) -> None:
    installation = add_app(github)
    app = make_app(github)
    session = installation_session(app, installation, GitHubSettings(api_url=github.api_url))
    repo = GitHubRepoClient(session, FULL_NAME, Redactor())
    number = github.add_issue(OWNER, NAME, "a task")
    github.expire_app_tokens()  # GitHub ends the token while we still think it valid
    repo.add_comment(number, "done")  # a write: refused (401 changes nothing), sent again with a new token
    [comment] = github.comments(OWNER, NAME, number)
    assert comment["user"] == BOT and comment["body"] == "done"
    assert len(github.app_tokens(installation)) == 2
    refused = [r for r in github.requests if r.method == "POST" and r.route.endswith("/comments")]
    assert len(refused) == 2  # the refused one and the one that went through


def test_a_token_refused_again_after_renewal_is_a_credential_error(github: FakeGitHub) -> None:
    installation = add_app(github)
    session = installation_session(make_app(github), installation, GitHubSettings(api_url=github.api_url))

    def refuse(request: RecordedRequest, sequence: int) -> tuple[int, dict[str, str], object] | None:
        if (request.header("Authorization") or "").startswith("token ghs_"):
            return 401, {}, {"message": "Bad credentials"}
        return None

    github.fault = refuse
    with pytest.raises(CredentialError) as raised:
        session.read("reading the repository", lambda: session.conditional(f"/repos/{FULL_NAME}"))
    assert raised.value.exit_status == ExitStatus.AUTH
    assert "installation token" in raised.value.message and "GITHUB_APP_ID" in raised.value.hint
    assert len(github.app_tokens(installation)) == 2  # renewed once, not in a loop


def test_git_pushes_with_the_installation_token_as_x_access_token_and_survives_its_expiry(
    github: FakeGitHub, tmp_path: Path
) -> None:
    installation = add_app(github)
    tokens = make_app(github).tokens(installation)
    clone_url = f"{github.base_http}/git/{FULL_NAME}.git"
    spaces = GitWorkspaces(
        tmp_path / "work", FULL_NAME, clone_url, tokens, GitIdentity(BOT, "b@x.invalid"), Redactor()
    )
    spaces.sync()
    github.expire_app_tokens()
    workspace = spaces.open("auto/1-fix", "main")
    (workspace.path / "NOTE.md").write_text("note\n")
    workspace.commit("Add a note")
    workspace.push()
    assert "auto/1-fix" in github.branches(OWNER, NAME)
    first, second = github.app_tokens(installation)
    pushes = [r for r in github.requests if "receive-pack" in r.path and r.header("Authorization")]
    users = {base64.b64decode(r.header("Authorization", "")[6:]).decode() for r in pushes}
    assert f"x-access-token:{second}" in users and all(u.startswith("x-access-token:") for u in users)
    assert all(first not in r.path and second not in r.path for r in github.requests)
    config = (spaces.mirror_path / "config").read_text()
    assert first not in config and second not in config


def test_a_key_that_is_not_the_apps_is_refused_with_a_hint(github: FakeGitHub) -> None:
    add_app(github)
    with pytest.raises(CredentialError) as raised:
        make_app(github, key=key_pair(1).private_pem).report()
    assert "401" in raised.value.message and "GITHUB_APP_ID" in raised.value.hint
    assert github.state.rejected_jwts  # the stand-in checked the signature and refused it


def test_an_unparsable_or_encrypted_key_is_a_credential_error() -> None:
    for text in ("not a key", "-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----"):
        with pytest.raises(CredentialError, match="not a PEM private key") as raised:
            parse_private_key(text)
        assert "GITHUB_APP_PRIVATE_KEY_FILE" in raised.value.hint
    encrypted = serialization.load_pem_private_key(key_pair().private_pem.encode(), None).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"pw"),
    )
    with pytest.raises(CredentialError, match="encrypted"):
        parse_private_key(encrypted.decode())


def test_a_one_line_key_with_escaped_newlines_parses_to_the_same_key() -> None:
    pem = key_pair().private_pem
    one_line = pem.strip().replace("\n", "\\n")
    assert key_fingerprint(parse_private_key(one_line)) == key_fingerprint(parse_private_key(pem))


def test_a_repository_without_the_app_names_the_fix(github: FakeGitHub, source_repo: Path) -> None:
    github.create_repo(OWNER, "other", source=source_repo)
    add_app(github, repos=[NAME])
    with pytest.raises(CredentialError) as raised:
        make_app(github).installation_of(f"{OWNER}/other")
    assert "not installed on acme/other" in raised.value.message and "Install App" in raised.value.hint


def test_an_unreachable_github_is_an_outage_naming_the_host(unused_port: int) -> None:
    settings = GitHubSettings(api_url=f"http://127.0.0.1:{unused_port}/api/v3")
    app = GitHubApp(str(APP_ID), key_pair().private_pem, settings, lambda token: None)
    with pytest.raises(InfrastructureError) as raised:
        app.report()
    assert (
        f"127.0.0.1:{unused_port}" in raised.value.message
        and raised.value.exit_status == ExitStatus.UNAVAILABLE
    )


def test_only_app_credentials_give_a_session_git_token_and_bot_identity_and_the_redactor_learns_tokens(
    github: FakeGitHub, tmp_path: Path
) -> None:
    installation = add_app(github)
    env = {
        "GITHUB_API_URL": github.api_url,
        "GITHUB_APP_ID": str(APP_ID),
        "GITHUB_APP_PRIVATE_KEY": key_pair().private_pem,
    }
    credentials = load_credentials(env, None)
    redactor = Redactor(credentials.secrets())
    settings = load_settings(environ=env).settings
    credential = github_auth(settings, credentials, redactor)(FULL_NAME)
    assert credential.session.own_logins() == frozenset({BOT})
    assert credential.identity.name == BOT
    assert credential.identity.email == f"{github.state.user_id(BOT)}+{BOT}@users.noreply.github.com"
    assert not isinstance(credential.git_token, str)
    token = credential.git_token.token()
    assert github.app_tokens(installation) == [token]
    assert token not in redactor.redact(f"push with {token}")
    assert "BEGIN" not in redactor.redact(key_pair().private_pem)


def test_each_repository_gets_the_token_of_the_installation_that_covers_it(
    github: FakeGitHub, source_repo: Path
) -> None:
    from autonomous_dev.github.client import repo_access

    github.create_repo("globex", "gears", source=source_repo)
    github.create_repo(OWNER, "other", source=source_repo)
    acme = add_app(github)
    globex = github.install_app(APP_ID, "globex")
    env = {
        "GITHUB_API_URL": github.api_url,
        "GITHUB_APP_ID": str(APP_ID),
        "GITHUB_APP_PRIVATE_KEY": key_pair().private_pem,
    }
    credentials = load_credentials(env, None)
    auth = github_auth(load_settings(environ=env).settings, credentials, Redactor(credentials.secrets()))
    for full_name, installation in ((FULL_NAME, acme), ("globex/gears", globex)):
        credential = auth(full_name)
        assert repo_access(credential.session, full_name).full_name == full_name
        assert not isinstance(credential.git_token, str)
        assert github.app_tokens(installation) == [credential.git_token.token()]
    assert auth(FULL_NAME).session is auth(f"{OWNER}/other").session  # one session per installation
