"""Checks on what the model produced before it leaves the machine: no new secret in the pushed diff."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from .errors import SecurityViolation
from .logs import audit

log = logging.getLogger(__name__)

Findings = Callable[[str], list[tuple[str, str]]]

FILE_HEADER = re.compile(r"^\+\+\+ b/(.+)$")


@dataclass(frozen=True)
class SecretInDiff:
    path: str
    detector: str


def new_secrets(diff: str, base_text: Callable[[str], str], findings: Findings) -> list[SecretInDiff]:
    """Secrets on added lines that the same file did not already contain on the base commit.

    A line that merely moved or was edited around an existing secret (the model wrote a placeholder
    that the tool restored) is not new; a secret the model typed in, or copied from the issue, is.
    """
    found = []
    for path, added in _added_lines(diff):
        original = None
        for detector, value in findings("\n".join(added)):
            original = base_text(path) if original is None else original
            if value not in original:
                found.append(SecretInDiff(path, detector))
    return found


def refuse_new_secrets(diff: str, base_text: Callable[[str], str], findings: Findings, where: str) -> None:
    """Raise SecurityViolation (and audit it) when the diff adds a secret; `where` is `owner/name#n`."""
    found = new_secrets(diff, base_text, findings)
    if not found:
        return
    report = ", ".join(f"{item.detector} in {item.path}" for item in found)
    audit(log, "security_violation", "%s: the change adds secrets (%s); nothing pushed", where, report,
          level=logging.WARNING)  # fmt: skip
    raise SecurityViolation(
        f"the change adds {len(found)} secret(s) ({report}); nothing was pushed",
        "review the issue for attempts to exfiltrate credentials",
    )


def _added_lines(diff: str) -> Iterator[tuple[str, list[str]]]:
    path, added = "", list[str]()
    for line in diff.splitlines():
        header = FILE_HEADER.match(line)
        if header:
            if added:
                yield path, added
            path, added = header.group(1), []
        elif line.startswith("+") and not line.startswith("+++"):
            added.append(line[1:])
    if added:
        yield path, added
