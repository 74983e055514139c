"""What a push would add: every new file version of `base..HEAD`, read as bytes from git's blobs."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

from autonomous_dev.models import PushedBlob

NO_BLOB = "0" * 40
BLOB_MODES = ("100644", "100755", "120000")  # files and symbolic links; 160000 is a submodule commit
# Paths come NUL-separated and unquoted: a C-quoted name ("caf\303\251") hides its real prefix.
PATHS = ("-c", "core.quotePath=false")
GitBytes = Callable[..., bytes]  # runs `git ARGS` in the worktree and returns its raw output


def pushed_blobs(git_bytes: GitBytes, base: str, max_bytes: int) -> list[PushedBlob]:
    """Every file version that `base..HEAD` adds, in any of its commits, read as bytes from the blob.

    What `.gitattributes` says (binary, -diff, a textconv driver) changes what `git diff` shows, never
    what is pushed; so the push guard reads blobs. Blobs reachable from the base are not new.
    """
    new = set(git_bytes("rev-list", "--objects", "--no-object-names", f"{base}..HEAD").split())
    blobs: dict[bytes, PushedBlob] = {}
    for commit in git_bytes("rev-list", f"{base}..HEAD").split():
        for old, sha, path in _changed_files(git_bytes, commit.decode()):
            if sha in new and sha not in blobs:
                size, data = _read_blob(git_bytes, sha, max_bytes)
                before = _read_blob(git_bytes, old, max_bytes)[1] if old != NO_BLOB.encode() else b""
                blobs[sha] = PushedBlob(path, size, data, before)
    return list(blobs.values())


def _read_blob(git_bytes: GitBytes, sha: bytes, max_bytes: int) -> tuple[int, bytes]:
    """The blob's size and its bytes, or no bytes when it is larger than max_bytes."""
    size = int(git_bytes("cat-file", "-s", sha.decode()))
    return size, git_bytes("cat-file", "blob", sha.decode()) if size <= max_bytes else b""


def _changed_files(git_bytes: GitBytes, commit: str) -> Iterator[tuple[bytes, bytes, str]]:
    """(previous blob, new blob, path) of every file the commit adds or changes, against each parent."""
    raw = git_bytes(*PATHS, "diff-tree", "-r", "-z", "-m", "--root", "--raw", "--no-renames", "--no-abbrev",
                    "--no-commit-id", commit)  # fmt: skip
    fields = raw.split(b"\0")
    for meta, path in zip(fields[0::2], fields[1::2], strict=False):
        old_mode, new_mode, old, new, _ = meta.lstrip(b":").split(b" ")
        if new_mode.decode() in BLOB_MODES:
            yield (old if old_mode.decode() in BLOB_MODES else NO_BLOB.encode()), new, os.fsdecode(path)


def file_at(git_bytes: GitBytes, commit: str, path: str, max_bytes: int) -> tuple[int, bytes] | None:
    """A regular file as committed (size, first max_bytes bytes); None for no file, a link or a submodule."""
    listed = git_bytes("--literal-pathspecs", *PATHS, "ls-tree", "-z", commit, "--", path).split(b"\0")[0]
    if not listed:
        return None
    mode, kind, sha = listed.split(b"\t", 1)[0].split(b" ")
    if kind != b"blob" or mode.decode() not in BLOB_MODES[:2]:
        return None
    size = int(git_bytes("cat-file", "-s", sha.decode()))
    return size, git_bytes("cat-file", "blob", sha.decode())[:max_bytes]
