"""The decline rule reads the question, not the talk around it: asides leave the relevance share alone."""

from __future__ import annotations

import pytest

from wenda.bot.answer import answer
from wenda.retrieval.corpus import Passage
from wenda.retrieval.relevance import MIN_RELEVANCE, asides
from wenda.retrieval.search import Searcher

BARE = "北京城市副中心政务服务中心什么时候投入运行？"


def test_a_question_of_one_clause_has_no_asides(seed_searcher: Searcher):
    clauses = seed_searcher.analyzer.query_clauses(BARE)
    slot = seed_searcher.rank(BARE, 1)[0][0]
    assert len(clauses) == 1
    assert asides(seed_searcher.index, clauses, slot) == frozenset()


@pytest.mark.parametrize("aside", ["老师您好，我是新来的，", "我刚入职，", "新人报到："])
def test_an_unknown_aside_leaves_relevance_as_the_bare_question_has_it(seed_searcher: Searcher, aside: str):
    bare = seed_searcher.search(BARE, 1).hits[0]
    chatty = seed_searcher.search(aside + BARE, 1).hits[0]
    assert chatty.passage == bare.passage
    # What the passage holds of the aside (a character) scores and counts in the maximum alike: a hair either way.
    assert chatty.relevance == pytest.approx(bare.relevance, abs=0.03)
    assert answer(seed_searcher, aside + BARE).answered


def test_a_clause_that_asks_always_counts(seed_searcher: Searcher):
    question = "北京城市副中心政务服务中心什么时候投入运行，火星上有水吗？"
    clauses = seed_searcher.analyzer.query_clauses(question)
    slot = seed_searcher.rank(question, 1)[0][0]
    left_out = asides(seed_searcher.index, clauses, slot)
    assert not any("火星" in t for t in left_out)


def test_a_long_clause_the_best_passage_lacks_still_counts(seed_searcher: Searcher):
    # Content, not an aside: longer than a greeting, so the passage's not holding it is evidence.
    question = "量子计算机在密码学领域的最新突破，北京城市副中心政务服务中心什么时候投入运行？"
    bare = seed_searcher.search(BARE, 1).hits[0]
    assert seed_searcher.search(question, 1).hits[0].relevance < bare.relevance


def test_a_greeting_before_an_uncovered_question_is_still_declined(seed_searcher: Searcher):
    assert not answer(seed_searcher, "老师您好，我是新来的，今天上海的天气怎么样？").answered
    assert not answer(seed_searcher, "请问怎么用Python写一个快速排序？谢谢！").answered


def test_relevance_threshold_is_the_documented_one():
    assert MIN_RELEVANCE == 0.20


CANAL = Passage(
    "运河公园改造完成后，新增了三条骑行步道和两座观景台，周末游客量增长了一倍。", "运河公园改造完成", "a.txt", 1
)
PORT = Passage("港口三号码头扩建工程今天开工，预计明年投入使用。", "港口码头扩建", "b.txt", 1)


def test_a_corpus_of_one_paragraph_answers_a_question_made_from_it():
    searcher = Searcher.build([CANAL])
    ans = answer(searcher, "运河公园新增了几条骑行步道？")
    assert ans.answered and ans.hits[0].passage == CANAL


def test_a_corpus_of_one_paragraph_still_declines_what_it_does_not_cover():
    assert not answer(Searcher.build([CANAL]), "今天上海的天气怎么样？").answered


def test_a_corpus_of_two_paragraphs_quotes_the_one_that_holds_the_question_first():
    searcher = Searcher.build([CANAL, PORT])
    for question, wanted in [("运河公园新增了几条骑行步道？", CANAL), ("三号码头什么时候开工？", PORT)]:
        ans = answer(searcher, question)
        assert ans.answered and ans.hits[0].passage == wanted
    assert not answer(searcher, "怎么用Python写一个快速排序？").answered
