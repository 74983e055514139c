"""Error reports in: a traceback becomes a redacted issue with an analysis, or a comment on its twin."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from autonomous_dev.core import prompts
from autonomous_dev.core.agent import Agent
from autonomous_dev.core.comments import Commenter
from autonomous_dev.core.repomap import list_files
from autonomous_dev.errors import AutonomousDevError, BudgetExceeded, ClaudeError, InfrastructureError
from autonomous_dev.intake import structured
from autonomous_dev.intake.structured import AnswerTool, NoAnswer
from autonomous_dev.intake.tracebacks import ParsedError, parse_error, repo_path_resolver, signature
from autonomous_dev.models import BRANCH_PREFIX, Issue
from autonomous_dev.ports import GitHubRepo, Workspaces
from autonomous_dev.security.outgoing import one_line
from autonomous_dev.security.redact import Redactor
from autonomous_dev.security.sanitize import sanitize

log = logging.getLogger(__name__)
PathMap = Callable[[str], str | None]  # a printed frame path -> the repository file, or None
REPORT_BRANCH = f"{BRANCH_PREFIX}0-report"  # a worktree name only: never committed or pushed
ANALYSIS_TOOL = "submit_analysis"
MAX_REPORT_CHARS = 60_000
MAX_CONTEXT_FILES = 5
MAX_CONTEXT_CHARS = 12_000


class ReportError(AutonomousDevError):
    """The report holds no traceback we can read."""

    code = "AD770"


class ErrorAnalysis(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, populate_by_name=True)

    likely_cause: str = Field(alias="likelyCause", min_length=10, max_length=4000)
    suggested_fix: str = Field(alias="suggestedFix", min_length=10, max_length=4000)
    affected_files: list[str] = Field(alias="affectedFiles", max_length=20)


@dataclass(frozen=True)
class ReportResult:
    action: str  # created, commented, known (this very occurrence was reported), dry-run
    signature: str
    error: ParsedError
    issue: Issue | None = None


class Intake:
    def __init__(
        self,
        repo: GitHubRepo,
        workspaces: Workspaces,
        agent: Agent,
        redactor: Redactor,
        base_branch: str,
        labels: Sequence[str],
    ) -> None:
        self.repo = repo
        self.workspaces = workspaces
        self.agent = agent
        self.redactor = redactor
        self.base_branch = base_branch
        self.labels = list(labels)  # report.label, and the trigger label with --autofix
        self.commenter = Commenter(repo)

    def report(self, text: str, dry_run: bool = False) -> ReportResult:
        clean = self.redactor.redact(sanitize(text, MAX_REPORT_CHARS).text)  # untrusted, may hold secrets
        error = parse_error(clean)
        if error is None:
            raise ReportError(
                "no traceback found in the report",
                "give a Python, JavaScript/Node, Java, Go or Rust traceback or panic, as printed",
            )
        self.workspaces.sync()
        workspace = self.workspaces.open(REPORT_BRANCH, self.base_branch)
        try:
            in_repo = repo_path_resolver(list_files(workspace.path))
            sig = signature(error, in_repo)
            occurrence = hashlib.sha256(error.text.encode()).hexdigest()[:12]
            twin = self._twin(sig)
            if twin is not None:
                return self._again(twin, error, sig, occurrence, dry_run)
            analysis = self._analyse(workspace.path, error, in_repo)
        finally:
            workspace.close()
        return self._file(error, analysis, sig, occurrence, dry_run)

    def _twin(self, sig: str) -> Issue | None:
        wanted = prompts.report_marker(sig)
        # Only an issue the tool filed: anyone can paste the marker into an issue of their own.
        issues = self.repo.list_issues("open")
        return next((i for i in issues if wanted in i.body and self.commenter.is_own(i.author)), None)

    def _again(
        self, twin: Issue, error: ParsedError, sig: str, occurrence: str, dry_run: bool
    ) -> ReportResult:
        seen = f"occurrence={occurrence}"
        if seen in twin.body or self.commenter.posted(twin.number, seen):
            log.info("%s#%d: this occurrence was reported before", self.repo.full_name, twin.number)
            return ReportResult("known", sig, error, twin)
        if dry_run:
            return ReportResult("dry-run", sig, error, twin)
        body = prompts.occurrence_comment(twin.number, error.text, occurrence)
        self.commenter.post_once(twin.number, body, "occurrence")
        log.info("%s#%d: added the new occurrence", self.repo.full_name, twin.number)
        return ReportResult("commented", sig, error, twin)

    def _file(
        self, error: ParsedError, analysis: ErrorAnalysis | str, sig: str, occurrence: str, dry_run: bool
    ) -> ReportResult:
        """Files the issue; `analysis` is the reason there is none when the model could not give one."""
        title = one_line(f"{error.error_type}: {error.message}" if error.message else error.error_type)
        if isinstance(analysis, str):
            body = prompts.unanalysed_report_body(error.text, analysis, sig, occurrence)
        else:
            body = prompts.error_report_body(
                error.text,
                analysis.likely_cause,
                analysis.suggested_fix,
                analysis.affected_files,
                sig,
                occurrence,
            )
        if dry_run:
            return ReportResult("dry-run", sig, error, Issue(0, title[:120], body))
        issue = self.repo.create_issue(title[:120], body, self.labels)
        log.info("%s: filed #%d for %s", self.repo.full_name, issue.number, error.error_type)
        return ReportResult("created", sig, error, issue)

    def _analyse(self, root: Path, error: ParsedError, in_repo: PathMap) -> ErrorAnalysis | str:
        """The model's analysis, or why there is none: a report is never lost because of the model."""
        context = _context_files(root, error, in_repo)
        message = prompts.report_message(self.repo.full_name, error.language, error.text, context)
        tool = AnswerTool(analysis_tool(), "analysis", ErrorAnalysis.model_validate)
        try:
            return structured.ask(self.agent, message, root, self.redactor.restore, tool)
        except NoAnswer as exc:
            reason = f"The model gave no valid analysis{exc.detail}."
        except (BudgetExceeded, ClaudeError, InfrastructureError) as exc:
            reason = f"The analysis could not be made: {exc.message}."
        log.warning("%s: %s Filing the report without it.", self.repo.full_name, reason)
        return self.redactor.redact(reason)


def _context_files(root: Path, error: ParsedError, in_repo: PathMap) -> list[tuple[str, str]]:
    """The repository files the traceback names, innermost first, each cut to a bounded size."""
    paths = list(dict.fromkeys(p for p in (in_repo(frame.path) for frame in error.frames) if p))
    return [
        (path, (root / path).read_text(errors="replace")[:MAX_CONTEXT_CHARS])
        for path in paths[:MAX_CONTEXT_FILES]
    ]


def analysis_tool() -> dict[str, object]:
    schema = ErrorAnalysis.model_json_schema(by_alias=True)
    return {
        "name": ANALYSIS_TOOL,
        "description": "Report the analysis of the error: likely cause, suggested fix, affected files.",
        "input_schema": schema,
    }
