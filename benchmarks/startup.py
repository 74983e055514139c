"""Start-up time: `autonomous-dev --help` and `autonomous-dev config` against `python -c pass`."""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
from pathlib import Path

from _common import ANTHROPIC_KEY, GITHUB_TOKEN, NAME, OWNER, Figure, clean_env, median, options, report

MINIMAL_ENV = {"GITHUB_TOKEN": GITHUB_TOKEN, "ANTHROPIC_API_KEY": ANTHROPIC_KEY, "REPO_OWNER": OWNER,
               "REPO_NAME": NAME}  # fmt: skip


def entry_point() -> list[str]:
    """The installed console script, as users run it; `python -m autonomous_dev` when there is none."""
    script = Path(sys.executable).parent / "autonomous-dev"
    return [str(script)] if script.exists() else [sys.executable, "-m", "autonomous_dev"]


def run(command: list[str], cwd: Path, env: dict[str, str]) -> None:
    subprocess.run(command, cwd=cwd, env=env, check=True, capture_output=True)


def slowest_imports(command: list[str], cwd: Path, env: dict[str, str], count: int) -> list[Figure]:
    """Packages that take longest to import (cumulative, from one `-X importtime` run): the package's
    outermost import, so a package imported by another is counted in both."""
    python = [sys.executable, "-X", "importtime", "-m", "autonomous_dev", *command[1:]]
    stderr = subprocess.run(python, cwd=cwd, env=env, check=True, capture_output=True, text=True).stderr
    found: dict[str, int] = {}
    for cumulative, name in re.findall(r"import time:\s+\d+ \|\s+(\d+) \| +(\S+)", stderr):
        top = name.split(".")[0]
        found[top] = max(found.get(top, 0), int(cumulative))
    ranked = sorted(found.items(), key=lambda item: -item[1])[:count]
    return [Figure(f"import_{name}", microseconds / 1e6, "s") for name, microseconds in ranked]


def main() -> None:
    args = options(__doc__ or "")
    reps = 3 if args.quick else 10
    cli = entry_point()
    with tempfile.TemporaryDirectory(prefix="bench-startup-") as tmp:
        cwd = Path(tmp)
        env = clean_env(MINIMAL_ENV | {"WORK_DIR": str(cwd / "work")})
        run([sys.executable, "-c", "pass"], cwd, env)  # warm the file cache for every measurement alike
        run([*cli, "--help"], cwd, env)
        python = median(lambda: run([sys.executable, "-c", "pass"], cwd, env), reps)
        helps = median(lambda: run([*cli, "--help"], cwd, env), reps)
        config = median(lambda: run([*cli, "config"], cwd, env), reps)
        imports = slowest_imports([*cli, "--help"], cwd, env, 4 if args.quick else 10)
    report(
        f"startup ({'quick: ' if args.quick else ''}medians of {reps}; {' '.join(cli[-1:])})",
        [
            Figure("python_c_pass_s", python, "s"),
            Figure("help_s", helps, "s"),
            Figure("config_s", config, "s"),
            Figure("help_minus_python_s", helps - python, "s", "<= 0.250"),
            Figure("config_minus_python_s", config - python, "s"),
        ],
        ["config runs with GITHUB_TOKEN, ANTHROPIC_API_KEY, REPO_OWNER, REPO_NAME and WORK_DIR only"],
    )
    report("slowest imports of `--help` (cumulative seconds, one -X importtime run)", imports)


if __name__ == "__main__":
    main()
