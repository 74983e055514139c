"""The GitHub App's credentials: its id, its private key (inline or in a file), and optionally the one
installation to use (else it is looked up per repository)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from autonomous_dev.errors import CredentialError

GITHUB_APP_ID = "GITHUB_APP_ID"
GITHUB_APP_PRIVATE_KEY = "GITHUB_APP_PRIVATE_KEY"
GITHUB_APP_PRIVATE_KEY_FILE = "GITHUB_APP_PRIVATE_KEY_FILE"
GITHUB_APP_INSTALLATION_ID = "GITHUB_APP_INSTALLATION_ID"
# The app's values travel together, from the source that has GITHUB_APP_ID: one app's key never signs
# for another app's id.
GITHUB_APP_GROUP = (
    GITHUB_APP_ID,
    GITHUB_APP_PRIVATE_KEY,
    GITHUB_APP_PRIVATE_KEY_FILE,
    GITHUB_APP_INSTALLATION_ID,
)


@dataclass(frozen=True)
class AppCredentials:
    """A GitHub App: its id, its private key (PEM text) and, optionally, the one installation to use."""

    app_id: str
    private_key: str
    installation_id: int | None = None


def read_key_file(path: str) -> str | None:
    try:
        return Path(path).expanduser().read_text()
    except (OSError, UnicodeDecodeError):
        return None


def app_credentials(get: Callable[[str], str | None]) -> AppCredentials | None:
    """The app's values (`get` reads a credential by name); None without GITHUB_APP_ID."""
    app_id = get(GITHUB_APP_ID)
    if not app_id:
        return None
    key = get(GITHUB_APP_PRIVATE_KEY)
    key_file = get(GITHUB_APP_PRIVATE_KEY_FILE)
    if not key and key_file:
        key = read_key_file(key_file)
        if key is None:
            raise CredentialError(
                f"cannot read GITHUB_APP_PRIVATE_KEY_FILE {key_file}",
                "check the path and that the tool's user may read the file (mode 0600)",
            )
    if not key:
        raise CredentialError(
            "GITHUB_APP_PRIVATE_KEY is not set (GITHUB_APP_ID is)",
            "set GITHUB_APP_PRIVATE_KEY or GITHUB_APP_PRIVATE_KEY_FILE to the app's .pem key, in the same "
            "place as GITHUB_APP_ID (the app's values are read together from one source)",
        )
    installation = get(GITHUB_APP_INSTALLATION_ID)
    if installation is not None and not installation.isdigit():
        raise CredentialError(
            f"GITHUB_APP_INSTALLATION_ID is not a number: {installation}",
            "use the number at the end of the installation's settings URL, or unset it",
        )
    return AppCredentials(app_id, key, int(installation) if installation else None)
