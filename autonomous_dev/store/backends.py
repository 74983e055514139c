"""Durable task state with leased claims, in SQLite by default or Postgres when configured."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar

import psycopg
from psycopg.conninfo import conninfo_to_dict

from autonomous_dev.disk import disk_full, is_disk_full
from autonomous_dev.errors import ConfigError, InfrastructureError, network_reason, postgres_unreachable
from autonomous_dev.ports import Store
from autonomous_dev.store import schema
from autonomous_dev.store import sql as sql
from autonomous_dev.store.records import (
    ClaimLost,
    StoreError,
    TaskRecord,
    TaskState,
    Transition,
    UsageDelta,
)
from autonomous_dev.store.sql import EPOCH, Execute, Result, Row, SqlStore, aware

__all__ = [
    "ClaimLost",
    "PostgresStore",
    "SqliteStore",
    "Store",
    "StoreError",
    "TaskRecord",
    "TaskState",
    "Transition",
    "UsageDelta",
    "open_store",
]

SQLITE_BUSY_TIMEOUT_S = 30.0
POSTGRES_CONNECT_TIMEOUT_S = 10
# pg_advisory_lock key that serialises migrations across processes ("autodev" in ASCII).
MIGRATION_LOCK_KEY = 0x6175746F646576


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


class SqliteStore(SqlStore):
    """An SQLite file under the state directory: one connection per thread, WAL, immediate transactions."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._connections: ThreadConnections[sqlite3.Connection] = ThreadConnections()

    def migrate(self) -> None:
        # BEGIN IMMEDIATE in each step already keeps concurrent migrators apart.
        self._apply_migrations(schema.SQLITE_TYPES)

    def close(self) -> None:
        self._connections.close_all()

    def _conn(self) -> sqlite3.Connection:
        conn = self._connections.current()
        return conn if conn is not None else self._connections.open(self._connect)

    def _connect(self) -> sqlite3.Connection:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(
                self.path, timeout=SQLITE_BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
            )
            conn.execute(f"PRAGMA busy_timeout = {int(SQLITE_BUSY_TIMEOUT_S * 1000)}")
            conn.execute("PRAGMA journal_mode = WAL")
        except (OSError, sqlite3.Error) as exc:
            if is_disk_full(exc):
                raise disk_full("the state database", self.path.parent) from None
            raise StoreError(f"cannot open the state database {self.path}: {exc}", _SQLITE_HINT) from None
        return conn

    @contextmanager
    def _transaction(self) -> Iterator[Execute]:
        conn = self._conn()
        self._run(conn, "BEGIN IMMEDIATE", ())
        try:
            yield lambda query, params: self._run(conn, query, params)
            self._run(conn, "COMMIT", ())
        finally:
            if conn.in_transaction:
                conn.rollback()

    def _read(self, query: str, params: Sequence[object]) -> list[Row]:
        return self._run(self._conn(), query, params).rows

    def _run(self, conn: sqlite3.Connection, query: str, params: Sequence[object]) -> Result:
        try:
            cursor = conn.execute(query.replace("%s", "?"), tuple(params))
            return Result(cursor.fetchall(), cursor.rowcount)
        except sqlite3.OperationalError as exc:
            if is_disk_full(exc):
                raise disk_full("the state database", self.path.parent) from None
            raise StoreError(f"the state database {self.path} failed: {exc}", _SQLITE_HINT) from None

    def _encode(self, moment: datetime | None) -> object:
        return None if moment is None else (moment - EPOCH) // timedelta(microseconds=1)

    def _decode(self, value: Any) -> datetime | None:
        return None if value is None else EPOCH + timedelta(microseconds=int(value))

    def _pick(self, execute: Execute, repo: str, candidates: Sequence[int], now: object) -> int | None:
        rows = execute(sql.PICK_SQLITE, (json.dumps(list(candidates)), repo, now, now)).rows
        return int(rows[0][0]) if rows else None


_SQLITE_HINT = (
    "check that the state directory is writable and the disk not full; another program may hold a lock"
)


class PostgresStore(SqlStore):
    """Postgres shared by several processes: one autocommit connection per thread, row locks for claims."""

    def __init__(self, dsn: str) -> None:
        try:
            params = conninfo_to_dict(dsn)
        except psycopg.Error:
            raise ConfigError(
                "DATABASE_URL is not a valid Postgres connection string",
                "use postgresql://USER:PASSWORD@HOST:PORT/DBNAME",
            ) from None
        self._dsn = dsn
        self.host = str(params.get("host") or "the local socket")
        if params.get("port"):
            self.host += f":{params['port']}"
        self._secret = str(params.get("password") or "")
        self._connections: ThreadConnections[psycopg.Connection[Row]] = ThreadConnections()

    def migrate(self) -> None:
        conn = self._conn()
        # Other processes may start at the same moment; CREATE TABLE races are not safe without a lock.
        with self._guarded(conn):
            conn.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK_KEY,))
        try:
            self._apply_migrations(schema.POSTGRES_TYPES)
        finally:
            if not conn.closed:
                with self._guarded(conn):
                    conn.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK_KEY,))

    def close(self) -> None:
        self._connections.close_all()

    def _conn(self) -> psycopg.Connection[Row]:
        conn = self._connections.current()
        if conn is None or conn.closed:
            conn = self._connections.open(self._connect)
        return conn

    def _connect(self) -> psycopg.Connection[Row]:
        try:
            return psycopg.connect(self._dsn, autocommit=True, connect_timeout=POSTGRES_CONNECT_TIMEOUT_S)
        except psycopg.OperationalError as exc:
            if postgres_unreachable(exc):
                raise self._outage("cannot reach", exc) from None
            raise self._error("cannot connect to the state database", exc) from None

    # -- reconnecting: a connection the server dropped while idle is replaced before it is used ---------
    # Not psycopg_pool: each thread already keeps its own connection, the migration must hold one
    # connection for its advisory lock, and a pool's check costs a round trip per use. A failed BEGIN
    # is the check here: nothing was done yet, so it is repeated once on a new connection.

    @contextmanager
    def _transaction(self) -> Iterator[Execute]:
        stack = ExitStack()
        conn = self._begin(stack)
        with self._guarded(conn), stack:  # the guard is outermost: a failed COMMIT is reported too
            yield lambda query, params: self._run(conn, query, params)

    def _begin(self, stack: ExitStack) -> psycopg.Connection[Row]:
        """BEGIN on this thread's connection; if the server dropped it (a restart, an outage) nothing has
        been done yet, so BEGIN is tried once more on a new connection."""
        for attempt in (1, 2):
            conn = self._conn()
            try:
                with self._guarded(conn):
                    stack.enter_context(conn.transaction())
                return conn
            except InfrastructureError:
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def _read(self, query: str, params: Sequence[object]) -> list[Row]:
        """A read is safe to repeat: once more on a new connection if the server dropped this one."""
        for attempt in (1, 2):
            conn = self._conn()
            try:
                with self._guarded(conn):
                    return self._run(conn, query, params).rows
            except InfrastructureError:
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def _run(self, conn: psycopg.Connection[Row], query: str, params: Sequence[object]) -> Result:
        cursor = conn.execute(query, tuple(params))
        rows = cursor.fetchall() if cursor.description is not None else []
        return Result(rows, cursor.rowcount)

    @contextmanager
    def _guarded(self, conn: psycopg.Connection[Row]) -> Iterator[None]:
        """A lost connection is an outage (InfrastructureError, dropped so the next call reconnects);
        other operational failures are StoreError."""
        try:
            yield
        except psycopg.OperationalError as exc:
            if conn.broken or conn.closed:
                self._connections.forget(conn)
                raise self._outage("lost the connection to", exc) from None
            raise self._error("the state database failed", exc) from None

    def _error(self, what: str, exc: Exception) -> StoreError:
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if self._secret:
            detail = detail.replace(self._secret, "***")
        return StoreError(f"{what} on {self.host}: {detail}", "check DATABASE_URL and that the server is up")

    def _outage(self, what: str, exc: Exception) -> InfrastructureError:
        """The server is down or the connection dropped: no task is to blame, the cycle backs off."""
        return InfrastructureError(
            "Postgres",
            f"{what} the Postgres state database at {self.host}: {network_reason(exc)}",
            "check DATABASE_URL and that the server is up; the daemon retries on its own",
        )

    def _encode(self, moment: datetime | None) -> object:
        return moment

    def _decode(self, value: Any) -> datetime | None:
        return None if value is None else aware(value).astimezone(UTC)

    def _pick(self, execute: Execute, repo: str, candidates: Sequence[int], now: object) -> int | None:
        issues = list(candidates)
        rows = execute(sql.PICK_POSTGRES, (repo, issues, now, now, issues)).rows
        return int(rows[0][0]) if rows else None


def open_store(backend: str, sqlite_path: Path, database_url: str | None) -> Store:
    """The configured store, not yet migrated; callers call migrate() once at start."""
    if backend == "sqlite":
        return SqliteStore(sqlite_path)
    if backend == "postgres":
        if not database_url:
            raise ConfigError(
                "the postgres state backend needs DATABASE_URL", "set DATABASE_URL or use sqlite"
            )
        return PostgresStore(database_url)
    raise ConfigError(f"unknown state backend {backend!r}", "use 'sqlite' or 'postgres'")
