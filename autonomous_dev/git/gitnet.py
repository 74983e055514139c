"""A git fetch or push that could not reach its remote (refused, DNS, TLS, timeout, 5xx), per git."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from autonomous_dev.errors import InfrastructureError

NETWORK_COMMANDS = frozenset({"clone", "fetch", "push", "pull", "ls-remote"})
# How git (through curl) says it, checked in this order: a timeout also says "Failed to connect".
GIT_REASON_WORDS: tuple[tuple[tuple[str, ...], str], ...] = (
    (("could not resolve host", "could not resolve proxy"), "the host name does not resolve (DNS)"),
    (("ssl", "tls", "certificate", "gnutls"), "TLS error (certificate or handshake)"),
    (("timed out", "timeout was reached"), "timed out"),
    (("connection refused", "couldn't connect to server", "could not connect to server",
      "failed to connect to"), "connection refused"),
    (("connection reset", "empty reply from server", "recv failure", "send failure"),
     "the connection was dropped"),
)  # fmt: skip
# "The requested URL returned error: 502" (curl) or "RPC failed; HTTP 503" (git); 401/403/404 are not outages.
HTTP_ERROR = re.compile(r"(?:returned error|rpc failed; http):? (\d{3})", re.IGNORECASE)
HINT = "GitHub's git endpoint did not answer; the work is taken up again on the next cycle"


def git_unreachable(command: str, stderr: str, remote_url: str) -> InfrastructureError | None:
    """The outage a failed `git COMMAND` reports in `stderr`; None if the remote answered or was not used."""
    if command not in NETWORK_COMMANDS:
        return None
    reason = _reason(stderr.lower())
    if reason is None:
        return None
    host = urlsplit(remote_url).netloc.rpartition("@")[2] or remote_url
    message = f"cannot reach GitHub's git at {host} (git {command}): {reason}"
    return InfrastructureError("GitHub", message, HINT)


def _reason(text: str) -> str | None:
    status = HTTP_ERROR.search(text)
    if status is not None:
        code = int(status.group(1))
        return f"HTTP {code}" if code >= 500 or code == 429 else None
    for words, reason in GIT_REASON_WORDS:
        if any(word in text for word in words):
            return reason
    return None
