"""The Postgres store: shared by several processes (psycopg is imported only when it is configured: it
costs start-up time of every command)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict

from autonomous_dev.errors import ConfigError, InfrastructureError, network_reason, postgres_unreachable
from autonomous_dev.store import schema
from autonomous_dev.store import sql as sql
from autonomous_dev.store.connections import ThreadConnections
from autonomous_dev.store.records import StoreError
from autonomous_dev.store.sql import Execute, Result, Row, SqlStore, aware

POSTGRES_CONNECT_TIMEOUT_S = 10
# pg_advisory_lock key that serialises migrations across processes ("autodev" in ASCII).
MIGRATION_LOCK_KEY = 0x6175746F646576


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
