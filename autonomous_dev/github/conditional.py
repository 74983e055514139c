"""Conditional GETs: each URL's ETag and body are kept, so an unchanged page costs no rate limit."""

from __future__ import annotations

import json
import os
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from autonomous_dev.disk import disk_full, is_disk_full

# (url, request headers) -> (response headers, decoded JSON, None for a 304 Not Modified)
Fetch = Callable[[str, dict[str, str]], tuple[Mapping[str, Any], Any]]
NEXT_LINK = re.compile(r'<([^>]+)>\s*;\s*rel="next"')
MAX_ENTRIES = 5_000


@dataclass(frozen=True)
class _Entry:
    etag: str
    data: Any
    next_url: str | None


class ConditionalCache:
    """Shared by every cycle of a process; GitHub's ETags vary by token, so one cache per token."""

    def __init__(self, max_entries: int = MAX_ENTRIES) -> None:
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._lock = threading.Lock()
        self._max = max_entries
        self.not_modified = 0
        self.fetched = 0

    def get(self, fetch: Fetch, url: str) -> tuple[Any, str | None]:
        """The resource and the URL of its next page; from the cache when GitHub says it is unchanged."""
        with self._lock:
            entry = self._entries.get(url)
        response_headers, data = fetch(url, {"If-None-Match": entry.etag} if entry else {})
        if data is None and entry is not None:
            with self._lock:
                self.not_modified += 1
                self._entries.move_to_end(url)
            return entry.data, entry.next_url
        headers = {str(key).lower(): str(value) for key, value in response_headers.items()}
        found = NEXT_LINK.search(headers.get("link", ""))
        next_url = found.group(1) if found else None
        with self._lock:
            self.fetched += 1
            if headers.get("etag"):
                self._entries[url] = _Entry(headers["etag"], data, next_url)
                self._entries.move_to_end(url)
                while len(self._entries) > self._max:
                    self._entries.popitem(last=False)
        return data, next_url

    def save(self, path: Path) -> None:
        """Keep the ETags for the next process (a `run` from cron): written whole, readable by us only."""
        with self._lock:
            rows = [[url, e.etag, e.data, e.next_url] for url, e in self._entries.items()]
        partial = path.with_name(f"{path.name}.partial")
        try:
            partial.write_text(json.dumps(rows))
            os.chmod(partial, 0o600)
            os.replace(partial, path)
        except OSError as exc:
            partial.unlink(missing_ok=True)  # a full disk must not keep what little room it has
            if is_disk_full(exc):
                raise disk_full("the ETag cache", path.parent) from None
            raise

    def load(self, path: Path) -> None:
        """What `save` kept; a missing or unreadable file is an empty cache (it is only an optimisation)."""
        try:
            rows = json.loads(path.read_text())
        except (OSError, ValueError):
            return
        with self._lock:
            for url, etag, data, next_url in rows[-self._max :]:
                self._entries[url] = _Entry(etag, data, next_url)

    def get_all(self, fetch: Fetch, url: str) -> list[Any]:
        """Every item of a paginated list, page by page, each page conditional on its own ETag."""
        items: list[Any] = []
        next_url: str | None = url
        while next_url:
            page, next_url = self.get(fetch, next_url)
            items.extend(page or [])
        return items
