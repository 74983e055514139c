"""The AutonomousDevError hierarchy and the exit codes the CLI maps them to."""

from __future__ import annotations

import socket
import ssl
from enum import IntEnum, StrEnum


class Cause(StrEnum):
    """Why a task's step ended without a ready PR, in a fixed set people can act on: stored with the task,
    shown in the tracking comment and `status`, counted in /metrics, put on the issue as the label
    `autonomous-dev:cause/<value>`. docs/troubleshooting.md says what each means and what to do."""

    SETUP_FAILED = "setup-failed"  # the checkout's environment could not be prepared
    BASELINE_RED = "baseline-red"  # the base commit's tests are broken: nothing can be proven on them
    BUDGET_TOKENS = "budget-tokens"
    BUDGET_COST = "budget-cost"
    BUDGET_TURNS = "budget-turns"
    BUDGET_TIME = "budget-time"
    RATE_LIMITED = "rate-limited"  # GitHub or Claude said slow down: the step was given back uncounted
    SERVICE_DOWN = "service-down"  # a service could not be reached: given back uncounted
    MODEL_GAVE_UP = "model-gave-up"  # the model finished without changing anything
    CHECKS_FAILED = "checks-failed"  # the change (or the PR's CI) fails after the repair rounds
    REVIEW_ROUNDS = "review-rounds"  # new review input after review.maxRounds rounds: people answer it
    NOT_MERGED = "not-merged"  # the PR is open but will not be merged by the tool: a human decides
    SECRET_IN_CHANGE = "secret-in-change"  # noqa: S105 (a cause's name, not a secret)
    MODEL_ERROR = "model-error"  # Claude refused a request
    GITHUB_ERROR = "github-error"  # GitHub refused a request
    GIT_ERROR = "git-error"
    WORKER_LOST = "worker-lost"  # the worker stopped mid-step (killed, crashed); its lease ran out
    UNEXPECTED = "unexpected"  # a bug


class ExitStatus(IntEnum):
    """Process exit codes; documented in docs/troubleshooting.md."""

    OK = 0
    TASK_FAILED = 1
    USAGE = 2
    CONFIG = 3
    AUTH = 4
    UNAVAILABLE = 5  # a service could not be reached, or the disk is full: try again later
    INTERRUPTED = 130


class AutonomousDevError(Exception):
    """Base error: a message written for users plus a hint on what to do next."""

    exit_status = ExitStatus.TASK_FAILED
    code = "AD000"
    cause = Cause.UNEXPECTED  # what a task that failed with it is counted as

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class UsageError(AutonomousDevError):
    """The command names something that is not there (an issue that does not exist or is closed)."""

    exit_status = ExitStatus.USAGE
    code = "AD010"


class ConfigError(AutonomousDevError):
    """The settings are invalid; one problem per line in the message."""

    exit_status = ExitStatus.CONFIG
    code = "AD100"


class CredentialError(AutonomousDevError):
    """A credential is missing or was rejected."""

    exit_status = ExitStatus.AUTH
    code = "AD200"


class GitHubError(AutonomousDevError):
    """The GitHub API refused or failed a request; `status` is the HTTP status when there was one."""

    code = "AD300"
    cause = Cause.GITHUB_ERROR

    def __init__(
        self, message: str, hint: str = "", status: int | None = None, rate_limited: bool = False
    ) -> None:
        super().__init__(message, hint)
        self.status = status
        self.rate_limited = rate_limited  # GitHub said so (headers or message), whatever the status
        if rate_limited:
            self.cause = Cause.RATE_LIMITED

    @property
    def transient(self) -> bool:
        """Worth trying again: a server error or a rate limit. A plain 403 is a permission error."""
        if self.status is None or self.status >= 500 or self.status == 429:
            return True
        return self.status == 403 and self.rate_limited


class InfrastructureError(AutonomousDevError):
    """The environment failed, not the task: a service (GitHub, Anthropic, the OAuth endpoint, Postgres)
    could not be reached, timed out, answered 5xx/429/529, or the disk is full.

    The daemon releases the claim, counts no attempt and backs the whole cycle off until `retry_at`.
    `service` names what failed ("GitHub", "Anthropic", "OAuth", "Postgres", "disk") for the live view.
    """

    exit_status = ExitStatus.UNAVAILABLE
    code = "AD350"

    def __init__(
        self,
        service: str,
        message: str,
        hint: str = "",
        retry_after_s: float | None = None,
        rate_limited: bool = False,
    ) -> None:
        super().__init__(message, hint)
        self.service = service
        self.retry_after_s = retry_after_s
        self.cause = Cause.RATE_LIMITED if rate_limited else Cause.SERVICE_DOWN


def network_reason(exc: BaseException) -> str:
    """What failed on the wire, in a few words, from the exception chain of any HTTP or database client."""
    chain = _exception_chain(exc)
    for kind, reason in _REASONS:
        if any(isinstance(item, kind) for item in chain):
            return reason
    text = " ".join(str(item) for item in chain).lower()
    for words, reason in _REASON_WORDS:
        if any(word in text for word in words):
            return reason
    first = str(exc).strip().splitlines()
    return first[0][:200] if first else type(exc).__name__


# Checked in this order: a TLS failure or a DNS failure also looks like a connection error further down.
_REASONS: tuple[tuple[type[BaseException], str], ...] = (
    (ssl.SSLError, "TLS error (certificate or handshake)"),
    (socket.gaierror, "the host name does not resolve (DNS)"),
    (ConnectionRefusedError, "connection refused"),
    (ConnectionResetError, "connection reset"),
    (TimeoutError, "timed out"),
)
_REASON_WORDS: tuple[tuple[tuple[str, ...], str], ...] = (
    (("certificate", "ssl", "tls"), "TLS error (certificate or handshake)"),
    (("name or service not known", "name resolution", "nodename nor servname", "translate host name",
      "failed to resolve host"), "the host name does not resolve (DNS)"),
    (("connection refused",), "connection refused"),
    (("timed out", "timeout"), "timed out"),
    (("connection reset", "server closed the connection", "connection aborted", "remote end closed"),
     "the connection was dropped"),
)  # fmt: skip


POSTGRES_REFUSALS = ("authentication failed", "no password supplied", "does not exist", "pg_hba.conf",
                     "permission denied")  # fmt: skip


def postgres_unreachable(exc: BaseException) -> bool:
    """A failed Postgres connection is an outage unless the server answered and refused the login."""
    text = str(exc).lower()
    return not any(refusal in text for refusal in POSTGRES_REFUSALS)


def _exception_chain(exc: BaseException) -> list[BaseException]:
    """The exception, its causes and contexts, and the errors clients wrap in `reason` or `args`."""
    seen: list[BaseException] = []
    todo = [exc]
    while todo and len(seen) < 20:
        item = todo.pop()
        if any(item is known for known in seen):
            continue
        seen.append(item)
        nested = [item.__cause__, item.__context__, getattr(item, "reason", None), *item.args]
        todo.extend(each for each in nested if isinstance(each, BaseException))
    return seen


class ClaudeError(AutonomousDevError):
    """The Claude API refused or failed a request."""

    code = "AD400"
    cause = Cause.MODEL_ERROR


class WorkspaceError(AutonomousDevError):
    """A git operation on the local mirror or a worktree failed."""

    code = "AD500"
    cause = Cause.GIT_ERROR


class ToolError(AutonomousDevError):
    """The model asked a tool for something it may not do; reported back to the model, not fatal."""

    code = "AD600"


class ChecksFailed(AutonomousDevError):
    """The change did not pass the build and test gate after the repair rounds."""

    code = "AD650"

    def __init__(
        self, message: str, hint: str = "", pr_url: str | None = None, cause: Cause = Cause.CHECKS_FAILED
    ) -> None:
        super().__init__(message, hint)
        self.pr_url = pr_url  # the draft PR holding the evidence, when one was opened
        self.cause = cause  # the checks, or the environment they ran in (set-up, a broken baseline)


class SecurityViolation(AutonomousDevError):
    """The result would have crossed a security boundary (a new secret in the diff); nothing left."""

    code = "AD900"
    cause = Cause.SECRET_IN_CHANGE


class BudgetExceeded(AutonomousDevError):
    """A task used up its turn, token, cost or time budget; `cause` says which."""

    code = "AD700"

    def __init__(self, message: str, hint: str, cause: Cause) -> None:
        super().__init__(message, hint)
        self.cause = cause


class WorkerLost(AutonomousDevError):
    """The step's workers stopped in the middle of it (killed or crashed, their lease ran out) as often as
    the failure policy allows: it is not started again, a human takes over."""

    code = "AD750"
    cause = Cause.WORKER_LOST
