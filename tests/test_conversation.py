"""The conversation store: earlier questions per thread or DM, oldest first, bounded and forgetting idle DMs."""

from __future__ import annotations

from wenda.bot.conversation import DM_WINDOW_SECONDS, Conversations


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_each_question_gets_the_earlier_ones_oldest_first() -> None:
    store = Conversations()
    assert [store.add(1, q) for q in ("甲", "乙", "丙")] == [[], ["甲"], ["甲", "乙"]]
    assert store.questions(1) == ["甲", "乙", "丙"]


def test_conversations_are_kept_apart() -> None:
    store = Conversations()
    store.add(1, "甲")
    assert store.add(2, "乙") == []
    assert store.questions(1) == ["甲"]


def test_a_dm_idle_past_its_window_starts_afresh() -> None:
    clock = Clock()
    store = Conversations(clock=clock)
    store.add(7, "甲", window=DM_WINDOW_SECONDS)
    clock.now += DM_WINDOW_SECONDS - 1
    assert store.add(7, "乙", window=DM_WINDOW_SECONDS) == ["甲"]
    clock.now += DM_WINDOW_SECONDS + 1
    assert store.questions(7, window=DM_WINDOW_SECONDS) == []
    assert store.add(7, "丙", window=DM_WINDOW_SECONDS) == []


def test_a_thread_has_no_window() -> None:
    clock = Clock()
    store = Conversations(clock=clock)
    store.add(3, "甲")
    clock.now += 10 * DM_WINDOW_SECONDS
    assert store.add(3, "乙") == ["甲"]


def test_each_conversation_keeps_only_its_last_questions() -> None:
    store = Conversations(max_questions=2)
    for question in ("甲", "乙", "丙"):
        store.add(1, question)
    assert store.questions(1) == ["乙", "丙"]


def test_only_the_most_recently_active_conversations_are_kept() -> None:
    store = Conversations(max_conversations=2)
    store.add(1, "甲")
    store.add(2, "乙")
    store.add(1, "丙")  # 1 is now the most recent, so 2 goes when 3 comes
    store.add(3, "丁")
    assert (store.questions(1), store.questions(2), store.questions(3)) == (["甲", "丙"], [], ["丁"])
