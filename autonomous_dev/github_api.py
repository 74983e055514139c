"""The PyGithub adapter, turning GitHub objects into models; the only module importing `github`."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

import github
from github import Auth, Github, GithubException
from github.PullRequest import PullRequest as GhPull
from github.Repository import Repository

from .errors import CredentialError, GitHubError
from .models import Comment, Issue, PullRequest, RepoAccess, TokenReport
from .redact import Redactor

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class GitHubOptions:
    api_url: str = "https://api.github.com"
    seconds_between_requests: float = 0.25
    seconds_between_writes: float = 1.0
    timeout_s: int = 30


def connect(token: str, options: GitHubOptions) -> Github:
    return Github(
        auth=Auth.Token(token),
        base_url=options.api_url.rstrip("/"),
        timeout=options.timeout_s,
        seconds_between_requests=options.seconds_between_requests or None,
        seconds_between_writes=options.seconds_between_writes or None,
        per_page=100,
        lazy=True,
    )


def _call(what: str, action: Callable[[], T]) -> T:
    """Run one PyGithub call, turning its exceptions into ours with a hint."""
    try:
        return action()
    except github.BadCredentialsException as exc:
        raise CredentialError(
            "GitHub rejected the token (401)", "check GITHUB_TOKEN; it may have expired"
        ) from exc
    except GithubException as exc:
        message = exc.data.get("message") if isinstance(exc.data, dict) else exc.data
        raise GitHubError(f"GitHub {what} failed with {exc.status}: {message}") from exc


class GitHubRepoClient:
    """Implements ports.GitHubRepo for one repository; all text written is redacted first."""

    def __init__(self, client: Github, full_name: str, redactor: Redactor) -> None:
        self._redactor = redactor
        self._repo: Repository = _call(f"reading {full_name}", lambda: client.get_repo(full_name, lazy=False))

    @property
    def full_name(self) -> str:
        return str(self._repo.full_name)

    @property
    def clone_url(self) -> str:
        return str(self._repo.clone_url)

    @property
    def default_branch(self) -> str:
        return str(self._repo.default_branch)

    def labelled_issues(self, label: str) -> list[Issue]:
        def fetch() -> list[Issue]:
            found = self._repo.get_issues(state="open", labels=[label], sort="created", direction="asc")
            return [
                Issue(
                    number=item.number,
                    title=item.title or "",
                    body=item.body or "",
                    labels=tuple(lbl.name for lbl in item.labels),
                    author=item.user.login if item.user else "",
                    url=item.html_url,
                )
                for item in found
                if item.pull_request is None
            ]

        return _call(f"listing issues labelled {label!r}", fetch)

    def open_pulls(self) -> list[PullRequest]:
        return _call("listing pull requests", lambda: [_pull(p) for p in self._repo.get_pulls(state="open")])

    def add_label(self, number: int, label: str) -> None:
        _call(f"labelling #{number}", lambda: self._repo.get_issue(number).add_to_labels(label))

    def remove_label(self, number: int, label: str) -> None:
        try:
            self._repo.get_issue(number).remove_from_labels(label)
        except GithubException as exc:
            if exc.status != 404:  # the label was not there: nothing to do
                raise GitHubError(
                    f"GitHub removing label {label!r} from #{number} failed with {exc.status}"
                ) from exc

    def comments(self, number: int) -> list[Comment]:
        def fetch() -> list[Comment]:
            items = self._repo.get_issue(number).get_comments()
            return [Comment(c.id, c.body or "", c.user.login if c.user else "") for c in items]

        return _call(f"reading comments of #{number}", fetch)

    def add_comment(self, number: int, body: str) -> Comment:
        text = self._redactor.redact(body)
        made = _call(f"commenting on #{number}", lambda: self._repo.get_issue(number).create_comment(text))
        return Comment(made.id, made.body or "", made.user.login if made.user else "")

    def create_pull(self, title: str, body: str, head: str, base: str) -> PullRequest:
        title, body = self._redactor.redact(title), self._redactor.redact(body)
        try:
            return _pull(self._repo.create_pull(base=base, head=head, title=title, body=body))
        except GithubException as exc:
            existing = self._open_pull_from(head) if exc.status == 422 else None
            if existing is None:
                message = exc.data.get("message") if isinstance(exc.data, dict) else exc.data
                raise GitHubError(
                    f"GitHub opening a PR from {head} failed with {exc.status}: {message}"
                ) from exc
            log.info("a pull request from %s already exists: %s", head, existing.url)
            return existing

    def _open_pull_from(self, head: str) -> PullRequest | None:
        owner = self.full_name.split("/")[0]
        pulls = _call(
            "looking up a PR", lambda: list(self._repo.get_pulls(state="open", head=f"{owner}:{head}"))
        )
        return _pull(pulls[0]) if pulls else None


def _pull(pull: GhPull) -> PullRequest:
    return PullRequest(
        number=pull.number,
        url=pull.html_url,
        head=pull.head.ref,
        base=pull.base.ref,
        draft=bool(pull.draft),
    )


def token_report(client: Github) -> TokenReport:
    """`GET /user`, reading the scopes and expiry headers GitHub sends with it."""
    headers, data = _call("checking the token", lambda: client.requester.requestJsonAndCheck("GET", "/user"))
    lowered = {key.lower(): value for key, value in headers.items()}
    raw_scopes = lowered.get("x-oauth-scopes")
    scopes = None if raw_scopes is None else tuple(s.strip() for s in raw_scopes.split(",") if s.strip())
    return TokenReport(
        login=str(data.get("login", "")),
        scopes=scopes,
        expires_at=parse_token_expiry(lowered.get("github-authentication-token-expiration")),
    )


def parse_token_expiry(raw: str | None) -> datetime | None:
    """GitHub sends `2026-12-01 10:00:00 UTC` or `2026-12-01 10:00:00 -0700`."""
    if not raw:
        return None
    text = raw.strip().replace(" UTC", " +0000")
    try:
        return datetime.strptime(text, "%Y-%m-%d %H:%M:%S %z")
    except ValueError:
        log.warning("cannot read the token expiry header %r", raw)
        return None


def repo_access(client: Github, full_name: str) -> RepoAccess:
    """The repository as the token sees it; reads of issues and pulls probe fine-grained permissions."""
    repo = _call(f"reading {full_name}", lambda: client.get_repo(full_name, lazy=False))
    permissions = repo.permissions
    return RepoAccess(
        full_name=repo.full_name,
        private=bool(repo.private),
        push=bool(permissions and permissions.push),
        admin=bool(permissions and permissions.admin),
        can_read_issues=_readable(lambda: repo.get_issues(state="all").get_page(0)),
        can_read_pulls=_readable(lambda: repo.get_pulls(state="all").get_page(0)),
    )


def _readable(action: Callable[[], object]) -> bool:
    try:
        action()
    except GithubException as exc:
        if exc.status in (403, 404):
            return False
        raise GitHubError(f"GitHub answered {exc.status} while probing access") from exc
    return True
