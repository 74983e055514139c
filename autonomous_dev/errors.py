"""The AutonomousDevError hierarchy and the exit codes the CLI maps them to."""

from __future__ import annotations

from enum import IntEnum


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

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


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

    def __init__(self, message: str, hint: str = "", status: int | None = None) -> None:
        super().__init__(message, hint)
        self.status = status

    @property
    def transient(self) -> bool:
        return self.status is None or self.status >= 500 or self.status in (403, 429)


class InfrastructureError(AutonomousDevError):
    """The environment failed, not the task: a service (GitHub, Anthropic, the OAuth endpoint, Postgres)
    could not be reached, timed out, answered 5xx/429/529, or the disk is full.

    The daemon releases the claim, counts no attempt and backs the whole cycle off until `retry_at`.
    `service` names what failed ("GitHub", "Anthropic", "OAuth", "Postgres", "disk") for the live view.
    """

    exit_status = ExitStatus.UNAVAILABLE
    code = "AD350"

    def __init__(
        self, service: str, message: str, hint: str = "", retry_after_s: float | None = None
    ) -> None:
        super().__init__(message, hint)
        self.service = service
        self.retry_after_s = retry_after_s


class ClaudeError(AutonomousDevError):
    """The Claude API refused or failed a request."""

    code = "AD400"


class WorkspaceError(AutonomousDevError):
    """A git operation on the local mirror or a worktree failed."""

    code = "AD500"


class ToolError(AutonomousDevError):
    """The model asked a tool for something it may not do; reported back to the model, not fatal."""

    code = "AD600"


class ChecksFailed(AutonomousDevError):
    """The change did not pass the build and test gate after the repair rounds."""

    code = "AD650"


class SecurityViolation(AutonomousDevError):
    """The result would have crossed a security boundary (a new secret in the diff); nothing left."""

    code = "AD900"


class BudgetExceeded(AutonomousDevError):
    """A task used up its turn, token or cost budget."""

    code = "AD700"
