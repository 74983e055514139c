"""GitHub's delivery signature: `X-Hub-Signature-256: sha256=` and the HMAC-SHA256 of the raw body."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable

PREFIX = "sha256="


def sign(secret: str, body: bytes | memoryview) -> str:
    """The header value GitHub sends for `body` signed with `secret`."""
    return PREFIX + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(secrets: Iterable[str], body: bytes | memoryview, header: str | None) -> bool:
    """Whether `header` is the signature of `body` with one of `secrets` (compared in constant time)."""
    if not header:
        return False
    given = header.strip().encode("ascii", "replace")
    matches = [hmac.compare_digest(sign(secret, body).encode(), given) for secret in secrets if secret]
    return any(matches)
