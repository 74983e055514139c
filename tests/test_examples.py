"""The examples and deployment recipes users copy stay true: they load, parse and do what their docs say."""

from __future__ import annotations

import fnmatch
import json
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from autonomous_dev.settings.model import LoadedSettings, SourcePaths, load_settings
from autonomous_dev.settings.sections import (
    TOKEN_SHAPE,
    DiscoverySettings,
    EvaluationSettings,
    ExecutionSettings,
    MergeSettings,
)
from autonomous_dev.settings.services import DaemonSettings
from tests.helpers import clean_env, run_cli

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
DEPLOY = EXAMPLES / "deploy"
WORK_DIR = "/var/lib/autonomous-dev"
# Keys of systemd units newer than some systemd versions still in use; older ones warn and ignore them.
NEWER_SYSTEMD_KEYS = {"RestartSteps", "RestartMaxDelaySec"}


def load_example(name: str, environ: dict[str, str] | None = None) -> LoadedSettings:
    return load_settings(environ=environ or {}, paths=SourcePaths(config_file=EXAMPLES / name))


def check_minimal(loaded: LoadedSettings) -> None:
    assert loaded.settings.repo.all_full_names() == ["your-org/your-repo"]
    assert {key.split(".")[0] for key in loaded.sources} == {"repo"}, "only the repository is set"
    assert loaded.settings.execution == ExecutionSettings()
    assert loaded.settings.merge == MergeSettings()


def check_conservative(loaded: LoadedSettings) -> None:
    settings = loaded.settings
    assert settings.execution.parallel_workers == 2
    assert settings.merge.auto_merge is False
    assert settings.evaluation.require_build is True and settings.evaluation.require_tests is True
    assert settings.evaluation.on_failure == "comment"
    assert settings.discovery.enabled is False
    assert settings.security.require_author_permission is True
    assert settings.security.allow_workflow_changes is False
    assert settings.security.allowed_repos == settings.repo.all_full_names()
    assert settings.execution.max_cost_usd_per_task < ExecutionSettings().max_cost_usd_per_task


def check_aggressive(loaded: LoadedSettings) -> None:
    settings = loaded.settings
    assert settings.execution.parallel_workers == 8
    assert settings.merge.auto_merge is True
    assert settings.merge.merge_method == "squash"
    assert settings.merge.conflict_strategy == "rebase"
    assert settings.merge.require_checks is True, "auto-merge still waits for CI"
    assert settings.evaluation.require_build is True and settings.evaluation.require_tests is True
    assert settings.evaluation.max_repair_rounds > EvaluationSettings().max_repair_rounds


def check_ci_only(loaded: LoadedSettings) -> None:
    settings = loaded.settings
    assert settings.execution.parallel_workers in (1, 2)
    assert settings.logging.format == "json"
    assert settings.state.backend == "sqlite" and settings.state.sqlite_path is None, "state in WORK_DIR"
    assert settings.merge.auto_merge is False
    assert settings.repo.all_full_names() == [], "the workflow supplies the repository"
    # What the workflow adds: `--repo $GITHUB_REPOSITORY`, and WORK_DIR on the runner.
    runner = load_settings(
        flags={"repo": {"owner": "acme", "name": "widgets"}},
        environ={"WORK_DIR": "/home/runner/work/_temp/ad"},
        paths=SourcePaths(config_file=EXAMPLES / "ci-only.config.json"),
    )
    assert runner.settings.repo.all_full_names() == ["acme/widgets"]
    assert runner.settings.execution.work_dir == Path("/home/runner/work/_temp/ad")


def check_multi_repo(loaded: LoadedSettings) -> None:
    settings = loaded.settings
    names = settings.repo.all_full_names()
    assert len(names) >= 2
    assert settings.repo.repos == names
    assert 1 <= settings.execution.per_repo_workers < settings.execution.parallel_workers
    for name in names:
        assert any(fnmatch.fnmatch(name, pattern) for pattern in settings.security.allowed_repos), name


EXPECTATIONS: dict[str, Callable[[LoadedSettings], None]] = {
    "minimal.config.json": check_minimal,
    "conservative.config.json": check_conservative,
    "aggressive.config.json": check_aggressive,
    "ci-only.config.json": check_ci_only,
    "multi-repo.config.json": check_multi_repo,
}


def test_every_example_config_has_a_test() -> None:
    found = {path.name for path in EXAMPLES.glob("*.config.json")}
    assert found == set(EXPECTATIONS), "add the new example to EXPECTATIONS with its key choices"


@pytest.mark.parametrize("name", sorted(EXPECTATIONS))
def test_example_config_validates_and_holds_its_choices(name: str) -> None:
    EXPECTATIONS[name](load_example(name))


def test_examples_readme_describes_every_file() -> None:
    readme = (EXAMPLES / "README.md").read_text()
    for path in sorted(EXAMPLES.glob("*.config.json")):
        assert f"]({path.name})" in readme, path.name
    for path in sorted(DEPLOY.iterdir()):
        assert f"](deploy/{path.name})" in readme, path.name


@pytest.mark.parametrize(
    "doc", ["docs/quickstart.md", "docs/deployment.md", "examples/README.md"], ids=lambda d: d
)
def test_relative_links_resolve(doc: str) -> None:
    path = ROOT / doc
    for target in re.findall(r"\]\(([^)\s]+)\)", path.read_text()):
        if "://" in target or target.startswith("#"):
            continue
        assert (path.parent / target.split("#")[0]).exists(), f"{doc}: broken link {target}"


def test_no_recipe_holds_a_credential() -> None:
    for path in sorted([*EXAMPLES.glob("*.json"), *DEPLOY.iterdir()]):
        for word in re.split(r"[\s\"'=:,]+", path.read_text()):
            assert not TOKEN_SHAPE.match(word), f"{path.name}: {word[:8]}..."


def cli_accepts(args: list[str], tmp_path: Path) -> None:
    """The command line is one the CLI parses: options exist and go where they belong."""
    result = run_cli([*args, "--help"], cwd=tmp_path, env={})
    assert result.returncode == 0, f"{args}: {result.stderr}"


# ---- GitHub Actions ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def workflow() -> dict[Any, Any]:
    data = yaml.safe_load((DEPLOY / "autonomous-dev.yml").read_text())
    assert isinstance(data, dict)
    return data


def workflow_steps(workflow: dict[Any, Any]) -> list[dict[str, Any]]:
    [job] = workflow["jobs"].values()
    return list(job["steps"])


def test_workflow_triggers(workflow: dict[Any, Any]) -> None:
    triggers = workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` as true
    assert triggers["schedule"] and all("cron" in entry for entry in triggers["schedule"])
    assert triggers["issues"]["types"] == ["labeled"]
    assert "workflow_dispatch" in triggers


def test_workflow_only_runs_for_the_trigger_label(workflow: dict[Any, Any]) -> None:
    [job] = workflow["jobs"].values()
    label = DiscoverySettings().issue_label
    assert f"github.event.label.name == '{label}'" in job["if"]
    assert "github.event_name != 'issues'" in job["if"]


def test_workflow_permissions_and_concurrency(workflow: dict[Any, Any]) -> None:
    permissions = workflow.get("permissions") or next(iter(workflow["jobs"].values()))["permissions"]
    for scope in ("contents", "issues", "pull-requests"):
        assert permissions[scope] == "write", scope
    [job] = workflow["jobs"].values()
    concurrency = job.get("concurrency") or workflow["concurrency"]
    assert concurrency["group"] and concurrency["cancel-in-progress"] is False


def test_workflow_runs_one_cycle_with_stored_secrets(workflow: dict[Any, Any], tmp_path: Path) -> None:
    steps = workflow_steps(workflow)
    runs = [step for step in steps if "autonomous-dev" in step.get("run", "") and " run" in step["run"]]
    assert runs, "no step runs `autonomous-dev run`"
    for step in runs:
        assert step["env"]["ANTHROPIC_API_KEY"] == "${{ secrets.ANTHROPIC_API_KEY }}"
        assert "secrets." in step["env"]["GITHUB_TOKEN"] and "github.token" in step["env"]["GITHUB_TOKEN"]
        assert step["env"]["WORK_DIR"].startswith("${{ runner.temp }}")
        command = re.sub(r"\$\{\{.*?\}\}", "--dry-run", step["run"]).replace("$GITHUB_REPOSITORY", "o/r")
        assert "--repo" in command or "REPO_NAME" in step["env"], "which repository?"
        cli_accepts(shlex.split(command)[1:], tmp_path)
    assert any("pip install" in step.get("run", "") for step in steps)


# ---- compose -----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    assert isinstance(data, dict)
    return data


def daemons(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: service for name, service in compose["services"].items() if name.startswith("daemon")}


def seconds(value: str) -> float:
    match = re.fullmatch(r"(\d+)\s*(s|min|m)?", value.strip())
    assert match, value
    return int(match[1]) * (60 if match[2] in ("min", "m") else 1)


def test_compose_has_postgres_and_two_daemons_with_their_own_work_dirs(compose: dict[str, Any]) -> None:
    postgres = compose["services"]["postgres"]
    assert postgres["healthcheck"]["test"]
    assert postgres["restart"]
    services = daemons(compose)
    assert len(services) >= 2
    work_volumes = set()
    for name, service in services.items():
        [volume] = [v for v in service["volumes"] if v.endswith(f":{WORK_DIR}")]
        work_volumes.add(volume.split(":")[0])
        assert service["environment"]["STATE_BACKEND"] == "postgres", name
        assert service["depends_on"]["postgres"]["condition"] == "service_healthy", name
    assert len(work_volumes) == len(services), "one WORK_DIR per daemon"
    assert work_volumes <= set(compose["volumes"])


def test_compose_daemons_are_hardened_and_stop_warm(compose: dict[str, Any], tmp_path: Path) -> None:
    grace = DaemonSettings().shutdown_grace_seconds
    for name, service in daemons(compose).items():
        assert service["read_only"] is True, name
        assert any(entry.split(":")[0] == "/tmp" for entry in service["tmpfs"]), name
        assert service["user"].split(":")[0] not in ("0", "root"), name
        assert service["cap_drop"] == ["ALL"], name
        assert service["restart"], name
        assert seconds(service["stop_grace_period"]) >= grace + 15, name
        cli_accepts(service["command"], tmp_path)


def test_compose_secrets_come_from_ignored_env_files(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        for env_file in service.get("env_file", []):
            path = (DEPLOY / env_file).relative_to(ROOT)
            ignored = subprocess.run(["git", "check-ignore", "-q", "--no-index", str(path)], cwd=ROOT)
            assert ignored.returncode == 0, f"{name}: {path} would not be git-ignored"
        for key, value in (service.get("environment") or {}).items():
            assert not re.search(r"(?i)token|password|api_?key|secret", key), f"{name}: {key} inline"
            assert not TOKEN_SHAPE.match(str(value)), f"{name}: {key}"
    mounted = [v.split(":")[0] for s in compose["services"].values() for v in s.get("volumes", [])]
    for source in mounted:
        if source.startswith("./") and "config.json" not in source:
            assert (DEPLOY / source).exists(), source


# ---- Dockerfile --------------------------------------------------------------------------------------


def dockerfile() -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", (DEPLOY / "Dockerfile").read_text())
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines]


def test_dockerfile_runs_autonomous_dev_as_non_root(tmp_path: Path) -> None:
    instructions = dockerfile()
    values = {name: value for name, value in instructions}  # the last of each counts
    assert values["FROM"].startswith("python:3.11-slim")
    assert values["USER"].split(":")[0] not in ("root", "0")
    entrypoint, command = json.loads(values["ENTRYPOINT"]), json.loads(values["CMD"])
    assert "autonomous-dev" in entrypoint
    assert command[0] == "start"
    cli_accepts(command, tmp_path)
    port = command[command.index("--metrics-port") + 1]
    assert "/healthz" in values["HEALTHCHECK"] and f":{port}/" in values["HEALTHCHECK"]
    assert any(name == "RUN" and "install" in value and " git" in value for name, value in instructions)
    assert WORK_DIR in values["VOLUME"] and f"WORK_DIR={WORK_DIR}" in values["ENV"]
    for name, value in instructions:
        if name == "COPY":
            assert ".env" not in value and not value.startswith(". "), value
    ignore = (DEPLOY / "Dockerfile.dockerignore").read_text().split()
    assert "**/.env" in ignore and "**/.env.*" in ignore


# ---- systemd -----------------------------------------------------------------------------------------


def unit_sections(path: Path) -> dict[str, dict[str, list[str]]]:
    """The unit's sections and keys; a key may repeat (Environment=), so values are lists."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] | None = None
    for raw in re.sub(r"\\\n", " ", path.read_text()).splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            current = sections.setdefault(line.strip("[]"), {})
            continue
        assert current is not None and "=" in line, line
        key, value = line.split("=", 1)
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


def test_systemd_unit_starts_the_daemon_and_stops_it_warm(tmp_path: Path) -> None:
    unit = unit_sections(DEPLOY / "autonomous-dev.service")
    assert {"Unit", "Service", "Install"} <= set(unit)
    service = {key: values[-1] for key, values in unit["Service"].items()}
    exec_start = shlex.split(service["ExecStart"])
    assert exec_start[0].endswith("/autonomous-dev") and "start" in exec_start
    cli_accepts(exec_start[1:], tmp_path)
    assert service["ExecReload"] == "/bin/kill -HUP $MAINPID"
    assert service["KillSignal"] == "SIGTERM"
    assert seconds(service["TimeoutStopSec"]) >= DaemonSettings().shutdown_grace_seconds + 15
    assert service["Restart"] == "on-failure" and service["RestartSec"]
    assert service["User"] not in ("root", "0") and service["EnvironmentFile"].startswith("/etc/")
    assert f"WORK_DIR={WORK_DIR}" in unit["Service"]["Environment"]
    assert service["ReadWritePaths"] == WORK_DIR and service["WorkingDirectory"] == WORK_DIR
    hardening = {
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
        "PrivateDevices": "yes",
        "RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX",
        "SystemCallFilter": "@system-service",
        "CapabilityBoundingSet": "",
        "LockPersonality": "yes",
        "MemoryDenyWriteExecute": "yes",
    }
    assert {key: service.get(key) for key in hardening} == hardening
    assert unit["Install"]["WantedBy"] == ["multi-user.target"]


def systemd_verify(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["systemd-analyze", "verify", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=clean_env({"SYSTEMD_LOG_COLOR": "0", "SYSTEMD_PAGER": ""}),
    )


def test_systemd_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed here; the unit was only parsed")
    entry_point = Path(sys.executable).with_name("autonomous-dev")
    if not entry_point.is_file():
        pytest.skip(f"no installed entry point at {entry_point} for ExecStart to point at")
    # verify checks that ExecStart's program exists: point it at this installation's entry point.
    text = (DEPLOY / "autonomous-dev.service").read_text()
    unit = tmp_path / "autonomous-dev.service"
    unit.write_text(re.sub(r"(?m)^(ExecStart=)\S+", lambda m: f"{m[1]}{entry_point}", text))
    try:
        result = systemd_verify(unit)
    except subprocess.TimeoutExpired:
        pytest.skip("systemd-analyze verify did not finish in 60 s here")
    if result.returncode != 0:
        probe = tmp_path / "probe.service"
        probe.write_text("[Service]\nType=oneshot\nExecStart=/bin/true\n")
        baseline = systemd_verify(probe)
        if baseline.returncode != 0:
            pytest.skip(f"systemd-analyze verify cannot run here: {baseline.stderr.strip()[:300]}")
    assert result.returncode == 0, result.stderr
    problems = [
        line
        for line in result.stderr.splitlines()
        if line.startswith(str(unit)) and not any(f"'{key}'" in line for key in NEWER_SYSTEMD_KEYS)
    ]
    assert not problems, "\n".join(problems)


# ---- shell completion --------------------------------------------------------------------------------


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_shell_completion_variable_in_the_quickstart_works(shell: str) -> None:
    quickstart = (ROOT / "docs" / "quickstart.md").read_text()
    assert f"_AUTONOMOUS_DEV_COMPLETE={shell}_source autonomous-dev" in quickstart
    entry_point = Path(sys.executable).with_name("autonomous-dev")
    if not entry_point.is_file():
        pytest.skip(f"no installed entry point at {entry_point}")
    result = subprocess.run(
        [str(entry_point)],
        env=clean_env({"_AUTONOMOUS_DEV_COMPLETE": f"{shell}_source"}),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "_autonomous_dev_completion" in result.stdout and "_AUTONOMOUS_DEV_COMPLETE" in result.stdout


# ---- GitHub App manifest -----------------------------------------------------------------------------


def test_app_manifest_asks_for_what_validate_requires_and_nothing_more() -> None:
    from autonomous_dev.settings.app_checks import permission_checks
    from autonomous_dev.settings.validate import Status

    manifest = json.loads((EXAMPLES / "github-app-manifest.json").read_text())
    assert (
        manifest["url"]
        and manifest["public"] is False
        and manifest["hook_attributes"]["url"].endswith("/webhook")
    )
    rows = permission_checks(1, manifest["default_permissions"], allow_workflow=False)
    assert [row.status for row in rows] == [Status.OK, Status.OK], rows  # all needed, no write beyond
    events = {"issues", "issue_comment", "pull_request", "pull_request_review", "pull_request_review_comment",
              "check_run", "check_suite", "status"}  # fmt: skip
    assert set(manifest["default_events"]) == events
    # GitHub refuses an event whose permission the app lacks
    needs = {"issues": "issues", "issue_comment": "issues", "status": "statuses", "check_run": "checks",
             "check_suite": "checks", "pull_request": "pull_requests", "pull_request_review": "pull_requests",
             "pull_request_review_comment": "pull_requests"}  # fmt: skip
    assert all(needs[event] in manifest["default_permissions"] for event in manifest["default_events"])
