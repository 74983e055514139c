"""The daemon's cycle driven in-process, with the fakes and a test clock: admission, claims, the failure
policy, crash recovery, and every transition of the task lifecycle (docs/architecture.md)."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from autonomous_dev.core.control import StopControl
from autonomous_dev.core.pool import Pool
from autonomous_dev.core.tools import EDITOR_NAME
from autonomous_dev.errors import Cause, InfrastructureError
from autonomous_dev.models import CheckSummary, Comment, Issue, OutcomeKind, PullRequest, PullStatus
from autonomous_dev.settings.sections import MergeSettings
from autonomous_dev.store.backends import SqliteStore, TaskRecord, TaskState, Transition, UsageDelta
from tests.core_helpers import LABEL, Clock, cycle, open_test_store, repo_work
from tests.fakes import FakeRepo, ScriptedClaude

PENDING = CheckSummary(pending=("ci",))
PASSED = CheckSummary(passed=("ci",))
MERGE = MergeSettings(auto_merge=True, checks_timeout_minutes=30, poll_seconds=60)
LOOP = [(EDITOR_NAME, {"command": "view", "path": "calc.py"})]


def fix(number: int) -> list[object]:
    return [
        [(EDITOR_NAME, {"command": "create", "path": f"notes/{number}.txt", "file_text": "x\n"})],
        "Done.",
    ]


def clean(number: int = 100, head: str = "h1") -> PullStatus:
    return PullStatus(number, "open", False, False, head, True, "clean", f"auto/{number}-x", "main")


def states(store: SqliteStore, repo: FakeRepo) -> dict[int, TaskState]:
    return {task.issue: task.state for task in store.tasks(repo.full_name)}


def test_a_pr_waiting_for_its_checks_holds_no_worker_and_merges_in_a_later_cycle(tmp_path: Path) -> None:
    repo = FakeRepo(
        issues=[Issue(n, f"Issue {n}", "", (LABEL,)) for n in (1, 2, 3)],
        statuses=[clean()],
        check_results=[PENDING, PENDING, PENDING, PASSED],
    )
    clock = Clock()
    work = repo_work(tmp_path, repo, ScriptedClaude(fix(1) + fix(2) + fix(3)), merge=MERGE, clock=clock)
    store = open_test_store(tmp_path)
    first = cycle([work], store, workers=1, clock=clock).run()
    opened = [o.issue for o in first if o.kind is OutcomeKind.PR_OPENED]
    assert sorted(opened) == [1, 2, 3]  # one worker did all three: the waiting PRs held it not
    assert [o.kind for o in first if o.kind is OutcomeKind.WAITING] == [OutcomeKind.WAITING] * 3
    assert set(states(store, repo).values()) == {TaskState.LANDING}
    task = store.get(repo.full_name, 1)
    assert task is not None and task.next_attempt_at == clock.now + timedelta(seconds=60)

    assert cycle([work], store, clock=clock).run() == []  # not due yet: nothing is looked at
    assert repo.check_reads == 3
    clock.advance(seconds=60)
    second = cycle([work], store, workers=2, clock=clock).run()
    assert sorted(o.kind for o in second) == [OutcomeKind.MERGED] * 3
    assert set(states(store, repo).values()) == {TaskState.MERGED} and len(repo.merges) == 3


def test_the_run_command_waits_for_the_next_due_look_and_nothing_else(tmp_path: Path) -> None:
    repo = FakeRepo(issues=[Issue(1, "One", "", (LABEL,))], statuses=[clean()], check_results=[PENDING])
    clock = Clock()
    work = repo_work(tmp_path, repo, ScriptedClaude(fix(1)), merge=MERGE, clock=clock)
    store = open_test_store(tmp_path)
    the_cycle = cycle([work], store, clock=clock)
    assert the_cycle.next_step_in() is None
    the_cycle.run()
    assert the_cycle.next_step_in() == 60.0
    clock.advance(seconds=45)
    assert the_cycle.next_step_in() == 15.0


def test_an_out_of_date_pr_is_updated_as_its_own_step_then_lands(tmp_path: Path) -> None:
    behind = PullStatus(100, "open", False, False, "h1", True, "behind", "auto/1-one", "main")
    repo = FakeRepo(
        issues=[Issue(1, "One", "", (LABEL,))],
        statuses=[behind, behind, clean(head="h2")],
        check_results=[PASSED],
    )
    clock = Clock()
    work = repo_work(tmp_path, repo, ScriptedClaude(fix(1)), merge=MERGE, clock=clock)
    store = open_test_store(tmp_path)
    kinds = [o.kind for o in cycle([work], store, clock=clock).run()]
    assert kinds == [OutcomeKind.PR_OPENED, OutcomeKind.WAITING, OutcomeKind.WAITING, OutcomeKind.MERGED]
    task = store.get(repo.full_name, 1)
    assert task is not None and (task.state, task.updates, task.attempts) == (TaskState.MERGED, 1, 1)
    assert repo.merges == [(100, "squash", "h2")]
    updated = work.workspaces.opened[1]  # type: ignore[attr-defined]
    assert updated.branch == "auto/1-one" and updated.pushed


def test_a_failing_attempt_backs_off_on_the_clock_then_goes_to_a_human(tmp_path: Path) -> None:
    repo = FakeRepo(issues=[Issue(1, "Loops", "", (LABEL,))])
    clock = Clock()
    work = repo_work(tmp_path, repo, ScriptedClaude([LOOP]), clock=clock, max_turns=1)
    store = open_test_store(tmp_path)

    def run() -> list[OutcomeKind]:
        return [o.kind for o in cycle([work], store, max_attempts=2, backoff_s=(600.0,), clock=clock).run()]

    assert run() == [OutcomeKind.FAILED]
    task = store.get(repo.full_name, 1)
    assert task is not None and task.state is TaskState.FAILED and "turn budget" in (task.last_error or "")
    assert task.next_attempt_at == clock.now + timedelta(minutes=10)
    assert run() == []  # backing off
    clock.advance(minutes=10)
    assert run() == [OutcomeKind.FAILED]
    assert states(store, repo) == {1: TaskState.NEEDS_HUMAN}
    assert "needs-human" in repo.labels[1] and "2 times" in repo.posted[1][0].body
    assert repo.labels[1] == {"needs-human"}  # the claim's label is off


def test_a_crashed_claim_is_recovered_counted_and_its_label_taken_off(tmp_path: Path) -> None:
    repo = FakeRepo(issues=[Issue(1, "One", "", (LABEL, "in-progress"))])
    clock = Clock()
    work = repo_work(tmp_path, repo, ScriptedClaude(fix(1)), clock=clock)
    store = open_test_store(tmp_path)
    store.observe(repo.full_name, 1, "fp")
    store.claim(repo.full_name, [1], "dead-daemon", 30, now=clock.now - timedelta(minutes=5))
    [outcome] = cycle([work], store, clock=clock).run()
    assert outcome.kind is OutcomeKind.PR_OPENED
    task = store.get(repo.full_name, 1)
    assert task is not None and (task.state, task.attempts) == (TaskState.PR_OPENED, 2)
    assert repo.label_log[0] == ("remove", 1, "in-progress")


def lose_worker(store: SqliteStore, repo: FakeRepo, clock: Clock, recover: bool = True) -> None:
    """A daemon claims the issue's step and dies in the middle of it; its lease has run out by now."""
    assert store.claim(repo.full_name, [1], "dead-daemon", 30, now=clock.now - timedelta(minutes=5))
    task = store.get(repo.full_name, 1)
    assert task is not None and (not recover or store.recover(task, "lost", clock.now))


def test_an_issue_whose_worker_is_lost_in_every_attempt_goes_to_a_human_without_another_run(
    tmp_path: Path,
) -> None:
    """A deterministic crash (a memory limit, a crashing parser) must not loop forever, paying the model
    each time: once every attempt was claimed and lost, the next claim hands the issue over."""
    repo = FakeRepo(issues=[Issue(1, "Poison", "", (LABEL,))])
    clock = Clock()
    claude = ScriptedClaude(fix(1))
    work = repo_work(tmp_path, repo, claude, clock=clock)
    store = open_test_store(tmp_path)
    store.observe(repo.full_name, 1, "fp")
    lose_worker(store, repo, clock)
    lose_worker(store, repo, clock)
    lose_worker(store, repo, clock, recover=False)  # the cycle finds this one's lease run out
    [outcome] = cycle([work], store, max_attempts=3, clock=clock).run()
    assert (outcome.kind, outcome.cause) == (OutcomeKind.FAILED, Cause.WORKER_LOST)
    assert claude.requests == []  # not started again
    task = store.get(repo.full_name, 1)
    assert task is not None and task.state is TaskState.NEEDS_HUMAN
    [said] = [c.body for c in repo.posted[1] if "kind=needs-human" in c.body]
    assert "tried this issue 3 times" in said and "stopped in the middle" in said
    assert repo.labels[1] == {"needs-human"}
    assert cycle([work], store, max_attempts=3, clock=clock).run() == []


def test_a_step_on_the_pr_whose_worker_is_lost_again_and_again_goes_to_a_human(tmp_path: Path) -> None:
    repo = FakeRepo(issues=[Issue(1, "One", "", (LABEL,))], statuses=[clean()], check_results=[PENDING])
    clock = Clock()
    work = repo_work(tmp_path, repo, ScriptedClaude(fix(1)), merge=MERGE, clock=clock)
    store = open_test_store(tmp_path)
    opened = [o.kind for o in cycle([work], store, clock=clock).run()]
    assert opened == [OutcomeKind.PR_OPENED, OutcomeKind.WAITING]  # the PR, then its first look
    clock.advance(minutes=60)
    lose_worker(store, repo, clock)
    lose_worker(store, repo, clock)
    task = store.get(repo.full_name, 1)
    assert task is not None and (task.state, task.step_failures) == (TaskState.LANDING, 2)
    lose_worker(store, repo, clock, recover=False)
    checks_read = repo.check_reads
    [outcome] = cycle([work], store, max_attempts=3, clock=clock).run()
    assert (outcome.kind, outcome.cause) == (OutcomeKind.FAILED, Cause.WORKER_LOST)
    assert repo.check_reads == checks_read  # the look was not made again
    task = store.get(repo.full_name, 1)
    assert task is not None and (task.state, task.attempts) == (TaskState.NEEDS_HUMAN, 1)
    [said] = [c.body for c in repo.posted[1] if "kind=pr-steps-failed" in c.body]
    assert "failed 3 times in a row" in said and repo.pulls[0].url in said
    assert "needs-human" in repo.labels[1]


def test_a_pr_whose_attempt_was_never_recorded_is_adopted_not_opened_again(tmp_path: Path) -> None:
    """The worker died between opening the PR and writing the transition."""
    repo = FakeRepo(
        issues=[Issue(1, "One", "", (LABEL, "in-progress"))],
        pulls=[PullRequest(100, "https://example.invalid/pull/100", "auto/1-one", "main", author="bot")],
        statuses=[clean()],
        check_results=[PASSED],
    )
    clock = Clock()
    claude = ScriptedClaude(fix(1))
    work = repo_work(tmp_path, repo, claude, merge=MERGE, clock=clock)
    store = open_test_store(tmp_path)
    store.observe(repo.full_name, 1, "fp")
    store.claim(repo.full_name, [1], "dead-daemon", 30, now=clock.now - timedelta(minutes=5))
    [outcome] = cycle([work], store, clock=clock).run()
    assert outcome.kind is OutcomeKind.MERGED and claude.requests == []
    assert len(repo.pulls) == 1 and repo.merges == [(100, "squash", "h1")]


def test_an_outage_gives_the_claim_back_uncounted_and_stops_claiming(tmp_path: Path) -> None:
    class Down(ScriptedClaude):
        def complete(self, system, messages, tools):  # type: ignore[no-untyped-def]
            raise InfrastructureError("Anthropic API", "connection refused", "check the network")

    repo = FakeRepo(issues=[Issue(1, "One", "", (LABEL,)), Issue(2, "Two", "", (LABEL,))])
    clock = Clock()
    store = open_test_store(tmp_path)
    the_cycle = cycle([repo_work(tmp_path, repo, Down([]), clock=clock)], store, clock=clock)
    outcomes = the_cycle.run()
    assert [o.kind for o in outcomes] == [OutcomeKind.FAILED] and the_cycle.outage is not None
    assert {(t.state, t.attempts, t.claim_owner) for t in store.tasks()} == {(TaskState.QUEUED, 0, None)}
    assert ("remove", 1, "in-progress") in repo.label_log


def test_github_down_at_the_claim_is_an_outage_not_a_refusal(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    class Down(FakeRepo):
        def comments(self, number: int) -> list[Comment]:
            raise InfrastructureError("GitHub", "cannot reach GitHub", "check the network")

    repo = Down(issues=[Issue(1, "One", "", (LABEL,)), Issue(2, "Two", "", (LABEL,))])
    clock = Clock()
    store = open_test_store(tmp_path)
    claude = ScriptedClaude(fix(1))
    the_cycle = cycle([repo_work(tmp_path, repo, claude, clock=clock)], store, clock=clock)
    assert the_cycle.run() == [] and the_cycle.outage is not None and claude.requests == []
    tasks = store.tasks()
    assert {(t.state, t.attempts, t.claim_owner) for t in tasks} == {(TaskState.QUEUED, 0, None)}
    assert [t.cause for t in tasks if t.cause is not None] == [Cause.SERVICE_DOWN]  # one claim, then no more
    assert "refused" not in caplog.text and "input_rejected" not in caplog.text


def test_the_daily_budget_and_a_stop_claim_nothing(tmp_path: Path) -> None:
    repo = FakeRepo(issues=[Issue(1, "One", "", (LABEL,))])
    clock = Clock()
    work = repo_work(tmp_path, repo, ScriptedClaude(fix(1)), clock=clock)
    store = open_test_store(tmp_path)
    stopped = StopControl()
    stopped.request_stop()
    assert cycle([work], store, clock=clock, control=stopped).run() == []
    store.add_usage(repo.full_name, 99, UsageDelta(cost_usd=1000.0))  # spent today (on the real clock)
    assert cycle([work], store).run() == [] and repo.pulls == []


def test_a_failure_while_landing_waits_in_landing_without_counting_an_attempt(tmp_path: Path) -> None:
    class Flaky(FakeRepo):
        def pull_status(self, number: int) -> PullStatus:
            from autonomous_dev.errors import GitHubError

            raise GitHubError("GitHub answered 500 twice", status=500)

    repo = Flaky(issues=[Issue(1, "One", "", (LABEL,))])
    clock = Clock()
    work = repo_work(tmp_path, repo, ScriptedClaude(fix(1)), merge=MERGE, clock=clock)
    store = open_test_store(tmp_path)
    the_cycle = cycle([work], store, backoff_s=(300.0,), clock=clock)
    kinds = [o.kind for o in the_cycle.run()]
    assert kinds == [OutcomeKind.PR_OPENED, OutcomeKind.FAILED]
    task = store.get(repo.full_name, 1)
    assert task is not None and (task.state, task.attempts) == (TaskState.LANDING, 1)
    assert task.next_attempt_at == clock.now + timedelta(minutes=5) and task.deadline_at is not None
    assert the_cycle.next_step_in() is None  # `run` does not sit through a failed step's backoff


def test_a_transition_needs_the_claim(tmp_path: Path) -> None:
    """A step whose lease was taken over records nothing (the new owner's result counts)."""
    store = open_test_store(tmp_path)
    store.observe("acme/widgets", 1, "fp")
    store.claim("acme/widgets", [1], "w1", 30)
    store.release("acme/widgets", 1, "w1")
    from autonomous_dev.store.backends import ClaimLost

    try:
        store.transition("acme/widgets", 1, "w1", Transition(TaskState.DONE))
    except ClaimLost:
        pass
    else:
        raise AssertionError("a released claim recorded a transition")


def test_workers_racing_for_the_same_candidates_all_live(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Several workers claim from one list: one takes an issue another finds held and drops; neither dies."""
    issues = [Issue(n, f"Issue {n}", "", (LABEL,)) for n in range(1, 9)]
    repo = FakeRepo(issues=issues)
    claude = ScriptedClaude([step for n in range(1, 9) for step in fix(n)])

    class SlowClaims(SqliteStore):
        def claim(self, *args: Any, **kwargs: Any) -> TaskRecord | None:
            claimed = super().claim(*args, **kwargs)
            time.sleep(0.05)  # others look at the same candidates meanwhile
            return claimed

    store = SlowClaims(tmp_path / "state.db")
    store.migrate()
    outcomes = cycle([repo_work(tmp_path, repo, claude)], store, workers=4).run()
    assert sorted(o.issue for o in outcomes) == list(range(1, 9))
    assert not [r for r in caplog.records if getattr(r, "event", None) == "thread_died"]


def test_an_attempt_that_publishes_gives_its_worker_place_to_the_next_issue(tmp_path: Path) -> None:
    """One worker: the second issue's model starts while GitHub is slow to open the first issue's PR, and
    not before the first one's model turns and checks are done."""
    second_started = threading.Event()
    first_turns_then: list[int] = []

    class SlowPulls(FakeRepo):
        def create_pull(
            self, title: str, body: str, head: str, base: str, draft: bool = False
        ) -> PullRequest:
            waits.append(second_started.wait(10))  # GitHub answers the first PR late
            return super().create_pull(title, body, head, base, draft)

    class Watching(ScriptedClaude):
        def complete(
            self, system: str, messages: list[dict[str, object]], tools: list[dict[str, object]]
        ) -> Any:
            if '<issue number="2">' in str(messages[0]["content"]) and not second_started.is_set():
                first_turns_then.append(len(self.requests))
                second_started.set()
            return super().complete(system, messages, tools)

    waits: list[bool] = []
    repo = SlowPulls(issues=[Issue(n, f"Issue {n}", "", (LABEL,)) for n in (1, 2)])
    work = repo_work(tmp_path, repo, Watching(fix(1)))
    outcomes = cycle([work], open_test_store(tmp_path), workers=1).run()
    assert sorted((o.issue, o.kind) for o in outcomes) == [
        (1, OutcomeKind.PR_OPENED),
        (2, OutcomeKind.PR_OPENED),
    ]
    assert waits == [True, True]  # the first PR waited for the second issue's model, not the other way
    assert first_turns_then == [2]  # the first issue's two turns, then its checks, then the second issue


def test_no_more_steps_than_workers_use_the_model_at_once(tmp_path: Path) -> None:
    """Publishing frees a worker's place, and threads wait for one: two workers, six issues, at most two
    agents at a time."""
    lock, running, most = threading.Lock(), [0], [0]

    class Counting(ScriptedClaude):
        def complete(
            self, system: str, messages: list[dict[str, object]], tools: list[dict[str, object]]
        ) -> Any:
            first_turn = len(messages) == 1
            with lock:
                running[0] += 1 if first_turn else 0
                most[0] = max(most[0], running[0])
            time.sleep(0.02)
            turn = super().complete(system, messages, tools)
            if turn.stop_reason == "end_turn":
                with lock:
                    running[0] -= 1
            return turn

    repo = FakeRepo(issues=[Issue(n, f"Issue {n}", "", (LABEL,)) for n in range(1, 7)])
    outcomes = cycle(
        [repo_work(tmp_path, repo, Counting(fix(1)))], open_test_store(tmp_path), workers=2
    ).run()
    assert len([o for o in outcomes if o.kind is OutcomeKind.PR_OPENED]) == 6
    assert most[0] == 2


def test_a_heartbeat_after_a_step_gave_its_claim_back_warns_of_no_lost_lease(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The heartbeat may run between a step's last write (which gives the claim back) and the claim leaving
    the worker's list: that is no lost lease. A lease another owner took is."""
    store = open_test_store(tmp_path)
    for number in (1, 2):
        store.observe("acme/widgets", number, "fp")
    store.claim("acme/widgets", [1], "w1", 30)
    store.release("acme/widgets", 1, "w1")  # the step ended
    store.claim("acme/widgets", [2], "w2", 30)  # another daemon holds it
    pool = Pool(store, "w1", lease_s=0.3, control=StopControl(), hide_claim=lambda key: None)
    pool.in_flight.update({("acme/widgets", 1), ("acme/widgets", 2)})
    pool.workers.append(threading.Thread(target=time.sleep, args=(0.25,)))
    pool.workers[0].start()
    with caplog.at_level("WARNING"):
        pool._heartbeat()  # beats every 0.1 s while the worker lives
    lost = [r.getMessage() for r in caplog.records if "lease lost" in r.getMessage()]
    assert lost and set(lost) == {"acme/widgets#2: lease lost to w2"}


def test_a_thread_waiting_for_a_worker_place_does_not_ask_the_store_for_the_days_cost(tmp_path: Path) -> None:
    """The day's budget is checked before each claim, not every half second while every place is taken
    (a long model session would otherwise mean a database query per waiting thread twice a second)."""

    class CountingCost(SqliteStore):
        asked = 0

        def cost_since(self, since: Any) -> float:
            CountingCost.asked += 1
            return super().cost_since(since)

    class Slow(ScriptedClaude):
        def complete(
            self, system: str, messages: list[dict[str, object]], tools: list[dict[str, object]]
        ) -> Any:
            time.sleep(0.75)  # three waits of the idle thread per issue
            return super().complete(system, messages, tools)

    store = CountingCost(tmp_path / "state.db")
    store.migrate()
    repo = FakeRepo(issues=[Issue(n, f"Issue {n}", "", (LABEL,)) for n in (1, 2)])
    outcomes = cycle([repo_work(tmp_path, repo, Slow(fix(1)))], store, workers=1).run()
    assert [o.kind for o in outcomes] == [OutcomeKind.PR_OPENED] * 2
    assert CountingCost.asked <= 3  # one per claim (two issues), and one that found nothing left


def test_each_repository_keeps_to_its_cap_while_another_leaves_a_place_free(tmp_path: Path) -> None:
    """Two repositories, two workers, one place each: never two models at once on one repository, though
    the other repository leaves a place free most of the time."""
    lock, running, most = threading.Lock(), {}, {}

    class Counting(ScriptedClaude):
        def __init__(self, name: str) -> None:
            super().__init__(fix(1))
            self.name = name

        def complete(
            self, system: str, messages: list[dict[str, object]], tools: list[dict[str, object]]
        ) -> Any:
            with lock:
                running[self.name] = running.get(self.name, 0) + (1 if len(messages) == 1 else 0)
                most[self.name] = max(most.get(self.name, 0), running[self.name])
            time.sleep(0.02)
            turn = super().complete(system, messages, tools)
            if turn.stop_reason == "end_turn":
                with lock:
                    running[self.name] -= 1
            return turn

    works = []
    for name, count in (("acme/widgets", 4), ("acme/gadgets", 1)):  # one place is free most of the time
        issues = [Issue(n, f"Issue {n}", "", (LABEL,)) for n in range(1, count + 1)]
        works.append(repo_work(tmp_path / name, FakeRepo(issues=issues, full_name=name), Counting(name)))
    outcomes = cycle(works, open_test_store(tmp_path), workers=2, per_repo_workers=1).run()
    assert [o.kind for o in outcomes] == [OutcomeKind.PR_OPENED] * 5
    assert most == {"acme/widgets": 1, "acme/gadgets": 1}


class BrokenChecks(FakeRepo):
    """Reading the PR's checks fails (a bug in a look at the PR) where `broken` says so, call by call."""

    broken: tuple[bool, ...] = ()

    def checks(self, sha: str) -> CheckSummary:
        failing = self.broken[min(self.check_reads, len(self.broken) - 1)]
        found = super().checks(sha)
        if failing:
            raise RuntimeError("checks exploded")
        return found


def test_a_step_on_the_pr_that_keeps_failing_goes_to_a_human_after_max_attempts(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    repo = BrokenChecks(issues=[Issue(1, "One", "", (LABEL,))], statuses=[clean()], check_results=[PENDING])
    repo.broken = (True,)
    clock = Clock()
    work = repo_work(tmp_path, repo, ScriptedClaude(fix(1)), merge=MERGE, clock=clock)
    store = open_test_store(tmp_path)

    def run() -> list[tuple[OutcomeKind, str]]:
        outcomes = cycle([work], store, max_attempts=3, backoff_s=(600.0,), clock=clock).run()
        clock.advance(minutes=10)
        return [(o.kind, o.detail) for o in outcomes]

    assert [kind for kind, _ in run()] == [OutcomeKind.PR_OPENED, OutcomeKind.FAILED]  # the first look fails
    task = store.get(repo.full_name, 1)
    assert task is not None and (task.state, task.step_failures) == (TaskState.LANDING, 1)
    assert run() == [(OutcomeKind.FAILED, "unexpected error: RuntimeError: checks exploded")]
    assert "needs-human" not in repo.labels.get(1, set())
    assert [kind for kind, _ in run()] == [OutcomeKind.FAILED]  # the third in a row: handed over
    task = store.get(repo.full_name, 1)
    assert task is not None and (task.state, task.step_failures, task.attempts) == (
        TaskState.NEEDS_HUMAN,
        3,
        1,
    )
    assert "needs-human" in repo.labels[1] and len(repo.pulls) == 1
    [said] = [c.body for c in repo.posted[1] if "kind=pr-steps-failed" in c.body]
    assert "failed 3 times in a row" in said and "checks exploded" in said and repo.pulls[0].url in said
    assert run() == []  # a human has it now
    assert repo.check_reads == 3
    said = [r.getMessage() for r in caplog.records if "failed (land step" in r.getMessage()]
    assert [line.split("(")[1].split(",")[:2] for line in said] == [
        ["land step", f" {n} of 3 in a row"] for n in (1, 2, 3)
    ]


def test_a_step_on_the_pr_that_succeeds_starts_the_count_of_failures_again(tmp_path: Path) -> None:
    repo = BrokenChecks(issues=[Issue(1, "One", "", (LABEL,))], statuses=[clean()], check_results=[PENDING])
    repo.broken = (True, True, False, True, True)
    clock = Clock()
    work = repo_work(tmp_path, repo, ScriptedClaude(fix(1)), merge=MERGE, clock=clock)
    store = open_test_store(tmp_path)
    for _ in range(5):
        cycle([work], store, max_attempts=3, backoff_s=(60.0,), clock=clock).run()
        clock.advance(minutes=1)
    task = store.get(repo.full_name, 1)
    assert repo.check_reads == 5  # failed, failed, pending (no failure), failed, failed
    assert task is not None and (task.state, task.step_failures) == (TaskState.LANDING, 2)
    assert "needs-human" not in repo.labels.get(1, set())
