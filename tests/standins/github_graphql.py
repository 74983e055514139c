"""The GraphQL endpoint of the GitHub stand-in: who edited an issue's and its comments' text, and when.

Answers queries of the shape ``repository(owner:, name:) { issue(number:) { ... } }`` from the stand-in's
state with a small evaluator: the query is parsed into fields (aliases, arguments, variables, nested
selections) and each field is looked up in a document built from the state. A field GitHub does not
have on that object is an error in GraphQL's shape, as GitHub answers, so a client asking for the
wrong thing fails here too. Connections take ``first`` / ``last``; ``userContentEdits`` lists the
newest revision first, ``comments`` the oldest first, as GitHub does.
"""

from __future__ import annotations

import re
from typing import Any

from .github_json import JsonDict
from .github_state import Comment, Edit, Issue, Repo, State

TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|-?\d+|\.\.\.|\$?[A-Za-z_][A-Za-z0-9_]*|[{}():!,=\[\]@]')


class GraphQLError(Exception):
    """An error GitHub reports in the body of a 200 answer."""


Field = tuple[str, str, dict[str, Any], list[Any]]  # (alias, name, arguments, selection)


def answer(state: State, login: str, body: Any) -> JsonDict:
    """The response document for one POST /graphql body."""
    if not isinstance(body, dict) or not isinstance(body.get("query"), str):
        return {"errors": [{"message": "A query attribute must be specified and must be a string."}]}
    try:
        selection = _parse(body["query"], body.get("variables") or {})
        with state.lock:
            return {"data": _project(_Repository(state), selection, "Query")}
    except GraphQLError as exc:
        return {"errors": [{"message": str(exc)}]}


def _parse(query: str, variables: dict[str, Any]) -> list[Field]:
    tokens = TOKEN.findall(query)
    if tokens and tokens[0] in ("query", "fragment", "mutation", "subscription"):
        if tokens[0] != "query":
            raise GraphQLError(f"{tokens[0]} is not supported by the stand-in")
        tokens.pop(0)
        if tokens and tokens[0] not in ("(", "{"):
            tokens.pop(0)  # the operation name
        if tokens and tokens[0] == "(":
            del tokens[: tokens.index(")") + 1]  # variable definitions: the values come from `variables`
    selection, rest = _selection(tokens, variables)
    if rest:
        raise GraphQLError(f"Parse error on {rest[0]!r}")
    return selection


def _selection(tokens: list[str], variables: dict[str, Any]) -> tuple[list[Field], list[str]]:
    if not tokens or tokens[0] != "{":
        raise GraphQLError("Parse error: expected '{'")
    tokens, fields = tokens[1:], []
    while tokens and tokens[0] != "}":
        alias = name = tokens.pop(0)
        if tokens and tokens[0] == ":":
            name = tokens[1]
            tokens = tokens[2:]
        arguments: dict[str, Any] = {}
        if tokens and tokens[0] == "(":
            end = tokens.index(")")
            parts = [t for t in tokens[1:end] if t != ","]
            for key, _, value in zip(parts[0::3], parts[1::3], parts[2::3], strict=False):
                arguments[key] = _value(value, variables)
            tokens = tokens[end + 1 :]
        nested: list[Any] = []
        if tokens and tokens[0] == "{":
            nested, tokens = _selection(tokens, variables)
        fields.append((alias, name, arguments, nested))
        if tokens and tokens[0] == ",":
            tokens.pop(0)
    if not tokens:
        raise GraphQLError("Parse error: expected '}'")
    return fields, tokens[1:]


def _value(token: str, variables: dict[str, Any]) -> Any:
    if token.startswith("$"):
        if token[1:] not in variables:
            raise GraphQLError(f"Variable {token} was not provided")
        return variables[token[1:]]
    if token.startswith('"'):
        return token[1:-1]
    return int(token) if token.lstrip("-").isdigit() else token


def _project(source: Any, selection: list[Field], type_name: str) -> Any:
    if isinstance(source, list):
        return [_project(item, selection, type_name) for item in source]
    if source is None:
        return None
    result: JsonDict = {}
    for alias, name, arguments, nested in selection:
        value = source.resolve(name, arguments) if hasattr(source, "resolve") else _plain(source, name)
        if value is _MISSING:
            raise GraphQLError(f"Field '{name}' doesn't exist on type '{type_name}'")
        result[alias] = _project(value, nested, name) if nested else value
    return result


_MISSING = object()


def _plain(source: dict[str, Any], name: str) -> Any:
    return source.get(name, _MISSING)


class _Repository:
    def __init__(self, state: State) -> None:
        self.state = state

    def resolve(self, name: str, arguments: dict[str, Any]) -> Any:
        if name != "repository":
            return _MISSING
        repo = self.state.find_repo(str(arguments.get("owner")), str(arguments.get("name")))
        if repo is None:
            raise GraphQLError(f"Could not resolve to a Repository with the name '{arguments.get('name')}'.")
        return _RepoNode(repo)


class _RepoNode:
    def __init__(self, repo: Repo) -> None:
        self.repo = repo

    def resolve(self, name: str, arguments: dict[str, Any]) -> Any:
        if name == "nameWithOwner":
            return self.repo.full_name
        if name != "issue":
            return _MISSING
        issue = self.repo.issues.get(int(arguments.get("number", 0)))
        if issue is None or issue.pull is not None:
            raise GraphQLError(f"Could not resolve to an Issue with the number of {arguments.get('number')}.")
        comments = sorted((c for c in self.repo.comments.values() if c.issue_number == issue.number),
                          key=lambda c: c.id)  # fmt: skip
        nodes = [_text_node(c, {"databaseId": c.id}, {}) for c in comments]
        return _text_node(issue, {"number": issue.number, "title": issue.title}, {"comments": nodes})


def _user(login: str | None) -> JsonDict | None:
    return None if login is None else {"login": login}


def _text_node(target: Issue | Comment, extra: dict[str, Any], connections: dict[str, list[Any]]) -> Any:
    """An issue or comment: its text, author and edit history (the newest revision first)."""
    edits: list[Edit] = list(reversed(target.edits))
    last = target.edits[-1] if len(target.edits) > 1 else None
    fields = {
        "body": target.body,
        "createdAt": target.created_at,
        "author": _user(target.user),
        "lastEditedAt": last.edited_at if last else None,
        "editor": _user(last.editor) if last else None,
        **extra,
    }
    revisions = [{"editedAt": e.edited_at, "editor": _user(e.editor)} for e in edits]
    return _Node(fields, {"userContentEdits": revisions, **connections})


class _Node:
    def __init__(self, fields: dict[str, Any], connections: dict[str, list[Any]]) -> None:
        self.fields = fields
        self.connections = connections

    def resolve(self, name: str, arguments: dict[str, Any]) -> Any:
        if name in self.connections:
            items = self.connections[name]
            first, last = arguments.get("first"), arguments.get("last")
            if first is None and last is None:
                raise GraphQLError(f"You must provide a `first` or `last` value to paginate `{name}`.")
            page = items[: int(first)] if first is not None else items[-int(last) :] if int(last) else []
            return {"totalCount": len(items), "nodes": page}
        return self.fields.get(name, _MISSING)
