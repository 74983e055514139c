"""Builds the real adapters from settings and credentials; imports are local so `--help` stays fast."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from autonomous_dev.config import Settings
from autonomous_dev.credentials import Credentials
from autonomous_dev.errors import ConfigError
from autonomous_dev.models import Outcome
from autonomous_dev.redact import Redactor

if TYPE_CHECKING:
    from autonomous_dev.claude_api import ClaudeAuth, ClaudeClient
    from autonomous_dev.github_api import GitHubSession
    from autonomous_dev.oauth import ClaudeTokens


def github_session(settings: Settings, token: str) -> GitHubSession:
    from autonomous_dev.github_api import GitHubOptions, connect

    options = GitHubOptions(
        settings.github.api_url,
        settings.github.seconds_between_requests,
        settings.github.seconds_between_writes,
    )
    return connect(token, options)


def claude_auth(settings: Settings, credentials: Credentials, redactor: Redactor) -> ClaudeAuth:
    """The API key when there is one; otherwise the OAuth token source, refreshed as needed."""
    from autonomous_dev.claude_api import ClaudeAuth
    from autonomous_dev.credentials import ANTHROPIC_API_KEY, PostgresTokenStore, claude_tokens
    from autonomous_dev.oauth import ClaudeTokenSource, MemoryTokenStore, OAuthEndpoint, TokenStore

    credentials.require_claude()
    api_key = credentials.get(ANTHROPIC_API_KEY)
    tokens = claude_tokens(credentials)
    if api_key or tokens is None:
        return ClaudeAuth(api_key=api_key)
    endpoint = None
    if settings.claude.oauth_token_url and settings.claude.oauth_client_id:
        endpoint = OAuthEndpoint(settings.claude.oauth_token_url, settings.claude.oauth_client_id)
    store: TokenStore = MemoryTokenStore()
    database_url = credentials.get("DATABASE_URL")
    if (
        credentials.user_id
        and database_url
        and credentials.source("CLAUDE_ACCESS_TOKEN").startswith("postgres")
    ):
        store = PostgresTokenStore(database_url, credentials.user_id)

    def learn(fresh: ClaudeTokens) -> None:
        for value in (fresh.access_token, fresh.refresh_token):
            if value:
                redactor.add_secret(value)

    return ClaudeAuth(tokens=ClaudeTokenSource(tokens, endpoint, store, on_refresh=learn))


def claude_client(settings: Settings, credentials: Credentials, redactor: Redactor) -> ClaudeClient:
    from autonomous_dev.claude_api import ClaudeClient

    return ClaudeClient(
        claude_auth(settings, credentials, redactor),
        redactor,
        model=settings.claude.model,
        base_url=settings.claude.base_url,
        max_retries=settings.claude.max_retries,
        max_output_tokens=settings.claude.max_output_tokens,
    )


def build_cycle(
    settings: Settings, credentials: Credentials, redactor: Redactor, dry_run: bool
) -> Callable[[], list[Outcome]]:
    """Wire the pipeline for the configured repository."""
    from autonomous_dev.agent import Agent, Budget
    from autonomous_dev.daemon import run_cycle
    from autonomous_dev.github_api import GitHubRepoClient
    from autonomous_dev.pipeline import Pipeline, PipelineOptions
    from autonomous_dev.prompts import SYSTEM_PROMPT
    from autonomous_dev.workspace import GitIdentity, GitWorkspaces

    if not settings.repo.owner or not settings.repo.name:
        raise ConfigError(
            "no repository configured", "set REPO_OWNER and REPO_NAME, or pass --repo owner/name"
        )
    token = credentials.require_github()
    claude = claude_client(settings, credentials, redactor)
    repo = GitHubRepoClient(github_session(settings, token), settings.repo.full_name, redactor)
    workspaces = GitWorkspaces(
        settings.execution.work_dir,
        repo.full_name,
        repo.clone_url,
        token,
        GitIdentity(settings.git.author_name, settings.git.author_email),
        redactor,
    )
    execution = settings.execution
    budget = Budget(execution.max_turns, execution.max_tokens_per_task, execution.timeout_minutes * 60)
    options = PipelineOptions(
        settings.discovery.issue_label,
        settings.discovery.in_progress_label,
        settings.repo.base_branch or repo.default_branch,
        dry_run,
    )
    pipeline = Pipeline(repo, workspaces, Agent(claude, SYSTEM_PROMPT, budget), options)
    return lambda: run_cycle(pipeline, workspaces, execution.parallel_workers)
