"""An Actions job's log, read from the storage link GitHub redirects to, only its tail kept."""

from __future__ import annotations

from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from autonomous_dev.errors import InfrastructureError, network_reason
from autonomous_dev.github.prsignals import tail_bytes

TIMEOUT_S = 30
CHUNK = 1 << 16
# A storage host failing for a moment: a few quick tries, then the step waits like any outage.
RETRY = Retry(total=3, backoff_factor=0.25, status_forcelist=range(500, 600), raise_on_status=False)
HINT = "the log's storage link failed; the step is tried again later"


def download_tail(url: str, limit: int) -> str | None:
    """The last `limit` bytes of the log at `url` (a signed link: GitHub's token is never sent there, and
    storage refuses it); None when the link is refused or gone (expired, deleted)."""
    host = urlsplit(url).netloc
    try:
        with requests.Session() as session:
            session.mount(url.split("://", 1)[0] + "://", HTTPAdapter(max_retries=RETRY))
            with session.get(url, stream=True, timeout=TIMEOUT_S, allow_redirects=False) as response:
                if response.status_code >= 500:
                    raise InfrastructureError(
                        "GitHub", f"the job log's storage at {host} answered {response.status_code}", HINT
                    )
                if response.status_code != 200:
                    return None
                return _tail(response, limit)
    except requests.RequestException as exc:
        raise InfrastructureError(
            "GitHub", f"cannot download a job's log from {host}: {network_reason(exc)}", HINT
        ) from None


def _tail(response: requests.Response, limit: int) -> str:
    """Read the whole body in chunks, keeping only the last `limit` bytes in memory."""
    kept = bytearray()
    total = 0
    for chunk in response.iter_content(CHUNK):
        total += len(chunk)
        kept += chunk
        if len(kept) > limit:
            del kept[:-limit]
    return tail_bytes(bytes(kept), total - len(kept))
