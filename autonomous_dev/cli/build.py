"""Builds the real adapters from settings and credentials; imports are local so `--help` stays fast."""

from __future__ import annotations

import fnmatch
import functools
import hashlib
import logging
import os
import socket
import tempfile
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from autonomous_dev import loading
from autonomous_dev.errors import ConfigError, InfrastructureError
from autonomous_dev.security.redact import Redactor
from autonomous_dev.settings.credentials import Credentials

from .github_auth import RepoCredential, github_auth

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from autonomous_dev.claude.client import ClaudeClient
    from autonomous_dev.claude.oauth import ClaudeAuth, ClaudeTokens
    from autonomous_dev.claude.pricing import Prices
    from autonomous_dev.core.agent import Agent
    from autonomous_dev.core.control import StopControl
    from autonomous_dev.core.cycle import Cycle, Policy
    from autonomous_dev.core.observe import CycleObserver
    from autonomous_dev.core.repomap import SymbolCache
    from autonomous_dev.core.repository import RepoWork
    from autonomous_dev.git.workspace import GitWorkspaces
    from autonomous_dev.github.client import GitHubRepoClient
    from autonomous_dev.github.conditional import ConditionalCache
    from autonomous_dev.intake.discover import Discovery
    from autonomous_dev.models import ModelTurn, Usage
    from autonomous_dev.sandbox.backends import Sandbox
    from autonomous_dev.sandbox.environments import Environments
    from autonomous_dev.settings.model import Settings
    from autonomous_dev.store.backends import Store


@dataclass
class ProcessCaches:
    """What outlives a cycle: ETags of polled GitHub lists (kept on disk for the next `run` too), and the
    symbols of file blobs."""

    etags: ConditionalCache
    symbols: SymbolCache
    etags_file: Path | None = None

    def close(self) -> None:
        self.symbols.close()
        try:  # a cache that cannot be saved costs the next run some requests: a warning, not an error
            if self.etags_file is not None:
                self.etags.save(self.etags_file)
        except (InfrastructureError, OSError) as exc:
            log.warning("the ETag cache was not saved (the next run asks GitHub afresh): %s", exc)


def process_caches(settings: Settings, github_key: str | None = None) -> ProcessCaches:
    """Caches in WORK_DIR; one ETag file per token or GitHub App (`Credentials.github_cache_key`; GitHub's
    ETags vary by the token): a new token starts afresh."""
    from autonomous_dev.core.repomap import SymbolCache
    from autonomous_dev.github.conditional import ConditionalCache

    work_dir = settings.execution.work_dir
    work_dir.mkdir(parents=True, exist_ok=True)
    etags, etags_file = ConditionalCache(), None
    if github_key:
        etags_file = work_dir / f"github-etags-{hashlib.sha256(github_key.encode()).hexdigest()[:16]}.json"
        etags.load(etags_file)
    return ProcessCaches(etags, SymbolCache(work_dir / "symbols.db"), etags_file)


def claude_auth(settings: Settings, credentials: Credentials, redactor: Redactor) -> ClaudeAuth:
    """The API key when there is one; otherwise the OAuth token source, refreshed as needed."""
    from autonomous_dev.claude.oauth import (
        ClaudeAuth,
        ClaudeTokenSource,
        MemoryTokenStore,
        OAuthEndpoint,
        TokenStore,
    )
    from autonomous_dev.settings.credentials import ANTHROPIC_API_KEY, PostgresTokenStore, claude_tokens

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


def claude_client(settings: Settings, credentials: Credentials, redactor: Redactor) -> DeferredClaude:
    """The Claude client; a missing credential fails here, the SDK is loaded on first use."""
    return DeferredClaude(settings, claude_auth(settings, credentials, redactor), redactor)


class DeferredClaude:
    """The Claude client, built on first use or by `preload`, so a cycle with nothing to do never loads
    the anthropic SDK (about 0.8 s of imports) and a busy one loads it while its issues are claimed."""

    def __init__(self, settings: Settings, auth: ClaudeAuth, redactor: Redactor) -> None:
        self._settings = settings
        self._auth = auth
        self._redactor = redactor
        self._client: ClaudeClient | None = None
        self._lock = threading.Lock()
        self._preloading = threading.Event()

    @property
    def model(self) -> str:
        return self._settings.claude.model or self.client().model

    def complete(
        self, system: str, messages: list[dict[str, object]], tools: list[dict[str, object]]
    ) -> ModelTurn:
        return self.client().complete(system, messages, tools)

    def check_model(self) -> str:
        return self.client().check_model()

    def preload(self) -> None:
        """Build the client in the background; a failure here is raised again on first use."""
        if self._client is None and not self._preloading.is_set():
            self._preloading.set()
            log.debug("loading the Claude client in the background")
            threading.Thread(target=self._preload, name="claude-preload", daemon=True).start()

    def _preload(self) -> None:
        try:
            self.client()
        except Exception:  # the first real call raises it where it can be handled
            log.debug("preloading the Claude client failed", exc_info=True)

    def client(self) -> ClaudeClient:
        with self._lock:
            if self._client is None:
                with loading.uncollected():
                    from autonomous_dev.claude.client import ClaudeClient

                    self._client = ClaudeClient(self._auth, self._redactor, self._settings.claude)
            return self._client


def open_state(settings: Settings, credentials: Credentials, dry_run: bool) -> Store:
    """The durable store; a dry run gets a throwaway one so it consumes no attempts and leaves no state."""
    from autonomous_dev.store.backends import open_store

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
    caches: ProcessCaches | None = None,
    only: frozenset[int] | None = None,
    pull: int | None = None,
) -> Cycle:
    """Wire a pipeline per configured repository around one Claude client, one GitHub session, one store."""
    from autonomous_dev.cli.progress import Fanout, OnWorkFound
    from autonomous_dev.core.cycle import Cycle

    names = settings.repo.all_full_names()
    if not names:
        raise ConfigError(
            "no repository configured", "set REPO_OWNER and REPO_NAME, or pass --repo owner/name"
        )
    auth = github_auth(settings, credentials, redactor, caches.etags if caches else None)
    claude = claude_client(settings, credentials, redactor)
    symbols = caches.symbols if caches else None
    sandbox = make_sandbox(settings)
    repos = [
        _repo_work(settings, connect_repo(settings, name, auth(name), redactor), claude, redactor,
                   dry_run, store, symbols, sandbox)
        for name in names
    ]  # fmt: skip
    observer = Fanout(observer, OnWorkFound(claude.preload))  # the SDK loads while issues are claimed
    policy = _policy(settings, claude, redactor)
    return Cycle(repos, store, policy, _owner_id(), control, observer, only=only, pull=pull)


def connect_repo(
    settings: Settings, full_name: str, credential: RepoCredential, redactor: Redactor
) -> tuple[GitHubRepoClient, GitWorkspaces]:
    """The repository's API client and its mirror, after the allowedRepos / public checks."""
    from autonomous_dev.git.workspace import GitWorkspaces
    from autonomous_dev.github.client import GitHubRepoClient

    security = settings.security
    repo = GitHubRepoClient(credential.session, full_name, redactor)
    check_repository_allowed(full_name, repo.private, security.allowed_repos, security.allow_public_repos)
    workspaces = GitWorkspaces(
        settings.execution.work_dir,
        repo.full_name,
        repo.clone_url,
        credential.git_token,
        credential.identity,
        redactor,
        security.allow_workflow_changes,
    )
    return repo, workspaces


def make_agent(settings: Settings, claude: DeferredClaude, system: str) -> Agent:
    from autonomous_dev.core.agent import Agent, Budget

    execution = settings.execution
    budget = Budget(
        execution.max_turns,
        execution.max_tokens_per_task,
        execution.timeout_minutes * 60,
        execution.max_cost_usd_per_task,
        cost_function(settings, claude),
    )
    return Agent(claude, system, budget)


def make_discovery(
    settings: Settings,
    repo: GitHubRepoClient,
    workspaces: GitWorkspaces,
    claude: DeferredClaude,
    store: Store,
    redactor: Redactor,
    symbols: SymbolCache | None = None,
) -> Discovery:
    from autonomous_dev.core.prompts import DISCOVERY_SYSTEM_PROMPT
    from autonomous_dev.intake.discover import Discovery

    agent = make_agent(settings, claude, DISCOVERY_SYSTEM_PROMPT)
    base = settings.repo.base_branch or repo.default_branch
    return Discovery(repo, workspaces, agent, store, settings.discovery, base, redactor.restore, symbols)


def _repo_work(
    settings: Settings,
    parts: tuple[GitHubRepoClient, GitWorkspaces],
    claude: DeferredClaude,
    redactor: Redactor,
    dry_run: bool,
    store: Store,
    symbols: SymbolCache | None = None,
    sandbox: Sandbox | None = None,
) -> RepoWork:
    from autonomous_dev.core.attempt import Attempt
    from autonomous_dev.core.context import TaskContext
    from autonomous_dev.core.cycle import utcnow
    from autonomous_dev.core.issue_thread import IssueThread
    from autonomous_dev.core.landing import Landing
    from autonomous_dev.core.mentions import MentionWatch
    from autonomous_dev.core.progress_text import Limits
    from autonomous_dev.core.prompts import system_prompt
    from autonomous_dev.core.repository import RepoWork
    from autonomous_dev.core.tracking import Tracker
    from autonomous_dev.core.update import BranchUpdate
    from autonomous_dev.security.trust import TrustGate

    from .following import follow_prs, round_steps

    repo, workspaces = parts
    security, execution = settings.security, settings.execution
    base = settings.repo.base_branch or repo.default_branch
    trust = TrustGate(repo, settings.discovery.issue_label, security, notify=not dry_run)
    limits = Limits(execution.max_attempts, settings.evaluation.max_repair_rounds,
                    settings.discovery.needs_human_label, settings.review.max_rounds,
                    settings.ci.max_repair_rounds)  # fmt: skip
    tracker = Tracker.configured(repo, settings.report, limits, settings.merge.auto_merge, dry_run)
    thread = IssueThread(repo, settings.discovery, trust, security.max_issue_chars, dry_run, tracker)
    agent = make_agent(settings, claude, system_prompt(execution.shell_tool))
    sandbox = sandbox or make_sandbox(settings)
    context = TaskContext(settings.evaluation, sandbox, redactor, repo_map_chars=execution.repo_map_chars,
                          shell_tool=execution.shell_tool, symbols=symbols,
                          environments=make_environments(settings, repo.full_name, sandbox),
                          instruction_files=tuple(settings.agent.instruction_files))  # fmt: skip
    attempt = Attempt(repo, workspaces, agent, context, thread, settings.evaluation, base, redactor, dry_run)
    following = follow_prs(settings, repo, thread, trust) if not dry_run else None
    landing = update = None
    if settings.merge.auto_merge and not dry_run:
        landing = Landing(repo, thread, settings.merge, utcnow, following)
        update = BranchUpdate(repo, workspaces, agent, context, thread, settings.merge.conflict_strategy,
                              redactor)  # fmt: skip
    discovery = None
    if settings.discovery.enabled and not dry_run:
        discovery = make_discovery(settings, repo, workspaces, claude, store, redactor, symbols=symbols)
    trigger = settings.trigger
    mentions = MentionWatch(repo, store, trust, trigger.mention, utcnow) if trigger.mention_enabled else None
    shared = (agent, context, thread)
    review, repair = round_steps(settings, parts, shared, following, redactor, landing)  # fmt: skip
    return RepoWork(repo, workspaces, thread, attempt, landing, update, discovery,
                    settings.discovery.max_open_issues, following, review, repair, mentions)  # fmt: skip


def make_sandbox(settings: Settings) -> Sandbox:
    """The sandbox for repository code, hiding the daemon's own files; ConfigError when none is usable."""
    from autonomous_dev.sandbox.backends import daemon_paths, sandbox_from_settings

    work_dir = settings.execution.work_dir
    hidden = daemon_paths(work_dir, settings.state.sqlite_path, settings.logging.file)
    return sandbox_from_settings(settings.sandbox, hidden)


def make_environments(settings: Settings, full_name: str, sandbox: Sandbox) -> Environments:
    """Where the repository's prepared environments are cached (WORK_DIR/environments/owner/name)."""
    from autonomous_dev.sandbox.environments import Environments

    root = settings.execution.work_dir / "environments" / full_name
    evaluation = settings.evaluation
    return Environments(
        root, sandbox, settings.sandbox.setup_network, evaluation.python, evaluation.setup_command
    )


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


def _policy(settings: Settings, claude: DeferredClaude, redactor: Redactor) -> Policy:
    from autonomous_dev.core.cycle import Policy
    from autonomous_dev.core.lifecycle import FailurePolicy

    execution = settings.execution
    backoff = tuple(minutes * 60 for minutes in execution.backoff_minutes)
    return Policy(
        workers=execution.parallel_workers,
        lease_s=settings.daemon.lease_seconds,
        failures=FailurePolicy(execution.max_attempts, backoff),
        max_cost_per_day=execution.max_cost_usd_per_day,
        per_repo_workers=execution.per_repo_workers,
        grace_s=settings.daemon.shutdown_grace_seconds,
        cost_of=cost_function(settings, claude),
        redact=redactor.redact,
    )


def cost_function(settings: Settings, claude: DeferredClaude) -> Callable[[Usage], float]:
    """Usage to dollars at the model's prices, looked up on first use (the model may come from the SDK)."""
    prices = functools.cache(lambda: model_prices(settings, claude.model))
    return lambda usage: prices().cost(usage)


def model_prices(settings: Settings, model: str) -> Prices:
    from autonomous_dev.claude.pricing import Prices, prices_for

    table = {
        name: Prices(p.input, p.output, p.cache_write, p.cache_read)
        for name, p in settings.pricing.models.items()
    }
    return prices_for(model, table)


def _owner_id() -> str:
    """Who holds a claim: host, process and a random part (pids repeat across restarts and machines)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
