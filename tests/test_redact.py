"""The redactor: recall on every credential format, false positives on real code, placeholders."""

from __future__ import annotations

import base64
import json
import random
import re
import sysconfig
import threading
import urllib.parse
from pathlib import Path

import pytest

from autonomous_dev.security.redact import DETECTOR_NAMES, Redactor
from autonomous_dev.security.secret_patterns import CONTEXTUAL as CONTEXTUAL_DETECTORS
from autonomous_dev.security.secret_patterns import TOKENS
from tests import secret_samples
from tests.secret_providers import PROVIDERS
from tests.secret_samples import CONTEXTS, GENERIC_FORMS, Generator

# Detectors whose samples are syntaxes of a category in tests/secret_categories.py.
NAMED_IN_CATEGORIES = {
    "password", "private_key", "nkey_seed", "otp_seed", "jwk_private_key", "kubernetes_secret",
    "putty_private_key",
}  # fmt: skip

SEED = 20240501
SAMPLES = 100
PLACEHOLDER = re.compile(r"\[REDACTED:([\w.-]+):(\d+)\]")
STDLIB_CAP = 30_000_000


def grams(text: str) -> set[str]:
    return {text[i : i + 8] for i in range(len(text) - 7)}


def residue(secret: str, text: str, context: str = "") -> str | None:
    """An 8-character piece of secret still in text (outside placeholders and the context itself)."""
    left = grams(PLACEHOLDER.sub(" ", text)) - grams(context)
    return next((secret[i : i + 8] for i in range(len(secret) - 7) if secret[i : i + 8] in left), None)


def leaks(name: str, generator: Generator, contexts: tuple[str, ...]) -> list[str]:
    rng = random.Random(f"{SEED}:{name}")
    redactor = Redactor()
    problems = []
    for _ in range(SAMPLES):
        snippet, secret = generator(rng)
        for kind in contexts:
            text = secret_samples.wrap(kind, snippet)
            out = redactor.redact(text)
            piece = residue(secret, out, secret_samples.wrap(kind, ""))
            if piece is not None or f"[REDACTED:{name}:" not in out:
                problems.append(f"{kind}: {piece!r} left in {out!r}")
    return problems


def test_there_are_at_least_forty_named_detectors_and_each_has_samples() -> None:
    # The newer formats and the categories of issue 15 have their samples in secret_providers and
    # secret_categories (tested in test_redact_categories.py).
    assert len(DETECTOR_NAMES) >= 100
    assert set(secret_samples.FIXED) | set(PROVIDERS) | NAMED_IN_CATEGORIES >= {
        token.name for token in TOKENS
    }
    assert set(secret_samples.CONTEXTUAL) | set(PROVIDERS) | NAMED_IN_CATEGORIES | {
        "generic_secret",
        "bearer_token",
    } >= {detector.name for detector in CONTEXTUAL_DETECTORS}


@pytest.mark.parametrize("name", sorted(secret_samples.FIXED))
def test_fixed_format_tokens_are_redacted_in_every_context(name: str) -> None:
    print(f"seed {SEED}:{name}")
    problems = leaks(name, secret_samples.FIXED[name], CONTEXTS)
    assert not problems, f"{len(problems)} leaks, e.g. {problems[:3]}"


@pytest.mark.parametrize("name", sorted(secret_samples.CONTEXTUAL))
def test_context_bound_secrets_are_redacted_in_every_context(name: str) -> None:
    print(f"seed {SEED}:{name}")
    problems = leaks(name, secret_samples.CONTEXTUAL[name], CONTEXTS)
    assert not problems, f"{len(problems)} leaks, e.g. {problems[:3]}"


@pytest.mark.parametrize("form", GENERIC_FORMS)
def test_high_entropy_values_of_secret_names_are_redacted(form: str) -> None:
    rng = random.Random(f"{SEED}:generic:{form}")
    redactor = Redactor()
    problems = []
    for _ in range(SAMPLES):
        text, secret = secret_samples.generic_assignment(rng, form)
        out = redactor.redact(text)
        if residue(secret, out) is not None:
            problems.append(out)
    assert not problems, f"{len(problems)} leaks, e.g. {problems[:3]}"


def test_redacting_twice_changes_nothing_more() -> None:
    rng = random.Random(SEED)
    redactor = Redactor()
    generators = {**secret_samples.FIXED, **secret_samples.CONTEXTUAL}
    for name, generator in generators.items():
        snippet, _ = generator(rng)
        for kind in CONTEXTS:
            once = redactor.redact(secret_samples.wrap(kind, snippet))
            assert redactor.redact(once) == once, (name, kind)


def test_credentials_in_userinfo_are_redacted() -> None:
    rng = random.Random(SEED)
    redactor = Redactor()
    for name in ("github_token", "gitlab_token", "huggingface_token", "npm_token"):
        token, _ = secret_samples.FIXED[name](rng)
        out = redactor.redact(f"git clone https://x-access-token:{token}@github.com/acme/widgets.git")
        assert token not in out and f"[REDACTED:{name}:" in out


def stdlib_sources() -> list[Path]:
    root = Path(sysconfig.get_paths()["stdlib"])
    files, size = [], 0
    for path in sorted(root.rglob("*.py")):
        if "site-packages" in path.parts or not path.is_file():
            continue
        files.append(path)
        size += path.stat().st_size
        if size > STDLIB_CAP:
            break
    return files


def test_standard_library_sources_give_almost_no_redactions() -> None:
    redactor = Redactor()
    lines, found = 0, []
    for path in stdlib_sources():
        text = path.read_text(encoding="utf-8", errors="replace")
        lines += text.count("\n")
        for placeholder in {m.group(0) for m in PLACEHOLDER.finditer(redactor.redact(text))}:
            found.append(f"{path.name}: {placeholder} = {redactor.restore(placeholder)!r}")
    rate = len(found) / lines * 10_000
    print(f"\nstdlib: {lines} lines, {len(found)} redactions, {rate:.3f} redactions per 10k lines")
    print("\n".join(found))
    assert lines > 100_000
    assert rate <= 1.0, "\n".join(found)
    assert sum(redactor.counts().values()) >= len(found)


NEVER_SECRETS = [
    "commit 9fceb02d0ae598e95dc970b74767f19372d61af8\nMerge: 1a2b3c4 5d6e7f8",
    "b4f1c2e94e8fd4a8a1f5c7d3e2b1a09876543210 refs/heads/main",
    '"id": "550e8400-e29b-41d4-a716-446655440000", "request_id": "f47ac10b-58cc-4372-a567-0e02b2c3d479"',
    '"integrity": "sha512-Q0ZpY2h0U2VjcmV0U2hvdWxkTm90QmVSZWRhY3RlZEJlY2F1c2VJdElzQW5JbnRlZ3JpdHlIYXNo=="',
    "integrity sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=",
    'ICON = "iVBORw0KGgoAAAANSUhEUgAAABAAAAAQCAYAAAAf8/9hAAAABHNCSVQICAgIfAhkiAAAAAlwSFlz"',
    "The token is refreshed every hour; keep the secret out of logs and rotate the password yearly.",
    "See https://github.com/acme/widgets/pull/12 and https://user@example.com/path?q=1",
    "conn = psycopg.connect('host=db dbname=app user=app password=')",
    "host=db user=app password=changeme dbname=app",
    "host=db user=app password=${PGPASSWORD} dbname=app",
    "postgres://app:${DB_PASSWORD}@db:5432/app",
    "SECRET_KEY=changeme\nAPI_KEY=<your-token>\nTOKEN=xxxxxxxxxxxxxxxx\nPASSWORD=None",
    'api_key = os.environ["API_KEY"]\ntoken = os.environ.get("GITHUB_TOKEN")',
    'password: str = field(default="")\nclient_secret = settings.CLIENT_SECRET_V2',
    "token = tokenize.generate_tokens(readline)\nsecret_key = self.secret_key_provider()",
    "Authorization: Bearer ${TOKEN}\nAuthorization: Basic %s",
    "export GITHUB_TOKEN=$(gh auth token)",
]


@pytest.mark.parametrize("text", NEVER_SECRETS)
def test_hashes_ids_prose_and_placeholders_are_left_alone(text: str) -> None:
    assert Redactor().redact(text) == text


def test_the_same_value_gets_the_same_numbered_placeholder() -> None:
    first, second = "ghp_" + "a1" * 18, "ghp_" + "b2" * 18
    redactor = Redactor()
    assert redactor.redact(f"{first} {second} {first}") == (
        "[REDACTED:github_token:1] [REDACTED:github_token:2] [REDACTED:github_token:1]"
    )
    assert redactor.redact(f"again {second}") == "again [REDACTED:github_token:2]"
    assert redactor.counts() == {"github_token": 4}


def test_restore_puts_back_what_this_redactor_replaced() -> None:
    redactor = Redactor(["correct-horse-battery-staple"])
    text = "pw correct-horse-battery-staple key AKIAABCDEFGHIJKLMNOP url postgres://u:s3cretpass@db/x"
    redacted = redactor.redact(text)
    assert "correct-horse" not in redacted and "AKIA" not in redacted and "s3cretpass" not in redacted
    restored = redactor.restore(redacted)
    # Detected values go back; a credential the tool loaded never does (no placeholder becomes our token).
    assert "AKIAABCDEFGHIJKLMNOP" in restored and "s3cretpass" in restored
    assert "correct-horse" not in restored and "[REDACTED:credential:1]" in restored
    assert redactor.restore("[REDACTED:github_token:9] stays") == "[REDACTED:github_token:9] stays"


def test_custom_patterns_are_detectors_and_can_limit_the_replaced_part() -> None:
    redactor = Redactor(patterns=[("acme_key", r"ACME-[0-9]{6}"), ("pin", r"pin=(?P<secret>\d{4,})")])
    assert (
        redactor.redact("use ACME-123456 with pin=98765")
        == "use [REDACTED:acme_key:1] with pin=[REDACTED:pin:1]"
    )


@pytest.mark.parametrize(
    ("pattern", "message"),
    [(("broken", "ACME-(["), "broken"), (("empty", "x*"), "empty"), (("lookahead", "(?=a)"), "lookahead")],
)
def test_custom_patterns_that_cannot_work_are_refused(pattern: tuple[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Redactor(patterns=[pattern])


def test_custom_pattern_names_must_fit_in_a_placeholder() -> None:
    with pytest.raises(ValueError, match="name"):
        Redactor(patterns=[("two words", "abc")])


def test_known_values_are_redacted_in_their_encoded_forms() -> None:
    secret = 'p@ss/w0rd "quoted" + more'
    redactor = Redactor()
    redactor.add_secret(secret, name="db_password")
    basic = base64.b64encode(f"x-access-token:{secret}".encode()).decode()
    forms = [secret, urllib.parse.quote(secret, safe=""), json.dumps(secret)[1:-1], basic]
    out = redactor.redact(" | ".join(forms))
    assert all(form not in out for form in forms)
    assert out.count("[REDACTED:db_password:") == 4
    assert Redactor(["short"]).redact("short") == "short"


def test_a_loaded_credential_is_named_by_its_caller() -> None:
    token = "ghp_" + "e5" * 18
    redactor = Redactor()
    redactor.add_secret(token, name="GITHUB_TOKEN")
    assert redactor.redact(f"token {token}") == "token [REDACTED:GITHUB_TOKEN:1]"


def test_long_lines_and_text_without_newlines_are_handled() -> None:
    token = "xoxb-" + "1234567890-" * 3 + "abcdefghijklmnopqrstuvwx"
    line = "a" * 2_000_000 + f' api_key="Zx81kLmq0PaWq7Rt5Yu2" {token} ' + "b" * 100_000
    out = Redactor().redact(line)
    assert "Zx81kLmq" not in out and token not in out and len(out) < len(line)


def test_threads_sharing_a_redactor_see_consistent_placeholders() -> None:
    redactor = Redactor()
    tokens = [f"ghp_{i:02d}" + "Zz9" * 12 for i in range(20)]
    results: list[dict[str, str]] = []

    def work(seed: int) -> None:
        order = random.Random(seed).sample(tokens, len(tokens))
        out = redactor.redact(" ".join(order)).split(" ")
        results.append(dict(zip(order, out, strict=True)))

    threads = [threading.Thread(target=work, args=(seed,)) for seed in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 8 and all(result == results[0] for result in results)
    assert sorted(int(PLACEHOLDER.fullmatch(p).group(2)) for p in results[0].values()) == list(range(1, 21))  # type: ignore[union-attr]
    assert redactor.counts() == {"github_token": 160}


def test_a_password_assignment_is_redacted_without_connection_string_context() -> None:
    # The libpq detector matches `password=` first but needs a host on the line; the generic one still runs.
    redactor = Redactor()
    for line in ("password=69f15771864d0d385dfc684bcf", "2026-11-20 ERROR login password=hunter2isbad99"):
        assert "[REDACTED:" in redactor.redact(line) and "69f157" not in redactor.redact(line)
    assert redactor.redact("password=changeme") == "password=changeme"
