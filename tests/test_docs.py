"""Files users copy and read stay true: generated reference, examples, ignore rules, README commands."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from autonomous_dev.errors import AutonomousDevError
from autonomous_dev.settings.model import SourcePaths, load_settings, reference_markdown
from autonomous_dev.settings.sections import TOKEN_SHAPE

ROOT = Path(__file__).resolve().parent.parent


def test_configuration_reference_is_generated_from_the_model() -> None:
    committed = (ROOT / "docs" / "configuration.md").read_text()
    assert committed == reference_markdown(), (
        "run: autonomous-dev help-config --markdown > docs/configuration.md"
    )


def test_example_config_loads_and_validates() -> None:
    loaded = load_settings(
        environ={}, paths=SourcePaths(config_file=ROOT / "autonomous-dev.config.example.json")
    )
    assert loaded.settings.repo.owner == "your-org"
    assert loaded.settings.execution.parallel_workers == 2


def test_env_example_holds_placeholders_only() -> None:
    for line in (ROOT / ".env.example").read_text().splitlines():
        if "=" in line and not line.lstrip().startswith("#"):
            value = line.split("=", 1)[1]
            assert not TOKEN_SHAPE.match(value), line
            assert len(value) < 20, line


def test_gitignore_covers_secrets_but_not_examples(tmp_path: Path) -> None:
    def ignored(name: str) -> bool:
        result = subprocess.run(["git", "check-ignore", "-q", "--no-index", name], cwd=ROOT, check=False)
        return result.returncode == 0

    assert ignored(".env") and ignored(".env.production") and ignored("autonomous-dev.config.json")
    assert not ignored(".env.example") and not ignored("autonomous-dev.config.example.json")


def test_readme_gives_two_setup_commands_and_ci_runs_the_test_one() -> None:
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```bash\n(.*?)```", readme, flags=re.S)
    commands = [line for block in blocks for line in block.splitlines() if line.strip()]
    assert len(commands) == 2
    assert "autonomous-dev run" in commands[0]
    # PEP 668: stock Debian/Ubuntu refuse `pip install` into the system Python; install into a venv
    first = commands[0].split(" && ")
    assert first[0] == "python3 -m venv .venv" and first[1].startswith(".venv/bin/python -m pip install")
    assert first[-1].startswith(".venv/bin/autonomous-dev run")
    assert "pytest" in commands[1]
    ci = (ROOT / ".ci" / "run").read_text()
    assert "python -m pytest" in commands[1] and "python -m pytest" in ci
    for env_var in ("GITHUB_TOKEN", "ANTHROPIC_API_KEY", "REPO_OWNER", "REPO_NAME"):
        assert env_var in readme


def test_readme_links_every_doc() -> None:
    readme = (ROOT / "README.md").read_text()
    for doc in sorted((ROOT / "docs").glob("*.md")):
        assert f"docs/{doc.name}" in readme, doc.name


def test_troubleshooting_names_every_error_code() -> None:
    table = (ROOT / "docs" / "troubleshooting.md").read_text()
    classes = [AutonomousDevError, *_subclasses(AutonomousDevError)]
    for cls in classes[1:]:
        assert cls.__name__ in table and cls.code in table, cls.__name__


def _subclasses(cls: type) -> list[type]:
    return [sub for direct in cls.__subclasses__() for sub in [direct, *_subclasses(direct)]]
