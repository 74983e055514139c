"""The mentions of the tool's handle the store remembers: each comment once, with what was decided, so the
same comment never starts two tasks (or rounds), across restarts and processes."""

from __future__ import annotations

import abc
from collections.abc import Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import TYPE_CHECKING, Any

from autonomous_dev.models import Comment, MentionState, PostedComment

if TYPE_CHECKING:
    from autonomous_dev.store.sql import Execute, Row

# Migration 6 (store/sql.py MIGRATIONS). GitHub's comment ids pass 2**31: {int} is 64 bits on both backends.
MIGRATION = [
    """CREATE TABLE autonomous_dev_mentions (
        repo {text} NOT NULL,
        comment_id {int} NOT NULL,
        number {int} NOT NULL,
        on_pull {int} NOT NULL,
        author {text} NOT NULL,
        author_type {text} NOT NULL,
        body {text} NOT NULL,
        created_at {time} NOT NULL,
        updated_at {time} NOT NULL,
        state {text} NOT NULL,
        note {text} NOT NULL,
        changed_at {time} NOT NULL,
        PRIMARY KEY (repo, comment_id)
    )""",
    "CREATE INDEX autonomous_dev_mentions_state ON autonomous_dev_mentions (repo, state)",
]

INSERT = """INSERT INTO autonomous_dev_mentions (repo, comment_id, number, on_pull, author, author_type, body,
    created_at, updated_at, state, note, changed_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
    ON CONFLICT (repo, comment_id) DO NOTHING"""
# The ids of a poll are recent and close together: read the range they span, keep the ones asked for.
KNOWN = """SELECT comment_id FROM autonomous_dev_mentions
    WHERE repo = %s AND comment_id >= %s AND comment_id <= %s"""
OPEN = """SELECT comment_id, number, on_pull, author, author_type, body, created_at, updated_at, state
    FROM autonomous_dev_mentions WHERE repo = %s AND state IN ('new', 'admitted')
    ORDER BY created_at, comment_id"""
MARK = """UPDATE autonomous_dev_mentions SET state = %s, note = %s, changed_at = %s
    WHERE repo = %s AND comment_id = %s"""


class MentionRecords(abc.ABC):
    """The Store's mention operations, for SqlStore (its backend interface is declared here again)."""

    @abc.abstractmethod
    def _transaction(self) -> AbstractContextManager[Execute]: ...

    @abc.abstractmethod
    def _read(self, query: str, params: Sequence[object]) -> list[Row]: ...

    @abc.abstractmethod
    def _encode(self, moment: datetime | None) -> object: ...

    @abc.abstractmethod
    def _decode(self, value: Any) -> datetime | None: ...

    @abc.abstractmethod
    def _now(self) -> object: ...

    def record_mention(self, repo: str, mention: PostedComment, state: MentionState, note: str = "") -> bool:
        comment = mention.comment
        params = (repo, comment.id, mention.number, int(mention.on_pull), comment.author, comment.author_type,
                  comment.body, self._encode(mention.created_at), self._encode(mention.updated_at),
                  MentionState(state).value, note, self._now())  # fmt: skip
        with self._transaction() as execute:
            return execute(INSERT, params).rowcount == 1

    def known_mentions(self, repo: str, comment_ids: Sequence[int]) -> set[int]:
        if not comment_ids:
            return set()
        rows = self._read(KNOWN, (repo, min(comment_ids), max(comment_ids)))
        return {int(row[0]) for row in rows} & set(comment_ids)

    def open_mentions(self, repo: str) -> list[tuple[PostedComment, MentionState]]:
        found = []
        for row in self._read(OPEN, (repo,)):
            created, updated = self._decode(row[6]), self._decode(row[7])
            assert created is not None and updated is not None  # NOT NULL columns
            comment = Comment(int(row[0]), str(row[5]), str(row[3]), str(row[4]))
            mention = PostedComment(int(row[1]), bool(row[2]), comment, created, updated)
            found.append((mention, MentionState(row[8])))
        return found

    def mark_mention(self, repo: str, comment_id: int, state: MentionState, note: str = "") -> None:
        with self._transaction() as execute:
            execute(MARK, (MentionState(state).value, note, self._now(), repo, comment_id))
