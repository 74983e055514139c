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

_state = {"started": False, "launched": False}


def begin() -> None:
    """Pause the collector until `end` (the program's launcher calls this before importing anything)."""
    gc.disable()
    _state["started"] = _state["launched"] = True


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
    runs. In the launched program what it made is then frozen, as start-up's is: the first collection
    after it would walk all of it (about 0.07 s, while the first model turn waits), and every full one
    again. What other threads made meanwhile is frozen with it, a one-time few kilobytes."""
    paused_here = gc.isenabled()
    if paused_here:
        gc.disable()
    try:
        yield
    finally:
        if paused_here:
            if _state["launched"]:
                gc.freeze()
            gc.enable()
