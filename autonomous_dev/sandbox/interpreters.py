"""Finds the host's Python interpreter for a project's virtualenv: the configured one, or one that fits the
project's `requires-python` (`python3` when it fits, else the newest that does)."""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

# Prints what a virtualenv needs to know of an interpreter; sys.executable resolves pyenv's shims.
PROBE = "import sys; print(*sys.version_info[:3], sys.executable, sys.base_prefix, sep='\\n')"
MINORS = range(20, 7, -1)  # python3.20 ... python3.8, newest first
CLAUSE = re.compile(r"^\s*(~=|==|!=|<=|>=|<|>|===)?\s*([0-9][0-9.]*)(\.\*)?\s*$")


@dataclass(frozen=True)
class Interpreter:
    executable: Path  # the real interpreter, not a shim
    version: tuple[int, int, int]
    prefix: Path  # its installation (sys.base_prefix): shown read-only in the sandbox

    @property
    def name(self) -> str:
        return f"Python {'.'.join(map(str, self.version))} ({self.executable})"


def find_interpreter(requires: str = "", configured: str = "") -> Interpreter | None:
    """The configured interpreter, else `python3` when it fits `requires`, else the newest that fits."""
    if configured:
        return probe(configured)
    default = probe("python3")
    if default is not None and fits(default.version, requires):
        return default
    found = [i for i in (probe(name) for name in _candidates()) if i and fits(i.version, requires)]
    return max(found, key=lambda interpreter: interpreter.version, default=None)


def _candidates() -> list[str]:
    """python3.X on PATH, and the versions pyenv installed (its shims offer only the selected ones)."""
    names = [f"python3.{minor}" for minor in MINORS]
    root = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv")
    names += sorted(str(path) for path in root.glob("versions/*/bin/python3"))
    return names


@functools.lru_cache(maxsize=64)
def probe(name: str) -> Interpreter | None:
    """What the interpreter `name` (on PATH, or a path) is; None when it is missing or does not run."""
    program = shutil.which(name)
    if program is None:
        return None
    try:
        done = subprocess.run(
            [program, "-I", "-c", PROBE], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    lines = done.stdout.splitlines()
    if done.returncode != 0 or len(lines) != 5 or not all(part.isdigit() for part in lines[:3]):
        return None
    major, minor, micro = (int(part) for part in lines[:3])
    return Interpreter(Path(lines[3]), (major, minor, micro), Path(lines[4]))


def fits(version: tuple[int, int, int], requires: str) -> bool:
    """Whether `version` satisfies a `requires-python` specifier such as `>=3.9,<4` or `~=3.10`; a clause
    that cannot be read is ignored (the install then says what is wrong)."""
    return all(_clause(version, clause) for clause in requires.split(",") if clause.strip())


def _clause(version: tuple[int, int, int], clause: str) -> bool:
    match = CLAUSE.match(clause)
    if match is None:
        return True
    operator, number, wildcard = match.group(1) or "==", match.group(2), match.group(3)
    wanted = tuple(int(part) for part in number.split(".") if part)
    if wildcard or operator in ("==", "!=", "==="):  # ==3.11 and ==3.11.* alike: the interpreter's series
        same = version[: len(wanted)] == wanted
        return same if operator != "!=" else not same
    padded = (*wanted, 0, 0, 0)[:3]
    if operator == "~=":  # ~=3.10 means >=3.10, ==3.*
        return version >= padded and version[: len(wanted) - 1] == wanted[:-1]
    return {">=": version >= padded, ">": version > padded, "<=": version <= padded, "<": version < padded}[
        operator
    ]
