"""One database connection per thread, closed when its thread has finished."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, Protocol, TypeVar


class _Closable(Protocol):
    def close(self) -> None: ...


_Conn = TypeVar("_Conn", bound=_Closable)


class ThreadConnections(Generic[_Conn]):
    """One connection per thread. A daemon starts new worker threads every busy cycle, so when a thread
    opens its connection, those of threads that have finished are closed: nothing piles up over months."""

    def __init__(self) -> None:
        self._local = threading.local()
        self._lock = threading.Lock()
        self._owned: list[tuple[threading.Thread, _Conn]] = []

    def current(self) -> _Conn | None:
        conn: _Conn | None = getattr(self._local, "conn", None)
        return conn

    def open(self, connect: Callable[[], _Conn]) -> _Conn:
        """A new connection for the calling thread; the finished threads' ones are closed first."""
        with self._lock:
            finished = [conn for thread, conn in self._owned if not thread.is_alive()]
            self._owned = [(thread, conn) for thread, conn in self._owned if thread.is_alive()]
        for conn in finished:
            conn.close()
        conn = connect()
        self._local.conn = conn
        with self._lock:
            self._owned.append((threading.current_thread(), conn))
        return conn

    def forget(self, conn: _Conn) -> None:
        conn.close()
        self._local.conn = None
        with self._lock:
            self._owned = [(thread, c) for thread, c in self._owned if c is not conn]

    def close_all(self) -> None:
        with self._lock:
            owned, self._owned = self._owned, []
        for _, conn in owned:
            conn.close()
        self._local = threading.local()
