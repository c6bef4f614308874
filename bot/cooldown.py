"""A per-user rate limit: at most `rate` questions per `per` seconds, then a polite wait."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable


class Cooldown:
    def __init__(self, rate: int, per: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.per = per
        self._clock = clock
        self._recent: dict[int, deque[float]] = {}

    def retry_after(self, user_id: int) -> float:
        """0 if the user may ask now (and count this question), else the seconds left to wait."""
        if self.rate <= 0 or self.per <= 0:
            return 0.0
        now = self._clock()
        recent = self._recent.setdefault(user_id, deque())
        while recent and now - recent[0] >= self.per:
            recent.popleft()
        if len(recent) >= self.rate:
            return self.per - (now - recent[0])
        recent.append(now)
        if len(self._recent) > 10_000:  # forget idle users so the table cannot grow without bound
            self._recent = {u: d for u, d in self._recent.items() if d and now - d[-1] < self.per}
        return 0.0
