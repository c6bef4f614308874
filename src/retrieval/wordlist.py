"""A set of words kept in one string: membership by bisection, in a tenth of a frozenset's memory.

The chat rules ask the part of speech of a clause's first word and of a few words after its last 的
(text.py), from jieba's tens of thousands of verbs, adverbs and conjunctions. As frozensets those took
4.5 MB that a server holding 1M passages in a 1 GB memory cgroup gave back as page cache for its
postings (docs/benchmarks.md); as one sorted string and an array of offsets they take under 0.4 MB,
and a lookup costs a few microseconds, asked a handful of times per question of two clauses or more.
"""

from __future__ import annotations

import bisect
from array import array
from collections.abc import Iterable
from itertools import accumulate


class WordList:
    """An immutable set of strings with `in`, stored as their sorted concatenation and offsets."""

    def __init__(self, words: Iterable[str]) -> None:
        ordered = sorted(set(words))
        self._text = "".join(ordered)
        self._starts = array("I", accumulate(map(len, ordered), initial=0))  # word i: _text[_starts[i]:_starts[i + 1]]

    def __len__(self) -> int:
        return len(self._starts) - 1

    def _word(self, i: int) -> str:
        return self._text[self._starts[i] : self._starts[i + 1]]

    def __contains__(self, word: object) -> bool:
        if not isinstance(word, str):
            return False
        i = bisect.bisect_left(range(len(self)), word, key=self._word)
        return i < len(self) and self._word(i) == word
