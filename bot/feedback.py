"""The feedback store: every question asked, the answers the bot shows and the 👍/👎 votes on them, in SQLite."""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from .answer import Answer, Status

log = logging.getLogger(__name__)

# How long a statement waits for another process's write lock before it gives up (sqlite's busy timeout).
BUSY_TIMEOUT_SECONDS = 10.0
# Switching a fresh database to WAL takes a lock the busy timeout does not wait on: retry it.
WAL_ATTEMPTS = 50
WAL_RETRY_SECONDS = 0.1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS answers (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    question TEXT NOT NULL,
    passages TEXT NOT NULL,          -- JSON list of {file, title, paragraph, score}
    asked_by INTEGER,
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS votes (
    answer_id INTEGER NOT NULL REFERENCES answers(id),
    user_id INTEGER NOT NULL,
    vote INTEGER NOT NULL CHECK (vote IN (-1, 1)),
    created REAL NOT NULL,
    PRIMARY KEY (answer_id, user_id)
);
"""

# Every question asked and what became of it. `answers` only holds the questions answered with quotes
# (their passages are what the buttons need), so a question the corpus does not cover left no trace
# before this table; the report's gaps are made of those. Created by _migrate, not _SCHEMA, so that
# an older database gets it together with its history of answered questions, once.
_QUESTIONS = """
CREATE TABLE questions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    question TEXT NOT NULL,
    status TEXT NOT NULL,            -- answer.Status: answered, not_covered or empty_corpus
    asked_by INTEGER,
    created REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS questions_created ON questions (created);
"""

# The outcomes worth counting: an empty or overlong question is refused before the corpus is asked.
RECORDED = frozenset({Status.ANSWERED, Status.NOT_COVERED, Status.EMPTY_CORPUS})
DECLINED = frozenset({Status.NOT_COVERED, Status.EMPTY_CORPUS})


@dataclass(frozen=True)
class AskedQuestion:
    question: str
    status: str
    created: float  # seconds since the epoch


@dataclass(frozen=True)
class Purged:
    """How many records a purge deleted, by table."""

    questions: int
    answers: int
    votes: int

    @property
    def total(self) -> int:
        return self.questions + self.answers + self.votes


@dataclass(frozen=True)
class StoredAnswer:
    id: int
    question: str
    passages: list[dict]


class FeedbackStore:
    """A small SQLite database; one connection guarded by a lock, used from worker threads.

    Several processes (two bots, a bot and a script) may create and write it at once: every
    statement waits up to BUSY_TIMEOUT_SECONDS for another's lock, and switching to WAL is retried.
    """

    def __init__(self, path: Path, *, busy_timeout: float = BUSY_TIMEOUT_SECONDS) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, timeout=busy_timeout, check_same_thread=False, isolation_level=None)
        self._db.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
        self._use_wal()
        self._db.executescript(_SCHEMA)
        self._migrate()

    def _use_wal(self) -> None:
        for attempt in range(WAL_ATTEMPTS):
            try:
                self._db.execute("PRAGMA journal_mode=WAL")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or attempt == WAL_ATTEMPTS - 1:
                    raise
                time.sleep(WAL_RETRY_SECONDS)

    def record_answer(self, ans: Answer, asked_by: int | None) -> int | None:
        """Store the question and the passages shown; the id goes into the buttons' custom ids.

        None (logged) if the database refuses: a slow or broken feedback store must never cost the
        user the answer, only its vote buttons.
        """
        passages = [
            {"file": h.passage.file, "title": h.passage.title, "paragraph": h.passage.paragraph, "score": h.score}
            for h in ans.hits
        ]
        try:
            with self._lock:
                cur = self._db.execute(
                    "INSERT INTO answers (question, passages, asked_by, created) VALUES (?, ?, ?, ?)",
                    (ans.question, json.dumps(passages, ensure_ascii=False), asked_by, time.time()),
                )
                return int(cur.lastrowid)
        except sqlite3.Error as exc:
            log.warning("could not record an answer in %s: %s", self.path, exc)
            return None

    def answer(self, answer_id: int) -> StoredAnswer | None:
        with self._lock:
            row = self._db.execute("SELECT id, question, passages FROM answers WHERE id = ?", (answer_id,)).fetchone()
        if row is None:
            return None
        return StoredAnswer(row[0], row[1], json.loads(row[2]))

    def vote(self, answer_id: int, user_id: int, vote: int) -> None:
        """Record a user's vote on an answer; voting again replaces the earlier vote."""
        with self._lock:
            self._db.execute(
                "INSERT INTO votes (answer_id, user_id, vote, created) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (answer_id, user_id) DO UPDATE SET vote = excluded.vote, created = excluded.created",
                (answer_id, user_id, vote, time.time()),
            )

    def votes(self, answer_id: int) -> dict[int, int]:
        with self._lock:
            rows = self._db.execute("SELECT user_id, vote FROM votes WHERE answer_id = ?", (answer_id,)).fetchall()
        return dict(rows)

    # -- every question, for the report ---------------------------------------------------------

    def _migrate(self) -> None:
        """Add the questions table to a database made before it, seeded with the answers it holds.

        BEGIN IMMEDIATE: the bot and `wenda report` may open the same old database at once; only
        one of them creates and seeds the table.
        """
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                exists = self._db.execute(
                    "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'questions'"
                ).fetchone()
                if not exists:
                    for statement in _QUESTIONS.split(";"):
                        if statement.strip():
                            self._db.execute(statement)
                    self._db.execute(
                        "INSERT INTO questions (question, status, asked_by, created) "
                        "SELECT question, ?, asked_by, created FROM answers ORDER BY id",
                        (Status.ANSWERED.value,),
                    )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def record_question(self, ans: Answer, asked_by: int | None, when: float | None = None) -> bool:
        """Store a question and whether it was answered; False if its outcome is not one the report counts."""
        if ans.status not in RECORDED:
            return False
        with self._lock:
            self._db.execute(
                "INSERT INTO questions (question, status, asked_by, created) VALUES (?, ?, ?, ?)",
                (ans.question, ans.status.value, asked_by, time.time() if when is None else when),
            )
        return True

    def questions_since(self, since: float) -> list[AskedQuestion]:
        """The questions asked at or after `since`, oldest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT question, status, created FROM questions WHERE created >= ? ORDER BY created, id", (since,)
            ).fetchall()
        return [AskedQuestion(*row) for row in rows]

    def vote_totals(self, since: float) -> tuple[int, int]:
        """(👍, 👎) votes cast or changed at or after `since`."""
        with self._lock:
            up, down = self._db.execute(
                "SELECT COALESCE(SUM(vote = 1), 0), COALESCE(SUM(vote = -1), 0) FROM votes WHERE created >= ?",
                (since,),
            ).fetchone()
        return up, down

    def downvoted_since(self, since: float) -> list[AskedQuestion]:
        """The answers given a 👎 at or after `since`, once each, timed by their latest 👎, oldest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT a.question, MAX(v.created) AS last FROM votes v JOIN answers a ON a.id = v.answer_id "
                "WHERE v.vote = -1 AND v.created >= ? GROUP BY a.id ORDER BY last, a.id",
                (since,),
            ).fetchall()
        return [AskedQuestion(question, "downvoted", created) for question, created in rows]

    def purge_before(self, before: float) -> Purged:
        """Delete every record made before `before`, and the votes on the answers deleted."""
        return self._purge(
            ("DELETE FROM questions WHERE created < ?", (before,)),
            (
                "DELETE FROM votes WHERE created < ? OR answer_id IN (SELECT id FROM answers WHERE created < ?)",
                (before, before),
            ),
            ("DELETE FROM answers WHERE created < ?", (before,)),
        )

    def purge_user(self, user_id: int) -> Purged:
        """Delete everything of one user: their questions, their answers (with anyone's votes on them), their votes."""
        return self._purge(
            ("DELETE FROM questions WHERE asked_by = ?", (user_id,)),
            (
                "DELETE FROM votes WHERE user_id = ? OR answer_id IN (SELECT id FROM answers WHERE asked_by = ?)",
                (user_id, user_id),
            ),
            ("DELETE FROM answers WHERE asked_by = ?", (user_id,)),
        )

    def _purge(self, *statements: tuple[str, tuple]) -> Purged:
        """Run the deletes for questions, votes and answers (in that order) as one transaction.

        secure_delete overwrites the deleted rows in the file, and the checkpoint empties the
        write-ahead log, so what a purge deletes does not linger on disk.
        """
        with self._lock:
            self._db.execute("PRAGMA secure_delete = ON")
            self._db.execute("BEGIN IMMEDIATE")
            try:
                counts = [self._db.execute(sql, args).rowcount for sql, args in statements]
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        questions, votes, answers = counts
        return Purged(questions=questions, answers=answers, votes=votes)

    def close(self) -> None:
        with self._lock:
            self._db.close()
