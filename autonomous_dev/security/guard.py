"""Checks on what the model produced before it leaves the machine: no new secret in any pushed blob."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from autonomous_dev.errors import SecurityViolation
from autonomous_dev.logs import audit
from autonomous_dev.models import PushedBlob

log = logging.getLogger(__name__)

Findings = Callable[[str], list[tuple[str, str]]]

MAX_SCAN_BYTES = 8 * 1024 * 1024  # a larger file from the model is refused, not pushed unread
PRINTABLE_RUN = re.compile(rb"[\t\x20-\x7e]{4,}")


@dataclass(frozen=True)
class SecretInBlob:
    path: str
    detector: str


def readings(data: bytes) -> str:
    """Every text a secret in these bytes could be read as, whatever git or .gitattributes call them.

    UTF-8 (invalid bytes replaced); with NUL bytes also UTF-16 at both byte alignments (little and big
    endian, with or without a BOM) and the printable runs that `strings` would show, one per line.
    """
    views = [data.decode("utf-8", "replace")]
    if b"\0" in data:
        # Big-endian text is little-endian text one byte later; the NUL keeps a last character whole.
        views += [(part + b"\0").decode("utf-16-le", "replace") for part in (data, data[1:])]
        views.append("\n".join(run.group().decode("ascii") for run in PRINTABLE_RUN.finditer(data)))
    return "\n".join(views)


def new_secrets(blobs: Iterable[PushedBlob], findings: Findings) -> list[SecretInBlob]:
    """Secrets in pushed blobs (and their paths) that the version they replaced did not already hold.

    A secret that merely moved or was edited around (the model wrote a placeholder that the tool
    restored) is not new; a secret the model typed in, or copied from the issue, is.
    """
    found = []
    for blob in blobs:
        if blob.size > MAX_SCAN_BYTES:
            found.append(SecretInBlob(blob.path, f"too large to check (over {MAX_SCAN_BYTES >> 20} MiB)"))
            continue
        before = None
        for detector, value in findings(blob.path + "\n" + readings(blob.data)):
            if before is None:  # the path is as old as the version it replaces
                before = (blob.path + "\n" if blob.before else "") + readings(blob.before)
            if value not in before:
                found.append(SecretInBlob(blob.path, detector))
    return found


def refuse_new_secrets(blobs: Iterable[PushedBlob], findings: Findings, where: str) -> None:
    """Raise SecurityViolation (and audit it) when a pushed blob adds a secret; `where` is `owner/name#n`."""
    found = new_secrets(blobs, findings)
    if not found:
        return
    report = ", ".join(f"{item.detector} in {item.path}" for item in found)
    audit(log, "security_violation", "%s: the change adds secrets (%s); nothing pushed", where, report,
          level=logging.WARNING)  # fmt: skip
    raise SecurityViolation(
        f"the change adds {len(found)} secret(s) ({report}); nothing was pushed",
        "review the issue for attempts to exfiltrate credentials",
    )
