"""A GitHub App for the tests: RSA keys, the app on the GitHub stand-in, and the environment to run as it."""

from __future__ import annotations

import functools
from dataclasses import dataclass

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.conftest import OWNER, Stage
from tests.standins.github_server import FakeGitHub

APP_ID = 4242
SLUG = "autodev-test"
BOT = f"{SLUG}[bot]"


@dataclass(frozen=True)
class KeyPair:
    private_pem: str
    public_pem: bytes


@functools.cache
def key_pair(index: int = 0) -> KeyPair:
    """An RSA key pair (made once per test process; `index` gives another one)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode()
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return KeyPair(private, public)


def add_app(
    github: FakeGitHub, permissions: dict[str, str] | None = None, repos: list[str] | None = None
) -> int:
    """The test app on the stand-in, installed on OWNER (all repositories, or `repos`): its installation."""
    github.add_app(APP_ID, SLUG, key_pair().public_pem)
    return github.install_app(APP_ID, OWNER, repos=repos, permissions=permissions)


def app_env(stage: Stage, **extra: str) -> dict[str, str]:
    """The stage's environment with the app's credentials and no GITHUB_TOKEN."""
    app = {"GITHUB_TOKEN": "", "GITHUB_APP_ID": str(APP_ID), "GITHUB_APP_PRIVATE_KEY": key_pair().private_pem}
    return stage.env(**(app | extra))


def issued_tokens(github: FakeGitHub) -> list[str]:
    with github.state.lock:
        return [token for i in github.state.installations.values() for token in i.issued]
