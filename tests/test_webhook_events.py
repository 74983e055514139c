"""What each delivery asks for, from GitHub-shaped payloads: the events and actions that matter, the
numbers they name, and payloads that are refused. Only numbers and names are taken."""

from __future__ import annotations

from typing import Any

import pytest

from autonomous_dev.webhook.events import MAX_NUMBERS, Nudge, PayloadError, nudge_of, payload_of
from autonomous_dev.webhook.signature import sign, verify

REPO = {"full_name": "acme/widgets"}


def checks(kind: str, pulls: list[Any]) -> dict[str, Any]:
    return {
        "action": "completed",
        kind: {"conclusion": "failure", "pull_requests": pulls},
        "repository": REPO,
    }


@pytest.mark.parametrize(
    ("event", "payload", "expected"),
    [
        ("issues", {"action": "labeled", "issue": {"number": 5}}, ("issues.labeled", (5,))),
        ("issues", {"action": "unlabeled", "issue": {"number": 5}}, ("issues.unlabeled", (5,))),
        ("issues", {"action": "edited", "issue": {"number": 5}}, ("issues.edited", (5,))),
        ("issues", {"action": "reopened", "issue": {"number": 5}}, ("issues.reopened", (5,))),
        ("issue_comment", {"action": "created", "issue": {"number": 6}}, ("issue_comment.created", (6,))),
        ("pull_request", {"action": "closed", "pull_request": {"number": 9}}, ("pull_request.closed", (9,))),
        (
            "pull_request",
            {"action": "synchronize", "pull_request": {"number": 9}},
            ("pull_request.synchronize", (9,)),
        ),
        (
            "pull_request_review",
            {"action": "submitted", "pull_request": {"number": 9}},
            ("pull_request_review.submitted", (9,)),
        ),
        (
            "pull_request_review_comment",
            {"action": "created", "pull_request": {"number": 9}},
            ("pull_request_review_comment.created", (9,)),
        ),
        (
            "check_run",
            checks("check_run", [{"number": 9}, {"number": 9}, {"number": 4}]),
            ("check_run.completed", (9, 4)),
        ),
        ("check_suite", checks("check_suite", [{"number": 9}]), ("check_suite.completed", (9,))),
        ("check_suite", checks("check_suite", []), ("check_suite.completed", None)),  # a fork's PR: all
        (
            "check_run",
            checks("check_run", [{"number": n} for n in range(1, MAX_NUMBERS + 2)]),
            ("check_run.completed", None),
        ),
        ("status", {"state": "failure", "sha": "abc"}, ("status.failure", None)),
        ("status", {"state": "error"}, ("status.error", None)),
        ("status", {"state": "success"}, ("status.success", None)),
    ],
)
def test_the_events_that_make_work_due(
    event: str, payload: dict[str, Any], expected: tuple[str, object]
) -> None:
    assert nudge_of(event, {**payload, "repository": REPO}) == Nudge(expected[0], "acme/widgets", expected[1])  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("event", "payload"),
    [
        ("issues", {"action": "closed", "issue": {"number": 5}}),
        ("issues", {"action": "opened", "issue": {"number": 5}}),  # not labelled yet: `labeled` follows
        ("issue_comment", {"action": "deleted", "issue": {"number": 5}}),
        ("pull_request", {"action": "opened", "pull_request": {"number": 5}}),
        ("check_run", {"action": "created", "check_run": {}}),
        ("status", {"state": "pending"}),
        ("push", {"ref": "refs/heads/main"}),
        ("issues", {"action": ["labeled"], "issue": {"number": 5}}),
    ],
)
def test_events_and_actions_that_change_nothing(event: str, payload: dict[str, Any]) -> None:
    assert nudge_of(event, {**payload, "repository": REPO}) is None


@pytest.mark.parametrize(
    "payload",
    [
        {"action": "labeled", "issue": {"number": 5}},  # no repository
        {"action": "labeled", "issue": {"number": 5}, "repository": {"full_name": "a/b/c"}},
        {"action": "labeled", "issue": {"number": 5}, "repository": {"full_name": "../x"}},
        {"action": "labeled", "issue": {"number": 5}, "repository": "acme/widgets"},
        {"action": "labeled", "issue": {"number": "5"}, "repository": REPO},
        {"action": "labeled", "issue": {"number": True}, "repository": REPO},
        {"action": "labeled", "issue": {"number": 2**40}, "repository": REPO},
        {"action": "labeled", "issue": {"number": -3}, "repository": REPO},
        {"action": "labeled", "repository": REPO},
    ],
)
def test_payloads_that_are_refused(payload: dict[str, Any]) -> None:
    with pytest.raises(PayloadError):
        nudge_of("issues", payload)


def test_bodies_as_json_or_as_a_form_and_what_is_not_a_payload() -> None:
    assert payload_of(b'{"a": 1}', "application/json") == {"a": 1}
    assert payload_of(b"payload=%7B%22a%22%3A+1%7D", "application/x-www-form-urlencoded") == {"a": 1}
    for body in (b"", b"null", b"[]", b"\xff", b"[" * 100_000, b"payload=1"):
        with pytest.raises(PayloadError):
            payload_of(body, "application/json")
    with pytest.raises(PayloadError):
        payload_of(b"other=1", "application/x-www-form-urlencoded")


def test_signatures_are_hmac_sha256_of_the_raw_body() -> None:
    body = b'{"zen": "Design for failure."}'
    # GitHub's documented example: secret "It's a Secret to Everybody", payload "Hello, World!"
    assert sign("It's a Secret to Everybody", b"Hello, World!") == (
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    )
    assert verify(["new", "old"], body, sign("old", body))  # the previous secret, while it is rotated
    assert not verify(["new"], body, sign("old", body))
    assert not verify(["new"], body + b" ", sign("new", body))
    assert not verify(["new"], body, None) and not verify(["new"], body, "") and not verify([], body, "x")
    assert not verify(["new"], body, "sha256=é")
