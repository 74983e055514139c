"""Redactor throughput, recall and false positives, beside detect-secrets in the same run.

Mixed source and log text with planted secrets; credential-dense text with a generated secret of each
category (passwords in many syntaxes, private keys in many shapes, provider formats, coloured logs)
every few lines; the local Python standard library and a JavaScript corpus as real code without secrets.
"""

from __future__ import annotations

import json
import os
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from _common import ANTHROPIC_KEY, GITHUB_TOKEN, WORDS, Figure, options, report
from _redactor_corpora import (
    Corpus,
    Planted,
    dense_corpus,
    detect_secrets_lines,
    false_positives,
    js_files,
    js_root,
    misses,
    read_up_to,
    recall_by_category,
    stdlib_files,
)
from detect_secrets.core.scan import scan_file
from detect_secrets.settings import default_settings

from autonomous_dev.security.redact import Redactor
from tests.secret_samples import CONTEXTS, CONTEXTUAL, FIXED, GENERIC_FORMS, HEX, generic_assignment, wrap

SECRET_EVERY = 10_000  # bytes of text per planted secret, on average
BLOCK = 64 * 1024  # what one `redact` call gets: a diff, a tool result, a file view
POOL = 2_000  # distinct clean lines to draw from, per MB of text (at most 100,000)
T = TypeVar("T")


def clean_line(rng: random.Random) -> str:
    w = rng.sample(WORDS, 4)
    n, sha, uid = rng.randrange(10_000), "".join(rng.choices(HEX, k=40)), f"{rng.getrandbits(128):032x}"
    return rng.choice(
        [
            f"    {w[0]}_{w[1]} = self.{w[2]}.get({w[3]!r}, {n})",
            f"def {w[0]}_{w[1]}(self, {w[2]}: int = {n}) -> list[str]:",
            f"        return [x for x in self.{w[0]}s if x.{w[1]} > {n}]  # {w[2]} {w[3]}",
            f"const {w[0]}{w[1].title()} = await fetch(`/api/{w[2]}/${{id}}?page={n}`);",
            f"2024-05-01T12:{n % 60:02d}:07Z INFO {w[0]}-svc request_id={uid} path=/{w[1]} ms={n}",
            f"commit {sha}\nAuthor: {w[0].title()} {w[1].title()} <{w[0]}@example.com>",
            f'{{"id": "{uid[:8]}-{uid[8:12]}-{uid[12:16]}", "{w[0]}": {n}, "{w[1]}": "{w[2]} {w[3]}"}}',
            f"The {w[0]} {w[1]} keeps a {w[2]} for each {w[3]}, so look-ups stay cheap ({n} entries).",
            f'    "resolved": "https://pkgs.example.com/{w[0]}/-/{w[0]}-1.{n % 20}.0.tgz", "sha1": "{sha}"',
            f"+    if {w[0]}.{w[1]} is None:  # {w[2]}",
            "",
        ]
    )


def secret_segment(rng: random.Random) -> tuple[str, str, str]:
    """(family, text, secret as it stands in the text): a token format in a random context, a context-bound
    one, or an assignment. A JSON or repr() context escapes a multi-line key's newlines: that form counts."""
    family = rng.choices(["token", "contextual", "assignment"], weights=[6, 2, 2])[0]
    if family == "token":
        snippet, secret = rng.choice(list(FIXED.values()))(rng)
        text = wrap(rng.choice(CONTEXTS), snippet)
    elif family == "contextual":
        text, secret = rng.choice(list(CONTEXTUAL.values()))(rng)
    else:
        text, secret = generic_assignment(rng, rng.choice(GENERIC_FORMS))
    literal = next(form for form in (secret, json.dumps(secret)[1:-1], repr(secret)[1:-1]) if form in text)
    return family, text, literal


def corpus(megabytes: float, seed: int = 11) -> Corpus:
    rng = random.Random(seed)
    pool = [clean_line(rng) for _ in range(min(100_000, int(POOL * megabytes)))]
    out = Corpus()
    while len(out.blocks) * BLOCK < megabytes * 1_000_000:
        if rng.random() < 80 / SECRET_EVERY:  # lines average ~80 bytes
            family, text, secret = secret_segment(rng)
            first = out.line + text.count("\n", 0, text.find(secret))
            lines = range(first, first + secret.count("\n") + 1)
            out.planted.append(Planted(family, secret, len(out.blocks), lines))
        else:
            text = rng.choice(pool)
        out.add(text)
    return out


def clocked(func: Callable[[], T]) -> tuple[float, float, T]:
    """(wall seconds, CPU seconds of this process, result): CPU time shows what a shared machine hides."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = func()
    return time.perf_counter() - wall, time.process_time() - cpu, result


def redactor_figures(data: Corpus, reps: int) -> tuple[float, float, float, list[bool]]:
    """MB/s (wall, CPU) of `redact` over the blocks, medians of `reps`, and CPU MB/s of the first lap;
    whether each planted secret went."""
    redactor = Redactor([GITHUB_TOKEN, ANTHROPIC_KEY])  # the tool always knows its own credentials
    # The first call builds the prefilter. Each anchor character's regex compiles when a text first
    # needs it, and RE2 builds its automaton's states as it meets new text: the first lap pays for
    # both once per process, and is reported apart.
    redactor.redact("warm up")
    laps = [clocked(lambda: [redactor.redact(block) for block in data.blocks]) for _ in range(reps)]
    output = laps[0][2]
    wall, cpu = (statistics.median(lap[i] for lap in laps) for i in (0, 1))
    return (
        data.size / 1e6 / wall,
        data.size / 1e6 / cpu,
        data.size / 1e6 / laps[0][1],
        [p.secret not in output[p.block] for p in data.planted],
    )


def detect_secrets_figures(data: Corpus) -> tuple[float, float, list[bool], int]:
    """MB/s (wall, CPU) of detect-secrets over the same lines, per-secret recall, findings on other lines."""
    with tempfile.TemporaryDirectory() as tmp, default_settings():
        path = Path(tmp) / "mixed.txt"
        path.write_text("".join(data.blocks))
        wall, cpu, findings = clocked(lambda: {s.line_number for s in scan_file(str(path))})
    planted_lines = {n for p in data.planted for n in p.lines}
    found = [any(n in findings for n in p.lines) for p in data.planted]
    return data.size / 1e6 / wall, data.size / 1e6 / cpu, found, len(findings - planted_lines)


def redactor_false_positives(data: Corpus) -> int:
    """Redactor findings that are not (part of) a secret planted in the same block."""
    redactor = Redactor([GITHUB_TOKEN, ANTHROPIC_KEY])
    secrets: dict[int, list[str]] = {}
    for p in data.planted:
        secrets.setdefault(p.block, []).append(p.secret)
    return sum(
        not any(value in s or s in value for s in secrets.get(i, []))
        for i, block in enumerate(data.blocks)
        for _, value in redactor.findings(block)
    )


def recall(found: list[bool], data: Corpus, family: str | None = None) -> float:
    hits = [ok for ok, p in zip(found, data.planted, strict=True) if family in (None, p.category)]
    return sum(hits) / len(hits) if hits else float("nan")


def dense_figures(data: Corpus, reps: int) -> tuple[list[Figure], dict[str, int]]:
    """Recall per category for both tools, and throughput on credential-dense text."""
    redactor = Redactor()
    redactor.redact("warm up")
    # A lap is a tenth of a second: three times the laps, or the median swings by 20% on a shared machine.
    laps = [clocked(lambda: [redactor.redact(block) for block in data.blocks]) for _ in range(3 * reps)]
    output = laps[0][2]
    ours = [s.secret not in output[s.block] for s in data.planted]
    ds_wall, ds_cpu, lines = clocked(lambda: detect_secrets_lines("".join(data.blocks)))
    theirs = [any(n in lines for n in s.lines) for s in data.planted]
    mb = data.size / 1e6
    wall, cpu = (statistics.median(lap[i] for lap in laps) for i in (0, 1))
    figures = [
        Figure("dense_text_mb", mb, "MB"),
        Figure("dense_samples", len(data.planted)),
        Figure("redactor_dense_mb_s", mb / wall, "MB/s", ">= 25"),
        Figure("redactor_dense_mb_s_cpu", mb / cpu, "MB/s", ">= 25"),
        Figure("redactor_dense_first_lap_mb_s_cpu", mb / laps[0][1], "MB/s"),
        Figure("detect_secrets_dense_mb_s", mb / ds_wall, "MB/s"),
        Figure("detect_secrets_dense_mb_s_cpu", mb / ds_cpu, "MB/s"),
    ]
    theirs_by = recall_by_category(theirs, data)
    for category, value in recall_by_category(ours, data).items():
        figures += [
            Figure(f"recall_{category}", value, "", ">= 0.95"),
            Figure(f"detect_secrets_recall_{category}", theirs_by[category]),
        ]
    return figures, misses(ours, data)


def code_figures(stdlib_mb: float, js_mb: float, ds_mb: float, reps: int) -> list[Figure]:
    """False positives per MB on the stdlib and JavaScript, and throughput on source code, both tools."""
    stdlib = read_up_to(stdlib_files(), stdlib_mb)
    root = js_root(os.environ.get("REDACTOR_JS_CORPUS"))
    javascript = read_up_to(js_files(root), js_mb)
    figures = []
    for name, sources in (("stdlib", stdlib), ("js", javascript)):
        size = sum(len(text.encode()) for _, text in sources) / 1e6
        found = false_positives(sources) if sources else []
        for line in found:
            print(f"  {name} finding: {line}")
        figures += [
            Figure(f"{name}_mb", size, "MB"),
            Figure(f"{name}_false_positives", len(found)),
            Figure(
                f"redactor_{name}_false_positives_per_mb", len(found) / size if size else "n/a", "", "<= 0.2"
            ),
        ]
    blocks = [text for _, text in stdlib]
    mb = sum(len(text.encode()) for text in blocks) / 1e6
    redactor = Redactor()
    laps = [clocked(lambda: [redactor.redact(text) for text in blocks]) for _ in range(reps)]
    wall, cpu = (statistics.median(lap[i] for lap in laps) for i in (0, 1))
    part = read_up_to(stdlib_files(), ds_mb)
    part_mb = sum(len(text.encode()) for _, text in part) / 1e6
    ds_wall, ds_cpu, _ = clocked(lambda: detect_secrets_lines("\n".join(text for _, text in part)))
    return [
        *figures,
        Figure("redactor_code_mb_s", mb / wall, "MB/s", ">= 50"),
        Figure("redactor_code_mb_s_cpu", mb / cpu, "MB/s", ">= 50"),
        Figure("detect_secrets_code_mb_s", part_mb / ds_wall, "MB/s"),
        Figure("detect_secrets_code_mb_s_cpu", part_mb / ds_cpu, "MB/s"),
        Figure("js_corpus", str(root) if root else "none found"),
    ]


def main() -> None:
    args = options(__doc__ or "")
    megabytes, reps = (0.5, 2) if args.quick else (10, 3)
    per_category, stdlib_mb, js_mb, ds_mb = (40, 2, 1, 0.1) if args.quick else (400, 200, 200, 1)
    data = corpus(megabytes)
    ours, ours_cpu, ours_first, ours_found = redactor_figures(data, reps)
    theirs, theirs_cpu, theirs_found, theirs_fp = detect_secrets_figures(data)
    mb = data.size / 1e6
    figures = [
        Figure("text_mb", mb, "MB"),
        Figure("planted_secrets", len(data.planted)),
        Figure("redactor_mb_s", ours, "MB/s", ">= 50"),
        Figure("detect_secrets_mb_s", theirs, "MB/s"),
        Figure("speed_ratio", ours / theirs, "x", ">= 10"),
        Figure("redactor_mb_s_cpu", ours_cpu, "MB/s", ">= 50"),
        Figure("redactor_first_lap_mb_s_cpu", ours_first, "MB/s"),
        Figure("detect_secrets_mb_s_cpu", theirs_cpu, "MB/s"),
        Figure("redactor_recall", recall(ours_found, data)),
        Figure("detect_secrets_recall", recall(theirs_found, data)),
    ]
    for family in ("token", "contextual", "assignment"):
        figures += [
            Figure(f"redactor_recall_{family}", recall(ours_found, data, family)),
            Figure(f"detect_secrets_recall_{family}", recall(theirs_found, data, family)),
        ]
    figures += [
        Figure("redactor_false_positives_per_mb", redactor_false_positives(data) / mb),
        Figure("detect_secrets_false_positive_lines_per_mb", theirs_fp / mb),
    ]
    dense, missed = dense_figures(dense_corpus(per_category, clean_line), reps)
    figures += dense + code_figures(stdlib_mb, js_mb, ds_mb, reps)
    report(
        f"redactor ({'quick: ' if args.quick else ''}{mb:.0f} MB, {len(data.blocks)} blocks of 64 KiB)",
        figures,
        [
            f"redactor: Redactor.redact per 64 KiB block, median of {reps}; recall: the secret is gone",
            "detect-secrets 1.5 (default plugins and filters): core.scan.scan_file over the same text, once;",
            "  recall: it reports a finding on a line the secret is on (line-level, as lenient as it gets)",
            "_cpu: bytes per CPU second of this process (less sensitive to other load than wall time)",
            "first_lap: the first pass over a corpus, which compiles regexes and builds RE2 states",
            "families: token = fixed formats in 10 contexts, contextual = keyword-bound, assignment = k=v",
            "recall_<category>: credential-dense text (tests/secret_categories.py), syntaxes of each in turn",
            "code: the local Python's stdlib with its tests, and JavaScript (npm's node_modules by default,",
            "  REDACTOR_JS_CORPUS=DIR for another); every redactor finding there counts as a false positive",
            f"missed (category:syntax): {sum(missed.values())} in all; "
            + (
                ", ".join(f"{key} {n}" for key, n in sorted(missed.items(), key=lambda kv: -kv[1])[:12])
                or "none"
            ),
        ],
    )


if __name__ == "__main__":
    main()
