"""`init` writes a valid config file (never a secret) and a private .env skeleton."""

from __future__ import annotations

import json
import stat
from pathlib import Path

from tests.helpers import run_cli


def test_non_interactive_init_writes_config_and_private_env(tmp_path: Path) -> None:
    args = ["init", "--owner", "acme", "--name", "widgets", "--workers", "3", "--yes"]
    result = run_cli(args, cwd=tmp_path, env={})
    assert result.returncode == 0, result.stderr
    config = json.loads((tmp_path / "autonomous-dev.config.json").read_text())
    assert config["repo"] == {"owner": "acme", "name": "widgets", "baseBranch": ""}
    assert config["execution"]["parallelWorkers"] == 3
    env_file = tmp_path / ".env"
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    assert "GITHUB_TOKEN=\n" in env_file.read_text()
    shown = run_cli(["config", "--json"], cwd=tmp_path, env={})
    rows = {r["key"]: r for r in json.loads(shown.stdout)}
    assert rows["repo.owner"]["value"] == "acme"


def test_interactive_answers_are_used(tmp_path: Path) -> None:
    answers = "octo\nhello\ndevelop\nbot-please\n4\nn\n"
    result = run_cli(["init"], cwd=tmp_path, env={}, stdin=answers)
    assert result.returncode == 0, result.stderr
    config = json.loads((tmp_path / "autonomous-dev.config.json").read_text())
    assert config["repo"] == {"owner": "octo", "name": "hello", "baseBranch": "develop"}
    assert config["discovery"]["issueLabel"] == "bot-please"
    assert not (tmp_path / ".env").exists()


def test_existing_files_are_not_overwritten(tmp_path: Path) -> None:
    (tmp_path / "autonomous-dev.config.json").write_text("{}")
    (tmp_path / ".env").write_text("GITHUB_TOKEN=keep\n")
    result = run_cli(["init", "--yes", "--repo", "acme/widgets"], cwd=tmp_path, env={})
    assert result.returncode == 3 and "--force" in result.stderr
    forced = run_cli(["init", "--yes", "--force", "--repo", "acme/widgets"], cwd=tmp_path, env={})
    assert forced.returncode == 0
    assert (tmp_path / ".env").read_text() == "GITHUB_TOKEN=keep\n"


def test_example_file(tmp_path: Path) -> None:
    result = run_cli(["init", "--example"], cwd=tmp_path, env={})
    assert result.returncode == 0, result.stderr
    assert (
        json.loads((tmp_path / "autonomous-dev.config.example.json").read_text())["repo"]["owner"]
        == "your-org"
    )
    assert not (tmp_path / "autonomous-dev.config.json").exists()
