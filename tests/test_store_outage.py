"""A Postgres outage mid-run (issue 21, class 11): the daemon waits, loses no thread, opens each PR once.

The machine's Postgres is shared with other tests, so it is never restarted: a TCP proxy on loopback
stands between the daemon and the server, and cutting it drops every connection and refuses new ones,
which is what the daemon sees when the server restarts.
"""

from __future__ import annotations

import json
import re
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from autonomous_dev.core.tools import EDITOR_NAME
from autonomous_dev.errors import InfrastructureError
from autonomous_dev.models import Issue, OutcomeKind
from autonomous_dev.store.backends import SqliteStore, TaskRecord
from autonomous_dev.store.postgres import PostgresStore
from tests.conftest import NAME, OWNER, Stage
from tests.core_helpers import cycle, repo_work
from tests.daemon_helpers import seed_issues, start_cli, status_json, stop, tool_comments, wait_for
from tests.fakes import FakeRepo, ScriptedClaude
from tests.standins.tcp_proxy import TcpProxy

OUTAGE_S = 10.0


@pytest.fixture
def proxy(pg_dsn: str) -> Iterator[TcpProxy]:
    params = conninfo_to_dict(pg_dsn)
    server = TcpProxy(str(params.get("host") or "127.0.0.1"), int(params.get("port") or 5432))
    yield server
    server.close()


@pytest.mark.slow
def test_postgres_outage_mid_run_loses_no_thread_and_opens_each_pr_once(
    stage: Stage, pg_dsn: str, proxy: TcpProxy, tmp_path: Path
) -> None:
    numbers = seed_issues(stage, 6)
    stage.claude.latency_s = 0.7  # each task takes a few seconds, so the outage finds work in flight
    through_proxy = make_conninfo(pg_dsn, host="127.0.0.1", port=str(proxy.port))
    env = stage.env(
        STATE_BACKEND="postgres", DATABASE_URL=through_proxy, LOOP_INTERVAL_MS="300", PARALLEL_WORKERS="2",
        LEASE_SECONDS="3", BACKOFF_MINUTES="0.01", MAX_ATTEMPTS="5", LOG_FORMAT="json", LOG_LEVEL="INFO",
        BUILD_COMMAND="true",  # nothing proves the change: each issue gets one PR-link comment, never two
    )  # fmt: skip
    log = tmp_path / "daemon.log"
    daemon = start_cli(["start"], stage.cwd, env, log)
    try:
        wait_for(lambda: len(stage.github.pulls(OWNER, NAME)) >= 1, 90, "the first pull request")
        proxy.cut()
        time.sleep(OUTAGE_S)
        assert daemon.poll() is None, log.read_text()[-4000:]
        proxy.restore()
        restored_at = time.monotonic()
        wait_for(lambda: len(stage.github.pulls(OWNER, NAME)) == len(numbers), 180, "every pull request")
        time.sleep(max(0.0, 15 - (time.monotonic() - restored_at)))  # the daemon once died 10 s after
        assert daemon.poll() is None, log.read_text()[-4000:]
    finally:
        stop(daemon)
        code = daemon.wait(timeout=60)
    text = log.read_text()
    assert code == 0, text[-4000:]  # a warm stop: README's 0
    events = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    assert any("state database" in e.get("message", "") for e in events), "the outage was not noticed"
    assert "Exception in thread" not in text and not [e for e in events if e.get("event") == "thread_died"]
    heads = Counter(p["head"].split("-", 1)[0] for p in stage.github.pulls(OWNER, NAME))
    assert heads == Counter({f"auto/{n}": 1 for n in numbers})
    for number in numbers:
        assert len(tool_comments(stage, number)) == 1, tool_comments(stage, number)
    tasks = status_json(stage, stage.env(STATE_BACKEND="postgres", DATABASE_URL=pg_dsn))
    assert {n: (t["state"], t["claim_owner"]) for n, t in tasks.items()} == dict.fromkeys(
        numbers, ("pr_opened", None)
    )


def test_the_store_reports_an_outage_and_reconnects_once_the_server_is_back(
    pg_dsn: str, proxy: TcpProxy
) -> None:
    store = PostgresStore(make_conninfo(pg_dsn, host="127.0.0.1", port=str(proxy.port)))
    store.migrate()
    store.set_meta("k", "v")
    proxy.cut()
    for operation in (lambda: store.get_meta("k"), lambda: store.set_meta("k", "w")):
        with pytest.raises(InfrastructureError) as caught:
            operation()
        assert caught.value.service == "Postgres"  # an outage: it costs no attempt
    proxy.restore()
    assert store.get_meta("k") == "v"
    proxy.cut()  # dropped while idle, back before the next use: nobody notices
    proxy.restore()
    store.set_meta("k", "w")
    assert store.get_meta("k") == "w"
    store.close()


class FlakyStore(SqliteStore):
    """A store whose first claim fails with an error nobody expects (a bug, not an outage)."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.failures = 1

    def claim(self, *args: Any, **kwargs: Any) -> TaskRecord | None:
        if self.failures:
            self.failures -= 1
            raise RuntimeError("unexpected failure in the store")
        return super().claim(*args, **kwargs)


def test_a_worker_killed_by_an_unexpected_error_is_reported_and_replaced(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    fix = [(EDITOR_NAME, {"command": "create", "path": "note.txt", "file_text": "note\n"})]
    repo = FakeRepo(
        issues=[Issue(1, "One", "", ("autonomous-dev",)), Issue(2, "Two", "", ("autonomous-dev",))]
    )
    work = repo_work(
        tmp_path, repo, ScriptedClaude([fix, "Done.", fix, "Done."]), files={"README.md": "# x\n"}
    )
    store = FlakyStore(tmp_path / "state.db")
    store.migrate()
    outcomes = cycle([work], store).run()
    assert sorted(o.kind for o in outcomes) == [OutcomeKind.PR_OPENED] * 2  # in this very cycle
    died = [r for r in caplog.records if getattr(r, "event", None) == "thread_died"]
    # whichever of the pool's threads claimed first (a worker's place may pass between two threads)
    assert len(died) == 1 and re.match(r"thread worker-\d+ died", died[0].getMessage()) and died[0].exc_info
