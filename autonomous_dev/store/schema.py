"""The store's schema: the column types of each backend and the migrations, applied in order of version."""

from __future__ import annotations

from collections.abc import Mapping

from autonomous_dev.store import follow_sql, mentions, webhooks
from autonomous_dev.store.progress_sql import PROGRESS_COLUMNS

# Column types differ per backend, so migrations are templates filled from one of these maps.
SQLITE_TYPES: Mapping[str, str] = {
    "int": "INTEGER",
    "real": "REAL",
    "text": "TEXT",
    "time": "INTEGER",  # microseconds since the Unix epoch, UTC: exact and correctly ordered
    "serial": "INTEGER PRIMARY KEY",
}
POSTGRES_TYPES: Mapping[str, str] = {
    "int": "bigint",
    "real": "double precision",
    "text": "text",
    "time": "timestamptz",
    "serial": "bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY",
}

# Append new versions; never edit one that has shipped.
MIGRATIONS: list[tuple[int, list[str]]] = [
    (
        1,
        [
            """CREATE TABLE autonomous_dev_tasks (
                repo {text} NOT NULL,
                issue {int} NOT NULL,
                state {text} NOT NULL DEFAULT 'queued',
                attempts {int} NOT NULL DEFAULT 0,
                last_error {text},
                pr_number {int},
                pr_url {text},
                fingerprint {text},
                next_attempt_at {time},
                claim_owner {text},
                lease_expires_at {time},
                input_tokens {int} NOT NULL DEFAULT 0,
                output_tokens {int} NOT NULL DEFAULT 0,
                cache_read_tokens {int} NOT NULL DEFAULT 0,
                cache_write_tokens {int} NOT NULL DEFAULT 0,
                cost_usd {real} NOT NULL DEFAULT 0,
                created_at {time} NOT NULL,
                updated_at {time} NOT NULL,
                PRIMARY KEY (repo, issue)
            )""",
            "CREATE INDEX autonomous_dev_tasks_updated ON autonomous_dev_tasks (updated_at)",
            """CREATE INDEX autonomous_dev_tasks_leases ON autonomous_dev_tasks (lease_expires_at)
                WHERE claim_owner IS NOT NULL""",
            """CREATE TABLE autonomous_dev_usage_events (
                id {serial},
                at {time} NOT NULL,
                repo {text} NOT NULL,
                issue {int} NOT NULL,
                input_tokens {int} NOT NULL,
                output_tokens {int} NOT NULL,
                cache_read_tokens {int} NOT NULL,
                cache_write_tokens {int} NOT NULL,
                cost_usd {real} NOT NULL
            )""",
            "CREATE INDEX autonomous_dev_usage_events_at ON autonomous_dev_usage_events (at)",
            "CREATE TABLE autonomous_dev_meta (key {text} PRIMARY KEY, value {text} NOT NULL)",
        ],
    ),
    (
        2,
        [
            "ALTER TABLE autonomous_dev_tasks ADD COLUMN updates {int} NOT NULL DEFAULT 0",
            "ALTER TABLE autonomous_dev_tasks ADD COLUMN deadline_at {time}",
            "UPDATE autonomous_dev_tasks SET state = 'working' WHERE state = 'claimed'",
        ],
    ),
    (3, webhooks.MIGRATION),
    (4, PROGRESS_COLUMNS),
    (5, follow_sql.MIGRATION),
    (6, mentions.MIGRATION),
    (7, ["ALTER TABLE autonomous_dev_tasks ADD COLUMN step_failures {int} NOT NULL DEFAULT 0"]),
]

CREATE_VERSION_TABLE = """CREATE TABLE IF NOT EXISTS autonomous_dev_schema_version (
    version integer PRIMARY KEY, applied_at text NOT NULL)"""
SELECT_VERSIONS = "SELECT version FROM autonomous_dev_schema_version"
INSERT_VERSION = "INSERT INTO autonomous_dev_schema_version (version, applied_at) VALUES (%s, %s)"


def migrations_for(types: Mapping[str, str]) -> list[tuple[int, list[str]]]:
    """The migrations with the backend's column types filled in."""
    return [(version, [sql.format_map(types) for sql in sqls]) for version, sqls in MIGRATIONS]
