"""The redactor's exact output on generated corpora, pinned: speed work must not change a single byte.

The corpora are built at test time from fixed seeds (no secret is stored here). When a detector's
behaviour is changed on purpose, or a sample generator in tests/secret_*.py changes, print the new
digests with `pytest tests/test_redact_output.py -n 0 -s` and update them in the same commit, saying why.
"""

from __future__ import annotations

import hashlib
import random
import string
from collections.abc import Iterator

from autonomous_dev.security.redact import Redactor
from tests.secret_categories import SYNTAXES, placeholders
from tests.secret_providers import PROVIDERS
from tests.secret_samples import (
    B62,
    CONTEXTS,
    CONTEXTUAL,
    FIXED,
    GENERIC_FORMS,
    HEX,
    generic_assignment,
    wrap,
)

BLOCK = 64 * 1024  # what one `redact` call gets in the tool: a diff, a tool result, a file view
DENSE_DIGEST = "b52259087111ebb4547ee0cc87fc4dece410f9ea9dda4f207960fb8fe68e6332"
MIXED_DIGEST = "80e16a808187de3d55afe24c41795e27fe772d7339ce16ef50d53228613da03f"
NOUNS = ("cache", "token", "secret", "user", "password", "request", "worker", "branch", "key", "session")


def clean_line(rng: random.Random) -> str:
    """Code, logs, JSON and prose without secrets (but with the keywords that wake detectors)."""
    a, b, c = rng.sample(NOUNS, 3)
    n, sha = rng.randrange(10_000), "".join(rng.choices(HEX, k=40))
    return rng.choice(
        [
            f"    {a}_{b} = self.{c}.get({a!r}, {n})",
            f"def {a}_{b}(self, {c}: str = None) -> list[str]:",
            f"2024-05-01T12:{n % 60:02d}:07Z INFO {a}-svc request_id={sha[:32]} path=/{b} ms={n}",
            f'{{"id": "{sha[:8]}", "{a}": {n}, "{b}": "{c} {a}"}}',
            f"The {a} keeps a {b} for each {c}, so look-ups stay cheap ({n} entries).",
            f'    "resolved": "https://pkgs.example.com/{a}/-/{a}-1.{n % 20}.0.tgz", "sha1": "{sha}"',
            f"+    if {a}.{b} is None:  # {c}",
            f"commit {sha}",
            "",
        ]
    )


def blocks(segments: Iterator[str]) -> list[str]:
    """Segments as lines, cut into blocks of about BLOCK characters."""
    out: list[str] = []
    parts: list[str] = []
    size = 0
    for segment in segments:
        parts.append(segment)
        size += len(segment) + 1
        if size >= BLOCK:
            out.append("\n".join(parts) + "\n")
            parts, size = [], 0
    return [*out, "\n".join(parts) + "\n"]


def dense_segments(per_category: int) -> Iterator[str]:
    """Each category's syntaxes in turn, every secret between two clean lines."""
    rng = random.Random(7)
    for syntaxes in SYNTAXES.values():
        labels = sorted(syntaxes)
        for index in range(per_category):
            text, _ = syntaxes[labels[index % len(labels)]](rng)
            yield f"{clean_line(rng)}\n{text}\n{clean_line(rng)}"


def mixed_segments(count: int, known: list[str]) -> Iterator[str]:
    """Mostly clean lines; fixed formats, context-bound values, assignments and the tool's own
    credentials now and then."""
    rng = random.Random(11)
    generators = [*FIXED.values(), *PROVIDERS.values()]
    for _ in range(count):
        kind = rng.randrange(50)
        if kind == 4:
            yield f"git push https://x-access-token:{rng.choice(known)}@github.com/acme/widgets.git"
        elif kind == 0:
            yield wrap(rng.choice(CONTEXTS), rng.choice(generators)(rng)[0])
        elif kind == 1:
            yield rng.choice(list(CONTEXTUAL.values()))(rng)[0]
        elif kind == 2:
            yield generic_assignment(rng, rng.choice(GENERIC_FORMS))[0]
        elif kind == 3:
            yield rng.choice(placeholders(rng))
        else:
            yield clean_line(rng)


def redacted_digest(texts: list[str], redactor: Redactor) -> str:
    digest = hashlib.sha256()
    for text in texts:
        digest.update(redactor.redact(text).encode())
    return digest.hexdigest()


def test_the_dense_corpus_is_redacted_exactly_as_pinned() -> None:
    texts = blocks(dense_segments(per_category=60))
    redactor = Redactor()
    digest = redacted_digest(texts, redactor)
    # Every placeholder goes back to what it replaced (no credentials of the tool's own here).
    assert [redactor.restore(redactor.redact(text)) for text in texts] == texts
    print(f"\ndense: {len(texts)} blocks, {sum(map(len, texts))} characters, sha256 {digest}")
    assert digest == DENSE_DIGEST


def test_the_mixed_corpus_is_redacted_exactly_as_pinned() -> None:
    rng = random.Random(3)
    known = ["ghp_" + "".join(rng.choices(B62, k=36)), "".join(rng.choices(string.ascii_letters, k=20))]
    texts = blocks(mixed_segments(6_000, known))
    digest = redacted_digest(texts, Redactor(known))
    print(f"\nmixed: {len(texts)} blocks, {sum(map(len, texts))} characters, sha256 {digest}")
    assert digest == MIXED_DIGEST
