"""Corpora for the redactor benchmark: secrets by category in many syntaxes, real Python and JavaScript."""

from __future__ import annotations

import random
import sysconfig
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from detect_secrets.core.scan import scan_file
from detect_secrets.settings import default_settings

from autonomous_dev.security.redact import Redactor
from tests.secret_categories import SYNTAXES

BLOCK = 64 * 1024
# Where a JavaScript corpus may be found: npm's own node_modules ships with Node; REDACTOR_JS_CORPUS wins.
JS_ROOTS = ("/usr/lib/node_modules", "/usr/local/lib/node_modules", "/usr/share/nodejs")


@dataclass
class Planted:
    category: str  # a family (mixed corpus) or a category of issue 15 (dense corpus)
    secret: str
    block: int
    lines: range  # global line numbers (from 1) the secret is on
    syntax: str = ""


@dataclass
class Corpus:
    """Text cut into 64 KiB blocks (what one `redact` call gets) and the secrets planted in it."""

    blocks: list[str] = field(default_factory=list)
    planted: list[Planted] = field(default_factory=list)
    line: int = 1  # the global number of the next segment's first line
    _parts: list[str] = field(default_factory=list, repr=False)
    _pending: int = 0  # bytes (about) in _parts

    @property
    def size(self) -> int:
        return sum(len(block.encode()) for block in self.blocks)

    def add(self, segment: str) -> None:
        """Append a segment as its own lines; a block is cut once it reaches BLOCK bytes."""
        self._parts.append(segment)
        self.line += segment.count("\n") + 1
        self._pending += len(segment) + 1
        if self._pending >= BLOCK:
            self.cut()

    def cut(self) -> None:
        """Close the block being filled (if it holds anything)."""
        if self._parts:
            self.blocks.append("\n".join(self._parts) + "\n")
            self._parts, self._pending = [], 0


def dense_corpus(per_category: int, clean: Callable[[random.Random], str], seed: int = 7) -> Corpus:
    """Credential-dense text: `per_category` secrets of each category, its syntaxes in turn, each
    between two clean lines."""
    rng = random.Random(seed)
    out = Corpus()
    for category, syntaxes in SYNTAXES.items():
        labels = sorted(syntaxes)
        for index in range(per_category):
            label = labels[index % len(labels)]
            text, secret = syntaxes[label](rng)
            segment = f"{clean(rng)}\n{text.rstrip(chr(10))}\n{clean(rng)}"
            first = out.line + 1 + text.count("\n", 0, text.find(secret))
            lines = range(first, first + secret.count("\n") + 1)
            out.planted.append(Planted(category, secret, len(out.blocks), lines, label))
            out.add(segment)
    out.cut()
    return out


def recall_by_category(found: list[bool], data: Corpus) -> dict[str, float]:
    totals: dict[str, list[bool]] = {}
    for ok, sample in zip(found, data.planted, strict=True):
        totals.setdefault(sample.category, []).append(ok)
    return {category: sum(hits) / len(hits) for category, hits in totals.items()}


def misses(found: list[bool], data: Corpus) -> dict[str, int]:
    """Missed samples per category/syntax, for finding what to fix."""
    counts: dict[str, int] = {}
    for ok, sample in zip(found, data.planted, strict=True):
        if not ok:
            key = f"{sample.category}:{sample.syntax}"
            counts[key] = counts.get(key, 0) + 1
    return counts


def detect_secrets_lines(text: str) -> set[int]:
    """Line numbers detect-secrets (default plugins and filters) reports in text."""
    with tempfile.TemporaryDirectory() as tmp, default_settings():
        path = Path(tmp) / "corpus.txt"
        path.write_text(text)
        return {secret.line_number for secret in scan_file(str(path))}


def stdlib_files() -> Iterator[Path]:
    """The local Python's standard library with its tests (site-packages left out), in a stable order."""
    root = Path(sysconfig.get_paths()["stdlib"])
    for path in sorted(root.rglob("*.py")):
        if "site-packages" not in path.parts and path.is_file():
            yield path


def js_files(root: Path | None) -> Iterator[Path]:
    if root is None:
        return
    for path in sorted(root.rglob("*.js")):
        if path.is_file() and not path.is_symlink():
            yield path


def js_root(override: str | None) -> Path | None:
    for candidate in ([override] if override else []) + list(JS_ROOTS):
        if candidate and Path(candidate).is_dir() and any(Path(candidate).rglob("*.js")):
            return Path(candidate)
    return None


def read_up_to(files: Iterator[Path], megabytes: float) -> list[tuple[Path, str]]:
    """(path, text) of files in order until `megabytes` of text are read."""
    out, size = [], 0
    for path in files:
        text = path.read_text(encoding="utf-8", errors="replace")
        out.append((path, text))
        size += len(text.encode())
        if size >= megabytes * 1e6:
            break
    return out


def false_positives(sources: list[tuple[Path, str]]) -> list[str]:
    """Every finding of the redactor in real code (none of it holds a live secret): `file: name = value`."""
    redactor = Redactor()
    return [
        f"{path.name}: {name} = {value!r}"
        for path, text in sources
        for name, value in redactor.findings(text)
    ]
