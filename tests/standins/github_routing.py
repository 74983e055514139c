"""Request plumbing shared by the REST routes of the local GitHub stand-in.

:class:`Router` maps an authenticated request (:class:`Ctx`) onto a handler; handlers run under
``State.lock`` and return ``(status, extra_headers, json_body)`` or raise :class:`ApiError`.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode

from .github_json import DOCS, JsonDict, Render
from .github_state import Issue, Repo, State, Token, now_iso

Response = tuple[int, dict[str, str], Any]
Handler = Callable[..., Response]


class ApiError(Exception):
    """An error response in GitHub's shape."""

    def __init__(self, status: int, message: str, errors: list[JsonDict] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.errors = errors

    def body(self) -> JsonDict:
        doc: JsonDict = {"message": self.message}
        if self.errors is not None:
            doc["errors"] = self.errors
        doc["documentation_url"] = DOCS
        return doc


def validation_failed(
    resource: str, field: str | None = None, code: str = "invalid", message: str | None = None
) -> ApiError:
    error: JsonDict = {"resource": resource, "code": code}
    if field is not None:
        error["field"] = field
    if message is not None:
        error["message"] = message
    return ApiError(422, "Validation Failed", [error])


@dataclass(frozen=True)
class Ctx:
    """One authenticated API request."""

    state: State
    render: Render
    method: str
    path: str  # below /api/v3, still percent-encoded
    full_path: str  # as requested, without the query string
    query_pairs: tuple[tuple[str, str], ...]
    body: bytes
    token: Token

    @property
    def login(self) -> str:
        return self.token.login

    def q(self, name: str, default: str | None = None) -> str | None:
        for key, value in self.query_pairs:
            if key == name:
                return value
        return default

    def payload(self) -> Any:
        if not self.body.strip():
            return {}
        try:
            return json.loads(self.body)
        except ValueError as exc:
            raise ApiError(400, "Problems parsing JSON") from exc

    def obj(self) -> JsonDict:
        data = self.payload()
        if not isinstance(data, dict):
            raise ApiError(400, "Problems parsing JSON")
        return data

    def repo(self, owner: str, name: str) -> Repo:
        found = self.state.find_repo(owner, name)
        if found is None or not self.token.sees(found):  # an installation token sees its repositories only
            raise ApiError(404, "Not Found")
        return found

    def issue(self, repo: Repo, number: str, pulls_only: bool = False) -> Issue:
        found = repo.issues.get(int(number))
        if found is None or (pulls_only and found.pull is None):
            raise ApiError(404, "Not Found")
        return found

    def require(self, repo: Repo, level: str) -> None:
        if not self.state.has_permission(repo, self.login, level):
            raise ApiError(403, "Resource not accessible by personal access token")


_REPO = r"/repos/(?P<owner>[^/]+)/(?P<name>[^/]+)"


class Router:
    """A table of ``(method, path regex, handler)``; ``{R}`` in a pattern means ``/repos/{owner}/{name}``."""

    def __init__(self, *parts: Router) -> None:
        self.routes: list[tuple[str, re.Pattern[str], Handler]] = [r for part in parts for r in part.routes]

    def route(self, method: str, pattern: str) -> Callable[[Handler], Handler]:
        def register(func: Handler) -> Handler:
            self.routes.append((method, re.compile(f"^{pattern.replace('{R}', _REPO)}/?$"), func))
            return func

        return register

    def dispatch(self, ctx: Ctx) -> Response:
        """Route ``ctx`` to its handler (under the state lock); unknown routes or methods give a 404."""
        for method, regex, handler in self.routes:
            match = regex.match(ctx.path)
            if match and method == ctx.method:
                with ctx.state.lock:
                    return handler(ctx, **{k: unquote(v) for k, v in match.groupdict().items()})
        raise ApiError(404, "Not Found")


def paginate(ctx: Ctx, items: Sequence[Any], render: Callable[[Any], Any]) -> Response:
    """Slice ``items`` by ``page``/``per_page`` and add an RFC 5988 ``Link`` header like GitHub's."""
    per_page = int_param(ctx.q("per_page"), 30)
    per_page = 30 if per_page < 1 else min(per_page, 100)
    page = max(1, int_param(ctx.q("page"), 1))
    last = max(1, math.ceil(len(items) / per_page))

    def link(number: int, rel: str) -> str:
        params = [(k, v) for k, v in ctx.query_pairs if k != "page"] + [("page", str(number))]
        return f'<{ctx.state.base_http}{ctx.full_path}?{urlencode(params)}>; rel="{rel}"'

    links = []
    if page > 1:
        links.append(link(min(page - 1, last), "prev"))
    if page < last:
        links += [link(page + 1, "next"), link(last, "last")]
    if page > 1:
        links.append(link(1, "first"))
    chunk = items[(page - 1) * per_page : page * per_page]
    return 200, ({"Link": ", ".join(links)} if links else {}), [render(item) for item in chunk]


def int_param(value: str | None, default: int) -> int:
    try:
        return int(value) if value is not None else default
    except ValueError:
        return default


def label_names(data: Any) -> list[str]:
    """Label names from ``{"labels": [...]}`` or a bare list of names / ``{"name": ...}`` objects."""
    if isinstance(data, dict):
        data = data.get("labels", [])
    if isinstance(data, str) or not isinstance(data, list):
        raise validation_failed("Label", "labels")
    names: list[str] = []
    for item in data:
        name = item.get("name") if isinstance(item, dict) else item
        if not isinstance(name, str) or not name:
            raise validation_failed("Label", "name")
        names.append(name)
    return names


def apply_common_updates(ctx: Ctx, issue: Issue, data: JsonDict) -> None:
    """Apply ``title`` / ``body`` / ``state`` from an issue or pull request PATCH body."""
    resource = "PullRequest" if issue.pull else "Issue"
    if "title" in data:
        if not isinstance(data["title"], str) or not data["title"]:
            raise validation_failed(resource, "title")
        ctx.state.rename(issue, data["title"], ctx.login)
    if "body" in data and str(data["body"] or "") != issue.body:
        ctx.state.edit_text(issue, str(data["body"] or ""), ctx.login)
    if "state" in data:
        if data["state"] not in ("open", "closed"):
            raise validation_failed(resource, "state")
        if data["state"] == "open" and issue.pull and issue.pull.merged:
            raise validation_failed(resource, "state", "custom", "Cannot reopen a merged pull request")
        ctx.state.set_state(issue, data["state"], ctx.login, data.get("state_reason"))
    elif data.get("state_reason") and issue.state == "closed":
        issue.state_reason = data["state_reason"]
    issue.updated_at = now_iso()


def parse_query(query: str) -> tuple[tuple[str, str], ...]:
    return tuple(parse_qsl(query, keep_blank_values=True))
