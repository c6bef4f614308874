"""The feedback store: every answer the bot shows, and the 👍/👎 votes on it, in SQLite beside the index."""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from .answer import Answer

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

    def close(self) -> None:
        with self._lock:
            self._db.close()
