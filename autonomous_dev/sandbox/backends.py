"""Runs repository code in a sandbox: bubblewrap, a docker/podman container, or (explicitly) none."""

from __future__ import annotations

import functools
import logging
import os
import re
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from autonomous_dev.errors import ConfigError
from autonomous_dev.sandbox.procs import CommandResult, run_command
from autonomous_dev.settings.services import SandboxSettings

log = logging.getLogger(__name__)

# Shown read-only; everything else of the host (HOME, WORK_DIR, /tmp, /run, /var, /srv, /mnt) is absent.
SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc", "/opt", "/nix")
# World-readable /etc is system configuration, but these hold secrets that a sandbox run as root could read.
ETC_SECRETS = ("/etc/shadow", "/etc/shadow-", "/etc/gshadow", "/etc/gshadow-", "/etc/ssh", "/etc/ssl/private",
               "/etc/autonomous-dev", "/etc/credstore", "/etc/credstore.encrypted")  # fmt: skip
CONTAINERS = ("docker", "podman")
CONTAINER_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"  # the images' usual PATH
MEMORY_SIGNS = re.compile(r"MemoryError|Cannot allocate memory|std::bad_alloc|out of memory|ENOMEM", re.I)
PROCESS_SIGNS = re.compile(
    r"Resource temporarily unavailable|\[Errno 11\]|EAGAIN|can(no|')t fork|fork: retry|pthread_create", re.I
)
INSTALL_HINT = (
    "install bubblewrap (Debian/Ubuntu: apt-get install bubblewrap; Fedora: dnf install bubblewrap), or set "
    "sandbox.backend (SANDBOX_BACKEND) to docker or podman with sandbox.image, or to none to run repository "
    "code unsandboxed (see docs/security.md)"
)


@dataclass(frozen=True)
class Limits:
    memory_mb: int = 0  # 0: no limit
    max_processes: int = 0


@dataclass(frozen=True)
class Mount:
    """A host directory shown at `target` inside the sandbox (a prepared environment, node_modules)."""

    source: Path
    target: Path
    writable: bool = False


# Where systemd-resolved keeps the resolv.conf that /etc/resolv.conf links to: needed only with the network.
RESOLVER_DIRS = ("/run/systemd/resolve", "/run/resolvconf")


@dataclass(frozen=True)
class Extras:
    """What one command gets beyond the sandbox's defaults."""

    mounts: tuple[Mount, ...] = ()
    network: bool = False


@dataclass(frozen=True)
class Sandbox:
    """How to run a repository command: the backend, its program, limits, and the host paths kept out."""

    backend: str  # bwrap, docker, podman or none
    program: str = ""  # bwrap, docker or podman's path
    limits: Limits = field(default_factory=Limits)
    hidden: tuple[Path, ...] = ()  # host paths never shown (WORK_DIR, HOME, the daemon's cwd)
    read_only: tuple[Path, ...] = ()  # more host paths shown read-only
    image: str = ""
    prlimit: str = "prlimit"

    def run(
        self,
        command: str | Sequence[str],
        cwd: Path,
        home: Path,
        env: Mapping[str, str],
        timeout_s: float,
        max_output_bytes: int = 200_000,
        mounts: Sequence[Mount] = (),
        network: bool = False,
    ) -> CommandResult:
        """Run `command` in the worktree `cwd` with the private HOME `home`; says which limit it hit.

        `network` is for the set-up step only (installing dependencies); every other command runs without.
        """
        name = f"autonomous-dev-{uuid.uuid4().hex[:12]}"
        extra = Extras(tuple(mounts), network)
        result = run_command(command, cwd, env, timeout_s, max_output_bytes,
                             wrap=lambda argv: self.wrap(argv, cwd, home, env, name, extra))  # fmt: skip
        if self.backend in CONTAINERS:  # a killed client leaves its container running
            subprocess.run([self.program, "rm", "-f", name], capture_output=True, check=False, timeout=60)
        return replace(result, limit=self.limit_hit(result, timeout_s, max_output_bytes))

    def wrap(
        self,
        argv: list[str],
        cwd: Path,
        home: Path,
        env: Mapping[str, str],
        name: str = "",
        extra: Extras | None = None,
    ) -> list[str]:
        """The argv that runs `argv` inside this sandbox."""
        extra = extra or Extras()
        if self.backend == "none":
            return argv
        if self.backend in CONTAINERS:
            name = name or f"autonomous-dev-{uuid.uuid4().hex[:12]}"
            return self._container(argv, cwd, home, env, name, extra)
        return [*self._bwrap(cwd, home, env.get("PATH", ""), extra), "--", *self._limited(argv)]

    def limit_hit(self, result: CommandResult, timeout_s: float, max_output_bytes: int) -> str:
        """Which limit the command ran into, in words for the model and the evidence ("" for none)."""
        hits = []
        if result.timed_out:
            hits.append(f"time limit of {timeout_s:g} s reached: the process tree was killed")
        if result.truncated:
            hits.append(f"output limit of {max_output_bytes} bytes reached: the middle is left out")
        failed = result.exit_code not in (0, None)
        if failed and self.limits.memory_mb and MEMORY_SIGNS.search(result.output):
            hits.append(f"memory limit of {self.limits.memory_mb} MB (sandbox.memoryMb) probably reached")
        if failed and self.limits.max_processes and PROCESS_SIGNS.search(result.output):
            hits.append(
                f"process limit of {self.limits.max_processes} (sandbox.maxProcesses) probably reached"
            )
        return "; ".join(hits)

    def _limited(self, argv: list[str]) -> list[str]:
        limits = self.limits
        options = [f"--data={limits.memory_mb * 1024 * 1024}"] if limits.memory_mb else []
        options += [f"--nproc={limits.max_processes}"] if limits.max_processes else []
        return [self.prlimit, *options, "--", *argv] if options else argv

    def _bwrap(self, cwd: Path, home: Path, path_variable: str, extra: Extras) -> list[str]:
        """bubblewrap's options: system read-only, no network, own pids; writable: worktree and HOME."""
        args = [self.program, *_system_view(self.read_only, self.hidden, path_variable)]
        if extra.network:  # the set-up step: the host's network and the resolver configuration it needs
            args.append("--share-net")
            for resolver in (Path(d) for d in RESOLVER_DIRS if os.path.isdir(d)):
                args += _show(resolver)
        args += ["--bind", str(home), str(home), "--bind", str(cwd), str(cwd)]
        for mount in extra.mounts:  # after the worktree: node_modules is mounted inside it
            args += ["--bind" if mount.writable else "--ro-bind", str(mount.source), str(mount.target)]
        git = cwd / ".git"
        if os.path.lexists(git):  # the pointer to the mirror: changed, host git would obey another config
            args += ["--ro-bind", str(git), str(git)]
        return [*args, "--remount-ro", "/", "--chdir", str(cwd)]

    def _container(
        self, argv: list[str], cwd: Path, home: Path, env: Mapping[str, str], name: str, extra: Extras
    ) -> list[str]:
        network = "bridge" if extra.network else "none"
        args = [self.program, "run", "--rm", "--name", name, "--network", network, "--init",
                "--user", f"{os.getuid()}:{os.getgid()}", "--cap-drop", "ALL",
                "--security-opt", "no-new-privileges", "--read-only", "--tmpfs", "/tmp",  # noqa: S108  # nosec B108 - inside the container
                "-v", f"{cwd}:{cwd}", "-v", f"{home}:{home}", "-w", str(cwd)]  # fmt: skip
        for mount in extra.mounts:
            args += ["-v", f"{mount.source}:{mount.target}" + ("" if mount.writable else ":ro")]
        if (cwd / ".git").exists():
            args += ["-v", f"{cwd / '.git'}:{cwd / '.git'}:ro"]
        if self.limits.memory_mb:
            args += ["--memory", f"{self.limits.memory_mb}m"]
        if self.limits.max_processes:
            args += ["--pids-limit", str(self.limits.max_processes)]
        # Values come from the client's (scrubbed) environment; PATH is the image's own, after the
        # directories of a prepared environment (a virtualenv's bin) mounted into the container.
        args += [f"--env={key}" for key in sorted(env) if key != "PATH"]
        targets = [mount.target for mount in extra.mounts]
        prefix = [p for p in env.get("PATH", "").split(os.pathsep) if p and _inside_any(Path(p), targets)]
        if prefix:
            args += [f"--env=PATH={os.pathsep.join([*prefix, CONTAINER_PATH])}"]
        return [*args, self.image, *argv]


@functools.lru_cache(maxsize=64)
def _system_view(
    read_only: tuple[Path, ...], hidden: tuple[Path, ...], path_variable: str
) -> tuple[str, ...]:
    """The sandbox's read-only view of the host, the same for every command with this PATH (cached: it
    looks at the file system, and took 4 ms a command)."""
    args = ["--unshare-all", "--die-with-parent", "--new-session"]
    # Private /tmp first: a path shown read-only below may lie under it.
    args += ["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp", "--tmpfs", "/var/tmp"]  # noqa: S108  # nosec B108 - inside the sandbox
    shown = _shown_paths((*read_only, *toolchain_dirs(path_variable)), hidden)
    for path in shown:
        args += _show(path)
    masked = [h for h in hidden if h.exists() and _inside_any(h, shown) and not _holds_system_dir(h)]
    masked += [Path(p) for p in ETC_SECRETS if os.path.lexists(p)]
    for path in masked:
        args += ["--ro-bind", "/dev/null", str(path)] if path.is_file() else ["--tmpfs", str(path)]
    for path in shown:  # a toolchain inside a masked directory (e.g. ~/.pyenv) is shown again
        if any(_strictly_inside(path, hidden) for hidden in masked):
            args += _show(path)
    return tuple(args)


def toolchain_dirs(path_variable: str) -> list[Path]:
    """The directories a command's PATH needs: each entry, a virtualenv's root and its interpreter, a
    version manager's root for its shims (pyenv, rbenv, asdf)."""
    found: list[Path] = []
    for entry in path_variable.split(os.pathsep):
        path = Path(entry)
        if not path.is_absolute() or not path.is_dir():
            continue
        if path.name == "shims":
            found.append(path.parent)
        elif (path.parent / "pyvenv.cfg").is_file():
            found += [path.parent, *_venv_home(path.parent / "pyvenv.cfg")]
        else:
            found.append(path)
    return found


def _venv_home(config: Path) -> list[Path]:
    for line in config.read_text(errors="replace").splitlines():
        key, _, value = line.partition("=")
        if key.strip() == "home" and value.strip():
            return [Path(value.strip()).parent]
    return []


def _shown_paths(extra: Iterable[Path], hidden: Sequence[Path]) -> list[Path]:
    """System directories and extra paths that exist, outer before inner, each once."""
    paths = [Path(p) for p in SYSTEM_DIRS if os.path.lexists(p)]
    for path in extra:
        if path.exists() and path != Path("/") and not any(_inside(path, Path(s)) for s in SYSTEM_DIRS):
            paths.append(path)
    return sorted(dict.fromkeys(paths), key=lambda p: len(p.parts))


def _show(path: Path) -> list[str]:
    if path.is_symlink() and str(path) in SYSTEM_DIRS:  # /bin -> usr/bin on merged-/usr systems
        return ["--symlink", os.readlink(path), str(path)]
    return ["--ro-bind", str(path), str(path)]


def _inside(path: Path, parent: Path) -> bool:
    return path == parent or parent in path.parents


def _strictly_inside(path: Path, parent: Path) -> bool:
    return parent in path.parents


def _inside_any(path: Path, parents: Iterable[Path]) -> bool:
    return any(_inside(path, parent) for parent in parents)


def _holds_system_dir(path: Path) -> bool:
    """`/`, or a directory holding a system directory: masking it would hide the system itself."""
    return any(_inside(Path(system), path) for system in SYSTEM_DIRS)


def find_bwrap() -> str | None:
    if not sys.platform.startswith("linux"):
        return None
    return "/usr/bin/bwrap" if os.access("/usr/bin/bwrap", os.X_OK) else shutil.which("bwrap")


def sandbox_from_settings(settings: SandboxSettings, hidden: Iterable[Path] = ()) -> Sandbox:
    """The configured sandbox; raises ConfigError when its program is missing (never falls back to none)."""
    backend = settings.backend
    limits = Limits(settings.memory_mb, settings.max_processes)
    common = {
        "limits": limits,
        "hidden": tuple(dict.fromkeys(Path(p).expanduser().absolute() for p in hidden)),
        "read_only": tuple(Path(p).expanduser().absolute() for p in settings.read_only_paths),
    }
    if backend == "none":
        return Sandbox("none")
    if backend in CONTAINERS:
        program = shutil.which(backend)
        if program is None:
            raise ConfigError(f"sandbox.backend is {backend} but `{backend}` is not on PATH", INSTALL_HINT)
        if not settings.image:
            raise ConfigError(f"sandbox.backend is {backend} but sandbox.image is not set",
                              "name an image holding the project's toolchain (SANDBOX_IMAGE)")  # fmt: skip
        return Sandbox(backend, program, image=settings.image, **common)  # type: ignore[arg-type]
    program = find_bwrap()
    if program is None:
        which = "auto found no sandbox" if backend == "auto" else "bwrap, which is not installed"
        raise ConfigError(f"refusing to run repository code unsandboxed: sandbox.backend is {which}",
                          INSTALL_HINT)  # fmt: skip
    prlimit = "prlimit"
    if limits.memory_mb or limits.max_processes:
        prlimit = shutil.which("prlimit", path="/usr/bin:/bin") or ""
        if not prlimit:
            hint = "install util-linux, or set sandbox.memoryMb and sandbox.maxProcesses to 0"
            raise ConfigError("sandbox limits need prlimit (util-linux), which is not installed", hint)
    return Sandbox("bwrap", program, prlimit=prlimit, **common)  # type: ignore[arg-type]


def daemon_paths(work_dir: Path, *files: Path | None) -> list[Path]:
    """What a sandbox must not show of the daemon: WORK_DIR, HOME, its working directory, its own files."""
    return [work_dir, Path.home(), Path.cwd(), *(path for path in files if path is not None)]


def refuse_unsandboxed(settings: SandboxSettings, daemon: bool) -> None:
    """`none` is said out loud at start-up; the daemon starts with it only when allowUnsandboxed is set."""
    if settings.backend != "none":
        return
    if daemon and not settings.allow_unsandboxed:
        raise ConfigError(
            "refusing to start the daemon with sandbox.backend = none: repository code would run unsandboxed",
            "install bubblewrap and remove the setting, or set sandbox.allowUnsandboxed "
            "(SANDBOX_ALLOW_UNSANDBOXED=true) if you accept the risks in docs/security.md",
        )
    log.warning("sandbox.backend is none: build and test commands run unsandboxed, with the daemon's "
                "access to files and the network (see docs/security.md)")  # fmt: skip
