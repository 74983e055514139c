"""The cycle over every repository with leased claims in the state store, and `serve`, which repeats it."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from autonomous_dev.core import outages, prompts
from autonomous_dev.core.pipeline import Pipeline
from autonomous_dev.errors import (
    AutonomousDevError,
    ChecksFailed,
    CredentialError,
    GitHubError,
    InfrastructureError,
)
from autonomous_dev.logs import audit
from autonomous_dev.models import Issue, Outcome, OutcomeKind, PullRequest, Usage
from autonomous_dev.ports import Workspaces
from autonomous_dev.store.sql import ClaimLost, TaskRecord, TaskState, UsageDelta

if TYPE_CHECKING:
    from autonomous_dev.intake.discover import Discovery
    from autonomous_dev.store.backends import Store

log = logging.getLogger(__name__)
LABEL_RELEASE_S = 1.0  # a cold stop waits this long for GitHub to take the in-progress labels off
MAX_REPLACEMENTS = 3  # dead workers replaced per cycle; more means a bug, and the next cycle starts afresh

DONE_STATES = {
    OutcomeKind.PR_OPENED: TaskState.PR_OPENED,
    OutcomeKind.PR_EXISTS: TaskState.PR_OPENED,
    OutcomeKind.NO_CHANGES: TaskState.DONE,
    OutcomeKind.SKIPPED: TaskState.DONE,
    OutcomeKind.DRY_RUN: TaskState.DONE,
    OutcomeKind.MERGED: TaskState.DONE,
    OutcomeKind.NEEDS_HUMAN: TaskState.NEEDS_HUMAN,
    OutcomeKind.MERGE_DEFERRED: TaskState.QUEUED,  # stopped while waiting for checks: the next run goes on
}


class CycleObserver:
    """What the daemon tells the outside (live progress, metrics); every method does nothing here."""

    def issues_listed(self, repo: str, count: int) -> None:
        """A cycle found `count` labelled issues in `repo` (before it checks and claims them)."""
        return None

    def task_started(self, repo: str, issue: Issue) -> None:
        return None

    def task_phase(self, repo: str, issue: Issue, phase: str) -> None:
        return None

    def task_usage(self, repo: str, issue: Issue, usage: Usage, cost_usd: float) -> None:
        return None

    def task_finished(self, repo: str, issue: Issue, outcome: Outcome) -> None:
        return None

    def cycle_finished(self, outcomes: list[Outcome]) -> None:
        return None

    def outage(self, error: InfrastructureError | None, retry_at: datetime | None) -> None:
        """A service is unreachable until `retry_at` (None, None: it answers again)."""
        return None


@dataclass(frozen=True)
class RepoWork:
    pipeline: Pipeline
    workspaces: Workspaces
    discovery: Discovery | None = None  # files issues from a reading of the code when there is nothing to do
    max_open_issues: int = 0

    @property
    def name(self) -> str:
        return self.pipeline.repo.full_name


@dataclass(frozen=True)
class Policy:
    workers: int
    lease_s: float
    max_attempts: int
    backoff_s: tuple[float, ...]
    max_cost_per_day: float
    per_repo_workers: int = 0
    grace_s: float = 60.0
    cost_of: Callable[[Usage], float] = lambda usage: 0.0
    redact: Callable[[str], str] = lambda text: text


class Interrupted(KeyboardInterrupt):
    """A cold stop, raised in the main thread by the signal handler so that whatever blocks there (a retry
    sleep, a rate-limit wait, a socket read, a git command) is abandoned at once."""


class StopControl:
    """First request: warm stop (claim nothing new, let work finish). Second: cold stop (abandon it)."""

    def __init__(self) -> None:
        self.wake = threading.Event()
        self.warm_at: float | None = None
        self.cold = False
        self.auth_failed = False
        self.reload = False

    @property
    def claiming_stopped(self) -> bool:
        return self.warm_at is not None or self.cold or self.auth_failed

    def request_stop(self) -> None:
        if self.warm_at is None:
            self.warm_at = time.monotonic()
        else:
            self.cold = True
        self.wake.set()


@dataclass
class _Board:
    """What this cycle may still claim, per repository, and what is in flight."""

    candidates: dict[str, list[int]]
    issues: dict[tuple[str, int], Issue]
    pulls: dict[tuple[str, int], PullRequest] = field(default_factory=dict)  # opened, not yet reported
    labelled: dict[str, int] = field(default_factory=dict)  # open issues with the trigger label
    active: dict[str, int] = field(default_factory=dict)
    in_flight: set[tuple[str, int]] = field(default_factory=set)
    turn: int = 0
    budget_reported: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)
    workers: list[threading.Thread] = field(default_factory=list)  # grows when a dead one is replaced
    beats: list[threading.Thread] = field(default_factory=list)
    died: set[str] = field(default_factory=set)  # names of threads that ended with an exception
    replaced: int = 0
    finished: threading.Event = field(default_factory=threading.Event)  # the cycle is over: no more beats


class Cycle:
    """One pass: recover crashed claims, find candidates, let workers claim and process them."""

    def __init__(
        self,
        repos: list[RepoWork],
        store: Store,
        policy: Policy,
        owner: str,
        control: StopControl,
        observer: CycleObserver | None = None,
    ) -> None:
        self.repos = {work.name: work for work in repos}
        self.observer = observer or CycleObserver()
        self.store = store
        self.policy = policy
        self.owner = owner
        self.control = control
        self.outcomes: list[Outcome] = []
        self.outage: InfrastructureError | None = None  # set by the first outage; no more claims then
        for work in repos:
            work.pipeline.observer = _StoreObserver(self, work.name)

    def run(self) -> list[Outcome]:
        self.outcomes, self.outage = [], None
        if self.control.claiming_stopped:
            return []
        self._recover_expired_claims()
        board = self._board()
        if not any(board.candidates.values()):
            log.info("no eligible issues")
            self._discover(board)
            self.observer.cycle_finished(list(self.outcomes))
            return list(self.outcomes)
        try:
            for i in range(min(self.policy.workers, sum(len(c) for c in board.candidates.values()))):
                board.workers.append(self._spawn(board, f"worker-{i}", self._worker, board))
            board.beats.append(self._spawn(board, "heartbeat", self._heartbeat, board, board.workers))
            self._wait(board, board.workers, self.policy.grace_s)
            self._stop_heartbeats(board)
        except KeyboardInterrupt:  # a cold stop: the workers are daemon threads and die with the process
            board.finished.set()
            self._release_in_flight(board)
            raise
        self.observer.cycle_finished(list(self.outcomes))
        return list(self.outcomes)

    # -- preparing ---------------------------------------------------------------------------------------

    def _recover_expired_claims(self) -> None:
        for record in self.store.expired_claims():
            work = self.repos.get(record.repo)
            log.warning("%s#%d: the claim of %s expired (crashed?); releasing it", record.repo, record.issue,
                        record.claim_owner)  # fmt: skip
            try:
                self.store.finish(record.repo, record.issue, record.claim_owner or "", TaskState.QUEUED,
                                  error="the worker lost its claim (crash or stop)")  # fmt: skip
            except ClaimLost:
                continue  # another process took it over meanwhile
            if work is not None:
                work.pipeline.drop_stale_claim_label(Issue(record.issue, "", ""))

    def _board(self) -> _Board:
        board = _Board(candidates={}, issues={})
        for name, work in self.repos.items():
            numbers = []
            scan = work.pipeline.scan()
            board.labelled[name] = len(scan.fresh) + len(scan.proposed)
            self.observer.issues_listed(name, board.labelled[name])
            for issue, pull in scan.proposed:
                if self._unfinished(work, issue):
                    numbers.append(issue.number)
                    board.issues[(name, issue.number)] = issue
                    board.pulls[(name, issue.number)] = pull
            for issue in scan.fresh:
                if self._admit(work, issue):
                    numbers.append(issue.number)
                    board.issues[(name, issue.number)] = issue
            board.candidates[name] = numbers
            if numbers:
                work.workspaces.sync()
        return board

    def _discover(self, board: _Board) -> None:
        """Nothing to do: let each repository with discovery on file a few issues (once per commit)."""
        for name, work in self.repos.items():
            if work.discovery is None or self.control.claiming_stopped:
                continue
            labelled = board.labelled.get(name, 0)
            if labelled >= work.max_open_issues:
                log.info("%s: %d open labelled issues; not discovering more", name, labelled)
                continue
            try:
                work.discovery.file(work.discovery.analyse())
            except InfrastructureError as exc:
                self.outage = exc
                return
            except AutonomousDevError as exc:
                log.warning("%s: discovery failed: %s", name, exc)

    def _unfinished(self, work: RepoWork, issue: Issue) -> bool:
        """A PR exists but the store says the task never finished (its worker died after opening it, or
        stopped while waiting to merge it): a worker completes it."""
        record = self.store.get(work.name, issue.number)
        return record is not None and record.state not in (
            TaskState.PR_OPENED,
            TaskState.DONE,
            TaskState.NEEDS_HUMAN,
        )

    def _admit(self, work: RepoWork, issue: Issue) -> bool:
        """Record the issue in the store and decide whether this cycle may try it."""
        options = work.pipeline.options
        record = self.store.get(work.name, issue.number)
        fingerprint = prompts.content_fingerprint(issue.title, issue.body)
        if options.needs_human_label in issue.labels:
            if record is None or record.fingerprint == fingerprint:
                return False  # waiting for a human: an edit or removing the label lets it go again
            work.pipeline.drop_label(issue, options.needs_human_label)
        if record is not None and options.in_progress_label in issue.labels:
            if _live_claim(record):
                return False
            work.pipeline.drop_stale_claim_label(issue)
        elif options.in_progress_label in issue.labels:
            log.info("%s#%d: carries %r but this store has no claim; skipped", work.name, issue.number,
                     options.in_progress_label)  # fmt: skip
            return False
        reason = work.pipeline.trust.untrusted_reason(issue)
        if reason:
            context = {"event": "input_rejected", "repo": work.name, "issue": issue.number}
            log.warning("%s#%d: skipped: %s", work.name, issue.number, reason, extra=context)
            return False
        if record is not None and record.state is TaskState.NEEDS_HUMAN:
            self.store.reset(work.name, issue.number)  # a human removed the needs-human label
        elif record is not None and record.fingerprint != fingerprint and record.state is TaskState.DONE:
            self.store.reset(work.name, issue.number)  # edited since it was answered
        self.store.observe(work.name, issue.number, fingerprint)
        return True

    def _daily_budget_spent(self, board: _Board) -> bool:
        """Checked before every claim, so a cycle stops claiming as soon as the day's budget is spent."""
        midnight = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        spent = self.store.cost_since(midnight)
        if spent < self.policy.max_cost_per_day:
            return False
        with board.lock:
            if board.budget_reported:
                return True
            board.budget_reported = True
        log.warning("daily cost budget reached ($%.2f of $%.2f): claiming nothing until tomorrow (UTC)",
                        spent, self.policy.max_cost_per_day)  # fmt: skip
        return True

    # -- working -----------------------------------------------------------------------------------------

    def _worker(self, board: _Board) -> None:
        """Claim and work until nothing is left. A store failure ends this worker: the claim is released
        (or its lease lapses while the store is down) and the next cycle, after the wait, tries again."""
        while not self.control.claiming_stopped and self.outage is None:
            try:
                claimed = self._claim_next(board)
            except InfrastructureError as exc:  # the store went away between two claims
                self.outage = self.outage or exc
                return
            except AutonomousDevError as exc:  # the store failed; if it claimed anyway, the lease lapses
                log.warning("claiming failed: %s; this worker stops until the next cycle", exc)
                return
            if claimed is None:
                return
            name, record = claimed
            key = (name, record.issue)
            try:
                if not self._attempt(self.repos[name], board.issues[key], record, board.pulls.get(key)):
                    return
            finally:
                with board.lock:
                    board.in_flight.discard(key)
                    board.active[name] -= 1

    def _attempt(self, work: RepoWork, issue: Issue, record: TaskRecord, pull: PullRequest | None) -> bool:
        """One claimed issue; False when the store failed while recording it (the worker backs off)."""
        try:
            if self._still_trusted(work, issue):
                self._work(work, issue, record, pull)
            return True
        except AutonomousDevError as exc:  # raised while recording the result: the store is down
            log.error("%s#%d: the result could not be recorded: %s", work.name, issue.number, exc,
                      extra={"repo": work.name, "issue": issue.number})  # fmt: skip
            try:
                self.store.release(work.name, issue.number, self.owner)
            except AutonomousDevError:
                log.warning("%s#%d: the claim could not be released; its lease will lapse", work.name,
                            issue.number)  # fmt: skip
            return False

    def _still_trusted(self, work: RepoWork, issue: Issue) -> bool:
        """Right before work starts (and the in-progress label goes on), the labeller's permission is
        asked afresh: write access removed since the issue was admitted means no work."""
        try:
            reason = work.pipeline.trust.recheck(issue)
        except (GitHubError, InfrastructureError) as exc:  # no fresh answer, no work
            reason = f"cannot check the labeller's permission again ({exc.message})"
        if reason is None:
            return True
        audit(log, "input_rejected", "%s#%d: refused at claim time: %s", work.name, issue.number, reason,
              level=logging.WARNING, repo=work.name, issue=issue.number)  # fmt: skip
        self.store.release(work.name, issue.number, self.owner)
        return False

    def _claim_next(self, board: _Board) -> tuple[str, TaskRecord] | None:
        """Round robin over the repositories that still have candidates and a free worker slot."""
        cap = self.policy.per_repo_workers or self.policy.workers
        while (
            not self.control.claiming_stopped and self.outage is None and not self._daily_budget_spent(board)
        ):
            with board.lock:
                names = [n for n, c in board.candidates.items() if c and board.active.get(n, 0) < cap]
                if not names:
                    return None
                name = names[board.turn % len(names)]
                board.turn += 1
                candidates = list(board.candidates[name])
                board.active[name] = board.active.get(name, 0) + 1
            try:
                record = self.store.claim(name, candidates, self.owner, self.policy.lease_s)
            except BaseException:  # the slot is free again for whoever claims next
                with board.lock:
                    board.active[name] -= 1
                raise
            with board.lock:
                if record is None:
                    board.candidates[name] = []  # the rest is held by others or backing off
                    board.active[name] -= 1
                    continue
                board.candidates[name].remove(record.issue)
                board.in_flight.add((name, record.issue))
            return name, record
        return None

    def _work(self, work: RepoWork, issue: Issue, record: TaskRecord, pull: PullRequest | None) -> None:
        context = {"repo": work.name, "issue": issue.number}
        self.observer.task_started(work.name, issue)
        try:
            self.store.mark(work.name, issue.number, self.owner, TaskState.WORKING)
            if pull is not None:
                outcome = work.pipeline.finish_proposed(issue, pull)
            else:
                outcome = work.pipeline.process(issue)
            pr = outcome.pr
            self.store.finish(work.name, issue.number, self.owner, DONE_STATES[outcome.kind],
                              pr_number=pr.number if pr else None, pr_url=pr.url if pr else None)  # fmt: skip
        except CredentialError as exc:
            self._auth_failed(work, issue, exc)
            outcome = Outcome(issue.number, OutcomeKind.FAILED, str(exc))
        except InfrastructureError as exc:
            outcome = self._outage(work, issue, exc)
        except ClaimLost:
            log.warning("%s#%d: the claim was lost to another worker", work.name, issue.number, extra=context)
            outcome = Outcome(issue.number, OutcomeKind.FAILED, "claim lost")
        except AutonomousDevError as exc:
            draft = exc.pr_url if isinstance(exc, ChecksFailed) else None
            outcome = self._failed(work, issue, record, str(exc), draft)
        except Exception as exc:  # the one catch-all per issue: record it, release the claim, go on
            log.exception("%s#%d failed unexpectedly", work.name, issue.number, extra=context)
            outcome = self._failed(work, issue, record, f"unexpected error: {type(exc).__name__}: {exc}")
        self.outcomes.append(outcome)
        self.observer.task_finished(work.name, issue, outcome)

    def _failed(
        self, work: RepoWork, issue: Issue, record: TaskRecord, error: str, pr_url: str | None = None
    ) -> Outcome:
        error = self.policy.redact(error)
        context = {"repo": work.name, "issue": issue.number}
        attempts = f"attempt {record.attempts} of {self.policy.max_attempts}"
        log.warning("%s#%d failed (%s): %s", work.name, issue.number, attempts, error, extra=context)
        if record.attempts >= self.policy.max_attempts:
            work.pipeline.give_up(issue, record.attempts, error)
            self.store.finish(work.name, issue.number, self.owner, TaskState.NEEDS_HUMAN, error=error,
                              pr_url=pr_url)  # fmt: skip
        else:
            delay = self.policy.backoff_s[min(record.attempts, len(self.policy.backoff_s)) - 1]
            retry_at = datetime.now(UTC) + timedelta(seconds=delay)
            self.store.finish(work.name, issue.number, self.owner, TaskState.FAILED, error=error,
                              next_attempt_at=retry_at, pr_url=pr_url)  # fmt: skip
        return Outcome(issue.number, OutcomeKind.FAILED, error)

    def _outage(self, work: RepoWork, issue: Issue, exc: InfrastructureError) -> Outcome:
        """Not the task's fault: give the claim back uncounted and claim nothing more this cycle."""
        if self.outage is None:
            self.outage = exc
        context = {"repo": work.name, "issue": issue.number}
        log.info("%s#%d: %s is unreachable; the claim is released, no attempt counted", work.name,
                 issue.number, exc.service, extra=context)  # fmt: skip
        try:
            self.store.release(work.name, issue.number, self.owner)
            work.pipeline.drop_stale_claim_label(issue)
        except (InfrastructureError, GitHubError) as also:  # the lease runs out; the next cycle recovers it
            log.debug("%s#%d: releasing the claim failed too: %s", work.name, issue.number, also)
        return Outcome(issue.number, OutcomeKind.FAILED, self.policy.redact(exc.message))

    def _auth_failed(self, work: RepoWork, issue: Issue, exc: CredentialError) -> None:
        self.store.release(work.name, issue.number, self.owner)
        if not self.control.auth_failed:
            self.control.auth_failed = True
            log.error("%s; claiming no new work until the credential is fixed (%s)", exc.message, exc.hint)

    # -- supervising -------------------------------------------------------------------------------------

    def _heartbeat(self, board: _Board, workers: list[threading.Thread]) -> None:
        """Extend the leases held; while the store is down the leases may lapse, and that is safe."""
        while any(w.is_alive() for w in workers):
            if board.finished.wait(min(self.policy.lease_s / 3, 5.0)):
                return
            with board.lock:
                held = list(board.in_flight)
            for name, number in held:
                try:
                    kept = self.store.heartbeat(name, number, self.owner, self.policy.lease_s)
                except InfrastructureError as exc:  # the store is down: the task's own writes will say so
                    log.debug("%s#%d: heartbeat failed: %s", name, number, exc)
                    continue
                except AutonomousDevError as exc:
                    log.warning("%s#%d: the lease could not be extended: %s", name, number, exc)
                    continue
                if not kept:
                    log.warning("%s#%d: lease lost", name, number)

    def _stop_heartbeats(self, board: _Board) -> None:
        """No heartbeat may outlive its cycle: one still writing while the store closes (or the process
        exits) would use a closed connection."""
        board.finished.set()
        for beat in board.beats:
            if beat is not threading.current_thread():
                beat.join(timeout=2.0)

    def _spawn(
        self, board: _Board, name: str, target: Callable[..., None], *args: object
    ) -> threading.Thread:
        """A thread whose death is reported (with its traceback, event `thread_died`), never silent."""

        def supervised() -> None:
            try:
                target(*args)
            except Exception:
                with board.lock:
                    board.died.add(name)
                log.exception("thread %s died; the daemon replaces it", name, extra={"event": "thread_died"})

        thread = threading.Thread(target=supervised, name=name, daemon=True)
        thread.start()
        return thread

    def _supervise(self, board: _Board) -> bool:
        """Replace dead threads: the heartbeat while workers run, a worker while work is left (bounded).
        True when a worker was started."""
        workers = board.workers
        if any(w.is_alive() for w in workers) and not any(b.is_alive() for b in board.beats):
            name = f"heartbeat-{len(board.beats)}"
            board.beats.append(self._spawn(board, name, self._heartbeat, board, workers))
        with board.lock:
            dead = sum(1 for w in workers if w.name in board.died)
            left = any(board.candidates.values())
        wanted = dead > board.replaced and left and not self.control.claiming_stopped
        if wanted and board.replaced < MAX_REPLACEMENTS:
            board.replaced += 1
            log.warning("starting worker-r%d in place of a dead worker", board.replaced)
            workers.append(self._spawn(board, f"worker-r{board.replaced}", self._worker, board))
            return True
        return False

    def _wait(self, board: _Board, workers: list[threading.Thread], grace_s: float | None = None) -> None:
        """Join the workers; on a cold stop, or when a warm stop's grace is over, release the claims held."""
        while any(w.is_alive() for w in workers) or self._supervise(board):
            for worker in list(workers):
                worker.join(timeout=0.2)
            self._supervise(board)
            if self._should_abandon(grace_s):
                self._release_in_flight(board)
                return

    def _should_abandon(self, grace_s: float | None) -> bool:
        if self.control.cold:
            return True
        warm_at = self.control.warm_at
        return warm_at is not None and grace_s is not None and time.monotonic() - warm_at > grace_s

    def _release_in_flight(self, board: _Board) -> None:
        """Give the claims back in the store at once; the labels only if GitHub answers quickly, else the
        next cycle's admission removes them (a label without a live claim is stale)."""
        with board.lock:
            held = list(board.in_flight)
            board.in_flight.clear()
        for name, number in held:
            log.warning("%s#%d: stopping; releasing the claim", name, number)
            self.store.release(name, number, self.owner)
        labels = threading.Thread(target=self._drop_labels, args=(board, held), name="release", daemon=True)
        labels.start()
        labels.join(LABEL_RELEASE_S if self.control.cold else None)

    def _drop_labels(self, board: _Board, held: list[tuple[str, int]]) -> None:
        for name, number in held:
            try:
                self.repos[name].pipeline.drop_stale_claim_label(board.issues[(name, number)])
            except AutonomousDevError as exc:
                log.warning("%s#%d: the in-progress label stays until the next cycle: %s", name, number, exc)


class _StoreObserver:
    """Records every model turn's usage and cost in the store as it happens (a crash loses none)."""

    def __init__(self, cycle: Cycle, repo: str) -> None:
        self.cycle = cycle
        self.repo = repo

    def phase(self, issue: Issue, phase: str) -> None:
        self.cycle.observer.task_phase(self.repo, issue, phase)

    def usage(self, issue: Issue, turn_usage: Usage) -> None:
        cost = self.cycle.policy.cost_of(turn_usage)
        delta = UsageDelta(
            input_tokens=turn_usage.input_tokens,
            output_tokens=turn_usage.output_tokens,
            cache_read_tokens=turn_usage.cache_read_input_tokens,
            cache_write_tokens=turn_usage.cache_creation_input_tokens,
            cost_usd=cost,
        )
        self.cycle.store.add_usage(self.repo, issue.number, delta)
        self.cycle.observer.task_usage(self.repo, issue, turn_usage, cost)


def _live_claim(record: TaskRecord) -> bool:
    expiry = record.lease_expires_at
    return record.claim_owner is not None and expiry is not None and expiry > datetime.now(UTC)


def serve(
    make_cycle: Callable[[], Cycle],
    once: bool,
    interval_s: float,
    control: StopControl,
    observer: CycleObserver | None = None,
) -> list[Outcome]:
    """Run cycles until a stop is requested (or once); a stop or reload request ends the wait at once.

    After an authentication failure the daemon stays up but claims nothing until a reload (SIGHUP).
    An outage never ends the daemon: it logs one line per cycle and backs off (30 s doubling to 10 min,
    or what the service asked for); a single cycle (`once`) raises it for the CLI to report.
    """
    cycle: Cycle | None = None
    outcomes: list[Outcome] = []
    failures = 0
    while control.warm_at is None and not control.cold:
        try:
            cycle = cycle or make_cycle()
            if not control.auth_failed:
                outcomes = cycle.run()
            outage = cycle.outage
        except InfrastructureError as exc:  # building the cycle or scanning met it, before any claim
            outage = exc
        failures = failures + 1 if outage is not None else 0
        wait = interval_s if outage is None or once else outages.wait_s(outage, failures, interval_s)
        _report_outage(outage, None if once else wait, observer)
        if outage is not None and once:
            raise outage
        if once:
            break
        control.wake.wait(wait)
        control.wake.clear()
        if control.reload:
            log.info("reloading the configuration")
            cycle = make_cycle()  # reads control.reload to know it must reread the settings
            control.reload, control.auth_failed = False, False
    return outcomes


def _report_outage(
    error: InfrastructureError | None, wait: float | None, observer: CycleObserver | None
) -> None:
    """One line per cycle that met an outage (no traceback); the observers show and record it."""
    retry_at = None if error is None or wait is None else datetime.now(UTC) + timedelta(seconds=wait)
    if error is not None and retry_at is not None:
        note = outages.Outage.of(error, retry_at).note()
        log.error("%s; %s (%s)", note, error.message, error.hint)
    if observer is not None:
        observer.outage(error, retry_at)
