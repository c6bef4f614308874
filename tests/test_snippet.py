"""The window of a long passage: around its best sentence, at sentence boundaries, within budget, cuts marked."""

from __future__ import annotations

import pytest

from wenda.retrieval.corpus import Passage
from wenda.retrieval.search import Searcher
from wenda.retrieval.sentences import sentence_spans
from wenda.retrieval.snippet import ELLIPSIS, excerpt, window
from wenda.retrieval.text import Analyzer

# 40 sentences of 20 characters; the answer is sentence 25.
FILLER = [f"第{i:02d}段介绍城市更新中的一般性工作安排。" for i in range(1, 41)]
ANSWER = "衢州市副市长田俊宣布城市大脑正式上线。"
LONG = "".join(FILLER[:24]) + ANSWER + "".join(FILLER[25:])
ANSWER_SPAN = (LONG.index(ANSWER), LONG.index(ANSWER) + len(ANSWER))
BUDGET = 200


def _boundaries(text: str) -> tuple[set[int], set[int]]:
    spans = list(sentence_spans(text))
    return {s for s, _ in spans}, {e for _, e in spans}


def test_short_text_is_shown_whole():
    assert window("一句话。两句话。", (0, 4), 100) == (0, 8)
    assert excerpt("一句话。两句话。", (0, 4), 100) == ("一句话。两句话。", 0)


def test_window_contains_the_focus_sentence():
    start, end = window(LONG, ANSWER_SPAN, BUDGET)
    assert start <= ANSWER_SPAN[0] and ANSWER_SPAN[1] <= end


def test_window_is_within_budget():
    start, end = window(LONG, ANSWER_SPAN, BUDGET)
    assert end - start <= BUDGET


def test_window_starts_and_ends_at_sentence_boundaries():
    starts, ends = _boundaries(LONG)
    start, end = window(LONG, ANSWER_SPAN, BUDGET)
    assert start in starts
    assert end in ends


def test_window_uses_most_of_its_budget():
    start, end = window(LONG, ANSWER_SPAN, BUDGET)
    assert end - start > BUDGET - len(FILLER[0])


def test_window_grows_on_both_sides_of_the_focus():
    start, end = window(LONG, ANSWER_SPAN, BUDGET)
    assert start < ANSWER_SPAN[0] and ANSWER_SPAN[1] < end


def test_window_without_focus_starts_at_the_beginning():
    start, end = window(LONG, None, BUDGET)
    assert start == 0
    assert 0 < end <= BUDGET


def test_focus_sentence_longer_than_the_budget_is_cut_from_its_start():
    text = "开头一句。" + "城" * 500 + "。结尾一句。"
    assert window(text, (5, 506), 100) == (5, 105)


def test_excerpt_marks_cuts_on_both_sides_with_ellipses():
    shown, _ = excerpt(LONG, ANSWER_SPAN, BUDGET)
    assert shown.startswith(ELLIPSIS) and shown.endswith(ELLIPSIS)
    assert ANSWER in shown


def test_excerpt_marks_no_cut_at_the_start_of_the_text():
    shown, _ = excerpt(LONG, (0, len(FILLER[0])), BUDGET)
    assert shown.startswith(FILLER[0])
    assert shown.endswith(ELLIPSIS)


def test_excerpt_marks_no_cut_at_the_end_of_the_text():
    last = (len(LONG) - len(FILLER[-1]), len(LONG))
    shown, _ = excerpt(LONG, last, BUDGET)
    assert shown.startswith(ELLIPSIS)
    assert shown.endswith(FILLER[-1])


@pytest.mark.parametrize("focus", [(0, 20), ANSWER_SPAN, (len(LONG) - 20, len(LONG))])
def test_excerpt_offset_maps_original_positions_into_the_excerpt(focus: tuple[int, int]):
    shown, offset = excerpt(LONG, focus, BUDGET)
    body = range(len(ELLIPSIS) if shown.startswith(ELLIPSIS) else 0, len(shown) - shown.endswith(ELLIPSIS))
    assert all(shown[j] == LONG[j + offset] for j in body)


def test_window_of_a_searched_long_passage_holds_its_best_sentence(analyzer: Analyzer):
    passages = [
        Passage(LONG, "长文", "a.txt", 1),
        Passage("宁波市北仑区引入环卫企业。", "乙", "a.txt", 2),
        Passage("广东省打造新型数据交易所。", "丙", "a.txt", 3),
    ]
    (hit,) = Searcher.build(passages, analyzer).search("衢州市副市长是谁？", k=1).hits
    assert hit.sentence == ANSWER_SPAN
    shown, _ = excerpt(hit.passage.text, hit.sentence, BUDGET)
    assert ANSWER in shown
