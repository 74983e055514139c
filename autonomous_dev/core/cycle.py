"""One cycle over every repository: take back crashed claims, find what is due, let workers claim and
run one step at a time. A task's state lives in the store; nothing here waits for GitHub's checks."""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from autonomous_dev.core.admission import Admission, Listing, PullOpen, live_claim
from autonomous_dev.core.control import StopControl
from autonomous_dev.core.lifecycle import FailurePolicy
from autonomous_dev.core.observe import CycleObserver
from autonomous_dev.core.pool import Pool
from autonomous_dev.core.repository import RepoWork
from autonomous_dev.core.worker import TaskRunner
from autonomous_dev.errors import AutonomousDevError, InfrastructureError
from autonomous_dev.models import Outcome, OutcomeKind, Usage
from autonomous_dev.ports import Store
from autonomous_dev.store.records import ONCE_PER_CYCLE, STEP_OF, Step, TaskRecord, Transition

if TYPE_CHECKING:
    from autonomous_dev.models import Issue

log = logging.getLogger(__name__)
Free = Callable[[], None]  # frees the worker's place a claimed step holds


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Policy:
    workers: int
    lease_s: float
    failures: FailurePolicy
    max_cost_per_day: float
    per_repo_workers: int  # 0: no limit below `workers`
    grace_s: float
    cost_of: Callable[[Usage], float] = lambda usage: 0.0
    redact: Callable[[str], str] = lambda text: text


@dataclass
class Board:
    """What this cycle may still claim, per repository, and how many steps hold a worker's place on each
    (an attempt that only publishes holds none). Admission adds to it while workers claim from it."""

    candidates: dict[str, list[int]] = field(default_factory=dict)
    issues: dict[tuple[str, int], Issue] = field(default_factory=dict)
    active: dict[str, int] = field(default_factory=dict)
    admitting: bool = True
    admitted: int = 0
    turn: int = 0
    budget_reported: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)
    changed: threading.Condition = field(init=False)

    def __post_init__(self) -> None:
        self.changed = threading.Condition(self.lock)

    def add(self, repo: str, number: int, issue: Issue) -> None:
        with self.changed:
            self.candidates.setdefault(repo, []).append(number)
            self.issues[(repo, number)] = issue
            self.admitted += 1
            self.changed.notify()

    def drop(self, repo: str, numbers: list[int]) -> None:
        """Take these off the repository's candidates, once each, where still there (the lock held)."""
        left = self.candidates[repo]
        for number in numbers:
            if number in left:
                left.remove(number)

    def admission_done(self) -> None:
        with self.changed:
            self.admitting = False
            self.changed.notify_all()

    def work_left(self) -> bool:
        with self.lock:
            return self.admitting or any(self.candidates.values())

    def place(self, repo: str) -> Free:
        """What frees the worker's place a step just claimed on `repo` took: once, however often called."""
        held = [True]

        def free() -> None:
            with self.changed:
                if held[0]:
                    held[0] = False
                    self.active[repo] -= 1
                    self.changed.notify_all()

        return free


class Cycle:
    def __init__(
        self,
        repos: list[RepoWork],
        store: Store,
        policy: Policy,
        owner: str,
        control: StopControl,
        observer: CycleObserver | None = None,
        clock: Callable[[], datetime] = utcnow,
        only: frozenset[int] | None = None,
        pull: int | None = None,
    ) -> None:
        """`only`: the issues `run --issue` names (with one repository); nothing else is looked at, and
        the first run refuses (UsageError) one that does not exist or is closed. `pull`: the PR `run --pr`
        names: only its steps are taken (its follow look, review and CI-repair rounds, landing)."""
        self.repos = {work.name: work for work in repos}
        self.only = only
        self.pull = pull
        self._runs = 0
        self.store = store
        self.policy = policy
        self.owner = owner
        self.control = control
        self.observer = observer or CycleObserver()
        self.clock = clock
        self.admission = Admission(store, clock)
        self.outcomes: list[Outcome] = []
        self.outage: InfrastructureError | None = None  # set by the first outage; no more claims then

    def run(self) -> list[Outcome]:
        self.outcomes, self.outage = [], None
        if self.control.claiming_stopped:
            return []
        self._recover_expired_claims()
        first, self._runs = self._runs == 0, self._runs + 1  # a later run finds it closed once merged
        listings = {
            name: self.admission.list(work, self.only, first, self.pull) for name, work in self.repos.items()
        }
        for name, listing in listings.items():
            self.observer.issues_listed(name, len(listing.issues))
        board = Board()
        if any(not listing.empty for listing in listings.values()):
            self._work(board, listings)
        if self._idle(board, listings):
            log.info("no eligible issues")
            if self.only is None and self.pull is None:
                self._discover(listings)
        if self.outage is None:
            self._bring_comments_up_to_date()
        self.observer.cycle_finished(list(self.outcomes))
        return list(self.outcomes)

    def _idle(self, board: Board, listings: dict[str, Listing]) -> bool:
        """Nothing was worked on: nothing admitted but looks at PRs waiting for people that found nothing."""
        looks = sum(1 for listing in listings.values() for task in listing.due if task.step in ONCE_PER_CYCLE)
        worked = [o for o in self.outcomes if o.kind is not OutcomeKind.REFUSED]
        return board.admitted <= looks and not worked

    def next_step_in(self) -> float | None:
        """Seconds until the next PR step of these repositories is due (None: none is waiting, or only
        steps that failed and back off, or looks at PRs waiting for people: a run looks at those once)."""
        now = self.clock()
        due = [
            record.next_attempt_at or now
            for name, work in self.repos.items()
            for record in self.store.pending_steps(name)
            if work.runs(record)
            and record.step not in ONCE_PER_CYCLE
            and record.last_error is None  # a failed step backs off in the daemon; a run does not wait
            and not live_claim(record, now)
            and (self.only is None or record.issue in self.only)
            and (self.pull is None or record.pr_number == self.pull)
        ]
        return max(0.0, (min(due) - now).total_seconds()) if due else None

    # -- preparing ---------------------------------------------------------------------------------------

    def _recover_expired_claims(self) -> None:
        """A crashed worker's claim: its step waits again, counted; the label displaying it comes off."""
        for record in self.store.expired_claims(self.clock()):
            log.warning("%s#%d: the claim of %s expired (crashed?); releasing it", record.repo, record.issue,
                        record.claim_owner)  # fmt: skip
            if not self.store.recover(record, "the worker lost its claim (crash or stop)", self.clock()):
                continue  # another process took it over meanwhile
            work = self.repos.get(record.repo)
            if work is not None and record.step not in (Step.LAND, Step.FOLLOW):  # they show no claim
                work.thread.hide_claim(record.issue)

    def _bring_comments_up_to_date(self) -> None:
        """Tracking comments behind their task (GitHub failed while a step ended, a worker crashed, a PR
        was adopted) are edited at the end of the cycle; one that fails again waits for the next."""
        for record in self.store.unshown(self.clock()):
            work = self.repos.get(record.repo)
            if work is not None and work.thread.tracker.refresh(record):
                self.store.mark_shown(record)

    def _admit(self, board: Board, listings: dict[str, Listing]) -> None:
        """Admission in the cycle's thread, adding to the board as the workers claim from it. An outage
        ends it (the workers claim nothing more); anything else ends it and is raised once they stop."""
        try:
            for name, listing in listings.items():
                if not listing.empty:
                    self.repos[name].workspaces.sync()
                    add = functools.partial(board.add, name)
                    # said only when asked for by number; the daemon leaves unadmitted issues silently
                    refuse = functools.partial(self._refused, name) if self.only is not None else None
                    self.admission.admit(self.repos[name], listing, add, refuse)
        except InfrastructureError as exc:
            self.outage = self.outage or exc
        finally:
            board.admission_done()

    def _refused(self, repo: str, number: int, reason: str) -> None:
        """An issue `run --issue` names that this cycle does not work on: refused, or its PR waits."""
        if isinstance(reason, PullOpen):
            log.info(
                "%s#%d: nothing to do now: %s", repo, number, reason, extra={"repo": repo, "issue": number}
            )
            self.outcomes.append(Outcome(number, OutcomeKind.WAITING, reason))
            return
        log.warning("%s#%d is not worked on: %s", repo, number, reason, extra={"repo": repo, "issue": number})
        self.outcomes.append(Outcome(number, OutcomeKind.REFUSED, reason))

    def _discover(self, listings: dict[str, Listing]) -> None:
        """Nothing to do: let each repository with discovery on file a few issues (once per commit)."""
        for name, work in self.repos.items():
            if work.discovery is None or self.control.claiming_stopped:
                continue
            labelled = len(listings[name].issues)
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

    # -- working -----------------------------------------------------------------------------------------

    def _work(self, board: Board, listings: dict[str, Listing]) -> None:
        policy = self.policy
        runner = TaskRunner(self.store, self.owner, policy.failures, self.observer, self.clock,
                            policy.cost_of, policy.redact)  # fmt: skip
        pool = Pool(self.store, self.owner, policy.lease_s, self.control, self._hide_claim)
        tasks = sum(len(listing.issues) + len(listing.due) for listing in listings.values())
        work = functools.partial(self._worker, board, pool, runner)
        try:
            # Twice the threads: a worker's place is freed while its attempt publishes (push, PR), and
            # another thread takes it; no more than `workers` steps use the model and the checks at once.
            pool.start(min(2 * policy.workers, tasks), work)
            try:
                self._admit(board, listings)
            finally:
                pool.wait(work, board.work_left, policy.grace_s)
        except KeyboardInterrupt:  # a cold stop: the workers are daemon threads and die with the process
            pool.stop_heartbeats()
            pool.release_in_flight()
            raise

    def _worker(self, board: Board, pool: Pool, runner: TaskRunner) -> None:
        """Claim and run steps until nothing is left. A store failure ends this worker: the claim is
        released (or its lease lapses while the store is down) and the next cycle tries again."""
        while not self.control.claiming_stopped and self.outage is None and runner.outage is None:
            try:
                claimed = self._claim_next(board, pool)
            except InfrastructureError as exc:  # the store went away between two claims
                self.outage = self.outage or exc
                return
            except AutonomousDevError as exc:  # the store failed; if it claimed anyway, the lease lapses
                log.warning("claiming failed: %s; this worker stops until the next cycle", exc)
                return
            if claimed is None:
                return
            name, record, free_place = claimed
            try:
                if not self._run(self.repos[name], board, record, runner, free_place):
                    return
            finally:
                free_place()
                with pool.lock:
                    pool.in_flight.discard((name, record.issue))
        self.outage = self.outage or runner.outage

    def _run(
        self, work: RepoWork, board: Board, record: TaskRecord, runner: TaskRunner, free_place: Free
    ) -> bool:
        """One claimed step; False when the store failed while recording it (the worker backs off)."""
        listed = board.issues[(work.name, record.issue)]
        try:
            issue = runner.vetted(work, listed) if record.step is Step.ATTEMPT else listed
            if issue is None:
                return True
            result = runner.run(work, issue, record, free_place)
        except AutonomousDevError as exc:  # raised while recording the result: the store is down
            log.error("%s#%d: the result could not be recorded: %s", work.name, record.issue, exc,
                      extra={"repo": work.name, "issue": record.issue})  # fmt: skip
            try:
                self.store.release(work.name, record.issue, self.owner)
            except AutonomousDevError:
                log.warning("%s#%d: the claim could not be released; its lease will lapse", work.name,
                            record.issue)  # fmt: skip
            return False
        if result.outcome.kind is not OutcomeKind.UNCHANGED:  # a look at a PR that found nothing new
            self.outcomes.append(result.outcome)
        elif self.only is not None:  # ... is reported when the issue was named: its PR waits
            self.outcomes.append(replace(result.outcome, kind=OutcomeKind.WAITING))
        failed_auth = runner.auth_error
        if failed_auth is not None and not self.control.auth_failed:
            self.control.auth_failed = True
            log.error("%s; claiming no new work until the credential is fixed (%s)", failed_auth.message,
                      failed_auth.hint)  # fmt: skip
        if _due_now(result.transition, self.clock()):
            with board.lock:  # the next step (a first look at the PR, an update) is due: this cycle takes it
                board.candidates[work.name].append(record.issue)
        return True

    def _claim_next(self, board: Board, pool: Pool) -> tuple[str, TaskRecord, Free] | None:
        """Round robin over the repositories that still have candidates and a free worker's place: the
        task claimed, and what frees the place it holds."""
        cap = self.policy.per_repo_workers or self.policy.workers
        while not self.control.claiming_stopped and self.outage is None:
            with board.changed:
                waiting = [n for n, c in board.candidates.items() if c]
                names = [n for n in waiting if board.active.get(n, 0) < cap]
                full = sum(board.active.values()) >= self.policy.workers
                if not waiting and not board.admitting:
                    return None
                if not names or full:  # the places are taken (they free up), or admission goes on
                    board.changed.wait(0.5)
                    continue
                name = names[board.turn % len(names)]
                board.turn += 1
                candidates = list(board.candidates[name])
                board.active[name] = board.active.get(name, 0) + 1
            free_place = board.place(name)
            try:
                spent = self._budget_spent(board)  # before every claim (not while waiting for a place)
                lease, now = self.policy.lease_s, self.clock()
                record = None if spent else self.store.claim(name, candidates, self.owner, lease, now)
            except BaseException:  # the place is free again for whoever claims next
                free_place()
                raise
            if spent:
                free_place()
                return None
            with board.lock:
                # Other workers claim from the same list: what one took, another may have dropped.
                board.drop(name, candidates if record is None else [record.issue])
            if record is None:  # the rest is held by others or backing off
                free_place()
                continue
            with pool.lock:
                pool.in_flight.add((name, record.issue))
            return name, record, free_place
        return None

    def _budget_spent(self, board: Board) -> bool:
        """Checked before every claim, so a cycle stops claiming as soon as the day's budget is spent."""
        midnight = self.clock().replace(hour=0, minute=0, second=0, microsecond=0)
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

    def _hide_claim(self, key: tuple[str, int]) -> None:
        self.repos[key[0]].thread.hide_claim(key[1])


def _due_now(transition: Transition | None, now: datetime) -> bool:
    """A PR step due at once (a failed attempt waits for the next cycle at the earliest, and a PR waiting
    for people is looked at once per cycle)."""
    step = STEP_OF.get(transition.state, Step.ATTEMPT) if transition is not None else Step.ATTEMPT
    if transition is None or step is Step.ATTEMPT or step in ONCE_PER_CYCLE:
        return False
    return transition.next_attempt_at is None or transition.next_attempt_at <= now
