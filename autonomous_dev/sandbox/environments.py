"""Prepared environments: the project's dependencies installed once per hash of its manifests and lock files,
in the sandbox, into a directory under WORK_DIR that later commands see read-only.

An environment is made with the network only when `sandbox.setupNetwork` allows it, and is writable only
while it is being made. A Python project gets a virtualenv per worktree slot (its editable install points
at the slot); node_modules and the Go and Cargo module caches are shared by every slot. A task whose base
has the same manifests reuses the environment: a hash, a lock and a look at a marker file.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import re
import shlex
import shutil
import stat
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from autonomous_dev.sandbox.backends import CONTAINERS, SYSTEM_DIRS, Mount, Sandbox
from autonomous_dev.sandbox.detect import Plan, detect_setup
from autonomous_dev.sandbox.interpreters import find_interpreter
from autonomous_dev.sandbox.procs import CommandResult, scrubbed_env

log = logging.getLogger(__name__)
LAYOUT = "1"  # part of every key: changing how environments are laid out rebuilds them all
READY = ".ready"  # written last: an environment without it was never finished
KEEP = 3  # environments kept per repository (per slot for Python) once they go unused
UNUSED_S = 2 * 86_400  # longer than any task runs: an environment unused this long is not in use
# Where a set-up finds its package registry (a mirror, a proxy); a value holding a password is not passed.
REGISTRY_ENV = ("PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_FIND_LINKS", "PIP_NO_INDEX", "PIP_TRUSTED_HOST",
                "PIP_CERT", "UV_DEFAULT_INDEX", "UV_INDEX", "UV_INDEX_URL", "UV_EXTRA_INDEX_URL",
                "UV_FIND_LINKS", "UV_NO_INDEX", "UV_OFFLINE", "NPM_CONFIG_REGISTRY", "YARN_REGISTRY",
                "GOPROXY", "GOPRIVATE", "GONOSUMDB", "GOSUMDB", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY",
                "http_proxy", "https_proxy", "no_proxy", "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE")  # fmt: skip
# Build, tests and the shell tool have no network: their tools are told so rather than left to time out.
OFFLINE = {"go": {"GOPROXY": "off"}, "rust": {"CARGO_NET_OFFLINE": "true"}}
URL_PASSWORD = re.compile(r"://[^/\s:@]+:[^/\s@]+@")


@dataclass(frozen=True)
class SetupStep:
    """The set-up as the evidence shows it: what ran or was reused, how long it took, where it lives."""

    command: str
    note: str
    location: Path  # the environment (a virtualenv, node_modules, a module cache)
    cached: bool
    duration_s: float
    result: CommandResult | None = None  # None when it came from the cache
    problem: str = ""  # why the environment is not ready; "" when it is

    @property
    def summary(self) -> str:
        if self.problem:
            return self.problem
        return f"from the cache: {self.location}" if self.cached else f"prepared {self.location}"


@dataclass(frozen=True)
class Prepared:
    """A ready (or failed) environment: the variables and read-only mounts the task's commands run with."""

    step: SetupStep
    variables: Mapping[str, str] = field(default_factory=dict)
    path: tuple[str, ...] = ()  # directories put before the PATH
    mounts: tuple[Mount, ...] = ()

    def env(self, base: Mapping[str, str]) -> dict[str, str]:
        env = {**base, **self.variables}
        env["PATH"] = os.pathsep.join([*self.path, base.get("PATH", os.defpath)])
        return env


class Checkout(Protocol):
    """The worktree being prepared (a ports.Workspace)."""

    @property
    def path(self) -> Path: ...

    def discard_untracked(self) -> None: ...


@dataclass(frozen=True)
class Layout:
    """Where one environment lives and how commands find it."""

    directory: Path  # the cache entry, mounted read-only (writable during set-up)
    location: Path  # what the evidence names
    variables: dict[str, str]
    path: tuple[str, ...]
    mounts: tuple[Mount, ...]  # besides the directory itself
    command: str  # the whole set-up line
    reusable: bool = True  # False: it lives in the worktree, so every task makes it again


class Environments:
    """The environments of one repository, under `root` (WORK_DIR/environments/owner/name)."""

    def __init__(
        self, root: Path, sandbox: Sandbox, network: bool = True, python: str = "", setup_command: str = ""
    ) -> None:
        self.root = root
        self.sandbox = sandbox
        self.network = network  # sandbox.setupNetwork
        self.python = python  # evaluation.python
        self.setup_command = setup_command  # evaluation.setupCommand

    def for_checkout(
        self, checkout: Checkout, home: Path, test_command: str, timeout_s: float
    ) -> Prepared | None:
        """The checkout's environment, before its baseline; None when it has nothing to install.

        What an install leaves in the worktree (build files, a new lock file) is removed: it would
        otherwise look like part of the model's change.
        """
        plan = detect_setup(checkout.path, self.setup_command, test_command)
        if plan is None:
            return None
        prepared = self.prepare(plan, checkout.path, home, timeout_s)
        if prepared.step.result is not None:
            checkout.discard_untracked()
        return prepared

    def prepare(self, plan: Plan, worktree: Path, home: Path, timeout_s: float) -> Prepared:
        """The environment for `plan`: from the cache when the manifests match, else made in the sandbox."""
        started = time.monotonic()
        layout = self._layout(plan, worktree)
        if isinstance(layout, str):
            step = SetupStep(plan.command, plan.note, self.root, False, 0.0, problem=layout)
            return Prepared(step)
        self.root.mkdir(parents=True, exist_ok=True)
        with _locked(_lock_file(layout.directory)):
            ready = layout.directory / READY
            reuse = ready.is_file() and layout.reusable
            result = None if reuse else self._make(layout, worktree, home, timeout_s)
            if result is None:
                os.utime(ready)  # the time of last use, for eviction
        problem = f"the set-up failed ({_status(result)})" if result and result.exit_code != 0 else ""
        variables = {**layout.variables, **OFFLINE.get(plan.kind, {})}
        step = SetupStep(layout.command, plan.note, layout.location, result is None,
                         time.monotonic() - started, result, problem)  # fmt: skip
        if result is not None and not problem:
            self.evict(keep=layout.directory)
        read_only = tuple(Mount(m.source, m.target) for m in layout.mounts)
        mounts = (Mount(layout.directory, layout.directory), *read_only)
        return Prepared(step, variables, layout.path, mounts)

    def _make(self, layout: Layout, worktree: Path, home: Path, timeout_s: float) -> CommandResult:
        _remove(layout.directory)  # what a failed or killed set-up left
        layout.directory.mkdir(parents=True)
        for mount in layout.mounts:
            mount.source.mkdir(parents=True, exist_ok=True)
        env = scrubbed_env(home, [n for n in REGISTRY_ENV if not URL_PASSWORD.search(os.environ.get(n, ""))])
        # The environment's directories join PATH inside the command: the sandbox works out (and caches)
        # what it shows from PATH, and they do not exist yet.
        line = layout.command
        if layout.path:
            line = f'PATH={shlex.quote(os.pathsep.join(layout.path))}:"$PATH"; export PATH; {line}'
        # Writable while it is made: the environment, and its parts mounted elsewhere (node_modules).
        mounts = [Mount(layout.directory, layout.directory, writable=True)]
        mounts += [Mount(m.source, m.target, layout.directory in m.source.parents) for m in layout.mounts]
        result = self.sandbox.run(line, worktree, home, {**env, **layout.variables}, timeout_s, mounts=mounts,
                                  network=self.network)  # fmt: skip
        if result.exit_code == 0:
            (layout.directory / READY).write_text(f"{layout.command}\n")
        else:
            log.warning(
                "the set-up `%s` failed (%s): %s", layout.command, _status(result), result.output[-2000:]
            )
        return result

    def key(self, plan: Plan, worktree: Path, interpreter: str = "") -> str:
        """The cache key: the layout, the command, the interpreter, the inputs' bytes (and the slot)."""
        digest = hashlib.sha256("\0".join([LAYOUT, plan.kind, plan.command, interpreter]).encode())
        if plan.per_slot:
            digest.update(f"\0slot\0{worktree}".encode())
        for name in plan.inputs:
            digest.update(f"\0{name}\0".encode())
            digest.update(_read(worktree / name))
        return digest.hexdigest()[:16]

    def _layout(self, plan: Plan, worktree: Path) -> Layout | str:
        """Where `plan`'s environment lives and how it is used; a string says why there can be none."""
        if plan.kind != "python":
            directory = self.root / f"{plan.kind}-{self.key(plan, worktree)}"
            return _shared_layout(plan, directory, worktree, self.sandbox.backend != "none")
        if self.sandbox.backend in CONTAINERS:  # the image's interpreter; the host's mean nothing there
            python, prefix, name = self.python or "python3", None, self.python or "python3"
        else:
            found = find_interpreter(plan.requires_python, self.python)
            if found is None:
                wanted = self.python or f"a Python interpreter for requires-python {plan.requires_python!r}"
                return f"{wanted} was not found on this host (set evaluation.python)"
            python, prefix, name = str(found.executable), found.prefix, found.name
        slot = re.sub(r"[^\w.-]", "_", worktree.name)
        directory = self.root / f"python-{slot}-{self.key(plan, worktree, name)}"
        venv = directory / "venv"
        mounts = () if prefix is None or _system(prefix) else (Mount(prefix, prefix),)
        variables = {"VIRTUAL_ENV": str(venv), "UV_PROJECT_ENVIRONMENT": str(venv), "UV_PYTHON": python,
                     "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_NO_INPUT": "1"}  # fmt: skip
        command = f"{shlex.quote(python)} -m venv {shlex.quote(str(venv))} && {plan.command}"
        return Layout(directory, venv, variables, (str(venv / "bin"),), mounts, command)

    def evict(self, keep: Path) -> list[Path]:
        """Remove environments unused for UNUSED_S beyond the newest KEEP of their kind (and slot)."""
        groups: dict[str, list[tuple[float, Path]]] = {}
        for ready in self.root.glob(f"*/{READY}"):
            group = ready.parent.name.rsplit("-", 1)[0]
            groups.setdefault(group, []).append((ready.stat().st_mtime, ready.parent))
        removed = []
        now = time.time()
        for entries in groups.values():
            for used, directory in sorted(entries, reverse=True)[KEEP:]:
                if directory != keep and now - used > UNUSED_S:
                    with _locked(_lock_file(directory), wait=False) as held:
                        if held:
                            _remove(directory)
                            removed.append(directory)
        return removed


def _shared_layout(plan: Plan, directory: Path, worktree: Path, mounts: bool) -> Layout:
    """node_modules and the module caches: one per hash for every slot of the repository."""
    if plan.kind == "node" and not mounts:  # backend none: node looks in the worktree, and there it is
        return Layout(directory, worktree / "node_modules", {}, (), (), plan.command, reusable=False)
    if plan.kind == "node":
        modules = directory / "node_modules"
        mount = Mount(modules, worktree / "node_modules")  # where node looks, from the cache
        return Layout(directory, modules, {}, (), (mount,), plan.command)
    if plan.kind == "go":
        cache = directory / "gomod"
        variables = {"GOMODCACHE": str(cache), "GOFLAGS": "-modcacherw"}  # so that eviction can remove it
        return Layout(directory, cache, variables, (), (), plan.command)
    if plan.kind == "rust":
        cache = directory / "cargo"
        return Layout(directory, cache, {"CARGO_HOME": str(cache)}, (), (), plan.command)
    variables = {"SETUP_ENV_DIR": str(directory)}  # a configured command installs what it wants there
    return Layout(directory, directory, variables, (str(directory / "bin"),), (), plan.command)


def _lock_file(directory: Path) -> Path:
    return directory.parent / f"{directory.name}.lock"


def _system(path: Path) -> bool:
    return any(path == Path(d) or Path(d) in path.parents for d in SYSTEM_DIRS)


def _status(result: CommandResult | None) -> str:
    if result is None:
        return "cached"
    return "timed out" if result.timed_out else f"exit {result.exit_code}"


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError:
        return b"(missing)"


@contextmanager
def _locked(path: Path, wait: bool = True) -> Iterator[bool]:
    """An exclusive lock on `path` between workers and processes; yields whether it was taken."""
    with path.open("a") as file:
        try:
            fcntl.flock(file, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(file, fcntl.LOCK_UN)


def _remove(path: Path) -> None:
    """Remove a directory whose subdirectories may be read-only (Go makes its module cache so)."""
    if not path.is_dir() or path.is_symlink():
        return
    for directory, _, _ in os.walk(path):  # files in a writable directory can be removed, read-only or not
        os.chmod(directory, stat.S_IRWXU)
    shutil.rmtree(path)
