"""The questions asked so far in each conversation (a thread wenda started, a DM), in memory and bounded."""

from __future__ import annotations

import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field

# A DM has no visible beginning or end, so a pause this long starts a new conversation there.
DM_WINDOW_SECONDS = 30 * 60


@dataclass
class _Conversation:
    questions: deque[str]
    last: float = field(default=0.0)


class Conversations:
    """Earlier questions per conversation key (a channel id), oldest first.

    Bounded twice: each conversation keeps its last `max_questions`, and only the `max_conversations`
    most recently active conversations are kept, so a busy server cannot grow it without limit.
    Nothing is written to disk: after a restart a conversation starts afresh.
    """

    def __init__(
        self, *, max_conversations: int = 1000, max_questions: int = 20, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.max_conversations = max_conversations
        self.max_questions = max_questions
        self._clock = clock
        self._by_key: OrderedDict[int, _Conversation] = OrderedDict()

    def questions(self, key: int, *, window: float | None = None) -> list[str]:
        """The questions asked in the conversation so far, oldest first (none once `window` seconds passed idle)."""
        found = self._live(key, window)
        return list(found.questions) if found else []

    def add(self, key: int, question: str, *, window: float | None = None) -> list[str]:
        """Record a question; returns the questions asked before it in the same conversation, oldest first."""
        earlier = self.questions(key, window=window)
        found = self._by_key.get(key) if earlier else None
        if found is None:
            found = _Conversation(deque(maxlen=self.max_questions))
            self._by_key[key] = found
        found.questions.append(question)
        found.last = self._clock()
        self._by_key.move_to_end(key)
        while len(self._by_key) > self.max_conversations:
            self._by_key.popitem(last=False)
        return earlier

    def forget(self, key: int) -> None:
        self._by_key.pop(key, None)

    def _live(self, key: int, window: float | None) -> _Conversation | None:
        found = self._by_key.get(key)
        if found is None:
            return None
        if window is not None and self._clock() - found.last > window:
            del self._by_key[key]
            return None
        return found
