"""Shared fixtures: the GitHub and Anthropic stand-ins and a seeded repository with a bug."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.helpers import commit_all, compile_package, with_pytest_ini
from tests.standins.anthropic_server import FakeAnthropic
from tests.standins.github_server import FakeGitHub

GITHUB_TOKEN = "ghp_" + "T0kenForTests" * 3  # real-format token: 4 + 39 characters
ANTHROPIC_KEY = "sk-ant-api03-" + "KeyForTests_" * 4
OWNER, NAME = "acme", "widgets"

BUGGY_CALC = '''"""Tiny calculator."""


def add(a: int, b: int) -> int:
    return a - b
'''
CALC_TEST = """from calc import add


def test_add() -> None:
    assert add(2, 3) == 5
"""


def pytest_sessionstart(session: pytest.Session) -> None:
    """Compile the package once, before the workers start: the suite starts the CLI hundreds of times
    (without it, a quarter of the time of the CLI-heavy test files went to compiling)."""
    if not hasattr(session.config, "workerinput"):  # the xdist controller (or a run without xdist)
        compile_package()


@pytest.fixture
def source_repo(tmp_path: Path) -> Path:
    """A local repository with a bug in calc.add and a test that shows it."""
    path = tmp_path / "source"
    path.mkdir()
    files = {"calc.py": BUGGY_CALC, "test_calc.py": CALC_TEST, "README.md": "# widgets\n"}
    for name, text in with_pytest_ini(files).items():
        (path / name).write_text(text)
    return commit_all(path)


@pytest.fixture
def github(tmp_path: Path, source_repo: Path) -> Iterator[FakeGitHub]:
    with FakeGitHub(tmp_path / "github") as server:
        server.add_token(GITHUB_TOKEN, login="octobot", scopes="repo")
        server.create_repo(OWNER, NAME, source=source_repo)
        yield server


@pytest.fixture
def claude() -> Iterator[FakeAnthropic]:
    with FakeAnthropic(api_keys={ANTHROPIC_KEY}) as server:
        yield server


@dataclass(frozen=True)
class Stage:
    """Everything an end-to-end test needs to run the CLI against the stand-ins."""

    github: FakeGitHub
    claude: FakeAnthropic
    work_dir: Path
    cwd: Path

    def publish(self, name: str, files: dict[str, str]) -> Path:
        """A repository `OWNER/name` on the GitHub stand-in holding `files` (path -> text) in one commit."""
        source = self.cwd.parent / f"{name}-source"
        for path, text in with_pytest_ini(files).items():
            (source / path).parent.mkdir(parents=True, exist_ok=True)
            (source / path).write_text(text)
        return self.github.create_repo(OWNER, name, source=commit_all(source))

    def env(self, **extra: str) -> dict[str, str]:
        return {
            "GITHUB_TOKEN": GITHUB_TOKEN,
            "GITHUB_API_URL": self.github.api_url,
            "GITHUB_SECONDS_BETWEEN_REQUESTS": "0",
            "GITHUB_SECONDS_BETWEEN_WRITES": "0",
            "ANTHROPIC_API_KEY": ANTHROPIC_KEY,
            "ANTHROPIC_BASE_URL": self.claude.url,
            "CLAUDE_MAX_RETRIES": "0",
            "REPO_OWNER": OWNER,
            "REPO_NAME": NAME,
            "WORK_DIR": str(self.work_dir),
            "LOG_LEVEL": "DEBUG",
            "SANDBOX_SETUP_NETWORK": "false",  # set-ups install from local wheels only (tests/envfixtures.py)
            **extra,
        }


@pytest.fixture
def stage(tmp_path: Path, github: FakeGitHub, claude: FakeAnthropic) -> Stage:
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    return Stage(github, claude, tmp_path / "work", cwd)


@pytest.fixture
def pg_dsn() -> Iterator[str]:
    """A DSN whose search_path is a fresh schema holding the original tool's `users` table."""
    import psycopg

    dsn = os.environ.get("AUTONOMOUS_DEV_TEST_DATABASE_URL")
    if not dsn:
        if os.environ.get("CI"):
            pytest.fail("AUTONOMOUS_DEV_TEST_DATABASE_URL is not set; CI must run the Postgres tests")
        pytest.skip(
            "Postgres tests need AUTONOMOUS_DEV_TEST_DATABASE_URL (e.g. postgresql://postgres@127.0.0.1/test)"
        )
    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
        conn.execute(f"CREATE TABLE {schema}.users ({USERS_COLUMNS})")
    separator = "&" if "?" in dsn else "?"
    yield f"{dsn}{separator}options=-csearch_path%3D{schema}"
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA {schema} CASCADE")


USERS_COLUMNS = "id text PRIMARY KEY, email text UNIQUE, github_access_token text, claude_auth json"


def insert_user(dsn: str, email: str, github_token: str | None, claude_auth: dict[str, object] | None) -> str:
    import psycopg
    from psycopg.types.json import Json

    user_id = f"user-{uuid.uuid4().hex[:8]}"
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO users (id, email, github_access_token, claude_auth) VALUES (%s, %s, %s, %s)",
            (user_id, email, github_token, Json(claude_auth) if claude_auth is not None else None),
        )
    return user_id


@pytest.fixture
def unused_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def listener() -> Iterator[int]:
    """A loopback port that accepts connections: the host reaches it, a sandboxed command must not."""
    import socket

    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        yield int(server.getsockname()[1])


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest) -> dict[str, str]:
    """Environment selecting the state store; Postgres gets a fresh schema. Daemon tests run on both."""
    if request.param == "sqlite":
        return {"STATE_BACKEND": "sqlite"}
    return {"STATE_BACKEND": "postgres", "DATABASE_URL": request.getfixturevalue("pg_dsn")}
