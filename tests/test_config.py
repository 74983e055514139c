"""Settings come from flags > env > .env > JSON file > defaults, and bad values are named clearly."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic.alias_generators import to_camel

from autonomous_dev.errors import ConfigError
from autonomous_dev.settings.model import Settings, SourcePaths, load_settings, setting_infos
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


def _load_json(tmp_path: Path, data: dict[str, object]) -> None:
    load_settings(environ={}, paths=SourcePaths(config_file=write_json(tmp_path / "c.json", data)))


def test_a_typo_in_any_key_of_any_section_names_the_closest_key(tmp_path: Path) -> None:
    for info in setting_infos():
        section, key = info.json_key.split(".")
        with pytest.raises(ConfigError) as caught:
            _load_json(tmp_path, {section: {key + key[-1]: 1}})
        assert f"(did you mean {info.json_key}?)" in caught.value.message, info.json_key
        assert "help-config" in caught.value.hint


def test_a_typo_in_a_section_name_names_the_closest_section(tmp_path: Path) -> None:
    for section in Settings.model_fields:
        typo = to_camel(section) + section[-1]
        for value in ({}, "not an object"):
            with pytest.raises(ConfigError) as caught:
                _load_json(tmp_path, {typo: value})
            assert f"unknown setting {typo} in " in caught.value.message
            assert f"(did you mean {to_camel(section)}?)" in caught.value.message


def test_a_typo_inside_a_list_or_map_names_the_closest_key(tmp_path: Path) -> None:
    prices = {"input": 1, "output": 2, "cacheWrite": 3, "cacheRaed": 4}
    with pytest.raises(ConfigError, match=r"did you mean pricing\.models\.my-model\.cacheRead\?"):
        _load_json(tmp_path, {"pricing": {"models": {"my-model": prices}}})
    with pytest.raises(ConfigError, match=r"did you mean security\.redactPatterns\.0\.name\?"):
        _load_json(tmp_path, {"security": {"redactPatterns": [{"pattern": "x", "nmae": "y"}]}})


def test_a_key_in_the_wrong_section_names_its_section(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        _load_json(tmp_path, {"execution": {"level": "DEBUG"}})
    assert "unknown setting execution.level in " in caught.value.message
    assert caught.value.message.endswith("(did you mean logging.level?)")


def test_original_tool_keys_are_dropped_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The original tool's evaluation and merge keys without a counterpart here: its config still loads."""
    config = write_json(
        tmp_path / "c.json",
        {
            "evaluation": {"requireHealthCheck": True, "smokeTestUrls": [], "requireTests": False},
            "merge": {"requireAllChecks": True, "mergeMethod": "rebase"},
        },
    )
    loaded = load_settings(environ={}, paths=SourcePaths(config_file=config))
    assert loaded.settings.evaluation.require_tests is False
    assert loaded.settings.merge.merge_method == "rebase"
    warned = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warned) == 3
    assert "ignoring merge.requireAllChecks, a setting of the original tool" in warned[-1]


def test_needs_human_label_can_be_set(files: SourcePaths) -> None:
    assert load_settings(environ={}, paths=files).settings.discovery.needs_human_label == "needs-human"
    loaded = load_settings(environ={"NEEDS_HUMAN_LABEL": "help-wanted"}, paths=files)
    assert loaded.settings.discovery.needs_human_label == "help-wanted"
    assert loaded.sources["discovery.needs_human_label"] == "env"


def test_instruction_files_are_a_list_of_paths_inside_the_repository(files: SourcePaths) -> None:
    default = load_settings(environ={}, paths=files).settings.agent.instruction_files
    assert default == ["AGENTS.md", "CLAUDE.md", ".github/copilot-instructions.md"]
    loaded = load_settings(environ={"AGENT_INSTRUCTION_FILES": "docs/agents.md, AGENTS.md"}, paths=files)
    assert loaded.settings.agent.instruction_files == ["docs/agents.md", "AGENTS.md"]
    for bad in ("../secrets.md", "/etc/passwd", ":(glob)*.md"):
        with pytest.raises(ConfigError, match="not a path inside the repository"):
            load_settings(environ={"AGENT_INSTRUCTION_FILES": bad}, paths=files)
