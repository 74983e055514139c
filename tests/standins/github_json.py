"""GitHub REST JSON representations for the local GitHub stand-in.

Every ``url`` / ``html_url`` points back at the running stand-in so PyGithub's lazy completion
and link following work unmodified. Callers should hold ``State.lock``.
"""

from __future__ import annotations

import zlib
from typing import Any
from urllib.parse import quote

from .github_state import (
    PERMISSION_LEVELS,
    Comment,
    Event,
    Issue,
    Label,
    Repo,
    State,
    commit_info,
    pull_shas,
)

JsonDict = dict[str, Any]
DOCS = "https://docs.github.com/rest"


class Render:
    """Builds JSON documents from :class:`State` objects."""

    def __init__(self, state: State) -> None:
        self.st = state

    # -- helpers ----------------------------------------------------------------------------------
    def api(self, path: str) -> str:
        return f"{self.st.api_url}{path}"

    def web(self, path: str) -> str:
        return f"{self.st.base_http}{path}"

    def repo_api(self, repo: Repo, suffix: str = "") -> str:
        return self.api(f"/repos/{repo.owner}/{repo.name}{suffix}")

    def node_id(self, kind: str, ident: int) -> str:
        return f"{kind}_kwDO{ident:08d}"

    def author_association(self, repo: Repo, login: str) -> str:
        if login.lower() == repo.owner.lower():
            return "OWNER"
        if repo.permissions.get(login.lower(), "none") != "none":
            return "COLLABORATOR"
        return "NONE"

    # -- documents --------------------------------------------------------------------------------
    def user(self, login: str) -> JsonDict:
        uid = self.st.user_id(login)
        return {
            "login": login,
            "id": uid,
            "node_id": self.node_id("U", uid),
            "type": "Bot" if login.endswith("[bot]") else "User",
            "site_admin": False,
            "url": self.api(f"/users/{quote(login)}"),
            "html_url": self.web(f"/{quote(login)}"),
            "avatar_url": self.web(f"/avatars/{quote(login)}"),
            "repos_url": self.api(f"/users/{quote(login)}/repos"),
        }

    def permissions(self, repo: Repo, login: str) -> dict[str, bool]:
        level = PERMISSION_LEVELS.index(self.st.permission(repo, login))

        def at_least(name: str) -> bool:
            return level >= PERMISSION_LEVELS.index(name)

        return {
            "admin": at_least("admin"),
            "maintain": at_least("maintain"),
            "push": at_least("write"),
            "triage": at_least("triage"),
            "pull": at_least("read"),
        }

    def repo(self, repo: Repo, login: str | None) -> JsonDict:
        url = self.repo_api(repo)
        doc: JsonDict = {
            "id": repo.id,
            "node_id": self.node_id("R", repo.id),
            "name": repo.name,
            "full_name": repo.full_name,
            "owner": self.user(repo.owner),
            "private": repo.private,
            "visibility": "private" if repo.private else "public",
            "description": None,
            "fork": False,
            "archived": False,
            "disabled": False,
            "url": url,
            "html_url": self.web(f"/{repo.owner}/{repo.name}"),
            "clone_url": self.web(f"/git/{repo.owner}/{repo.name}.git"),
            "git_url": self.web(f"/git/{repo.owner}/{repo.name}.git"),
            "ssh_url": f"git@127.0.0.1:{repo.owner}/{repo.name}.git",
            "default_branch": repo.default_branch,
            "created_at": repo.created_at,
            "updated_at": repo.created_at,
            "pushed_at": repo.created_at,
            "has_issues": True,
            "open_issues_count": sum(1 for i in repo.issues.values() if i.state == "open"),
            "allow_merge_commit": True,
            "allow_squash_merge": True,
            "allow_rebase_merge": True,
            "delete_branch_on_merge": False,
            "issues_url": url + "/issues{/number}",
            "pulls_url": url + "/pulls{/number}",
            "labels_url": url + "/labels{/name}",
            "branches_url": url + "/branches{/branch}",
            "git_refs_url": url + "/git/refs{/sha}",
        }
        if login is not None:
            doc["permissions"] = self.permissions(repo, login)
        return doc

    def label(self, repo: Repo, label: Label) -> JsonDict:
        return {
            "id": label.id,
            "node_id": self.node_id("LA", label.id),
            "url": self.repo_api(repo, f"/labels/{quote(label.name, safe='')}"),
            "name": label.name,
            "color": label.color,
            "default": label.default,
            "description": label.description,
        }

    def issue_labels(self, repo: Repo, issue: Issue) -> list[JsonDict]:
        return [self.label(repo, self.st.ensure_label(repo, name)) for name in issue.labels]

    def issue(self, repo: Repo, issue: Issue) -> JsonDict:
        url = self.repo_api(repo, f"/issues/{issue.number}")
        kind = "pull" if issue.pull else "issues"
        doc: JsonDict = {
            "id": issue.id,
            "node_id": self.node_id("I", issue.id),
            "number": issue.number,
            "title": issue.title,
            "body": issue.body,
            "user": self.user(issue.user),
            "labels": self.issue_labels(repo, issue),
            "state": issue.state,
            "state_reason": issue.state_reason,
            "locked": issue.locked,
            "assignee": None,
            "assignees": [],
            "milestone": None,
            "comments": len(self.st.issue_comments(repo, issue.number)),
            "created_at": issue.created_at,
            "updated_at": issue.updated_at,
            "closed_at": issue.closed_at,
            "author_association": self.author_association(repo, issue.user),
            "url": url,
            "html_url": self.web(f"/{repo.owner}/{repo.name}/{kind}/{issue.number}"),
            "repository_url": self.repo_api(repo),
            "labels_url": url + "/labels{/name}",
            "comments_url": url + "/comments",
            "events_url": url + "/events",
        }
        if issue.pull:
            html = self.web(f"/{repo.owner}/{repo.name}/pull/{issue.number}")
            doc["draft"] = issue.pull.draft
            doc["pull_request"] = {
                "url": self.repo_api(repo, f"/pulls/{issue.number}"),
                "html_url": html,
                "diff_url": html + ".diff",
                "patch_url": html + ".patch",
                "merged_at": issue.pull.merged_at,
            }
        return doc

    def comment(self, repo: Repo, comment: Comment) -> JsonDict:
        on = repo.issues.get(comment.issue_number)
        kind = "pull" if on is not None and on.pull is not None else "issues"
        return {
            "id": comment.id,
            "node_id": self.node_id("IC", comment.id),
            "body": comment.body,
            "user": self.user(comment.user),
            "created_at": comment.created_at,
            "updated_at": comment.updated_at,
            "author_association": self.author_association(repo, comment.user),
            "url": self.repo_api(repo, f"/issues/comments/{comment.id}"),
            "html_url": self.web(  # GitHub links a pull request's conversation comments under /pull/
                f"/{repo.owner}/{repo.name}/{kind}/{comment.issue_number}#issuecomment-{comment.id}"
            ),
            "issue_url": self.repo_api(repo, f"/issues/{comment.issue_number}"),
        }

    def event(self, repo: Repo, event: Event) -> JsonDict:
        doc: JsonDict = {
            "id": event.id,
            "node_id": self.node_id("E", event.id),
            "url": self.repo_api(repo, f"/issues/events/{event.id}"),
            "event": event.event,
            "actor": self.user(event.actor),
            "commit_id": None,
            "commit_url": None,
            "created_at": event.created_at,
        }
        if event.label_name is not None:
            doc["label"] = {"name": event.label_name, "color": event.label_color}
        if event.rename is not None:
            doc["rename"] = {"from": event.rename[0], "to": event.rename[1]}
        return doc

    def pull(self, repo: Repo, issue: Issue, mergeable: tuple[bool | None, str] | None = None) -> JsonDict:
        """A pull request; ``mergeable`` is ``(mergeable, mergeable_state)`` for a single-PR response.

        Lists leave ``mergeable`` / ``mergeable_state`` / ``rebaseable`` out, as GitHub does (so PyGithub
        fetches the pull request when they are read).
        """
        pull = issue.pull
        assert pull is not None
        head_sha, base_sha = pull_shas(repo, pull)
        url = self.repo_api(repo, f"/pulls/{issue.number}")
        html = self.web(f"/{repo.owner}/{repo.name}/pull/{issue.number}")
        doc: JsonDict = {
            "id": issue.id,
            "node_id": self.node_id("PR", issue.id),
            "number": issue.number,
            "state": issue.state,
            "locked": issue.locked,
            "title": issue.title,
            "body": issue.body,
            "user": self.user(issue.user),
            "labels": self.issue_labels(repo, issue),
            "draft": pull.draft,
            "merged": pull.merged,
            "merged_at": pull.merged_at,
            "merged_by": self.user(pull.merged_by) if pull.merged_by else None,
            "merge_commit_sha": pull.merge_commit_sha,
            "maintainer_can_modify": pull.maintainer_can_modify,
            "created_at": issue.created_at,
            "updated_at": issue.updated_at,
            "closed_at": issue.closed_at,
            "assignee": None,
            "assignees": [],
            "requested_reviewers": [],
            "author_association": self.author_association(repo, issue.user),
            "auto_merge": None,
            "comments": len(self.st.issue_comments(repo, issue.number)),
            "url": url,
            "html_url": html,
            "diff_url": html + ".diff",
            "patch_url": html + ".patch",
            "issue_url": self.repo_api(repo, f"/issues/{issue.number}"),
            "comments_url": self.repo_api(repo, f"/issues/{issue.number}/comments"),
            "commits_url": url + "/commits",
            "head": self._pull_end(repo, pull.head_owner, pull.head, head_sha),
            "base": self._pull_end(repo, repo.owner, pull.base, base_sha),
            "statuses_url": self.repo_api(repo, f"/statuses/{head_sha}"),
        }
        if mergeable is not None:
            doc["mergeable"], doc["mergeable_state"] = mergeable
            doc["rebaseable"] = mergeable[0]
        return doc

    def _pull_end(self, repo: Repo, owner: str, ref: str, sha: str) -> JsonDict:
        return {
            "label": f"{owner}:{ref}",
            "ref": ref,
            "sha": sha,
            "user": self.user(owner),
            "repo": self._fork(repo, owner),
        }

    def _fork(self, repo: Repo, owner: str) -> JsonDict:
        """The repository a PR's end lives in: `repo`, or `owner`'s fork of it."""
        doc = self.repo(repo, None)
        if owner.lower() == repo.owner.lower():
            return doc
        return {**doc, "full_name": f"{owner}/{repo.name}", "owner": self.user(owner), "fork": True}

    def ref(self, repo: Repo, ref: str, sha: str) -> JsonDict:
        """A git reference; ``ref`` is the full name, e.g. ``refs/heads/main``."""
        return {
            "ref": ref,
            "node_id": self.node_id("REF", zlib.crc32(f"{repo.id}:{ref}".encode()) % 10**8),
            "url": self.repo_api(repo, f"/git/{ref}"),
            "object": {"sha": sha, "type": "commit", "url": self.repo_api(repo, f"/git/commits/{sha}")},
        }

    def branch(self, repo: Repo, name: str, sha: str, full: bool = True) -> JsonDict:
        commit: JsonDict = {"sha": sha, "url": self.repo_api(repo, f"/commits/{sha}")}
        if full:
            info = commit_info(repo.path, sha)
            commit["commit"] = {
                "message": info.get("message", "").rstrip("\n"),
                "tree": {
                    "sha": info.get("tree", ""),
                    "url": self.repo_api(repo, f"/git/trees/{info.get('tree', '')}"),
                },
                "author": {
                    "name": info.get("author_name"),
                    "email": info.get("author_email"),
                    "date": info.get("author_date"),
                },
                "committer": {
                    "name": info.get("committer_name"),
                    "email": info.get("committer_email"),
                    "date": info.get("committer_date"),
                },
                "url": self.repo_api(repo, f"/git/commits/{sha}"),
            }
            commit["parents"] = [
                {"sha": p, "url": self.repo_api(repo, f"/commits/{p}")}
                for p in info.get("parents", "").split()
            ]
        rules = repo.protection.get(name)
        checks = list(rules.required_checks) if rules else []
        level = "off" if not checks else ("everyone" if rules and rules.enforce_admins else "non_admins")
        doc: JsonDict = {
            "name": name,
            "commit": commit,
            "protected": rules is not None,
            "protection": {
                "enabled": rules is not None,
                "required_status_checks": {
                    "enforcement_level": level,
                    "contexts": checks,
                    "checks": [{"context": c, "app_id": None} for c in checks],
                },
            },
            "protection_url": self.repo_api(repo, f"/branches/{quote(name)}/protection"),
        }
        if full:
            doc["_links"] = {
                "self": self.repo_api(repo, f"/branches/{quote(name)}"),
                "html": self.web(f"/{repo.owner}/{repo.name}/tree/{quote(name)}"),
            }
        return doc
