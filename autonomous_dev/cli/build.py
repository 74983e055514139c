"""Builds the real adapters from settings and credentials; imports are local so `--help` stays fast."""

from __future__ import annotations

import fnmatch
import os
import socket
import tempfile
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

from autonomous_dev.config import Settings
from autonomous_dev.credentials import Credentials
from autonomous_dev.errors import ConfigError
from autonomous_dev.redact import Redactor

if TYPE_CHECKING:
    from autonomous_dev.claude_api import ClaudeAuth, ClaudeClient
    from autonomous_dev.daemon import Cycle, CycleObserver, Policy, RepoWork, StopControl
    from autonomous_dev.github_api import GitHubSession
    from autonomous_dev.oauth import ClaudeTokens
    from autonomous_dev.pricing import Prices
    from autonomous_dev.store import Store


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


def open_state(settings: Settings, credentials: Credentials, dry_run: bool) -> Store:
    """The durable store; a dry run gets a throwaway one so it consumes no attempts and leaves no state."""
    from autonomous_dev.store import open_store

    if dry_run:
        scratch = Path(tempfile.mkdtemp(prefix="autonomous-dev-dry-run-"))
        store = open_store("sqlite", scratch / "state.db", None)
    else:
        sqlite_path = settings.state.sqlite_path or settings.execution.work_dir / "state.db"
        store = open_store(settings.state.backend, sqlite_path, credentials.get("DATABASE_URL"))
    store.migrate()
    return store


def build_cycle(
    settings: Settings,
    credentials: Credentials,
    redactor: Redactor,
    store: Store,
    control: StopControl,
    dry_run: bool = False,
    observer: CycleObserver | None = None,
) -> Cycle:
    """Wire a pipeline per configured repository around one Claude client, one GitHub session, one store."""
    from autonomous_dev.daemon import Cycle

    names = settings.repo.all_full_names()
    if not names:
        raise ConfigError(
            "no repository configured", "set REPO_OWNER and REPO_NAME, or pass --repo owner/name"
        )
    token = credentials.require_github()
    claude = claude_client(settings, credentials, redactor)
    session = github_session(settings, token)
    repos = [_repo_work(settings, name, session, claude, token, redactor, dry_run) for name in names]
    return Cycle(repos, store, _policy(settings, claude.model, redactor), _owner_id(), control, observer)


def _repo_work(
    settings: Settings,
    full_name: str,
    session: GitHubSession,
    claude: ClaudeClient,
    token: str,
    redactor: Redactor,
    dry_run: bool,
) -> RepoWork:
    from autonomous_dev.agent import Agent, Budget
    from autonomous_dev.daemon import RepoWork
    from autonomous_dev.github_api import GitHubRepoClient
    from autonomous_dev.pipeline import Pipeline, PipelineOptions
    from autonomous_dev.prompts import SYSTEM_PROMPT
    from autonomous_dev.trust import TrustGate, TrustPolicy
    from autonomous_dev.workspace import GitIdentity, GitWorkspaces

    security = settings.security
    repo = GitHubRepoClient(session, full_name, redactor)
    check_repository_allowed(full_name, repo.private, security.allowed_repos, security.allow_public_repos)
    identity = GitIdentity(settings.git.author_name, settings.git.author_email)
    workspaces = GitWorkspaces(
        settings.execution.work_dir,
        repo.full_name,
        repo.clone_url,
        token,
        identity,
        redactor,
        security.allow_workflow_changes,
    )
    execution = settings.execution
    budget = Budget(
        execution.max_turns,
        execution.max_tokens_per_task,
        execution.timeout_minutes * 60,
        execution.max_cost_usd_per_task,
        model_prices(settings, claude.model).cost,
    )
    options = PipelineOptions(
        settings.discovery.issue_label,
        settings.discovery.in_progress_label,
        settings.repo.base_branch or repo.default_branch,
        dry_run,
        max_issue_chars=security.max_issue_chars,
        test_command=settings.evaluation.test_command,
        test_timeout_s=settings.evaluation.timeout_seconds,
        build_command=settings.evaluation.build_command,
        require_build=settings.evaluation.require_build,
        require_tests=settings.evaluation.require_tests,
        max_repair_rounds=settings.evaluation.max_repair_rounds,
        on_failure=settings.evaluation.on_failure,
    )
    trust = TrustGate(repo, TrustPolicy(options.label, security.require_author_permission))
    agent = Agent(claude, SYSTEM_PROMPT, budget)
    return RepoWork(Pipeline(repo, workspaces, agent, options, redactor=redactor, trust=trust), workspaces)


def check_repository_allowed(full_name: str, private: bool, patterns: list[str], allow_public: bool) -> None:
    """security.allowedRepos and security.allowPublicRepos, enforced before anything is cloned."""
    if patterns and not any(fnmatch.fnmatchcase(full_name, pattern) for pattern in patterns):
        raise ConfigError(
            f"{full_name} is not in security.allowedRepos ({', '.join(patterns)})",
            "add a matching pattern to security.allowedRepos (ALLOWED_REPOS) or remove the repository",
        )
    if not private and not allow_public:
        raise ConfigError(
            f"{full_name} is public: anyone can write its issues",
            "set security.allowPublicRepos (ALLOW_PUBLIC_REPOS=true) if you mean it",
        )


def _policy(settings: Settings, model: str, redactor: Redactor) -> Policy:
    from autonomous_dev.daemon import Policy

    execution = settings.execution
    return Policy(
        workers=execution.parallel_workers,
        lease_s=settings.daemon.lease_seconds,
        max_attempts=execution.max_attempts,
        backoff_s=tuple(minutes * 60 for minutes in execution.backoff_minutes),
        max_cost_per_day=execution.max_cost_usd_per_day,
        per_repo_workers=execution.per_repo_workers,
        grace_s=settings.daemon.shutdown_grace_seconds,
        cost_of=model_prices(settings, model).cost,
        redact=redactor.redact,
    )


def model_prices(settings: Settings, model: str) -> Prices:
    from autonomous_dev.pricing import Prices, prices_for

    table = {
        name: Prices(p.input, p.output, p.cache_write, p.cache_read)
        for name, p in settings.pricing.models.items()
    }
    return prices_for(model, table)


def _owner_id() -> str:
    """Who holds a claim: host, process and a random part (pids repeat across restarts and machines)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
