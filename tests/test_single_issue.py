"""`run --issue N` in the core: only the named issue is looked at, admitted by the same rules as always."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from autonomous_dev.errors import UsageError
from autonomous_dev.models import CheckSummary, Issue, OutcomeKind, PullStatus
from autonomous_dev.settings.sections import MergeSettings
from tests.conftest import NAME, OWNER, Stage
from tests.core_helpers import LABEL, Clock, cycle, open_test_store, repo_work
from tests.fakes import FakeRepo, ScriptedClaude
from tests.helpers import run_cli
from tests.round_helpers import PR, followed
from tests.test_cycle import fix
from tests.test_e2e import seed


def two_labelled() -> FakeRepo:
    return FakeRepo(issues=[Issue(1, "One", "", (LABEL,)), Issue(2, "Two", "", (LABEL,))])


def test_only_the_named_issue_is_claimed(tmp_path: Path) -> None:
    repo = two_labelled()
    store = open_test_store(tmp_path)
    work = repo_work(tmp_path, repo, ScriptedClaude(fix(2)))
    outcomes = cycle([work], store, workers=2, only=frozenset({2})).run()
    assert [(o.issue, o.kind) for o in outcomes] == [(2, OutcomeKind.PR_OPENED)]
    assert [task.issue for task in store.tasks(repo.full_name)] == [2]
    assert [pull.head for pull in repo.pulls] == ["auto/2-two"]
    assert {number for _, number, _ in repo.label_log} == {2}


@pytest.mark.parametrize(
    ("issues", "message"),
    [
        ([], "issue #7 of acme/widgets does not exist"),
        ([Issue(7, "Done", "", (LABEL,), state="closed")], "issue #7 of acme/widgets is closed"),
    ],
)
def test_a_missing_or_closed_issue_is_a_usage_error(
    tmp_path: Path, issues: list[Issue], message: str
) -> None:
    repo = FakeRepo(issues=[Issue(1, "One", "", (LABEL,)), *issues])
    work = repo_work(tmp_path, repo, ScriptedClaude(["no"]))
    store = open_test_store(tmp_path)
    with pytest.raises(UsageError, match=message) as raised:
        cycle([work], store, only=frozenset({7})).run()
    assert raised.value.exit_status == 2
    assert store.tasks(repo.full_name) == [] and repo.label_log == []


def test_an_unlabelled_issue_is_refused_with_its_reason(tmp_path: Path) -> None:
    """Naming an issue does not vouch for its text: the trigger label, applied by a writer, still does."""
    repo = FakeRepo(issues=[Issue(3, "Unlabelled", "")])
    store = open_test_store(tmp_path)
    outcomes = cycle([repo_work(tmp_path, repo, ScriptedClaude(["no"]))], store, only=frozenset({3})).run()
    [refused] = outcomes
    assert refused.kind is OutcomeKind.REFUSED and not refused.ok
    assert "does not have the 'autonomous-dev' label" in refused.detail
    assert store.tasks(repo.full_name) == [] and repo.pulls == []


def test_an_issue_labelled_by_an_outsider_is_refused(tmp_path: Path) -> None:
    repo = FakeRepo(issues=[Issue(4, "Outsider", "", (LABEL,))], labellers={4: "mallory"})
    repo.permissions["mallory"] = "read"
    store = open_test_store(tmp_path)
    claude = ScriptedClaude(["no"])
    [refused] = cycle([repo_work(tmp_path, repo, claude)], store, only=frozenset({4})).run()
    assert refused.kind is OutcomeKind.REFUSED and "mallory, who has read permission" in refused.detail
    assert claude.requests == [] and repo.pulls == []


def test_an_issue_whose_pr_is_open_says_so_and_is_no_failure(tmp_path: Path) -> None:
    """Naming an issue whose PR waits for people reports the PR, not "nothing to do", and exits 0."""
    repo = two_labelled()
    store = open_test_store(tmp_path)
    work = repo_work(tmp_path, repo, ScriptedClaude(fix(1)))
    [opened] = cycle([work], store, only=frozenset({1})).run()
    assert opened.kind is OutcomeKind.PR_OPENED and opened.pr is not None
    [waiting] = cycle([work], store, only=frozenset({1})).run()
    assert waiting.kind is OutcomeKind.WAITING and waiting.ok
    assert opened.pr.url in waiting.detail and f"run --pr {opened.pr.number}" in waiting.detail
    assert len(repo.pulls) == 1


def test_a_look_at_the_named_issues_pr_that_finds_nothing_new_is_reported_as_waiting(tmp_path: Path) -> None:
    found = followed(tmp_path, [])  # issue 1's PR is open and followed: a look is due each cycle
    assert cycle([found.work], found.store, clock=found.clock).run() == []  # unnamed: not reported
    [waiting] = cycle([found.work], found.store, clock=found.clock, only=frozenset({1})).run()
    assert (waiting.kind, waiting.detail, waiting.ok) == (OutcomeKind.WAITING, "nothing new on the PR", True)
    assert waiting.pr is not None and waiting.pr.number == PR


def test_with_auto_merge_the_named_issue_is_landed_and_a_later_look_finds_it_closed(tmp_path: Path) -> None:
    status = PullStatus(100, "open", False, False, "h1", True, "clean", "auto/1-one", "main")
    repo = two_labelled()
    repo.statuses, repo.check_results = [status], [CheckSummary(passed=("ci",))]
    merge = MergeSettings(auto_merge=True, checks_timeout_minutes=30, poll_seconds=60)
    clock = Clock()
    work = repo_work(tmp_path, repo, ScriptedClaude(fix(1)), merge=merge, clock=clock)
    single = cycle([work], open_test_store(tmp_path), clock=clock, only=frozenset({1}))
    outcomes = single.run()
    assert [(o.issue, o.kind) for o in outcomes] == [(1, OutcomeKind.PR_OPENED), (1, OutcomeKind.MERGED)]
    assert repo.closed == [1] and single.next_step_in() is None
    assert single.run() == []  # closed by the merge: no longer an error once this run has begun


# -- the CLI against the stand-ins -------------------------------------------------------------------------


def test_run_issue_handles_only_that_issue(stage: Stage) -> None:
    seed(stage)  # issues 1 and 3 labelled, 2 not
    result = run_cli(["run", "--issue", "3"], cwd=stage.cwd, env=stage.env())
    assert result.returncode == 0, result.stderr[-3000:]
    assert stage.github.pulls(OWNER, NAME) == []  # issue 1 would have got one
    requests = stage.claude.message_requests()
    assert requests and all("Resolve GitHub issue #3 of" in json.dumps(r["messages"][0]) for r in requests)
    tracking, note = stage.github.comments(OWNER, NAME, 3)
    assert "no change" in note["body"] and "kind=tracking issue=3" in tracking["body"]
    assert stage.github.comments(OWNER, NAME, 1) == []


def test_run_issue_of_an_unlabelled_issue_says_why_and_exits_1(stage: Stage) -> None:
    seed(stage)
    result = run_cli(["run", "--issue", "2"], cwd=stage.cwd, env=stage.env())
    assert result.returncode == 1, result.stderr[-3000:]
    assert "does not have the 'autonomous-dev' label" in result.stderr + result.stdout
    assert stage.claude.message_requests() == [] and stage.github.comments(OWNER, NAME, 2) == []


def test_run_issue_of_a_missing_issue_is_one_error_line_and_exit_2(stage: Stage) -> None:
    seed(stage)
    # --repo picks the repository from those configured (the other one is not even connected to)
    env = stage.env(REPOS=f"{OWNER}/elsewhere")
    result = run_cli(["run", "--issue", "99"], cwd=stage.cwd, env=env)
    assert result.returncode == 2 and "several are configured" in result.stderr
    result = run_cli(["run", "--repo", f"{OWNER}/{NAME}", "--issue", "99"], cwd=stage.cwd, env=env)
    assert result.returncode == 2, result.stderr[-3000:]
    [line] = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert line == f"error: issue #99 of {OWNER}/{NAME} does not exist (or is a pull request)"
    assert stage.claude.message_requests() == []
