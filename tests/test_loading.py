"""Start-up with the garbage collector paused: paused by the launcher, back once a cycle is built, and
never left off in a process that did not pause it (the test process here)."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from autonomous_dev import loading


@pytest.fixture
def collector() -> Iterator[None]:
    was, launched = gc.isenabled(), loading._state["launched"]
    yield
    loading.end()
    loading._state["launched"] = launched
    gc.unfreeze()
    if was:
        gc.enable()


def test_end_resumes_what_begin_paused_and_freezes_what_start_up_made(collector: None) -> None:
    loading.begin()
    assert not gc.isenabled()
    frozen = gc.get_freeze_count()
    loading.end()
    assert gc.isenabled() and gc.get_freeze_count() >= frozen
    gc.unfreeze()


def test_end_without_begin_leaves_the_collector_alone(collector: None) -> None:
    gc.disable()
    loading.end()
    assert not gc.isenabled()


@pytest.mark.parametrize("enabled", [True, False])
def test_a_late_import_pauses_a_running_collector_and_restores_it(collector: None, enabled: bool) -> None:
    (gc.enable if enabled else gc.disable)()
    with loading.uncollected():
        assert not gc.isenabled()
    assert gc.isenabled() is enabled


def test_in_the_launched_program_what_a_late_import_made_is_frozen(collector: None) -> None:
    loading.begin()
    loading.end()
    frozen = gc.get_freeze_count()
    with loading.uncollected():
        made = [[index] for index in range(1000)]  # what an import leaves: objects the collector tracks
    assert gc.get_freeze_count() >= frozen + len(made)


def test_a_late_import_in_a_process_that_was_not_launched_freezes_nothing(collector: None) -> None:
    loading._state["launched"] = False
    gc.enable()
    frozen = gc.get_freeze_count()
    with loading.uncollected():
        made = [[index] for index in range(1000)]
    assert len(made) == 1000 and gc.get_freeze_count() == frozen
