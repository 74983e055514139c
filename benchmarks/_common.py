"""Shared set-up for the benchmarks: stand-ins, generated repositories, running the CLI, medians, tables."""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

# The benchmarks run as `python benchmarks/NAME.py` from the repository root and use the tests' stand-ins.
ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.conftest import ANTHROPIC_KEY, GITHUB_TOKEN, NAME, OWNER, Stage  # noqa: E402
from tests.helpers import clean_env, compile_package, run_cli  # noqa: E402
from tests.standins.anthropic_server import FakeAnthropic, Script, text_block, text_editor  # noqa: E402
from tests.standins.github_server import FakeGitHub  # noqa: E402

# The CLI runs as an installed copy would: from bytecode, not compiled again at every start.
compile_package()

__all__ = [
    "ANTHROPIC_KEY",
    "GITHUB_TOKEN",
    "NAME",
    "OWNER",
    "ROOT",
    "WORDS",
    "Figure",
    "Stage",
    "clean_env",
    "cli",
    "generate_repo",
    "median",
    "options",
    "report",
    "seed_issues",
    "stage",
    "timed",
]

T = TypeVar("T")
WORDS = [
    "user", "order", "item", "cache", "queue", "token", "price", "total", "count", "index", "value", "event",
    "state", "client", "server", "record", "result", "buffer", "config", "handler", "request", "response",
    "session", "account", "invoice", "payment", "report",
]  # fmt: skip


@dataclass(frozen=True)
class Figure:
    """One printed figure: a stable name (tests look for it), the value, its unit, the issue's target."""

    name: str
    value: float | int | str
    unit: str = ""
    target: str = ""


def options(description: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="a tiny version that runs in seconds (CI)")
    return parser.parse_args()


def report(title: str, figures: list[Figure], notes: Sequence[str] = ()) -> None:
    """Print the figures as an aligned table, then any notes."""
    width = max(len(f.name) for f in figures) + 2
    print(f"\n== {title}")
    print(f"{'figure':<{width}}{'value':>12}  {'unit':<8}target")
    for f in figures:
        value = f"{f.value:.3f}" if isinstance(f.value, float) else str(f.value)
        print(f"{f.name:<{width}}{value:>12}  {f.unit:<8}{f.target}")
    for note in notes:
        print(f"  note: {note}")
    one, five, _ = os.getloadavg()
    print(f"  machine: {os.cpu_count()} CPUs, load average {one:.2f} (1 min) {five:.2f} (5 min)")
    sys.stdout.flush()


def timed(func: Callable[[], T]) -> tuple[float, T]:
    start = time.perf_counter()
    result = func()
    return time.perf_counter() - start, result


def median(func: Callable[[], Any], repetitions: int) -> float:
    """Median wall time of `repetitions` calls of `func`."""
    return statistics.median(timed(func)[0] for _ in range(repetitions))


# -- stand-ins --------------------------------------------------------------------------------------------
@contextlib.contextmanager
def stage(generate: Callable[[Path], None] | None = None) -> Iterator[Stage]:
    """FakeGitHub serving OWNER/NAME (filled by `generate(bare_path)`, else a tiny repo), FakeAnthropic."""
    with (
        tempfile.TemporaryDirectory(prefix="autonomous-dev-bench-") as tmp,
        FakeGitHub(Path(tmp) / "github") as github,
        FakeAnthropic(api_keys={ANTHROPIC_KEY}) as claude,
    ):
        github.add_token(GITHUB_TOKEN, login="octobot", scopes="repo")
        bare = github.create_repo(OWNER, NAME)
        (generate or (lambda path: generate_repo(path, files=20, commits=3)))(bare)
        cwd = Path(tmp) / "cwd"
        cwd.mkdir()
        yield Stage(github, claude, Path(tmp) / "work", cwd)


def cli(
    stage: Stage, *args: str, timeout: float = 1800, **env: str
) -> tuple[float, subprocess.CompletedProcess[str]]:
    """Run `autonomous-dev ARGS` against the stand-ins at the default log level; (seconds, result)."""
    merged = stage.env(LOG_LEVEL="INFO", **env)
    seconds, result = timed(lambda: run_cli(list(args), cwd=stage.cwd, env=merged, timeout=timeout))
    if result.returncode != 0:
        raise SystemExit(
            f"autonomous-dev {' '.join(args)} exited {result.returncode}:\n{result.stderr[-3000:]}"
        )
    return seconds, result


def seed_issues(stage: Stage, count: int, tool_calls: int = 1) -> list[int]:
    """`count` labelled issues whose scripts make `tool_calls` tool calls (views, one new file), then stop."""
    numbers = []
    for index in range(count):
        number = stage.github.add_issue(
            OWNER, NAME, f"Add note {index}", f"Create notes/{index}.txt", labels=["autonomous-dev"]
        )
        views = [[text_editor("view", path="README.md")] for _ in range(tool_calls - 1)]
        create = [text_editor("create", path=f"notes/{index}.txt", file_text=f"note {index}\n")]
        steps: list[Any] = [*views, create, [text_block(f"Added notes/{index}.txt.")]]
        stage.claude.scripts.append(Script(steps, match=f'<issue number="{number}">'))
        numbers.append(number)
    return numbers


# -- generated repositories -------------------------------------------------------------------------------
def _source_file(rng: random.Random, index: int) -> bytes:
    lines = [f'"""Module {index}: {rng.choice(WORDS)} {rng.choice(WORDS)} helpers."""', ""]
    for _ in range(rng.randrange(3, 9)):
        name = f"{rng.choice(WORDS)}_{rng.choice(WORDS)}_{rng.randrange(1000)}"
        args = ", ".join(rng.sample(WORDS, rng.randrange(1, 4)))
        lines += [f"def {name}({args}):", f"    total = {rng.randrange(100)}"]
        lines += [
            f"    total += {rng.choice(WORDS)}  # {rng.choice(WORDS)}" for _ in range(rng.randrange(2, 8))
        ]
        lines += ["    return total", ""]
    return "\n".join(lines).encode()


def generate_repo(
    bare: Path,
    files: int,
    commits: int,
    blob_mb: int = 0,
    seed: int = 7,
    extra: dict[str, bytes] | None = None,
) -> None:
    """Fill the bare repository `bare` through `git fast-import`: `files` source files on `main`, history of
    `commits` commits that each change a few of them, plus `blob_mb` one-MB random (incompressible) blobs
    and the `extra` files (path -> bytes) in the first commit."""
    rng = random.Random(seed)
    paths = [f"src/pkg{i % 50}/module_{i}.py" for i in range(files)]
    stream = bytearray()

    def commit(number: int, changes: dict[str, bytes]) -> None:
        message = f"Commit {number}".encode()
        stamp = 1_700_000_000 + number * 60
        stream.extend(b"commit refs/heads/main\n")
        for role in (b"author", b"committer"):
            stream.extend(b"%s Seeder <seed@example.invalid> %d +0000\n" % (role, stamp))
        stream.extend(b"data %d\n%s\n" % (len(message), message))
        for path, data in changes.items():
            stream.extend(b"M 100644 inline %s\ndata %d\n%s\n" % (path.encode(), len(data), data))

    first = {path: _source_file(rng, i) for i, path in enumerate(paths)}
    first["README.md"] = b"# widgets\n\nA generated repository for the benchmarks.\n"
    first |= {f"assets/blob_{i:03d}.bin": rng.randbytes(1 << 20) for i in range(blob_mb)}
    first |= extra or {}
    commit(0, first)
    for number in range(1, commits):
        changed = rng.sample(paths, min(len(paths), rng.randrange(1, 5)))
        commit(number, {path: _source_file(rng, rng.randrange(10**6)) for path in changed})
    subprocess.run(
        ["git", f"--git-dir={bare}", "fast-import", "--quiet"],
        input=bytes(stream),
        check=True,
        env=clean_env({}),
    )
