"""Discovery: a read-only agent reads the code and proposes tasks, filed as deduplicated issues."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

from autonomous_dev.core import prompts
from autonomous_dev.core.agent import Agent
from autonomous_dev.core.repomap import SymbolCache, blob_shas, list_files, repo_map
from autonomous_dev.errors import AutonomousDevError
from autonomous_dev.intake import structured
from autonomous_dev.intake.dedupe import Existing, existing_from_issues, find_duplicate
from autonomous_dev.intake.structured import AnswerTool, NoAnswer
from autonomous_dev.models import BRANCH_PREFIX, Issue
from autonomous_dev.ports import GitHubRepo, Workspaces
from autonomous_dev.security.outgoing import one_line
from autonomous_dev.settings.sections import DiscoverySettings

log = logging.getLogger(__name__)
PROPOSE_TOOL = "propose_tasks"
DISCOVERY_BRANCH = f"{BRANCH_PREFIX}0-discovery"  # a worktree name only: never committed or pushed
PRIORITY_ORDER = ("critical", "high", "medium", "low")
# The map is discovery's overview of the whole code base (the model opens files from it), so it keeps this
# size even where execution.repoMapChars trims or drops the map in the prompts of ordinary tasks.
MAP_CHARS = 12_000


class DiscoveryError(AutonomousDevError):
    """The model gave no valid task list: nothing is filed, and nothing generic is made up instead."""

    code = "AD760"


class ProposedTask(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, populate_by_name=True)

    title: str = Field(min_length=8, max_length=120)
    description: str = Field(min_length=20, max_length=8000)
    priority: Literal["critical", "high", "medium", "low"]
    category: Literal["security", "bugfix", "feature", "refactor", "docs", "test", "chore"]
    complexity: Literal["small", "medium", "large"]
    affected_paths: list[str] = Field(alias="affectedPaths", min_length=1, max_length=20)


class Proposal(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tasks: list[ProposedTask] = Field(max_length=50)


class MetaStore(Protocol):
    def get_meta(self, key: str) -> str | None: ...

    def set_meta(self, key: str, value: str) -> None: ...


@dataclass(frozen=True)
class Analysis:
    sha: str
    tasks: tuple[ProposedTask, ...]
    cached: bool


@dataclass(frozen=True)
class Filed:
    task: ProposedTask
    issue: Issue | None = None  # None: a dry run, or a duplicate
    duplicate_reason: str = ""


class Discovery:
    """Analyses the base branch's HEAD once per commit and files what is new."""

    def __init__(
        self,
        repo: GitHubRepo,
        workspaces: Workspaces,
        agent: Agent,
        store: MetaStore,
        settings: DiscoverySettings,
        base_branch: str,
        restore: Callable[[str], str] = lambda text: text,
        symbols: SymbolCache | None = None,
    ) -> None:
        self.repo = repo
        self.workspaces = workspaces
        self.agent = agent
        self.store = store
        self.settings = settings
        self.base_branch = base_branch
        self.restore = restore
        self.symbols = symbols

    def analyse(self, remember: bool = True) -> Analysis:
        """The tasks for the current HEAD: from the cache when this commit was analysed before."""
        self.workspaces.sync()
        workspace = self.workspaces.open(DISCOVERY_BRANCH, self.base_branch)
        try:
            sha = workspace.base_sha()
            key = f"discovery:{self.repo.full_name}:{sha}"
            cached = self.store.get_meta(key)
            if cached is not None:
                log.info("%s: %s was analysed before; using that answer", self.repo.full_name, sha[:12])
                return Analysis(sha, tuple(Proposal.model_validate_json(cached).tasks), cached=True)
            proposal = self._ask(workspace.path, sha)
            if remember:
                self.store.set_meta(key, proposal.model_dump_json(by_alias=True))
            return Analysis(sha, tuple(proposal.tasks), cached=False)
        finally:
            workspace.close()

    def file(self, analysis: Analysis, dry_run: bool = False) -> list[Filed]:
        """Create issues for the best new tasks, skipping duplicates of open and recently closed issues."""
        existing = existing_from_issues(self._known_issues())
        filed: list[Filed] = []
        for task in sorted(analysis.tasks, key=lambda t: PRIORITY_ORDER.index(t.priority)):
            paths = frozenset(task.affected_paths)
            duplicate = find_duplicate(task.title, paths, existing)
            if duplicate is not None:
                log.info("%s: not filing %r: %s", self.repo.full_name, task.title, duplicate.reason)
                filed.append(Filed(task, duplicate_reason=duplicate.reason))
                continue
            if sum(1 for f in filed if not f.duplicate_reason) >= self.settings.tasks_per_cycle:
                break
            issue = None if dry_run else self._create(task, analysis.sha)
            existing.append(Existing(issue.number if issue else 0, task.title, paths))
            filed.append(Filed(task, issue))
        return filed

    def _known_issues(self) -> list[Issue]:
        since = datetime.now(UTC) - timedelta(days=self.settings.recent_days)
        return [*self.repo.list_issues("open"), *self.repo.list_issues("closed", since=since)]

    def _create(self, task: ProposedTask, sha: str) -> Issue:
        body = prompts.discovered_issue_body(
            task.description, task.category, task.priority, task.affected_paths, sha
        )
        labels = [self.settings.issue_label, f"priority:{task.priority}", f"type:{task.category}"]
        issue = self.repo.create_issue(one_line(task.title), body, labels)  # the model wrote the title
        log.info("%s: filed #%d %r", self.repo.full_name, issue.number, task.title)
        return issue

    def _ask(self, root: Path, sha: str) -> Proposal:
        exclude = self.settings.exclude_paths
        files = set(list_files(root, exclude))
        known = [issue.title for issue in self.repo.list_issues("open")]
        files_map = repo_map(root, exclude, MAP_CHARS, blobs=blob_shas(root, exclude), cache=self.symbols)
        wanted = self.settings.tasks_per_cycle * 2
        message = prompts.discovery_message(self.repo.full_name, sha, wanted, known, files_map)
        tool = AnswerTool(propose_tool(), "task list", lambda args: _validated(args, files))
        try:
            return structured.ask(self.agent, message, root, self.restore, tool)
        except NoAnswer as exc:
            raise DiscoveryError(
                f"the model gave no valid task list{exc.detail}",
                "nothing was filed; run again, or check the model and discovery.* settings",
            ) from None


def _validated(args: dict[str, object], files: set[str]) -> Proposal:
    proposal = Proposal.model_validate(args)
    for task in proposal.tasks:
        unknown = [path for path in task.affected_paths if path.removeprefix("./") not in files]
        if unknown:
            raise ValueError(f"task {task.title!r} names files that do not exist: {', '.join(unknown)}")
    return proposal


def propose_tool() -> dict[str, object]:
    """The tool the model reports its tasks through; its schema is the pydantic model's."""
    schema = Proposal.model_json_schema(by_alias=True)
    return {
        "name": PROPOSE_TOOL,
        "description": "Report the proposed tasks (call once, with every task).",
        "input_schema": _inline_refs(schema, schema.get("$defs", {})),
    }


def _inline_refs(node: Any, defs: dict[str, Any]) -> Any:
    if isinstance(node, dict):
        if "$ref" in node:
            return _inline_refs(defs[node["$ref"].rsplit("/", 1)[-1]], defs)
        return {key: _inline_refs(value, defs) for key, value in node.items() if key != "$defs"}
    if isinstance(node, list):
        return [_inline_refs(item, defs) for item in node]
    return node


def summary_rows(filed: Sequence[Filed]) -> list[dict[str, object]]:
    """One row per proposed task, for the CLI's table and its --json output."""
    return [
        {
            "title": item.task.title,
            "priority": item.task.priority,
            "category": item.task.category,
            "paths": item.task.affected_paths,
            "issue": item.issue.url if item.issue else None,
            "skipped": item.duplicate_reason or None,
        }
        for item in filed
    ]
