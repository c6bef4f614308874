"""Bags: what the sentence stage counts of a passage, stored with it when it is indexed (bags.py).

A passage must score the same from its bag as from its text, after every way an index changes:
built in one go or by a pool, grown file by file, merged, masked, cut again for a user word, reopened.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from conftest import SEED_FILE, news_article, news_name, seed_and_news
from hypothesis import given, settings
from hypothesis import strategies as st

from wenda.retrieval import bags as bags_module
from wenda.retrieval.bags import bag_scores, sentence_bag
from wenda.retrieval.corpus import Passage
from wenda.retrieval.index import TUNED_PARAMS
from wenda.retrieval.passages import PassageTable
from wenda.retrieval.rerank import best_sentence_score
from wenda.retrieval.search import Searcher
from wenda.retrieval.sentences import Sentences
from wenda.retrieval.store import MAX_SEGMENTS, USERDICT_NAME, Library

pytestmark = pytest.mark.usefixtures("fast_jieba")

QUESTIONS = (
    "北京城市副中心政务服务中心什么时候投入运行？",
    "本市运河公园工程几月完工",
    "项目代号kx003p1",
    "习近平 二十大 精神 学习",
    "智慧城市建设的核心目标是什么",
)


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    return seed_and_news(tmp_path, 6, 4)


def _text_scores(searcher: Searcher, slots: list[int], weights: Counter, idf: dict) -> list[float]:
    """The stage's scores worked out from the passages' texts, as before bags (the reference)."""
    params = searcher.index.params
    return [
        best_sentence_score(searcher._sentences(slot), searcher._title_tokens(slot, False), weights, idf, params)
        for slot in slots
    ]


def assert_bags_score_as_texts(searcher: Searcher) -> None:
    """Every live passage has a bag, and for every question (and one made of each passage's own
    words) its bag gives the score its text gives, to the bit."""
    slots = np.flatnonzero(searcher.index.live).tolist()
    assert all(searcher.passages.bag(slot) for slot in slots)
    questions = [*QUESTIONS, *(searcher.passages[slot].text[:12] for slot in slots[::7])]
    positive = 0
    for question in questions:
        weights = Counter(searcher.query(question).tokens)
        idf = {term: searcher.index.idf(term) for term in weights}
        bags = [searcher.passages.bag(slot) for slot in slots]
        from_bags = bag_scores(searcher.index, slots, bags, weights, idf, searcher.index.params)
        assert from_bags == _text_scores(searcher, slots, weights, idf), question
        positive += sum(score > 0 for score in from_bags)
    assert positive > len(slots)  # (not a comparison of zeros)


def test_every_passage_of_a_new_index_has_a_bag_that_scores_as_its_text(corpus: Path):
    assert_bags_score_as_texts(Library.open(corpus).searcher)


def test_bags_score_as_texts_after_files_are_added_merged_masked_and_reopened(corpus: Path):
    library = Library.open(corpus)
    for n in range(MAX_SEGMENTS):  # one more than fits: two segments are merged
        (corpus / f"added{n}.txt").write_text(news_article(20 + n, 2), encoding="utf-8")
        library.refresh()
    (corpus / news_name(2)).unlink()  # masked
    library.refresh()
    assert len(library.searcher.index.segments) == MAX_SEGMENTS
    assert_bags_score_as_texts(library.searcher)
    (corpus / SEED_FILE).unlink()  # most of the first segment: it is rewritten
    library.refresh()
    assert_bags_score_as_texts(library.searcher)
    assert_bags_score_as_texts(Library.open(corpus).searcher)


def test_passages_cut_again_for_a_user_word_get_new_bags(corpus: Path):
    library = Library.open(corpus)
    (corpus / USERDICT_NAME).write_text("运河公园 1000 n\n", encoding="utf-8")
    library.refresh()
    assert library.last_refresh.changed == (news_name(0),)
    assert library.analyzer.words("运河公园") == ["运河公园"]
    assert_bags_score_as_texts(library.searcher)


def test_a_stage_from_bags_ranks_as_the_stage_from_texts(corpus: Path, monkeypatch: pytest.MonkeyPatch):
    searcher = Library.open(corpus).searcher
    ranked = [searcher.rank(q, 10) for q in QUESTIONS]
    monkeypatch.setattr(bags_module, "compiled", None)  # every passage scored from its text
    assert [searcher.rank(q, 10) for q in QUESTIONS] == ranked


def test_a_bag_that_does_not_fit_its_forward_list_is_scored_from_the_text(corpus: Path):
    searcher = Library.open(corpus).searcher
    slots = list(range(5))
    weights = Counter(searcher.query(QUESTIONS[0]).tokens)
    idf = {term: searcher.index.idf(term) for term in weights}
    good = [searcher.passages.bag(slot) for slot in slots]
    damaged = [good[0][: len(good[0]) // 2], b"\xff" * 12, b"\x05\x01\xfe\x7f", good[3], b""]
    found = bag_scores(searcher.index, slots, damaged, weights, idf, searcher.index.params)
    assert found[:3] == [None, None, None] and found[4] is None
    assert found[3] == _text_scores(searcher, [3], weights, idf)[0]
    assert searcher._sentence_scores(slots, weights, idf) == _text_scores(searcher, slots, weights, idf)


def test_a_table_saved_before_bags_reads_without_them(tmp_path: Path, corpus: Path):
    searcher = Library.open(corpus).searcher
    table = searcher.passages.tables[0]
    assert isinstance(table, PassageTable)
    table.save(tmp_path / "table")
    (tmp_path / "table" / "bags.bin").unlink()
    (tmp_path / "table" / "bag_offsets.npy").unlink()
    old = PassageTable.load(tmp_path / "table")
    assert [p for p in old] == [p for p in table]
    assert all(old.bag(i) == b"" for i in range(len(old)))
    # A searcher over it scores every passage from its text.
    plain = Searcher(old, searcher.analyzer, searcher.index)
    assert [plain.rank(q, 10) for q in QUESTIONS] == [searcher.rank(q, 10) for q in QUESTIONS]


_ALPHABET = "的的中国人民银行北京大学图书馆藏书哈了是在和年月日ab1Z。！？，“”（）「」\n "


@settings(max_examples=60, deadline=None)
@given(
    texts=st.lists(st.text(alphabet=_ALPHABET, min_size=1, max_size=80), min_size=3, max_size=6),
    title=st.text(alphabet=_ALPHABET, max_size=10),
    question=st.text(alphabet=_ALPHABET, min_size=1, max_size=20),
)
def test_a_bag_scores_as_its_text_for_any_text(analyzer, texts, title, question):
    passages = [Passage(text, title or "标题", "a.txt", i) for i, text in enumerate(texts, start=1) if text.strip()]
    if not passages:
        return
    searcher = Searcher.build(passages, analyzer)
    made = [
        sentence_bag(analyzer, p.text, cut, tokens, analyzer.tokens(p.title))
        for p in passages
        for tokens, cut in [analyzer.passage_tokens(p.title, p.text)]
    ]
    slots = list(range(len(passages)))
    weights = Counter(analyzer.query_tokens(question) or ["\x011国"])
    idf = {term: searcher.index.idf(term) for term in weights}
    found = bag_scores(searcher.index, slots, made, weights, idf, searcher.index.params)
    expected = [
        best_sentence_score(Sentences.of(analyzer, p.text, None), analyzer.tokens(p.title), weights, idf, TUNED_PARAMS)
        for p in passages
    ]
    assert sum(map(bool, made)) >= len(made) - 1  # this alphabet keeps nearly every cut
    for score, reference, bag in zip(found, expected, made, strict=True):
        assert score == (reference if bag else None)


def test_a_passage_whose_title_is_not_among_its_tokens_gets_no_bag_and_no_error(analyzer):
    text = "北京大学图书馆藏书很多。"
    tokens, cut = analyzer.passage_tokens("标题", text)
    assert sentence_bag(analyzer, text, cut, tokens, analyzer.tokens("标题")) != b""
    assert sentence_bag(analyzer, text, cut, tokens, ["不在其中的词"]) == b""


def test_a_question_of_very_many_terms_is_scored_from_the_texts(corpus: Path):
    # Past 256 terms in one segment the compiled table is full: the passages are scored from their
    # texts, with the same result.
    searcher = Library.open(corpus).searcher
    slots = list(range(6))
    question = "".join(searcher.passages[slot].text for slot in range(0, 30, 3))
    weights = Counter(searcher.query(question).tokens)
    assert len(weights) > 256
    idf = {term: searcher.index.idf(term) for term in weights}
    bags = [searcher.passages.bag(slot) for slot in slots]
    assert bag_scores(searcher.index, slots, bags, weights, idf, searcher.index.params) == [None] * len(slots)
    assert searcher._sentence_scores(slots, weights, idf) == _text_scores(searcher, slots, weights, idf)
