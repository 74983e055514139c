"""The GitHub repository port over PyGithub: GitHub objects turned into models, text redacted first."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any, TypeVar
from urllib.parse import quote, urlencode

from github import GithubException
from github.PullRequest import PullRequest as GhPull
from github.Repository import Repository

from autonomous_dev.errors import GitHubError
from autonomous_dev.github import edit_history, failures, prsignals
from autonomous_dev.github.edit_history import parse_time
from autonomous_dev.github.session import GitHubSession
from autonomous_dev.models import (
    BRANCH_PREFIX,
    CheckSummary,
    Comment,
    FailedCheck,
    Issue,
    IssueEvent,
    PostedComment,
    PullRequest,
    PullStatus,
    RepoAccess,
    Review,
    ReviewComment,
    ThreadHistory,
    TokenReport,
)
from autonomous_dev.retry import retry_write
from autonomous_dev.security.redact import Redactor
from autonomous_dev.settings.validate import REPO_NOT_FOUND_HINT

log = logging.getLogger(__name__)
T = TypeVar("T")


class GitHubRepoClient:
    """Implements ports.GitHubRepo for one repository; all text written is redacted first."""

    def __init__(self, session: GitHubSession, full_name: str, redactor: Redactor) -> None:
        self._redactor = redactor
        self._read = session.read
        self._write = session.write
        self._session = session
        try:
            raw = self._read(f"reading {full_name}", lambda: session.conditional(f"/repos/{full_name}"))
        except GitHubError as exc:
            if exc.status == 404:  # the same hint as `config --validate` gives
                raise GitHubError(exc.message, REPO_NOT_FOUND_HINT, exc.status) from None
            raise
        self._repo: Repository = session.client.create_from_raw_data(Repository, raw)
        self._url = f"/repos/{self._repo.full_name}"

    @property
    def full_name(self) -> str:
        return str(self._repo.full_name)

    @property
    def clone_url(self) -> str:
        return str(self._repo.clone_url)

    @property
    def default_branch(self) -> str:
        return str(self._repo.default_branch)

    @property
    def private(self) -> bool:
        return bool(self._repo.private)

    def _list(self, what: str, path: str, **params: str) -> list[dict[str, Any]]:
        """A paginated list, every page a conditional GET (unchanged pages cost no rate limit)."""
        url = f"{self._url}{path}?{urlencode({**params, 'per_page': '100'})}"
        return self._read(what, lambda: self._session.conditional_list(url))

    def events(self, number: int) -> list[IssueEvent]:
        items = self._list(f"reading the events of #{number}", f"/issues/{number}/events")
        return [
            IssueEvent(
                str(item.get("event") or ""),
                (item.get("actor") or {}).get("login"),
                parse_time(item["created_at"]),
                (item.get("label") or {}).get("name"),
            )
            for item in items
        ]

    def edit_history(self, number: int) -> ThreadHistory:
        owner, name = self.full_name.split("/", 1)
        variables = {"owner": owner, "name": name, "number": number}
        requester = self._session.client.requester
        what = f"reading who edited #{number}"
        # A query (a read) sent as POST, so PyGithub does not retry it after a 5xx; it is safe to repeat.
        _, data = retry_write(
            what, lambda: self._read(what, lambda: requester.graphql_query(edit_history.QUERY, variables))
        )
        try:
            return edit_history.thread_history(data["data"])
        except (KeyError, TypeError, ValueError) as exc:
            raise GitHubError(f"GitHub's GraphQL answer about #{number} cannot be read: {exc!r}") from exc

    def permission(self, login: str) -> str:
        """A conditional GET: revalidating an unchanged answer costs no rate limit."""
        url = f"{self._url}/collaborators/{quote(login, safe='')}/permission"
        try:
            data = self._read(f"reading {login}'s permission", lambda: self._session.conditional(url))
        except GitHubError as exc:
            if exc.status == 404:  # not a collaborator at all
                return "none"
            raise
        return str((data or {}).get("permission") or "none")

    def own_logins(self) -> frozenset[str]:
        return self._session.own_logins()

    def issue(self, number: int) -> Issue | None:
        url = f"{self._url}/issues/{number}"
        try:
            item = self._read(f"reading #{number}", lambda: self._session.conditional(url))
        except GitHubError as exc:
            if exc.status in (404, 410):  # never existed, or deleted or transferred
                return None
            raise
        found = _issues([item])  # a pull request is no issue
        return found[0] if found else None

    def labelled_issues(self, label: str) -> list[Issue]:
        items = self._list(f"listing issues labelled {label!r}", "/issues", state="open", labels=label,
                           sort="created", direction="asc")  # fmt: skip
        return _issues(items)

    def list_issues(self, state: str = "open", since: datetime | None = None) -> list[Issue]:
        params = {"state": state, "sort": "created", "direction": "asc"}
        if since is not None:
            params["since"] = since.strftime("%Y-%m-%dT%H:%M:%SZ")
        return _issues(self._list(f"listing {state} issues", "/issues", **params))

    def create_issue(self, title: str, body: str, labels: list[str]) -> Issue:
        title, body = self._redactor.redact_for(title, "github"), self._redactor.redact_for(body, "github")
        labels = [self._redactor.redact_for(label, "github") for label in labels]
        # Not retried after a 5xx (it may have been created); callers deduplicate on the next run.
        made = self._write(
            f"opening an issue {title[:60]!r}", lambda: self._repo.create_issue(title, body, labels=labels)
        )
        return _issues([made.raw_data])[0]

    def open_pulls(self) -> list[PullRequest]:
        return [_pull(item) for item in self._list("listing pull requests", "/pulls", state="open")]

    def add_label(self, number: int, label: str) -> None:
        label = self._redactor.redact_for(label, "github")
        # Adding a label twice changes nothing, so a failed POST may simply be repeated.
        self._write_retried(f"labelling #{number}", lambda: self._repo.get_issue(number).add_to_labels(label))

    def remove_label(self, number: int, label: str) -> None:
        try:
            self._write(
                f"removing {label!r} from #{number}",
                lambda: self._repo.get_issue(number).remove_from_labels(label),
            )
        except GitHubError as exc:
            if exc.status != 404:  # 404: the label was not there, nothing to do
                raise

    def comments(self, number: int) -> list[Comment]:
        items = self._list(f"reading comments of #{number}", f"/issues/{number}/comments")
        return [prsignals.comment(item) for item in items]

    def comments_since(self, since: datetime) -> list[PostedComment]:
        stamp = since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        items = self._list("reading the repository's new comments", "/issues/comments", sort="updated",
                           direction="asc", since=stamp)  # fmt: skip
        return [_posted(item) for item in items]

    def add_comment(self, number: int, body: str) -> Comment:
        text = self._redactor.redact_for(body, "github")
        made = self._write(
            f"commenting on #{number}", lambda: self._repo.get_issue(number).create_comment(text)
        )
        return prsignals.comment(made.raw_data)

    def edit_comment(self, comment_id: int, body: str) -> Comment:
        text = self._redactor.redact_for(body, "github")
        url = f"{self._url}/issues/comments/{comment_id}"
        requester = self._session.client.requester
        _, data = self._write_retried(  # a PATCH with the whole text is safe to repeat
            f"editing comment {comment_id}",
            lambda: requester.requestJsonAndCheck("PATCH", url, input={"body": text}),
        )
        return prsignals.comment(data)

    def create_pull(self, title: str, body: str, head: str, base: str, draft: bool = False) -> PullRequest:
        title, body = self._redactor.redact_for(title, "github"), self._redactor.redact_for(body, "github")

        def open_once() -> PullRequest:
            try:
                return _pull(self._repo.create_pull(base, head, title=title, body=body, draft=draft))
            except GithubException as exc:
                # 422: it exists already; 5xx: it may exist since before the error. Look before retrying.
                existing = self._open_pull_from(head) if exc.status == 422 or exc.status >= 500 else None
                if existing is None:
                    raise
                log.info("a pull request from %s already exists: %s", head, existing.url)
                return existing

        return self._write_retried(f"opening a PR from {head}", open_once)

    def pull_status(self, number: int) -> PullStatus:
        """A conditional GET: looking at an unchanged PR costs no rate limit."""
        url = f"{self._url}/pulls/{number}"
        return prsignals.pull_status(
            self._read(f"reading PR #{number}", lambda: self._session.conditional(url))
        )

    def checks(self, sha: str) -> CheckSummary:
        return failures.summary(self._session, self._url, sha)

    def review_threads(self, pr_number: int, since_id: int = 0) -> list[ReviewComment]:
        what = f"reading the review comments of PR #{pr_number}"
        items = self._list(what, f"/pulls/{pr_number}/comments", sort="created", direction="asc")
        found = [prsignals.review_comment(item) for item in items if int(item["id"]) > since_id]
        return sorted(found, key=lambda c: (c.created_at, c.id))

    def reviews(self, pr_number: int) -> list[Review]:
        items = self._list(f"reading the reviews of PR #{pr_number}", f"/pulls/{pr_number}/reviews")
        return [prsignals.review(item) for item in items if item.get("state") != "PENDING"]

    def reply_to_review_comment(self, pr_number: int, comment_id: int, body: str) -> Comment:
        text = self._redactor.redact_for(body, "github")
        url = f"{self._url}/pulls/{pr_number}/comments/{comment_id}/replies"
        requester = self._session.client.requester
        _, data = self._write(
            f"replying to review comment {comment_id} on PR #{pr_number}",
            lambda: requester.requestJsonAndCheck("POST", url, input={"body": text}),
        )
        return prsignals.comment(data)

    def failed_checks(self, sha: str) -> list[FailedCheck]:
        return failures.failed_checks(self._session, self._url, sha)

    def merge_pull(self, number: int, method: str, sha: str) -> None:
        # PUT with the head sha is safe to repeat: a second one finds the PR merged (405) or moved (409).
        self._write(
            f"merging PR #{number}", lambda: self._repo.get_pull(number).merge(merge_method=method, sha=sha)
        )

    def delete_branch(self, branch: str) -> None:
        if not branch.startswith(BRANCH_PREFIX):
            raise GitHubError(f"refusing to delete {branch!r}: only {BRANCH_PREFIX}* branches are ours")
        try:
            url = f"{self._url}/git/refs/heads/{quote(branch)}"  # the documented (plural) path
            requester = self._session.client.requester
            self._write(f"deleting {branch}", lambda: requester.requestJsonAndCheck("DELETE", url))
        except GitHubError as exc:
            if exc.status not in (404, 422):  # already gone
                raise

    def close_issue(self, number: int) -> None:
        self._write_retried(
            f"closing #{number}",
            lambda: self._repo.get_issue(number).edit(state="closed", state_reason="completed"),
        )

    def _write_retried(self, what: str, action: Callable[[], T]) -> T:
        """A write that is safe to repeat: retried a few times when GitHub fails transiently."""
        return retry_write(what, lambda: self._write(what, action))

    def _open_pull_from(self, head: str) -> PullRequest | None:
        owner = self.full_name.split("/")[0]
        pulls = list(self._repo.get_pulls(state="open", head=f"{owner}:{head}"))
        return _pull(pulls[0]) if pulls else None


def _issues(items: Iterable[dict[str, Any]]) -> list[Issue]:
    return [
        Issue(
            number=item["number"],
            title=item.get("title") or "",
            body=item.get("body") or "",
            labels=tuple(label["name"] for label in item.get("labels") or []),
            author=(item.get("user") or {}).get("login", ""),
            url=item.get("html_url", ""),
            state=item.get("state", "open"),
        )
        for item in items
        if "pull_request" not in item  # the issues API lists pull requests too
    ]


def _posted(item: dict[str, Any]) -> PostedComment:
    """A comment of the repository-wide list: its issue's number ends `issue_url`; GitHub links a PR's
    conversation comments under /pull/."""
    return PostedComment(
        number=int(str(item["issue_url"]).rstrip("/").rsplit("/", 1)[1]),
        on_pull="/pull/" in str(item.get("html_url") or ""),
        comment=prsignals.comment(item),
        created_at=parse_time(item["created_at"]),
        updated_at=parse_time(item["updated_at"]),
    )


def _pull(item: dict[str, Any] | GhPull) -> PullRequest:
    data = item.raw_data if isinstance(item, GhPull) else item
    return PullRequest(
        number=data["number"],
        url=data["html_url"],
        head=data["head"]["ref"],
        base=data["base"]["ref"],
        draft=bool(data.get("draft")),
        author=(data.get("user") or {}).get("login", ""),
        from_fork=_repo_name(data["head"]) != _repo_name(data["base"]),
    )


def _repo_name(end: dict[str, Any]) -> str | None:
    """The repository a PR's head or base lives in (None once a fork was deleted)."""
    return ((end.get("repo") or {}).get("full_name") or "").lower() or None


def token_report(session: GitHubSession) -> TokenReport:
    """`GET /user`, reading the scopes and expiry headers GitHub sends with it."""
    requester = session.client.requester
    headers, data = session.read("checking the token", lambda: requester.requestJsonAndCheck("GET", "/user"))
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


def repo_access(session: GitHubSession, full_name: str) -> RepoAccess:
    """The repository as the token sees it; reads of issues and pulls probe fine-grained permissions."""
    repo = session.read(f"reading {full_name}", lambda: session.client.get_repo(full_name).complete())
    permissions = repo.permissions
    return RepoAccess(
        full_name=repo.full_name,
        private=bool(repo.private),
        push=bool(permissions and permissions.push),
        admin=bool(permissions and permissions.admin),
        can_read_issues=_readable(session, "issues", lambda: repo.get_issues(state="all").get_page(0)),
        can_read_pulls=_readable(session, "pull requests", lambda: repo.get_pulls(state="all").get_page(0)),
    )


def _readable(session: GitHubSession, what: str, action: Callable[[], object]) -> bool:
    try:
        session.read(f"probing access to {what}", action)
    except GitHubError as exc:
        if exc.status in (403, 404):
            return False
        raise
    return True
