"""Which set-up a checkout needs before its tests can run: the configured command, or one detected from its
manifests and lock files (a Python virtualenv, node_modules, the Go or Cargo module cache)."""

from __future__ import annotations

import configparser
import json
import re
import shlex
import shutil
import tomllib
from dataclasses import dataclass
from pathlib import Path

PYTHON_MANIFESTS = ("pyproject.toml", "setup.py", "setup.cfg")
PYTHON_LOCKS = ("uv.lock", "poetry.lock", "pdm.lock", "Pipfile.lock")
TEST_EXTRAS = ("test", "tests", "testing", "dev")
# Requirement files for the tests, installed with the project; `requirements*.txt` alone when there is none.
TEST_REQUIREMENTS = ("requirements-dev.txt", "requirements-test.txt", "requirements-tests.txt",
                     "requirements_dev.txt", "requirements_test.txt", "dev-requirements.txt",
                     "test-requirements.txt", "requirements/dev.txt", "requirements/test.txt")  # fmt: skip
NODE_LOCKS = (  # lock file, its package manager's frozen install
    ("pnpm-lock.yaml", "pnpm install --frozen-lockfile"),
    ("yarn.lock", "yarn install --frozen-lockfile"),
    ("package-lock.json", "npm ci"),
    ("npm-shrinkwrap.json", "npm ci"),
)
PYTEST = re.compile(r"(?<![\w.-])pytest\b", re.I)
MAX_MANIFEST_BYTES = 2_000_000  # manifests are repository files: read no more than this


@dataclass(frozen=True)
class Plan:
    """How a checkout's environment is made: its layout (`kind`), the command and what keys the cache."""

    kind: str  # python, node, go, rust or custom: where the environment lives and how commands find it
    command: str  # the shell line the set-up runs in the worktree (a Python venv is made before it)
    inputs: tuple[str, ...]  # files (relative to the worktree) whose bytes key the cached environment
    note: str  # how it was chosen, for the evidence and `config --validate`
    requires_python: str = ""  # a Python project's `requires-python`, for choosing its interpreter

    @property
    def per_slot(self) -> bool:
        """A Python project is installed in editable mode, which points at its worktree: one per slot."""
        return self.kind == "python"


def detect_setup(root: Path, configured: str = "", test_command: str = "") -> Plan | None:
    """The set-up for the checkout at `root`; None when there is nothing to install.

    `configured` (evaluation.setupCommand) replaces the detected command but keeps the layout, so that
    `pip install -e '.[test]'` installs into the project's virtualenv; `none` turns the set-up off.
    """
    if configured.strip().lower() == "none":
        return None
    found = _python(root, test_command) or _node(root) or _go(root) or _rust(root)
    if not configured:
        return found
    if found is None:
        inputs = _present(root, (*PYTHON_MANIFESTS, *PYTHON_LOCKS, "package.json", "go.mod", "Cargo.toml"))
        return Plan("custom", configured, inputs, "configured (evaluation.setupCommand)")
    note = f"configured (evaluation.setupCommand), in the {found.kind} environment"
    return Plan(found.kind, configured, found.inputs, note, found.requires_python)


def _python(root: Path, test_command: str) -> Plan | None:
    manifests = _present(root, PYTHON_MANIFESTS)
    requirements = sorted(p.name for p in root.glob("requirements*.txt") if p.is_file())
    requirements += [name for name in TEST_REQUIREMENTS if "/" in name and (root / name).is_file()]
    if not manifests and not requirements:
        return None
    inputs = (*manifests, *_present(root, PYTHON_LOCKS), *requirements)
    pyproject = _toml(root / "pyproject.toml")
    project = pyproject.get("project", {})
    requires = str(project.get("requires-python", "")) if isinstance(project, dict) else ""
    extras = [e for e in TEST_EXTRAS if e in _extras(root, project)]
    if (root / "uv.lock").is_file() and shutil.which("uv"):
        line = "uv sync --frozen" + "".join(f" --extra {extra}" for extra in extras)
        return Plan("python", line, inputs, "detected uv.lock: uv sync", requires)
    # A pyproject.toml holding only tools' settings (pytest, ruff) is no project to install.
    installable = bool(
        _present(root, ("setup.py", "setup.cfg")) or {"project", "build-system"} & set(pyproject)
    )
    parts, what = _pip_arguments(requirements, extras if installable else None)
    if _runs_pytest(test_command) and not _declares_pytest(root, project, requirements):
        parts.append("pytest")  # the detected test command needs it; the project only says so in CI
        what.append("pytest")
    if not parts:
        return None
    line = "python -m pip install " + shlex.join(parts)
    return Plan("python", line, inputs, f"detected a Python project: a virtualenv with {' and '.join(what)}",
                requires)  # fmt: skip


def _pip_arguments(requirements: list[str], extras: list[str] | None) -> tuple[list[str], list[str]]:
    """pip's arguments and what they install, in words: the project in editable mode with its test extras
    and test requirement files, or (`extras` None: no project to install) every requirement file."""
    if extras is None:
        listed = [", ".join(requirements)] if requirements else []
        return [arg for name in requirements for arg in ("-r", name)], listed
    target = "." + (f"[{','.join(extras)}]" if extras else "")
    files = [name for name in requirements if name in TEST_REQUIREMENTS]
    what = f"the project with its {'/'.join(extras)} extras" if extras else "the project"
    return ["-e", target, *(arg for name in files for arg in ("-r", name))], [what]


def _node(root: Path) -> Plan | None:
    manifest = _json(root / "package.json")
    if not manifest or not (manifest.get("dependencies") or manifest.get("devDependencies")):
        return None
    for lock, command in NODE_LOCKS:
        if (root / lock).is_file():
            return Plan("node", command, ("package.json", lock), f"detected {lock}: {command}")
    return Plan(
        "node", "npm install --no-package-lock", ("package.json",), "detected package.json: npm install"
    )


def _go(root: Path) -> Plan | None:
    if not (root / "go.mod").is_file():
        return None
    return Plan(
        "go", "go mod download", _present(root, ("go.mod", "go.sum")), "detected go.mod: module cache"
    )


def _rust(root: Path) -> Plan | None:
    if not (root / "Cargo.toml").is_file():
        return None
    locked = (root / "Cargo.lock").is_file()
    command = "cargo fetch --locked" if locked else "cargo fetch"
    return Plan("rust", command, _present(root, ("Cargo.toml", "Cargo.lock")), "detected Cargo.toml: crates")


def _present(root: Path, names: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(name for name in names if (root / name).is_file())


def _extras(root: Path, project: object) -> set[str]:
    """The optional-dependency groups the project declares (pyproject, else setup.cfg)."""
    if isinstance(project, dict) and isinstance(project.get("optional-dependencies"), dict):
        return set(project["optional-dependencies"])
    parser = configparser.ConfigParser()
    try:
        parser.read_string(_text(root / "setup.cfg"))
    except configparser.Error:
        return set()
    return set(parser["options.extras_require"]) if parser.has_section("options.extras_require") else set()


def _runs_pytest(test_command: str) -> bool:
    words = test_command.split()
    return bool(words) and (words[0] == "pytest" or words[:3] == ["python", "-m", "pytest"])


def _declares_pytest(root: Path, project: object, requirements: list[str]) -> bool:
    """Whether what the set-up installs names pytest (or a plugin, which brings it)."""
    declared = [_text(root / name) for name in (*requirements, "setup.py", "setup.cfg")]
    if isinstance(project, dict):
        declared.append(json.dumps([project.get("dependencies"), project.get("optional-dependencies")]))
    declared.append(json.dumps(_toml(root / "pyproject.toml").get("dependency-groups")))
    return any(PYTEST.search(text) for text in declared)


def _text(path: Path) -> str:
    try:
        with path.open("rb") as file:
            return file.read(MAX_MANIFEST_BYTES).decode("utf-8", errors="replace")
    except OSError:
        return ""


def _toml(path: Path) -> dict[str, object]:
    try:
        return tomllib.loads(_text(path))
    except tomllib.TOMLDecodeError:
        return {}


def _json(path: Path) -> dict[str, object]:
    try:
        value = json.loads(_text(path) or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}
