"""Prompt caching: the cache-read share of input tokens over one 10-turn session (`run` on one issue)."""

from __future__ import annotations

import json

from _common import Figure, cli, generate_repo, options, report, seed_issues, stage

TOOL_CALLS = 9  # then a final answer: 10 model turns
# A typical AGENTS.md (about 2 KB): with it, the repository's cached block holds its instructions too.
AGENTS_MD = b"# Notes for coding agents\n\n" + b"".join(
    b"- Rule %d: keep modules small, run `make check` before finishing, follow the style around you.\n" % n
    for n in range(20)
)


def session(
    files: int, min_cache_tokens: int, agents_md: bool = False
) -> tuple[dict[str, int], dict[str, int], int]:
    """Usage as the stand-in served it, as the state store recorded it, and the model turns."""
    extra = {"AGENTS.md": AGENTS_MD} if agents_md else None
    with stage(lambda bare: generate_repo(bare, files=files, commits=5, extra=extra)) as st:
        st.claude.min_cache_tokens = min_cache_tokens
        seed_issues(st, 1, tool_calls=TOOL_CALLS)
        cli(st, "run")
        served = st.claude.usage_totals()
        _, status = cli(st, "status", "--json")
        [task] = json.loads(status.stdout)["tasks"]
        turns = len(st.claude.message_requests())
    stored = {
        "input_tokens": task["input_tokens"],
        "cache_read_input_tokens": task["cache_read_tokens"],
        "cache_creation_input_tokens": task["cache_write_tokens"],
        "output_tokens": task["output_tokens"],
    }
    return served, stored, turns


def share(usage: dict[str, int], part: str = "cache_read_input_tokens") -> float:
    """`part` as a share of all input tokens: plain input, cache reads and cache writes."""
    keys = ("input_tokens", "cache_read_input_tokens", "cache_creation_input_tokens")
    return usage[part] / sum(usage[key] for key in keys)


def main() -> None:
    args = options(__doc__ or "")
    files = 20 if args.quick else 200
    figures: list[Figure] = []
    variants = [("", 1024, False)]
    if not args.quick:
        variants += [("_no_minimum", 0, False), ("_agents_md", 1024, True)]
    for label, minimum, agents_md in variants:
        served, stored, turns = session(files, minimum, agents_md)
        if label == "":
            figures += [Figure("model_turns", turns)]
            figures += [Figure(f"{key}", value) for key, value in served.items()]
        figures += [
            Figure(f"cache_read_share{label}", share(served), "", ">= 0.70"),
            Figure(f"cache_read_share_status{label}", share(stored), "", ">= 0.70"),
            Figure(f"cache_write_share{label}", share(served, "cache_creation_input_tokens")),
        ]
    report(
        f"prompt_cache ({'quick: ' if args.quick else ''}1 issue, {TOOL_CALLS} tool calls, {files} files)",
        figures,
        [
            "share = cache_read / (input + cache_read + cache_write), summed over the session's turns",
            "cache_read_share: the stand-in caches no prefix under 1,024 tokens, like the API for Sonnet",
            "_status: the same figure from the state store (`autonomous-dev status --json`)",
            f"_agents_md: the repository also holds a {len(AGENTS_MD):,}-byte AGENTS.md (system prompt)",
        ],
    )


if __name__ == "__main__":
    main()
