"""Durable task state with leased claims, in SQLite by default or Postgres when configured."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from autonomous_dev.disk import disk_full, is_disk_full
from autonomous_dev.errors import ConfigError
from autonomous_dev.ports import Store
from autonomous_dev.store import schema
from autonomous_dev.store import sql as sql
from autonomous_dev.store.connections import ThreadConnections
from autonomous_dev.store.records import (
    ClaimLost,
    StoreError,
    TaskRecord,
    TaskState,
    Transition,
    UsageDelta,
)
from autonomous_dev.store.sql import EPOCH, Execute, Result, Row, SqlStore

__all__ = [
    "ClaimLost",
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


class SqliteStore(SqlStore):
    """An SQLite file under the state directory: one connection per thread, WAL, immediate transactions."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._connections: ThreadConnections[sqlite3.Connection] = ThreadConnections()
        # This process's writers queue here: a thread finding the file locked by another of its threads
        # would otherwise sleep in SQLite's busy handler (10 ms and more) after the lock is free again.
        self._writing = threading.Lock()

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
        with self._writing:
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


def open_store(backend: str, sqlite_path: Path, database_url: str | None) -> Store:
    """The configured store, not yet migrated; callers call migrate() once at start."""
    if backend == "sqlite":
        return SqliteStore(sqlite_path)
    if backend == "postgres":
        if not database_url:
            raise ConfigError(
                "the postgres state backend needs DATABASE_URL", "set DATABASE_URL or use sqlite"
            )
        from autonomous_dev.store.postgres import PostgresStore

        return PostgresStore(database_url)
    raise ConfigError(f"unknown state backend {backend!r}", "use 'sqlite' or 'postgres'")
