"""The search tool: a regular expression over the worktree's files, in linear time (RE2) and by a deadline."""

from __future__ import annotations

import fnmatch
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import re2

from autonomous_dev.errors import ToolError

SEARCH_NAME = "search"
MAX_FILE_BYTES = 512 * 1024
MAX_SEARCH_HITS = 100
SEARCH_TOOL: dict[str, object] = {
    "name": SEARCH_NAME,
    "description": (
        "Search the repository's files for a regular expression (RE2 syntax: like Python's, without "
        "backreferences or lookaround). Returns matching lines as path:line: text. Use it to find where "
        "something is defined or used before editing."
    ),
    "input_schema": {
        "type": "object",
        "properties": {
            "pattern": {"type": "string", "minLength": 1, "description": "Regular expression to look for."},
            "path": {"type": "string", "description": "Directory or file to search, relative; default: all."},
            "glob": {
                "type": "string",
                "maxLength": 200,  # fnmatch's translation grows with each `*`
                "description": "Only files whose name matches, e.g. *.py.",
            },
        },
        "required": ["pattern"],
    },
}

Display = Callable[[Path], str]


def compile_pattern(pattern: str) -> re2._Regexp:
    """RE2 matches in time linear in the text, so no pattern can hold a worker (Python's `re` can)."""
    options = re2.Options()
    options.log_errors = False  # the model hears about a bad pattern; stderr need not
    try:
        return re2.compile(pattern, options=options)
    except re2.error as exc:
        detail = (
            exc.args[0].decode("utf-8", "replace") if exc.args and isinstance(exc.args[0], bytes) else exc
        )
        raise ToolError(
            f"invalid regular expression: {detail}. Search patterns use RE2 syntax, which runs in linear "
            "time: no backreferences (\\1) and no lookaround ((?=...), (?<=...)); search for a simpler "
            "pattern and narrow the results with `path` or `glob`"
        ) from None


def search(base: Path, pattern: str, glob: str | None, display: Display, deadline: float) -> str:
    """Matching lines under `base` (a checked path), at most MAX_SEARCH_HITS, stopping at `deadline`."""
    regex = compile_pattern(pattern)
    hits: list[str] = []
    for path in _files(base):
        if time.monotonic() > deadline:
            hits.append("... stopped: the task's time budget ran out; narrow the search")
            break
        if glob and not fnmatch.fnmatch(path.name, glob):
            continue
        hits.extend(_matches(path, regex, display))
        if len(hits) >= MAX_SEARCH_HITS:
            hits = [*hits[:MAX_SEARCH_HITS], f"... stopped at {MAX_SEARCH_HITS} matches; narrow the search"]
            break
    return "\n".join(hits) or "No matches."


def _files(base: Path) -> Iterator[Path]:
    if base.is_file():
        yield base
        return
    for directory, subdirs, files in os.walk(base):
        subdirs[:] = sorted(
            d for d in subdirs if d != ".git" and not os.path.islink(os.path.join(directory, d))
        )
        for name in sorted(files):
            path = Path(directory, name)
            if not name.startswith(".env") and path.is_file() and not path.is_symlink():
                yield path


def _matches(path: Path, regex: re2._Regexp, display: Display) -> Iterator[str]:
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            return
        text = path.read_text(encoding="utf-8")
    except (UnicodeDecodeError, OSError):
        return
    for number, line in enumerate(text.split("\n"), start=1):
        if regex.search(line):
            yield f"{display(path)}:{number}: {line[:300]}"
