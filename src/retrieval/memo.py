"""Bounded memories that threads share: a plain dict, emptied in place when it is full.

A bot answers on several threads at once, and each of these memories (a term's posting lists and
document frequency, a passage's shingles, a piece of jieba's cut) may be read by one thread while
another adds to it. Emptying the dict in place, never replacing it, keeps every reader's reference
good; starting afresh instead of evicting one entry at a time keeps a lookup a plain dict access,
which is what the per-question paths can afford.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

K = TypeVar("K")
V = TypeVar("V")


def room(kept: dict[K, V], limit: int) -> dict[K, V]:
    """kept, emptied first if it holds limit entries or more: what to add new entries to."""
    if len(kept) >= limit:
        kept.clear()
    return kept


def remembered(kept: dict[K, V], key: K, make: Callable[[], V], limit: int) -> V:
    """kept[key], made on first use and kept in a memory of at most limit entries (room)."""
    found = kept.get(key)
    if found is None:
        found = make()
        room(kept, limit)[key] = found
    return found
