"""Prepared environments: detected from manifests, made in the sandbox, reused by hash, read-only after."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import pytest

from autonomous_dev.sandbox.backends import Sandbox, _system_view, sandbox_from_settings
from autonomous_dev.sandbox.check import setup_checks
from autonomous_dev.sandbox.detect import Plan, detect_setup
from autonomous_dev.sandbox.environments import KEEP, READY, UNUSED_S, Environments
from autonomous_dev.sandbox.interpreters import fits
from autonomous_dev.sandbox.procs import scrubbed_env
from autonomous_dev.settings.sections import EvaluationSettings
from autonomous_dev.settings.services import SandboxSettings
from tests.envfixtures import PROJECT, local_index, offline_pip
from tests.helpers import run_cli

bwrap = pytest.mark.skipif(not os.access("/usr/bin/bwrap", os.X_OK), reason="bubblewrap is not installed")


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def plan_for(
    tmp_path: Path, files: dict[str, str], configured: str = "", test: str = "python -m pytest"
) -> Plan | None:
    return detect_setup(write(tmp_path / "repo", files), configured, test)


def test_a_python_project_is_installed_with_its_test_extras_and_test_requirements(tmp_path: Path) -> None:
    pyproject = (
        '[project]\nname = "x"\n[project.optional-dependencies]\ntest = ["pytest"]\ndocs = ["sphinx"]\n'
    )
    plan = plan_for(tmp_path, {"pyproject.toml": pyproject, "requirements-dev.txt": "mock\n"})
    assert plan is not None and plan.kind == "python" and plan.per_slot
    assert plan.command == "python -m pip install -e '.[test]' -r requirements-dev.txt"
    assert plan.inputs == ("pyproject.toml", "requirements-dev.txt")


def test_pytest_is_added_only_when_the_detected_test_command_needs_it_and_nothing_declares_it(
    tmp_path: Path,
) -> None:
    bare = '[project]\nname = "x"\n\n[tool.pytest.ini_options]\naddopts = "-q"\n'
    plan = plan_for(tmp_path, {"pyproject.toml": bare})
    assert plan is not None and plan.command == "python -m pip install -e . pytest"
    unittest = plan_for(tmp_path, {"pyproject.toml": bare}, test="python -m unittest")
    assert unittest is not None and unittest.command == "python -m pip install -e ."
    plugin = plan_for(tmp_path, {"pyproject.toml": bare, "requirements-test.txt": "pytest-cov\n"})
    assert plan is not None and plugin is not None and "pytest" not in plugin.command.split()


def test_requirement_files_alone_and_lock_files_key_the_environment(tmp_path: Path) -> None:
    plan = plan_for(tmp_path, {"requirements.txt": "requests\n", "requirements-test.txt": "pytest\n"})
    assert plan is not None
    assert plan.command == "python -m pip install -r requirements-test.txt -r requirements.txt"
    locked = plan_for(tmp_path, {"pyproject.toml": "[project]\nname='x'\n", "poetry.lock": "x"}, test="")
    assert locked is not None and locked.inputs[:2] == ("pyproject.toml", "poetry.lock")


def test_node_go_and_rust_projects_use_their_frozen_installs(tmp_path: Path) -> None:
    package = '{"dependencies": {"left-pad": "1.0.0"}}'
    locks = [("pnpm-lock.yaml", "pnpm install --frozen-lockfile"),
             ("yarn.lock", "yarn install --frozen-lockfile"), ("package-lock.json", "npm ci")]  # fmt: skip
    for lock, command in locks:
        root = tmp_path / lock
        plan = detect_setup(write(root, {"package.json": package, lock: "{}"}))
        assert plan is not None and (plan.kind, plan.command) == ("node", command)
    assert detect_setup(write(tmp_path / "none", {"package.json": '{"scripts": {}}'})) is None
    go = detect_setup(write(tmp_path / "go", {"go.mod": "module x\n", "go.sum": ""}))
    assert go is not None and (go.command, go.inputs) == ("go mod download", ("go.mod", "go.sum"))
    rust = detect_setup(write(tmp_path / "rs", {"Cargo.toml": "[package]\n", "Cargo.lock": ""}))
    assert rust is not None and rust.command == "cargo fetch --locked"


def test_a_configured_command_keeps_the_layout_and_none_turns_the_set_up_off(tmp_path: Path) -> None:
    plan = plan_for(tmp_path, {"pyproject.toml": "[project]\nname='x'\n"}, "pip install -e .")
    assert plan is not None and (plan.kind, plan.command) == ("python", "pip install -e .")
    assert "configured" in plan.note
    assert plan_for(tmp_path, {"pyproject.toml": ""}, "none") is None
    assert plan_for(tmp_path / "bare", {"calc.py": ""}) is None  # nothing to install: the PATH as it is
    custom = plan_for(tmp_path / "custom", {"Makefile": "x"}, "make deps")
    assert custom is not None and custom.kind == "custom"


def test_requires_python_clauses() -> None:
    assert fits((3, 11, 7), ">=3.9,<4") and fits((3, 11, 7), "~=3.10") and fits((3, 11, 7), "==3.11.*")
    assert (
        not fits((3, 11, 7), ">=3.12") and not fits((3, 11, 7), "!=3.11.*") and not fits((3, 11, 7), "<3.11")
    )
    assert fits((3, 12, 0), "") and fits((3, 12, 0), "nonsense")


def box(tmp_path: Path, wheels: Path | None = None) -> Sandbox:
    read_only = [str(wheels)] if wheels else []
    return sandbox_from_settings(SandboxSettings(read_only_paths=read_only), [tmp_path / "work"])


@bwrap
def test_a_python_environment_is_made_once_reused_by_hash_and_rebuilt_when_a_manifest_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    wheels = local_index(tmp_path)
    for name, value in offline_pip(wheels).items():
        monkeypatch.setenv(name, value)
    root, home = write(tmp_path / "work" / "worktrees" / "slot-1", PROJECT), tmp_path / "home"
    environments = Environments(tmp_path / "work" / "environments" / "acme" / "calc", box(tmp_path, wheels))
    plan = detect_setup(root, "", "python -m unittest")
    assert plan is not None
    first = environments.prepare(plan, root, home, 300)
    assert first.step.problem == "" and not first.step.cached and first.step.result is not None
    venv = first.step.location
    assert venv.name == "venv" and (venv / "bin" / "python").exists() and str(tmp_path / "work") in str(venv)
    check = "python -c 'import sys, calc, tinydep; print(sys.prefix)'; touch $VIRTUAL_ENV/planted"
    result = box(tmp_path).run(check, root, home, first.env(scrubbed_env(home)), 60, mounts=first.mounts)
    assert result.output.startswith(f"{venv}\n") and "Read-only file system" in result.output, result.output
    second = environments.prepare(plan, root, home, 300)
    assert second.step.cached and second.step.result is None and second.step.location == venv
    (root / "pyproject.toml").write_text((root / "pyproject.toml").read_text() + "\n# a new lock\n")
    third = environments.prepare(plan, root, home, 300)
    assert not third.step.cached and third.step.location != venv and third.step.problem == ""


@bwrap
def test_only_the_set_up_has_the_network_and_only_when_allowed(tmp_path: Path, listener: int) -> None:
    root, home = write(tmp_path / "work" / "wt", {"Makefile": ""}), tmp_path / "home"
    connect = f"/usr/bin/python3 -c 'import socket; socket.create_connection((\"127.0.0.1\", {listener}))'"
    plan = detect_setup(root, connect)
    assert plan is not None
    online = Environments(tmp_path / "work" / "env-online", box(tmp_path), network=True)
    assert online.prepare(plan, root, home, 60).step.problem == ""
    offline = Environments(tmp_path / "work" / "env-offline", box(tmp_path), network=False)
    failed = offline.prepare(plan, root, home, 60).step
    assert failed.problem == "the set-up failed (exit 1)" and failed.result is not None
    assert "Connection refused" in failed.result.output or "unreachable" in failed.result.output


def test_environments_unused_for_long_are_evicted_beyond_the_newest_few(tmp_path: Path) -> None:
    environments = Environments(tmp_path, Sandbox("none"))
    old = time.time() - UNUSED_S - 60
    made = []
    for number in range(KEEP + 2):
        directory = tmp_path / f"node-{number:016x}"
        (directory / "gomod" / "locked").mkdir(parents=True)
        (directory / READY).write_text("")
        os.chmod(directory / "gomod" / "locked", 0o500)  # as Go leaves its module cache
        os.utime(directory / READY, (old + number, old + number))
        made.append(directory)
    recent = tmp_path / "python-slot-1-0000000000000000"
    recent.mkdir()
    (recent / READY).write_text("")
    removed = environments.evict(keep=made[-1])
    assert sorted(removed) == made[:2] and all(not path.exists() for path in made[:2])
    assert all(path.exists() for path in [*made[2:], recent])


def test_config_validate_shows_the_set_up_of_each_repository(tmp_path: Path) -> None:
    work = tmp_path / "work"
    write(work / "worktrees" / "acme" / "calc" / "slot-1", PROJECT)
    env = {"WORK_DIR": str(work), "GITHUB_TOKEN": "x" * 40, "ANTHROPIC_API_KEY": "y" * 40,
           "REPO_OWNER": "acme", "REPO_NAME": "calc", "REPOS": "acme/fresh"}  # fmt: skip
    output = run_cli(["config", "--validate", "--offline", "--json"], cwd=tmp_path, env=env).stdout
    rows = {row["name"]: row for row in json.loads(output) if row["name"].startswith("set-up ")}
    calc, fresh = rows["set-up acme/calc"], rows["set-up acme/fresh"]
    assert calc["status"] == "ok" and "`python -m pip install -e . pytest`" in calc["detail"]
    assert calc["detail"].endswith("trial skipped (--offline)") and "no worktree yet" in fresh["detail"]


@bwrap
def test_the_set_up_trial_runs_its_program_in_the_sandbox(tmp_path: Path) -> None:
    work = tmp_path / "work"
    write(work / "worktrees" / "acme" / "calc" / "slot-1", PROJECT)
    [row] = setup_checks(["acme/calc"], work, EvaluationSettings(), SandboxSettings(), offline=False)
    assert (
        row.status == "ok" and row.detail.endswith("runs in the sandbox") and " with Python 3." in row.detail
    )
    [missing] = setup_checks(
        ["acme/calc"], work, EvaluationSettings(python="python2.1"), SandboxSettings(), False
    )
    assert missing.status == "warn" and "python2.1 was not found" in missing.detail
    if shutil.which("npm"):
        node = {"package.json": '{"devDependencies": {"x": "1"}}', "package-lock.json": "{}"}
        write(work / "worktrees" / "acme" / "web" / "slot-1", node)
        [npm] = setup_checks(["acme/web"], work, EvaluationSettings(), SandboxSettings(), offline=False)
        assert npm.status == "ok" and "`npm ci`" in npm.detail and "`npm` runs in the sandbox" in npm.detail
    cargo = {"Cargo.toml": "[package]\n"}  # cargo under the daemon's HOME is hidden unless shown
    write(work / "worktrees" / "acme" / "crate" / "slot-1", cargo)
    [rust] = setup_checks(["acme/crate"], work, EvaluationSettings(), SandboxSettings(), offline=False)
    assert rust.status == ("ok" if shutil.which("cargo", path="/usr/bin:/bin") else "warn"), rust.detail


NODE_PROJECT = {
    "package.json": '{"name": "web", "version": "1.0.0", "dependencies": {"tiny": "file:vendor/tiny"}}',
    "package-lock.json": '{"name": "web", "version": "1.0.0", "lockfileVersion": 3, "requires": true, '
    '"packages": {"": {"name": "web", "version": "1.0.0", "dependencies": {"tiny": "file:vendor/tiny"}}, '
    '"node_modules/tiny": {"resolved": "vendor/tiny", "link": true}, "vendor/tiny": {"version": "1.0.0"}}}',
    "vendor/tiny/package.json": '{"name": "tiny", "version": "1.0.0", "main": "index.js"}',
    "vendor/tiny/index.js": "exports.double = (x) => 2 * x;\n",
}
REQUIRE_TINY = "node -e 'console.log(require(\"tiny\").double(21))'"


@pytest.mark.skipif(shutil.which("npm") is None, reason="npm is not installed here")
@pytest.mark.parametrize("backend", ["bwrap", "none"])
def test_node_modules_come_from_the_cache_or_with_backend_none_from_the_worktree(
    tmp_path: Path, backend: str
) -> None:
    if backend == "bwrap" and not os.access("/usr/bin/bwrap", os.X_OK):
        pytest.skip("bubblewrap is not installed")
    sandbox = box(tmp_path) if backend == "bwrap" else Sandbox("none")
    environments = Environments(tmp_path / "work" / "environments", sandbox, network=False)
    home = tmp_path / "home"
    for slot in ("slot-1", "slot-2"):  # one environment for every slot, where it can be mounted
        root = write(tmp_path / "work" / "worktrees" / slot, NODE_PROJECT)
        plan = detect_setup(root, "", "npm test")
        assert plan is not None and plan.command == "npm ci"
        prepared = environments.prepare(plan, root, home, 300)
        assert prepared.step.problem == "", prepared.step.result
        result = sandbox.run(
            REQUIRE_TINY, root, home, prepared.env(scrubbed_env(home)), 60, mounts=prepared.mounts
        )
        assert result.output == "42\n", result.output
        reused = slot == "slot-2" and backend == "bwrap"
        assert prepared.step.cached is reused  # with none node_modules is in each worktree: made again
        assert (root / "node_modules" / "tiny").is_symlink() is (backend == "none")


@bwrap
def test_an_evicted_environment_is_made_again_at_the_same_place(tmp_path: Path) -> None:
    """The sandbox works out what it shows from PATH (and caches it per PATH): the set-up must not have the
    environment's own directories on its PATH, which it removes and makes again."""
    root, home = write(tmp_path / "work" / "wt", {"Makefile": ""}), tmp_path / "home"
    plan = detect_setup(root, 'mkdir -p "$SETUP_ENV_DIR/bin"')
    assert plan is not None
    sandbox = box(tmp_path)
    environments = Environments(tmp_path / "work" / "environments", sandbox, network=False)
    first = environments.prepare(plan, root, home, 60)
    _system_view.cache_clear()  # as in the next process, whose first command is a check: bin/ exists
    checks = sandbox.run("echo checked", root, home, first.env(scrubbed_env(home)), 60, mounts=first.mounts)
    assert first.step.problem == "" and checks.output == "checked\n"
    shutil.rmtree(first.step.location)  # evicted
    again = environments.prepare(plan, root, home, 60)
    assert again.step.problem == "" and not again.step.cached, again.step.result


def test_a_pyproject_holding_only_tool_settings_is_not_installed(tmp_path: Path) -> None:
    tools_only = "[tool.ruff]\nline-length = 100\n"
    plan = plan_for(tmp_path, {"pyproject.toml": tools_only, "requirements.txt": "attrs\n"})
    assert plan is not None and plan.command == "python -m pip install -r requirements.txt pytest"
    alone = plan_for(tmp_path / "alone", {"pyproject.toml": tools_only}, test="python -m unittest")
    assert alone is None  # nothing to install, and unittest needs nothing
