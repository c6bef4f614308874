"""The bounded memories the search paths share between threads (memo.py)."""

from __future__ import annotations

from wenda.retrieval.memo import remembered, room


def test_room_empties_a_full_memory_in_place_and_leaves_one_with_room_alone():
    kept = {1: "a", 2: "b"}
    assert room(kept, 3) is kept and kept == {1: "a", 2: "b"}
    assert room(kept, 2) is kept and kept == {}  # the same dict: a reader's reference stays good


def test_remembered_makes_a_value_once_and_starts_afresh_at_the_limit():
    kept: dict[int, int] = {}
    made = []

    def make(n: int) -> int:
        made.append(n)
        return n * n

    assert [remembered(kept, n, lambda n=n: make(n), 2) for n in (3, 3, 4)] == [9, 9, 16]
    assert made == [3, 4]
    assert remembered(kept, 5, lambda: make(5), 2) == 25  # full: emptied, then 5 kept alone
    assert kept == {5: 25} and made == [3, 4, 5]
