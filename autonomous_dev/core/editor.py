"""Anthropic's text editor tool on one worktree: view, create, str_replace, insert, with every path checked
(inside the worktree, not .git, not .env files, a name the filesystem accepts) before it is touched."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path, PurePosixPath

from autonomous_dev.core.search import MAX_FILE_BYTES
from autonomous_dev.errors import ToolError

MAX_LISTING = 400
MAX_PATH_BYTES, MAX_NAME_BYTES = 1024, 255  # a name the filesystem refuses is the model's to fix


class ConfinementError(ToolError):
    """The model tried to leave its worktree (or reach .git, .env files): refused and audited."""


class TextEditor:
    def __init__(self, root: Path, read_only: bool = False) -> None:
        self.root = root.resolve()
        self.read_only = read_only

    def resolve(self, raw: object, must_exist: bool = True) -> Path:
        """Map a model-supplied path to a real path inside the worktree, or raise ToolError."""
        if not isinstance(raw, str) or not raw.strip():
            raise ToolError("`path` must be a non-empty string relative to the repository root")
        _check_name(raw)
        rel = PurePosixPath(raw.strip())
        if rel.is_absolute() or raw.startswith("~"):
            raise ConfinementError(f"{raw}: use a path relative to the repository root, e.g. src/app.py")
        if ".." in rel.parts:
            raise ConfinementError(f"{raw}: `..` is not allowed; paths stay inside the repository")
        target = (self.root / rel).resolve()
        if target != self.root and self.root not in target.parents:
            raise ConfinementError(f"{raw}: resolves outside the repository (symbolic link?)")
        inside = target.relative_to(self.root).parts
        if ".git" in inside:
            raise ConfinementError(f"{raw}: the .git directory is off limits")
        if inside and inside[-1].startswith(".env"):
            raise ConfinementError(f"{raw}: environment files may hold credentials and are off limits")
        if must_exist and not target.exists():
            raise ToolError(f"{raw}: no such file or directory")
        return target

    def display(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix() or "."

    def edit(self, args: dict[str, object]) -> str:
        command = args.get("command")
        if command == "view":
            return self._view(args)
        if self.read_only:
            raise ToolError(f"this task is read-only: `{command}` is not available, only `view`")
        if command == "create":
            return self._create(args)
        if command == "str_replace":
            return self._str_replace(args)
        if command == "insert":
            return self._insert(args)
        raise ToolError(f"unsupported command {command!r}; use view, create, str_replace or insert")

    def _view(self, args: dict[str, object]) -> str:
        path = self.resolve(args.get("path"))
        if path.is_dir():
            return "\n".join(self._listing(path))
        lines = self._read(path).split("\n")
        start, end = 1, len(lines)
        view_range = args.get("view_range")
        if isinstance(view_range, list):  # two integers: the schema check saw to that
            first, last = (int(number) for number in view_range)
            start = max(1, first)
            end = len(lines) if last == -1 else min(len(lines), last)
            if start > end:
                raise ToolError(f"view_range {view_range} is empty; the file has {len(lines)} lines")
        return "\n".join(f"{number:6}\t{lines[number - 1]}" for number in range(start, end + 1))

    def _listing(self, directory: Path) -> Iterator[str]:
        """Two levels, hidden entries left out; only what is shown is read, however large the tree."""
        for count, path in enumerate(_entries(directory, depth=2), start=1):
            if count > MAX_LISTING:
                yield f"... (more than {MAX_LISTING} entries; view a subdirectory)"
                return
            yield self.display(path) + ("/" if path.is_dir() else "")

    def _create(self, args: dict[str, object]) -> str:
        text = args.get("file_text")
        if not isinstance(text, str):
            raise ToolError("create needs `file_text`")
        if len(text.encode()) > MAX_FILE_BYTES:
            raise ToolError(f"file_text is larger than {MAX_FILE_BYTES} bytes")
        path = self.resolve(args.get("path"), must_exist=False)
        if path.is_dir():
            raise ToolError(f"{self.display(path)} is a directory")
        blocking = next((p for p in path.parents if p.exists() and not p.is_dir()), None)
        if blocking is not None:
            raise ToolError(f"{self.display(blocking)} is a file, so it cannot hold {self.display(path)}")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return f"File created: {self.display(path)}"

    def _str_replace(self, args: dict[str, object]) -> str:
        path = self.resolve(args.get("path"))
        old, new = args.get("old_str"), args.get("new_str", "")
        if not isinstance(old, str) or not old or not isinstance(new, str):
            raise ToolError("str_replace needs a non-empty `old_str` and a string `new_str`")
        text = self._read(path)
        count = text.count(old)
        if count == 0:
            raise ToolError(
                f"old_str was not found in {self.display(path)}; view the file and copy it exactly"
            )
        if count > 1:
            raise ToolError(f"old_str occurs {count} times in {self.display(path)}; include more context")
        self._write(path, text.replace(old, new, 1))
        return f"Edited {self.display(path)}"

    def _insert(self, args: dict[str, object]) -> str:
        path = self.resolve(args.get("path"))
        # Models vary between `insert_text` and `new_str` for this command.
        new = args.get("insert_text", args.get("new_str"))
        line = args.get("insert_line")
        if not isinstance(new, str) or not isinstance(line, int):
            raise ToolError("insert needs an integer `insert_line` and `insert_text`")
        lines = self._read(path).split("\n")
        if not 0 <= line <= len(lines):
            raise ToolError(f"insert_line {line} is outside 0..{len(lines)}")
        lines[line:line] = new.split("\n")
        self._write(path, "\n".join(lines))
        return f"Inserted {new.count(chr(10)) + 1} line(s) after line {line} of {self.display(path)}"

    def _read(self, path: Path) -> str:
        if not path.is_file():
            raise ToolError(f"{self.display(path)} is not a regular file")
        if path.stat().st_size > MAX_FILE_BYTES:
            raise ToolError(
                f"{self.display(path)} is larger than {MAX_FILE_BYTES} bytes; use view_range or search"
            )
        try:
            return path.read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            raise ToolError(f"{self.display(path)} is not UTF-8 text") from exc

    def _write(self, path: Path, text: str) -> None:
        if len(text.encode()) > MAX_FILE_BYTES:
            raise ToolError(f"the result would be larger than {MAX_FILE_BYTES} bytes")
        path.write_text(text, encoding="utf-8")


def _entries(directory: Path, depth: int) -> Iterator[Path]:
    try:
        children = sorted(entry for entry in directory.iterdir() if not entry.name.startswith("."))
    except OSError:
        return
    for child in children:
        yield child
        if depth > 1 and child.is_dir() and not child.is_symlink():
            yield from _entries(child, depth - 1)


def _check_name(raw: str) -> None:
    """Refuse what no filesystem call should see: NUL, and names longer than the OS allows."""
    if "\0" in raw:
        raise ToolError("`path` must not contain NUL characters")
    encoded = raw.encode("utf-8", "surrogateescape")
    if len(encoded) > MAX_PATH_BYTES or any(len(part) > MAX_NAME_BYTES for part in encoded.split(b"/")):
        raise ToolError(f"`path` is too long: at most {MAX_PATH_BYTES} bytes, {MAX_NAME_BYTES} per name")
