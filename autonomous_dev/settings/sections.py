"""The sections of the settings model: one pydantic model per JSON section, each field naming its env var."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic.alias_generators import to_camel

DEFAULT_CONFIG_FILE = "autonomous-dev.config.json"
DEFAULT_GITHUB_API_URL = "https://api.github.com"

# A value shaped like a credential: such values belong in the environment, never in the JSON file.
CREDENTIAL_KEY = re.compile(r"(?i)(token|secret|password|passwd|api_?key|private_?key|credentials?)$")
URL_PASSWORD = re.compile(r"://[^/\s:@]+:[^/\s@]+@")
TOKEN_SHAPE = re.compile(
    r"^(gh[pousr]_|github_pat_|sk-ant-|sk-|xox[abpr]-)[A-Za-z0-9_\-]{8,}|^-----BEGIN [A-Z ]*PRIVATE KEY"
)


# Keys of the original tool's evaluation and merge sections that this tool has no counterpart for. Its
# config files still load: each such key is dropped with a warning saying why, instead of failing the load.
# Every other unknown key is an error that names the closest valid key.
ORIGINAL_TOOL_KEYS = {
    "evaluation.requireHealthCheck": "no health checks of a deployment are run",
    "evaluation.requireSmokeTests": "no smoke tests of a deployment are run",
    "evaluation.healthCheckUrls": "no health checks of a deployment are run",
    "evaluation.smokeTestUrls": "no smoke tests of a deployment are run",
    "evaluation.previewUrlPattern": "no preview deployments are looked at",
    "merge.requireAllChecks": "a merge always waits for every check; merge.requireChecks says whether a PR "
    "without any check may merge",
}


def split_commas(value: object) -> object:
    """A list given in the environment as `a, b, c`; other values pass through to validation."""
    return [part.strip() for part in value.split(",") if part.strip()] if isinstance(value, str) else value


def env(name: str) -> Any:
    """Field metadata naming the environment variable that sets this field."""
    return {"env": name}


class Section(BaseModel):
    """A camelCase section of the JSON config file."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True)


class RepoSettings(Section):
    owner: str = Field(
        "", description="Repository owner (user or organisation).", json_schema_extra=env("REPO_OWNER")
    )
    name: str = Field("", description="Repository name.", json_schema_extra=env("REPO_NAME"))
    repos: list[str] = Field(
        [],
        description="More repositories (owner/name each; env: comma-separated); the JSON file may also "
        "give them as a top-level `repos` list.",
        json_schema_extra=env("REPOS"),
    )
    base_branch: str = Field(
        "",
        description="Branch PRs target; empty means the repository's default branch.",
        json_schema_extra=env("REPO_BASE_BRANCH"),
    )

    @field_validator("repos", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        return split_commas(value)

    @field_validator("repos")
    @classmethod
    def _owner_slash_name(cls, value: list[str]) -> list[str]:
        bad = [name for name in value if not re.fullmatch(r"[\w.-]+/[\w.-]+", name)]
        if bad:
            raise ValueError(f"not owner/name: {', '.join(bad)}")
        return value

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.name}"

    def all_full_names(self) -> list[str]:
        """The main repository (if set) and the others, each once, in order."""
        names = [self.full_name] if self.owner and self.name else []
        return list(dict.fromkeys([*names, *self.repos]))


class DiscoverySettings(Section):
    issue_label: str = Field(
        "autonomous-dev",
        min_length=1,
        description="Label that marks issues for the tool.",
        json_schema_extra=env("ISSUE_LABEL"),
    )
    in_progress_label: str = Field(
        "in-progress",
        min_length=1,
        description="Label set while the tool works on an issue.",
        json_schema_extra=env("IN_PROGRESS_LABEL"),
    )
    needs_human_label: str = Field(
        "needs-human",
        min_length=1,
        description="Label set when the tool gives an issue or its PR up to a human.",
        json_schema_extra=env("NEEDS_HUMAN_LABEL"),
    )
    enabled: bool = Field(
        False,
        description="Let the daemon propose issues from a reading of the code when it has nothing to do.",
        json_schema_extra=env("DISCOVERY_ENABLED"),
    )
    max_open_issues: int = Field(
        10,
        ge=0,
        le=1000,
        description="The daemon discovers only while fewer open issues carry the trigger label.",
        json_schema_extra=env("DISCOVERY_MAX_OPEN_ISSUES"),
    )
    tasks_per_cycle: int = Field(
        3,
        ge=1,
        le=50,
        description="Most issues one discovery run files (the model is asked for twice as many).",
        json_schema_extra=env("DISCOVERY_TASKS_PER_CYCLE"),
    )
    exclude_paths: list[str] = Field(
        [],
        description="Globs the discovery agent and the repository map leave out (env: comma-separated), "
        "in addition to dependency and build directories.",
        json_schema_extra=env("DISCOVERY_EXCLUDE_PATHS"),
    )
    recent_days: int = Field(
        30,
        ge=0,
        le=3650,
        description="Issues closed this recently still count as duplicates.",
        json_schema_extra=env("DISCOVERY_RECENT_DAYS"),
    )

    @field_validator("exclude_paths", mode="before")
    @classmethod
    def _comma_list(cls, value: object) -> object:
        return split_commas(value)


class ReportSettings(Section):
    label: str = Field(
        "bug",
        min_length=1,
        description="Label for issues opened by `autonomous-dev report`.",
        json_schema_extra=env("REPORT_LABEL"),
    )
    tracking_comment: bool = Field(
        True,
        description="One comment per issue, edited as the task goes on (phases, PR, rounds, tokens, cost, "
        "why it failed and what happens next); it displays the claim instead of the in-progress label.",
        json_schema_extra=env("TRACKING_COMMENT"),
    )
    tracking_edit_seconds: float = Field(
        60.0,
        ge=0,
        le=3600,
        description="Phase edits of the tracking comment at most this often (a step's start and end always).",
        json_schema_extra=env("TRACKING_EDIT_SECONDS"),
    )
    cause_labels: bool = Field(
        True,
        description="Label an issue whose task ended without a ready PR `autonomous-dev:cause/<cause>`.",
        json_schema_extra=env("CAUSE_LABELS"),
    )


class ExecutionSettings(Section):
    parallel_workers: int = Field(
        2,
        ge=1,
        le=32,
        description=(
            "Issues worked on at the same time (the model and the checks); an attempt that is only"
            " committing, pushing and opening its PR frees its place for the next issue meanwhile."
        ),
        json_schema_extra=env("PARALLEL_WORKERS"),
    )
    timeout_minutes: float = Field(
        30,
        gt=0,
        le=480,
        description="Time limit for one issue (fractions allowed: 0.5 is 30 seconds).",
        json_schema_extra=env("TIMEOUT_MINUTES"),
    )
    work_dir: Path = Field(
        Path("~/.autonomous-dev"),
        validate_default=True,
        description="Where mirrors, worktrees and state live.",
        json_schema_extra=env("WORK_DIR"),
    )
    max_turns: int = Field(
        40,
        ge=1,
        le=500,
        description="Model turns allowed for one issue.",
        json_schema_extra=env("MAX_TURNS"),
    )
    max_tokens_per_task: int = Field(
        2_000_000,
        ge=1000,
        description="Tokens (input + output, cached included) allowed for one issue.",
        json_schema_extra=env("MAX_TOKENS_PER_TASK"),
    )
    max_cost_usd_per_task: float = Field(
        5.0,
        gt=0,
        description="Estimated USD one issue may cost.",
        json_schema_extra=env("MAX_COST_USD_PER_TASK"),
    )
    max_cost_usd_per_day: float = Field(
        50.0,
        gt=0,
        description="Estimated USD per UTC day; when reached no new work is claimed until tomorrow.",
        json_schema_extra=env("MAX_COST_USD_PER_DAY"),
    )
    max_attempts: int = Field(
        3,
        ge=1,
        le=20,
        description=(
            "Attempts before an issue is labelled needs-human; also how many times in a row the steps on"
            " its pull request (looks, updates, review and CI-repair rounds) may fail before it is."
        ),
        json_schema_extra=env("MAX_ATTEMPTS"),
    )
    backoff_minutes: list[float] = Field(
        [10, 60, 360],
        min_length=1,
        description="Wait before retrying after the 1st, 2nd, ... failure (the last repeats).",
        json_schema_extra=env("BACKOFF_MINUTES"),
    )
    per_repo_workers: int = Field(
        0,
        ge=0,
        le=32,
        description="Most workers on one repository at once; 0 means no cap beyond parallelWorkers.",
        json_schema_extra=env("PER_REPO_WORKERS"),
    )
    repo_map_chars: int = Field(
        12_000,
        ge=0,
        le=200_000,
        description="Size of the repository map (files and their top-level definitions) in the model's "
        "system prompt, where it is prompt-cached; 0 leaves it out.",
        json_schema_extra=env("REPO_MAP_CHARS"),
    )
    shell_tool: bool = Field(
        True,
        description="Give the model a `run_command` tool: a shell command in the sandbox, network off, in "
        "the worktree, with bounded and redacted output.",
        json_schema_extra=env("SHELL_TOOL"),
    )

    @field_validator("backoff_minutes", mode="before")
    @classmethod
    def _comma_list(cls, value: object) -> object:
        return split_commas(value)

    @field_validator("work_dir")
    @classmethod
    def _expand(cls, value: Path) -> Path:
        return value.expanduser()


class EvaluationSettings(Section):
    """The project's own checks: build, tests, repair rounds."""

    build_command: str = Field(
        "",
        description="Shell command that builds the project; empty: detected.",
        json_schema_extra=env("BUILD_COMMAND"),
    )
    test_command: str = Field(
        "",
        description="Shell command that runs the tests (the model's `run_tests` tool); empty: detected.",
        json_schema_extra=env("TEST_COMMAND"),
    )
    setup_command: str = Field(
        "",
        description="Shell command that installs the project's dependencies before the tests (e.g. "
        "`pip install -e '.[test]'`, `npm ci`), run in the sandbox and cached by the manifests and lock "
        "files; empty: detected (Python venv, npm/pnpm/yarn, Go and Cargo module caches).",
        json_schema_extra=env("SETUP_COMMAND"),
    )
    python: str = Field(
        "",
        description="Interpreter (name or path) that makes a Python project's virtualenv; empty: one on "
        "PATH that fits the project's requires-python.",
        json_schema_extra=env("EVALUATION_PYTHON"),
    )
    require_build: bool = Field(
        True, description="A failing build blocks the PR.", json_schema_extra=env("REQUIRE_BUILD")
    )
    require_tests: bool = Field(
        True,
        description="A test that passed on the base commit and fails after the change blocks the PR.",
        json_schema_extra=env("REQUIRE_TESTS"),
    )
    max_repair_rounds: int = Field(
        2,
        ge=0,
        le=10,
        description="Times the failing output goes back to the model before giving up.",
        json_schema_extra=env("MAX_REPAIR_ROUNDS"),
    )
    on_failure: Literal["draft", "comment"] = Field(
        "draft",
        description="When the checks still fail: open a draft PR with the evidence, or only comment it.",
        json_schema_extra=env("ON_FAILURE"),
    )
    timeout_seconds: float = Field(
        600,
        ge=1,
        le=7200,
        description="Time limit for one test run.",
        json_schema_extra=env("EVALUATION_TIMEOUT_SECONDS"),
    )


class MergeSettings(Section):
    """Auto-merge after CI."""

    auto_merge: bool = Field(
        False,
        description="Merge a ready PR once its CI checks pass and GitHub calls it mergeable. Off by default: "
        "a merge lands model-written code without a human reading it, so turn it on only where CI and "
        "branch protection are what you would trust a reviewer with.",
        json_schema_extra=env("AUTO_MERGE"),
    )
    merge_method: Literal["merge", "squash", "rebase"] = Field(
        "squash", description="How PRs are merged.", json_schema_extra=env("MERGE_METHOD")
    )
    checks_timeout_minutes: float = Field(
        30,
        gt=0,
        le=1440,
        description="How long to wait for the PR's check runs and commit statuses before giving up.",
        json_schema_extra=env("MERGE_CHECKS_TIMEOUT_MINUTES"),
    )
    poll_seconds: float = Field(
        15,
        gt=0,
        le=600,
        description="First pause between looks at the checks; it doubles up to eight times this.",
        json_schema_extra=env("MERGE_POLL_SECONDS"),
    )
    require_checks: bool = Field(
        True,
        description="Merge only after at least one check run or status reported; false merges PRs of "
        "repositories without CI on the strength of our own evaluation.",
        json_schema_extra=env("MERGE_REQUIRE_CHECKS"),
    )
    conflict_strategy: Literal["rebase", "merge", "manual"] = Field(
        "rebase",
        description="When the PR conflicts with its base or is behind it: rebase it, merge the base in "
        "(both re-run the evaluation and push with --force-with-lease), or label it for a human.",
        json_schema_extra=env("CONFLICT_STRATEGY"),
    )
    max_retries: int = Field(
        2,
        ge=0,
        le=10,
        description="Rebase or merge rounds before the PR is left to a human.",
        json_schema_extra=env("MERGE_MAX_RETRIES"),
    )


class AgentSettings(Section):
    instruction_files: list[str] = Field(
        ["AGENTS.md", "CLAUDE.md", ".github/copilot-instructions.md"],
        description="Repository instructions for the model: the first of these files (paths from the "
        "repository root; env: comma-separated) found in the task's base commit goes into the system prompt, "
        "cut at 16 KB, as guidance that cannot change the tool's rules; an empty list: none is read.",
        json_schema_extra=env("AGENT_INSTRUCTION_FILES"),
    )

    @field_validator("instruction_files", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        return split_commas(value)

    @field_validator("instruction_files")
    @classmethod
    def _inside_the_repository(cls, value: list[str]) -> list[str]:
        bad = [name for name in value if name.startswith("/") or ".." in name.split("/") or ":" in name]
        if bad:
            raise ValueError(f"not a path inside the repository: {', '.join(bad)}")
        return value
