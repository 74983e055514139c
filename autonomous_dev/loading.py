"""Start-up without the cyclic garbage collector.

Start-up allocates hundreds of thousands of objects that live as long as the process (modules, classes,
the SDKs' pydantic models); every collection during it walks all of them again and finds nothing to
free. Pausing the collector takes about a sixth off the tool's own imports and a quarter off the
anthropic SDK's (about 0.1 s and 0.3 s of CPU), which every command and every busy run pays.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

_state = {"started": False}


def begin() -> None:
    """Pause the collector until `end` (the program's launcher calls this before importing anything)."""
    gc.disable()
    _state["started"] = True


def end() -> None:
    """Start-up is over: what it made is frozen out of every later collection, and collections resume.
    A no-op unless `begin` paused them (a test calling commands in-process keeps its collector as is)."""
    if _state["started"]:
        _state["started"] = False
        gc.freeze()
        gc.enable()


@contextmanager
def uncollected() -> Iterator[None]:
    """A late import (the anthropic SDK, loaded once there is work) with the collector paused while it
    runs; nothing is frozen, so garbage from other threads meanwhile is collected afterwards."""
    paused_here = gc.isenabled()
    if paused_here:
        gc.disable()
    try:
        yield
    finally:
        if paused_here:
            gc.enable()
