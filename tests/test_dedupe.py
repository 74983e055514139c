"""Proposed tasks that repeat an existing issue are recognised by title or by the files they touch."""

from __future__ import annotations

import pytest

from autonomous_dev.intake.dedupe import (
    PATH_OVERLAP,
    TITLE_SIMILARITY,
    Duplicate,
    Existing,
    affected_paths,
    existing_from_issues,
    find_duplicate,
    normalise_path,
    normalise_title,
    path_overlap,
    title_similarity,
)
from autonomous_dev.models import Issue

NO_PATHS: frozenset[str] = frozenset()
# "API Timeout" in full-width letters and an ideographic space, as typed with some CJK input methods.
FULL_WIDTH_TITLE = "".join("\u3000" if char == " " else chr(ord(char) + 0xFEE0) for char in "API Timeout")

DISCOVERED_BODY = """\
`Cart.total()` raises `TypeError` when a line item has no price.

## Affected Paths

- `src/shop/cart.py`
- `./src/shop/pricing.py`

---
_Proposed by autonomous-dev discovery (bug, high priority) at 0123456789ab._
<!-- autonomous-dev:kind=discovered sha=0123456789ab -->"""


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        ("Fix: crash in Cart.total()", "crash in cart total"),
        ("fix crash in cart total", "crash in cart total"),
        ("[bug] Crash in Cart.total()", "crash in cart total"),
        ("[Bug][P1] fix(cart)!: crash in cart total", "crash in cart total"),
        ("feat(api): Add input validation to /login", "add input validation to login"),
        ("chore: bump   dependencies", "bump dependencies"),
        ("Refactor: split store_sql.py", "split store sql py"),
        ("  Add dark-mode  —  finally!! ", "add dark mode finally"),
        ("Docs are out of date", "docs are out of date"),  # no colon: a word, not a prefix
        ("Cart: total is wrong", "cart total is wrong"),  # unknown words before a colon are kept
        ("Fixes #12", "fixes 12"),
        ("fix:", "fix"),  # nothing but a prefix keeps it
        (FULL_WIDTH_TITLE, "api timeout"),
        ("", ""),
    ],
)
def test_normalise_title(title: str, expected: str) -> None:
    assert normalise_title(title) == expected


def test_a_reworded_title_with_a_fix_prefix_is_the_same_title() -> None:
    existing = [Existing(12, "fix crash in cart total", NO_PATHS)]
    assert find_duplicate("Fix: crash in Cart.total()", NO_PATHS, existing) == Duplicate(
        12, "same title as #12"
    )


def test_similar_titles_are_duplicates() -> None:
    score = title_similarity("Add input validation to /login", "Add input validation for login endpoint")
    assert score >= TITLE_SIMILARITY
    existing = [Existing(7, "Add input validation for login endpoint", NO_PATHS)]
    assert find_duplicate("Add input validation to /login", NO_PATHS, existing) == Duplicate(
        7, f"similar title to #7 ({score:.2f})"
    )


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Add retry to GitHub client", "Add retries to the GitHub client"),
        ("Improve error message for missing token", "Improve error messages when the token is missing"),
        ("Handle rate limit errors from GitHub", "Handle GitHub rate limit errors"),
    ],
)
def test_plurals_stop_words_and_word_order_do_not_hide_a_duplicate(a: str, b: str) -> None:
    assert title_similarity(a, b) >= TITLE_SIMILARITY


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Add dark mode", "Fix SQL injection in search"),
        ("Add type hints to store.py", "Add type hints to tools.py"),
        ("Add input validation to /login", "Add input validation to /signup"),
        ("Add logging to the daemon", "Add logging to the pipeline"),
        ("Remove unused imports", "Remove unused variables"),
    ],
)
def test_titles_about_different_things_are_not_similar(a: str, b: str) -> None:
    assert title_similarity(a, b) < TITLE_SIMILARITY
    assert find_duplicate(a, NO_PATHS, [Existing(3, b, NO_PATHS)]) is None


def test_unrelated_titles_score_low() -> None:
    assert title_similarity("Add dark mode", "Fix SQL injection in search") < 0.3


def test_title_similarity_is_symmetric_and_bounded() -> None:
    a, b = "Add input validation to /login", "Add input validation for login endpoint"
    assert title_similarity(a, b) == title_similarity(b, a)
    assert title_similarity(a, a) == 1.0
    assert title_similarity("", a) == 0.0
    assert title_similarity("!!!", "???") == 0.0


def test_a_single_shared_file_is_a_duplicate() -> None:
    existing = [Existing(3, "Cart totals ignore discounts", frozenset({"src/shop/cart.py"}))]
    duplicate = find_duplicate("Refactor pricing rules", frozenset({"./src/shop/cart.py"}), existing)
    assert duplicate == Duplicate(3, "same files as #3 (src/shop/cart.py)")


def test_partly_shared_files_below_the_threshold_are_not_a_duplicate() -> None:
    mine = frozenset({"src/shop/cart.py", "src/shop/pricing.py"})
    theirs = frozenset({"src/shop/cart.py"})
    assert path_overlap(mine, theirs) == 0.5 < PATH_OVERLAP
    assert find_duplicate("Refactor pricing rules", mine, [Existing(3, "Cart totals", theirs)]) is None


def test_many_shared_files_are_summarised_in_the_reason() -> None:
    paths = frozenset(f"src/m{n}.py" for n in range(5))
    duplicate = find_duplicate("Tidy modules", paths, [Existing(4, "Type hints", paths)])
    assert duplicate == Duplicate(4, "same files as #4 (src/m0.py, src/m1.py, src/m2.py and 2 more)")


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        (frozenset({"a.py"}), frozenset({"a.py"}), 1.0),
        (frozenset({"a.py", "b.py"}), frozenset({"b.py", "c.py"}), 1 / 3),
        (frozenset({"a.py"}), frozenset({"b.py"}), 0.0),
        (frozenset(), frozenset({"a.py"}), 0.0),
        (frozenset(), frozenset(), 0.0),
    ],
)
def test_path_overlap_is_the_jaccard_index(a: frozenset[str], b: frozenset[str], expected: float) -> None:
    assert path_overlap(a, b) == pytest.approx(expected)


def test_an_exact_title_wins_over_a_more_similar_earlier_one_and_over_files() -> None:
    existing = [
        Existing(1, "Add input validation for login endpoint", frozenset({"src/login.py"})),
        Existing(2, "[feature] Add input validation to /login", NO_PATHS),
    ]
    found = find_duplicate("Add input validation to /login", frozenset({"src/login.py"}), existing)
    assert found == Duplicate(2, "same title as #2")


def test_the_most_similar_title_is_reported() -> None:
    existing = [
        Existing(1, "Add input validation for the login endpoint and signup form", NO_PATHS),
        Existing(2, "Add input validation for login endpoint", NO_PATHS),
    ]
    found = find_duplicate("Add input validation to /login", NO_PATHS, existing)
    assert found is not None
    assert found.number == 2


def test_a_duplicate_of_an_earlier_proposal_in_the_batch_says_so() -> None:
    existing = [Existing(0, "Add dark mode", frozenset({"web/theme.ts"}))]
    assert find_duplicate("feat: add dark mode", NO_PATHS, existing) == Duplicate(
        0, "same title as an earlier proposal in this batch"
    )
    assert find_duplicate("Theme tokens", frozenset({"web/theme.ts"}), existing) == Duplicate(
        0, "same files as an earlier proposal in this batch (web/theme.ts)"
    )


def test_nothing_is_a_duplicate_of_nothing() -> None:
    assert find_duplicate("Add dark mode", frozenset({"web/theme.ts"}), []) is None
    assert find_duplicate("!!!", NO_PATHS, [Existing(1, "???", NO_PATHS)]) is None


def test_affected_paths_from_a_discovered_issue() -> None:
    assert affected_paths(DISCOVERED_BODY) == {"src/shop/cart.py", "src/shop/pricing.py"}


def test_affected_paths_accepts_plain_and_multi_path_bullets_until_the_next_heading() -> None:
    body = (
        "Intro mentions `src/not_listed.py`.\n\n"
        "### affected paths:\n"
        "* src/a.py (the cart)\n"
        "+ `lib/b.py`, `lib/c.py`\n"
        "1. /docs/guide.md\r\n"
        "- `src/generated/`\n"
        "- (none identified)\n"
        "not a bullet: src/ignored.py\n"
        "## Notes\n"
        "- `src/after.py`\n"
    )
    assert affected_paths(body) == {"src/a.py", "lib/b.py", "lib/c.py", "docs/guide.md", "src/generated"}


def test_an_issue_without_the_section_has_no_paths() -> None:
    body = "Crash in `src/cart.py` when the cart is empty.\n\n## Steps\n\n- `src/cart.py`\n"
    assert affected_paths(body) == frozenset()
    assert affected_paths("") == frozenset()


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("`src/a.py`", "src/a.py"), ("./src/a.py", "src/a.py"), ("/src/a.py", "src/a.py"), ("src/", "src")],
)
def test_normalise_path(raw: str, expected: str) -> None:
    assert normalise_path(raw) == expected


def test_existing_from_issues_reads_the_affected_paths() -> None:
    issues = [
        Issue(number=21, title="Cart crashes on free items", body=DISCOVERED_BODY, labels=("bug",)),
        Issue(number=22, title="Add dark mode", body="Please."),
    ]
    assert existing_from_issues(issues) == [
        Existing(21, "Cart crashes on free items", frozenset({"src/shop/cart.py", "src/shop/pricing.py"})),
        Existing(22, "Add dark mode", frozenset()),
    ]
