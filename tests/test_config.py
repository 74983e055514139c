"""Settings come from flags > env > .env > JSON file > defaults, and bad values are named clearly."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from autonomous_dev.errors import ConfigError
from autonomous_dev.settings.model import SourcePaths, load_settings
from tests.helpers import run_cli


def write_json(path: Path, data: dict[str, object]) -> Path:
    path.write_text(json.dumps(data))
    return path


@pytest.fixture
def files(tmp_path: Path) -> SourcePaths:
    config = write_json(
        tmp_path / "autonomous-dev.config.json",
        {
            "repo": {"owner": "json-owner", "name": "json-name", "baseBranch": "json-base"},
            "execution": {"parallelWorkers": 3, "timeoutMinutes": 7},
            "discovery": {"issueLabel": "json-label"},
            "daemon": {"loopIntervalMs": 5000},
        },
    )
    env_file = tmp_path / ".env"
    env_file.write_text("PARALLEL_WORKERS=4\nISSUE_LABEL=dotenv-label\nREPO_NAME=dotenv-name\n")
    return SourcePaths(config_file=config, env_file=env_file)


def test_default_applies_when_no_source_sets_a_value(files: SourcePaths) -> None:
    loaded = load_settings(environ={}, paths=files)
    assert loaded.settings.logging.level == "INFO"
    assert loaded.sources.get("logging.level") is None


def test_json_file_value_is_used_when_env_is_unset(files: SourcePaths) -> None:
    loaded = load_settings(environ={}, paths=files)
    assert loaded.settings.execution.timeout_minutes == 7
    assert loaded.settings.daemon.loop_interval_ms == 5000
    assert loaded.settings.repo.base_branch == "json-base"
    assert loaded.sources["execution.timeout_minutes"] == str(files.config_file)


def test_dotenv_beats_json(files: SourcePaths) -> None:
    loaded = load_settings(environ={}, paths=files)
    assert loaded.settings.execution.parallel_workers == 4
    assert loaded.settings.repo.name == "dotenv-name"
    assert loaded.settings.repo.owner == "json-owner"


def test_env_beats_dotenv(files: SourcePaths) -> None:
    loaded = load_settings(environ={"PARALLEL_WORKERS": "5", "ISSUE_LABEL": "env-label"}, paths=files)
    assert loaded.settings.execution.parallel_workers == 5
    assert loaded.settings.discovery.issue_label == "env-label"
    assert loaded.sources["execution.parallel_workers"] == "env"


def test_flag_beats_env(files: SourcePaths) -> None:
    flags = {"execution": {"parallel_workers": 6}}
    loaded = load_settings(flags=flags, environ={"PARALLEL_WORKERS": "5"}, paths=files)
    assert loaded.settings.execution.parallel_workers == 6
    assert loaded.sources["execution.parallel_workers"] == "flag"


def test_invalid_values_name_key_value_and_range(files: SourcePaths) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(environ={"PARALLEL_WORKERS": "99", "LOG_FORMAT": "xml"}, paths=files)
    lines = caught.value.message.splitlines()
    assert len(lines) == 2
    assert "execution.parallelWorkers (env PARALLEL_WORKERS) = '99'" in lines[0]
    assert "less than or equal to 32" in lines[0]
    assert "logging.format (env LOG_FORMAT) = 'xml'" in lines[1]


def test_unknown_key_in_json_is_reported(tmp_path: Path) -> None:
    config = write_json(tmp_path / "c.json", {"execution": {"parallelWorkerz": 2}})
    with pytest.raises(ConfigError, match=r"execution\.parallelWorkerz"):
        load_settings(environ={}, paths=SourcePaths(config_file=config))


def test_token_in_json_file_is_refused(tmp_path: Path) -> None:
    config = write_json(tmp_path / "c.json", {"github": {"apiUrl": "ghp_" + "a1B2" * 9}})
    with pytest.raises(ConfigError) as caught:
        load_settings(environ={}, paths=SourcePaths(config_file=config))
    assert "github.apiUrl" in caught.value.message
    assert "GITHUB_TOKEN" in caught.value.hint
    assert "a1B2" not in str(caught.value)


def test_cli_exits_3_naming_the_key(tmp_path: Path) -> None:
    result = run_cli(["config"], cwd=tmp_path, env={"PARALLEL_WORKERS": "0"})
    assert result.returncode == 3
    assert "PARALLEL_WORKERS" in result.stderr and "'0'" in result.stderr


def test_cli_config_shows_sources_and_masks_secrets(tmp_path: Path) -> None:
    token = "ghp_" + "Zq9" * 12
    write_json(tmp_path / "autonomous-dev.config.json", {"execution": {"timeoutMinutes": 9}})
    (tmp_path / ".env").write_text("ISSUE_LABEL=from-dotenv\n")
    result = run_cli(["config", "--json"], cwd=tmp_path, env={"GITHUB_TOKEN": token, "REPO_OWNER": "o"})
    assert result.returncode == 0, result.stderr
    rows = {row["key"]: row for row in json.loads(result.stdout)}
    assert rows["execution.timeoutMinutes"]["source"].endswith("autonomous-dev.config.json")
    assert rows["discovery.issueLabel"] == {
        "key": "discovery.issueLabel",
        "env": "ISSUE_LABEL",
        "value": "from-dotenv",
        "source": str(tmp_path / ".env"),
    }
    assert rows["repo.owner"]["source"] == "env"
    assert rows["credential GITHUB_TOKEN"]["value"] == f"ghp_… ({len(token)} chars)"
    assert rows["credential GITHUB_TOKEN"]["source"] == "env"
    assert token[4:12] not in result.stdout + result.stderr


def test_cli_flag_overrides_env(tmp_path: Path) -> None:
    result = run_cli(["run", "--workers", "40"], cwd=tmp_path, env={"PARALLEL_WORKERS": "3"})
    assert result.returncode == 3
    assert "'40'" in result.stderr or "= 40" in result.stderr


def test_missing_github_token_exits_4_naming_it(tmp_path: Path) -> None:
    result = run_cli(["run", "--repo", "o/r"], cwd=tmp_path, env={"ANTHROPIC_API_KEY": "sk-ant-test"})
    assert result.returncode == 4
    [error] = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert error == "error: GITHUB_TOKEN is not set"


def test_validate_offline_accepts_valid_settings(tmp_path: Path) -> None:
    env = {"GITHUB_TOKEN": "ghp_" + "x1" * 18, "ANTHROPIC_API_KEY": "sk-ant-api03-" + "y" * 30}
    result = run_cli(["config", "--validate", "--offline"], cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "valid" in result.stdout
