"""What a delivery asks for: the repository and the issue or PR numbers it names. Only numbers and names
are taken from the payload, which is untrusted; the cycle still reads GitHub itself before acting."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

EVENT_NAME = re.compile(r"^[a-z_]{1,40}$")
REPO_NAME = re.compile(r"^[A-Za-z0-9-]{1,39}/[A-Za-z0-9_.-]{1,100}$")  # GitHub's owner and repository names
MAX_NUMBERS = 20  # a check suite names its PRs; more than this and every waiting PR step is looked at
FORM = "application/x-www-form-urlencoded"
CONTENT_TYPES = ("application/json", FORM)


class PayloadError(ValueError):
    """The body is not a payload GitHub would send (not JSON, no repository, ...)."""


@dataclass(frozen=True)
class Nudge:
    """A delivery that may make work due: `event` (e.g. `issues.labeled`) for `repo`; `numbers` the
    issues or PRs it names, None when it names none (a commit status): every waiting PR step then."""

    event: str
    repo: str
    numbers: tuple[int, ...] | None


def _action_in(*actions: str) -> Callable[[dict[str, Any]], str | None]:
    def relevant(payload: dict[str, Any]) -> str | None:
        action = payload.get("action")
        return action if isinstance(action, str) and action in actions else None

    return relevant


def _status_settled(payload: dict[str, Any]) -> str | None:
    state = payload.get("state")
    return state if isinstance(state, str) and state in ("success", "failure", "error") else None


# The events to subscribe to, and which of their actions matter. A check that passed matters as much as
# one that failed: landing merges when the checks are green.
RELEVANT: dict[str, Callable[[dict[str, Any]], str | None]] = {
    "issues": _action_in("labeled", "unlabeled", "edited", "reopened"),
    "issue_comment": _action_in("created"),
    "pull_request": _action_in("closed", "synchronize"),
    "pull_request_review": _action_in("submitted"),
    "pull_request_review_comment": _action_in("created"),
    "check_run": _action_in("completed"),
    "check_suite": _action_in("completed"),
    "status": _status_settled,
}


def payload_of(body: bytes, content_type: str) -> dict[str, Any]:
    """The JSON object of a delivery sent as `application/json` or as a form's `payload` field."""
    try:
        if content_type == FORM:
            fields = parse_qs(body.decode("utf-8"), max_num_fields=10)
            body = fields.get("payload", [""])[0].encode()
        payload = json.loads(body)
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise PayloadError(f"the body is not JSON ({type(exc).__name__})") from None
    if not isinstance(payload, dict):
        raise PayloadError("the payload is not a JSON object")
    return payload


def nudge_of(event: str, payload: dict[str, Any]) -> Nudge | None:
    """The work a delivery of `event` may make due; None for events and actions that change nothing."""
    relevant = RELEVANT.get(event)
    action = relevant(payload) if relevant is not None else None
    if action is None:
        return None
    repository = payload.get("repository")
    repo = repository.get("full_name") if isinstance(repository, dict) else None
    if not isinstance(repo, str) or not REPO_NAME.match(repo):
        raise PayloadError(f"{event}: the payload names no repository")
    return Nudge(f"{event}.{action}", repo, _numbers(event, payload))


def _numbers(event: str, payload: dict[str, Any]) -> tuple[int, ...] | None:
    if event in ("issues", "issue_comment"):
        return _one(payload, "issue")
    if event.startswith("pull_request"):
        return _one(payload, "pull_request")
    if event in ("check_run", "check_suite"):
        found = payload.get(event)
        pulls = found.get("pull_requests") if isinstance(found, dict) else None
        numbers = [n for pull in pulls if (n := _number(pull)) is not None] if isinstance(pulls, list) else []
        return tuple(dict.fromkeys(numbers)) if 0 < len(numbers) <= MAX_NUMBERS else None
    return None  # a commit status names a commit, not a PR


def _one(payload: dict[str, Any], key: str) -> tuple[int, ...]:
    number = _number(payload.get(key))
    if number is None:
        raise PayloadError(f"the payload's {key} has no number")
    return (number,)


def _number(item: object) -> int | None:
    number = item.get("number") if isinstance(item, dict) else None
    if isinstance(number, int) and not isinstance(number, bool) and 0 < number < 2**31:
        return number
    return None
