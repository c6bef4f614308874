"""The feedback store: every answer the bot shows, and the 👍/👎 votes on it, in SQLite beside the index."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from .answer import Answer

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
    """A small SQLite database; one connection guarded by a lock, used from worker threads."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(_SCHEMA)

    def record_answer(self, ans: Answer, asked_by: int | None) -> int:
        """Store the question and the passages shown; the id goes into the buttons' custom ids."""
        passages = [
            {"file": h.passage.file, "title": h.passage.title, "paragraph": h.passage.paragraph, "score": h.score}
            for h in ans.hits
        ]
        with self._lock:
            cur = self._db.execute(
                "INSERT INTO answers (question, passages, asked_by, created) VALUES (?, ?, ?, ?)",
                (ans.question, json.dumps(passages, ensure_ascii=False), asked_by, time.time()),
            )
            return int(cur.lastrowid)

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
