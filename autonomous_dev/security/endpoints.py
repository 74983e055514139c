"""The endpoint guard: the tool talks only to https hosts, loopback, or hosts the operator allowed."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from urllib.parse import urlsplit

LOOPBACK_NAMES = {"localhost"}


def is_loopback(host: str) -> bool:
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def endpoint_problem(url: str, allowed_hosts: Sequence[str] = ()) -> str | None:
    """Why a configured endpoint is refused, or None when it is fine.

    https to any host is fine; plain http only on loopback; anything else only for a host listed in
    security.allowedHosts (the same protection as a server-side request forgery guard).
    """
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.scheme not in ("https", "http") or not host:
        return "must be an http(s) URL with a host"
    if parts.username or parts.password:
        return "must not carry credentials; they come from the environment"
    if parts.scheme == "https" or is_loopback(host) or host in allowed_hosts:
        return None
    return f"plain http to {host} is refused: use https, or add {host} to security.allowedHosts"
