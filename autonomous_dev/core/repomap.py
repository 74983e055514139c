"""A compact, size-bounded map of a repository's files and their top-level definitions for the model."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sqlite3
import stat
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path
from types import TracebackType

from autonomous_dev.core.symbols import extractor_id, top_level_symbols
from autonomous_dev.disk import disk_full, is_disk_full

log = logging.getLogger(__name__)

DEFAULT_EXCLUDES: tuple[str, ...] = (
    ".git",
    ".hg",
    ".svn",
    "node_modules",
    "dist",
    "build",
    ".venv",
    "venv",
    "__pycache__",
    "vendor",
    "target",
    ".tox",
    ".mypy_cache",
    ".pytest_cache",
    ".ruff_cache",
    "*.pyc",
    "*.min.js",
    "*.min.css",
    "*.map",
    "*.lock",
    "package-lock.json",
)
MAX_FILE_BYTES = 1024 * 1024
BINARY_SNIFF_BYTES = 8192


def list_files(root: Path, exclude: Sequence[str] = ()) -> list[str]:
    """Repository-relative POSIX paths of the regular text files under root, sorted.

    Patterns (DEFAULT_EXCLUDES plus `exclude`) are fnmatch globs tried against the whole relative path
    and against each of its components. Symlinked directories are never entered; a symlinked file is
    listed only when its target is a regular file inside root. Files over MAX_FILE_BYTES and files with
    a NUL byte in their first BINARY_SNIFF_BYTES are left out.
    """
    base = root.resolve()
    patterns = DEFAULT_EXCLUDES + _clean_patterns(exclude)
    found: list[str] = []
    for dirpath, dirnames, filenames in os.walk(base):
        here = Path(dirpath)
        prefix = here.relative_to(base).as_posix()
        prefix = "" if prefix == "." else prefix + "/"
        dirnames[:] = [
            name
            for name in dirnames
            if not (here / name).is_symlink() and not _is_excluded(prefix + name, patterns)
        ]
        found.extend(
            prefix + name
            for name in filenames
            if not _is_excluded(prefix + name, patterns) and _is_text_file(base, here / name)
        )
    return sorted(found)


def _clean_patterns(exclude: Sequence[str]) -> tuple[str, ...]:
    cleaned = (pattern.strip().removeprefix("./").strip("/") for pattern in exclude)
    return tuple(pattern for pattern in cleaned if pattern)


def _is_excluded(relative: str, patterns: Sequence[str]) -> bool:
    parts = relative.split("/")
    return any(
        fnmatchcase(relative, pattern) or any(fnmatchcase(part, pattern) for part in parts)
        for pattern in patterns
    )


def _is_text_file(base: Path, path: Path) -> bool:
    try:
        target = path.resolve(strict=True) if path.is_symlink() else path
        if not target.is_relative_to(base):
            return False
        info = target.stat()
        if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_FILE_BYTES:
            return False
        with target.open("rb") as handle:
            return b"\0" not in handle.read(BINARY_SNIFF_BYTES)
    except (OSError, RuntimeError):  # RuntimeError: a symlink loop on Python 3.11 and 3.12
        return False


SymbolKey = tuple[str, str]  # (git blob sha, extractor id)
_SCHEMA = """CREATE TABLE IF NOT EXISTS symbols (
    blob TEXT NOT NULL,
    extractor TEXT NOT NULL,
    symbols TEXT NOT NULL,
    PRIMARY KEY (blob, extractor)
) WITHOUT ROWID"""


def blob_shas(root: Path, exclude: Sequence[str] = ()) -> dict[str, str]:
    """Git blob shas of the files `list_files` lists, hashed from the bytes under root without git.

    A blob sha is the SHA-1 of `blob {size}\\0` and the content: for a clean checkout without eol
    conversion or clean/smudge filters these equal `git ls-files -s`, and for edited, untracked or
    symlinked files they still name exactly the bytes that are parsed.
    """
    base = root.resolve()
    shas: dict[str, str] = {}
    for path in list_files(base, exclude):
        try:
            data = (base / path).read_bytes()
        except OSError:
            continue
        shas[path] = hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()
    return shas


class SymbolCache:
    """Symbols per (blob sha, extractor id) in one SQLite file, so unchanged files are parsed once.

    Open one per process and close it; its methods may be called from several threads at once. WAL lets
    other processes read while one writes, and writers wait up to `timeout` seconds for each other.
    `hits` and `misses` count the keys looked up since it was opened.
    """

    def __init__(self, path: Path, timeout: float = 30.0) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.hits = 0
        self.misses = 0
        self._lock = threading.Lock()
        self._full = False  # the last write found the disk full (said once, until a write succeeds again)
        try:
            self._db = sqlite3.connect(path, timeout=timeout, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")  # a lost write is only a parse to redo
            self._db.execute(_SCHEMA)
        except sqlite3.Error as exc:
            if is_disk_full(exc):
                raise disk_full("the symbol cache", path.parent) from None
            raise

    def lookup(self, keys: Iterable[SymbolKey]) -> dict[SymbolKey, list[str]]:
        """The stored symbols of the keys that have them; counts a hit or a miss for each key."""
        found: dict[SymbolKey, list[str]] = {}
        with self._lock:
            for key in keys:
                row = self._db.execute(
                    "SELECT symbols FROM symbols WHERE blob = ? AND extractor = ?", key
                ).fetchone()
                if row is None:
                    self.misses += 1
                else:
                    self.hits += 1
                    found[key] = json.loads(row[0])
        return found

    def store(self, entries: Mapping[SymbolKey, Sequence[str]]) -> None:
        """Record the symbols of these keys, in one transaction."""
        rows = [
            (blob, extractor, json.dumps(list(symbols))) for (blob, extractor), symbols in entries.items()
        ]
        with self._lock:
            try:
                with self._db:
                    self._db.executemany("INSERT OR REPLACE INTO symbols VALUES (?, ?, ?)", rows)
            except sqlite3.Error as exc:
                if not is_disk_full(exc):
                    raise
                if not self._full:  # a cache: the files are parsed again next time, the task goes on
                    log.warning("the symbol cache %s is not updated: %s", self.path, exc)
                self._full = True
                return
            self._full = False

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> SymbolCache:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()


@dataclass(frozen=True)
class _Entry:
    path: str
    symbols: tuple[str, ...]

    @property
    def symbol_chars(self) -> int:
        return sum(len(symbol) + 3 for symbol in self.symbols)  # "\n  " before each


def repo_map(
    root: Path,
    exclude: Sequence[str] = (),
    max_chars: int = 12_000,
    *,
    blobs: Mapping[str, str] | None = None,
    cache: SymbolCache | None = None,
) -> str:
    """One line per file with its symbols indented below, never longer than max_chars.

    When the full map is too long, symbols are dropped file by file, the file with the most symbol text
    first, until it fits; if paths alone are still too long, the list is cut and ends with a line
    `... (N more files)`. Returns "" when not even that line fits.

    With `blobs` (relative path -> git blob sha, as `git ls-files -s`, `git ls-tree -r HEAD` or
    `blob_shas` give; they must describe the files as they are under root) and a `cache`, the symbols of
    a listed file come from the cache when its blob is known there, and are parsed and stored otherwise.
    Files missing from `blobs` (untracked ones) are parsed and not stored.
    """
    paths = list_files(root, exclude)
    symbols = _all_symbols(root, paths, blobs or {}, cache)
    return _fit([_Entry(path, tuple(symbols[path])) for path in paths], max_chars)


def _all_symbols(
    root: Path, paths: Sequence[str], blobs: Mapping[str, str], cache: SymbolCache | None
) -> dict[str, list[str]]:
    keys = _keys(paths, blobs) if cache is not None else {}
    found = cache.lookup(keys.values()) if cache is not None else {}
    fresh: dict[SymbolKey, list[str]] = {}
    symbols: dict[str, list[str]] = {}
    for path in paths:
        key = keys.get(path)
        if key is not None and key in found:  # also a copy of a file parsed a moment ago
            symbols[path] = found[key]
            continue
        parsed = _parse(root, path)
        symbols[path] = parsed or []
        if key is not None and parsed is not None:
            found[key] = fresh[key] = parsed
    if cache is not None and fresh:
        cache.store(fresh)
    return symbols


def _keys(paths: Sequence[str], blobs: Mapping[str, str]) -> dict[str, SymbolKey]:
    """Cache keys of the tracked files whose language has an extractor (the others have no symbols)."""
    keys: dict[str, SymbolKey] = {}
    for path in paths:
        extractor = extractor_id(path)
        if extractor is not None and path in blobs:
            keys[path] = (blobs[path], extractor)
    return keys


def _parse(root: Path, path: str) -> list[str] | None:
    """The file's symbols: [] in a language without an extractor, None when the file cannot be read."""
    if extractor_id(path) is None:
        return []
    try:
        text = (root / path).read_bytes().decode("utf-8", errors="replace")
    except OSError:
        return None
    return top_level_symbols(path, text)


def _fit(entries: Sequence[_Entry], max_chars: int) -> str:
    if not entries or max_chars <= 0:
        return ""
    keep = [True] * len(entries)
    total = sum(len(entry.path) + 1 + entry.symbol_chars for entry in entries) - 1
    by_size = sorted(range(len(entries)), key=lambda index: (-entries[index].symbol_chars, index))
    for index in by_size:
        if total <= max_chars:
            break
        keep[index] = False
        total -= entries[index].symbol_chars
    if total <= max_chars:
        return "\n".join(_render(entry, kept) for entry, kept in zip(entries, keep, strict=True))
    return _cut([entry.path for entry in entries], max_chars)


def _render(entry: _Entry, with_symbols: bool) -> str:
    if not with_symbols:
        return entry.path
    return "\n".join([entry.path, *(f"  {symbol}" for symbol in entry.symbols)])


def _cut(paths: Sequence[str], max_chars: int) -> str:
    """As many leading paths as fit together with the `... (N more files)` line (at least one is cut)."""
    fitting: int | None = None
    used = 0
    for count in range(len(paths)):
        if used + len(_more(len(paths) - count)) <= max_chars:
            fitting = count
        used += len(paths[count]) + 1
    if fitting is None:
        return ""
    return "\n".join([*paths[:fitting], _more(len(paths) - fitting)])


def _more(count: int) -> str:
    return f"... ({count} more files)"
