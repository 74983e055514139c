"""Collaborators' permissions, read from GitHub and kept for a while; fresh answers shared, never stale."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

# How long a permission answer is believed. Revalidating costs no rate limit (a conditional GET answered
# 304), and the labeller is checked afresh right before each claim, so this only bounds how long a
# removed collaborator's comments may still be shown; not worth a setting.
PERMISSION_TTL_S = 300.0


@dataclass(frozen=True)
class _Answer:
    value: str
    read: int  # the number of the read that gave it: reads are numbered in the order they start
    at: float  # when that read started


class Permissions:
    """`read(login)` asks GitHub (the repository's collaborator permission); answers are kept for
    PERMISSION_TTL_S. A fresh question is answered by a read that started after it was asked, so when
    several workers ask about the same user at once (eight claims of issues one maintainer labelled),
    they share one read instead of queueing eight on the token, and none gets an answer older than its
    question."""

    def __init__(self, read: Callable[[str], str], clock: Callable[[], float] = time.monotonic) -> None:
        self._read = read
        self._clock = clock
        self._lock = threading.Lock()
        self._answers: dict[str, _Answer] = {}
        self._reading: dict[str, threading.Lock] = {}  # one read per user at a time
        self._reads_started = 0

    def of(self, login: str, fresh: bool = False) -> str:
        """The user's permission; `fresh` wants an answer read after this call began."""
        if not login:
            return "none"
        with self._lock:
            asked = self._reads_started
            reading = self._reading.setdefault(login, threading.Lock())
            usable = self._usable(login, asked, fresh)
        if usable is not None:
            return usable
        with reading:
            with self._lock:
                usable = self._usable(login, asked, fresh)
                if usable is not None:  # another worker's read started after the question
                    return usable
                self._reads_started += 1
                number, started = self._reads_started, self._clock()
            value = self._read(login)
            with self._lock:
                self._answers[login] = _Answer(value, number, started)
            return value

    def _usable(self, login: str, asked: int, fresh: bool) -> str | None:
        answer = self._answers.get(login)
        if answer is None:
            return None
        if fresh:
            return answer.value if answer.read > asked else None
        return answer.value if self._clock() - answer.at < PERMISSION_TTL_S else None
