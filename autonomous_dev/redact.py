"""Secret redaction: the single choke point for text that leaves the process."""

from __future__ import annotations

import base64
import json
import re
import threading
import urllib.parse
from collections.abc import Iterable

# Fixed-format detectors: (name, pattern). Extended by the security work; names appear in placeholders.
DETECTORS: tuple[tuple[str, str], ...] = (
    ("github_token", r"\b(?:gh[pousr]_[A-Za-z0-9]{20,255}|github_pat_[A-Za-z0-9_]{22,255})"),
    ("anthropic_key", r"\bsk-ant-[a-z]{2,6}\d{2}-[A-Za-z0-9_\-]{20,}"),
    ("openai_key", r"\bsk-(?:proj-)?[A-Za-z0-9_\-]{20,}"),
    ("aws_access_key_id", r"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b"),
    ("slack_token", r"\bxox[abpr]-[A-Za-z0-9\-]{10,}"),
    ("private_key", r"-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z ]*PRIVATE KEY-----"),
    ("url_password", r"(?<=://)[^\s:/@]+:[^\s@/]{3,}(?=@)"),
    ("authorization", r"(?i:(?<=authorization: )(?:basic|bearer|token) )[A-Za-z0-9._~+/=\-]{8,}"),
)

MIN_SECRET_LENGTH = 8


class Redactor:
    """Replaces known secret values and detector matches with stable placeholders.

    Thread-safe: workers share one instance per process.
    """

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._lock = threading.Lock()
        self._known: dict[str, str] = {}
        self._pattern = re.compile("|".join(f"(?P<{name}>{rx})" for name, rx in DETECTORS))
        self._known_pattern: re.Pattern[str] | None = None
        for secret in secrets:
            self.add_secret(secret)

    def add_secret(self, value: str, name: str = "credential") -> None:
        """Register a credential the tool loaded; it and its common encodings are redacted everywhere."""
        if len(value) < MIN_SECRET_LENGTH:
            return
        with self._lock:
            for form in _encodings(value):
                self._known.setdefault(form, name)
            alternatives = sorted(self._known, key=len, reverse=True)
            self._known_pattern = re.compile("|".join(re.escape(a) for a in alternatives))

    def redact(self, text: str) -> str:
        """Return text with every known secret and detector match replaced by `[REDACTED:<name>]`."""
        if not text:
            return text
        known = self._known_pattern
        if known is not None:
            text = known.sub(lambda m: f"[REDACTED:{self._known[m.group(0)]}]", text)
        return self._pattern.sub(lambda m: f"[REDACTED:{m.lastgroup}]", text)


def _encodings(value: str) -> set[str]:
    forms = {value, urllib.parse.quote(value, safe=""), json.dumps(value)[1:-1]}
    for user in ("x-access-token", "x-oauth-basic", "token"):
        forms.add(base64.b64encode(f"{user}:{value}".encode()).decode())
    return {form for form in forms if len(form) >= MIN_SECRET_LENGTH}
