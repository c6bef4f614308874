"""The optional second stage: a passage holding the question's terms in one sentence moves up."""

from __future__ import annotations

from collections import Counter

import pytest
from conftest import SEED_CORPUS, SMART_CITY
from hypothesis import given, settings
from hypothesis import strategies as st

from wenda.retrieval import rerank as rerank_module
from wenda.retrieval import sentences as sentences_module
from wenda.retrieval.corpus import Passage
from wenda.retrieval.highlight import Asked, best_sentence
from wenda.retrieval.index import TUNED_PARAMS, BM25Params
from wenda.retrieval.rerank import StagedPassage, best_sentence_score, rerank, stage_scores
from wenda.retrieval.search import Searcher
from wenda.retrieval.sentences import Sentences
from wenda.retrieval.store import Library, StoreSettings
from wenda.retrieval.text import Analyzer

QUESTION = "蓝鲸的心脏有多重？"
# The question's terms together in one sentence, in a longer passage.
TOGETHER = Passage(
    "海洋里生活着许多动物。其中最大的是蓝鲸，蓝鲸的心脏重约六百公斤。"
    "它们以磷虾为食，每天要吃掉数吨磷虾。它们的叫声可以传到很远的地方。",
    "海洋动物",
    "together.txt",
    1,
)
# The same terms spread over three short sentences, none of which answers.
SPREAD = Passage("蓝鲸很大。蓝鲸很重。心脏病是常见病。人的心脏很重要。", "海洋动物", "spread.txt", 1)
FILLER = [
    Passage("北京是中国的首都，也是一座历史悠久的城市。", "城市", "city.txt", 1),
    Passage("今天上海下雨，气温比昨天低了五度。", "天气", "weather.txt", 1),
    Passage("饺子是北方人过年常吃的食物。", "饮食", "food.txt", 1),
]


@pytest.fixture(scope="module")
def analyzer() -> Analyzer:
    return Analyzer()


def _score(analyzer: Analyzer, passage: Passage, question: str = QUESTION) -> float:
    weights = Counter(analyzer.query_tokens(question))
    idf = dict.fromkeys(weights, 1.0)
    sentences = Sentences.of(analyzer, passage.text)
    return best_sentence_score(sentences, analyzer.tokens(passage.title), weights, idf, TUNED_PARAMS)


def test_terms_together_in_one_sentence_score_above_the_same_terms_spread(analyzer: Analyzer):
    assert _score(analyzer, TOGETHER) > _score(analyzer, SPREAD) > 0


def test_a_passage_without_the_questions_terms_scores_nothing(analyzer: Analyzer):
    assert _score(analyzer, FILLER[0]) == 0.0


def test_an_empty_passage_scores_nothing(analyzer: Analyzer):
    assert _score(analyzer, Passage("", "空", "empty.txt", 1)) == 0.0


def test_rerank_orders_by_score_share_plus_weighted_sentence_share():
    ranked = [(7, 10.0), (3, 9.0), (5, 2.0)]
    # 7: 1.0 + 0.5 * 0.2 = 1.1; 3: 0.9 + 0.5 * 1.0 = 1.4; 5: 0.2 + 0.5 * 0.5 = 0.45
    assert rerank(ranked, [1.0, 5.0, 2.5], weight=0.5) == [(3, 9.0), (7, 10.0), (5, 2.0)]


def test_rerank_keeps_the_first_stage_order_on_ties_and_when_off():
    ranked = [(1, 4.0), (2, 4.0), (3, 1.0)]
    assert rerank(ranked, [2.0, 2.0, 0.0], weight=0.5) == ranked
    assert rerank(ranked, [0.0, 9.0, 9.0], weight=0.0) == ranked


def test_rerank_without_any_sentence_score_changes_nothing():
    ranked = [(1, 4.0), (2, 3.0)]
    assert rerank(ranked, [0.0, 0.0], weight=1.0) == ranked
    assert rerank([], [], weight=1.0) == []


def _searcher(weight: float) -> Searcher:
    return Searcher.build([SPREAD, TOGETHER, *FILLER], sentence_weight=weight)


def test_the_first_stage_alone_ranks_the_spread_passage_first():
    # The premise of the next test: BM25 over whole passages prefers the short, term-dense SPREAD.
    hits = _searcher(0.0).search(QUESTION, k=2).hits
    assert [h.passage.file for h in hits] == ["spread.txt", "together.txt"]


def test_with_the_second_stage_the_passage_holding_the_terms_together_comes_first():
    first_stage = {h.passage.file: h.score for h in _searcher(0.0).search(QUESTION, k=2).hits}
    hits = _searcher(0.4).search(QUESTION, k=2).hits
    assert [h.passage.file for h in hits] == ["together.txt", "spread.txt"]
    # Scores and ranks stay the first stage's BM25Okapi scores, in the new order.
    assert {h.passage.file: h.score for h in hits} == first_stage
    assert [h.rank for h in hits] == [1, 2]


def test_rank_and_search_agree_with_the_second_stage_on():
    searcher = _searcher(0.4)
    ranked = searcher.rank(QUESTION, 3)
    assert [searcher.passages[slot].file for slot, _ in ranked] == [
        h.passage.file for h in searcher.search(QUESTION, k=3).hits
    ]


def test_k_still_limits_the_hits_when_the_second_stage_looks_deeper():
    assert len(_searcher(0.4).search(QUESTION, k=1).hits) == 1


@pytest.fixture(scope="module")
def staged_seed() -> Library:
    """The bundled corpus, opened with the stage on, in memory."""
    return Library.open(SEED_CORPUS, StoreSettings(cache=False, sentence_weight=0.4))


def test_a_library_opened_with_the_stage_on_serves_a_searcher_with_it_on(staged_seed: Library):
    assert staged_seed.passage_count > 0 and staged_seed.searcher.sentence_weight == 0.4
    hit = staged_seed.searcher.search("衢州市副市长是谁？", k=3).hits[0]
    assert hit.passage.title.startswith(SMART_CITY)


def test_only_the_first_stages_top_five_are_reordered_whatever_k():
    # Six short passages spread the terms and come first; TOGETHER, seventh, would win on its
    # sentence if a deeper k let it in. The bot's top 3 and eval's top 10 must begin alike.
    spread = [
        Passage(text, "海洋动物", f"spread{i}.txt", 1)
        for i, text in enumerate(
            [
                "蓝鲸很大。蓝鲸很重。心脏病是常见病。人的心脏很重要。",
                "蓝鲸很长。蓝鲸很重。心脏病很常见。狗的心脏很重要。",
                "蓝鲸很大。蓝鲸很胖。心脏病是大病。猫的心脏很重要。",
                "蓝鲸很老。蓝鲸很重。心脏病是常见病。鸟的心脏很小。",
                "蓝鲸很大。蓝鲸很美。心脏手术很难。鱼的心脏很重要。",
                "蓝鲸很长。蓝鲸很美。心脏手术很贵。马的心脏很大。",
            ]
        )
    ]
    searcher = Searcher.build([*spread, TOGETHER, *FILLER], sentence_weight=1.0)
    deep = searcher.rank(QUESTION, 10)
    assert deep[:3] == searcher.rank(QUESTION, 3)
    assert [searcher.passages[slot].file for slot, _ in deep].index("together.txt") == 6


@pytest.mark.parametrize("question", ["衢州市副市长是谁？", "北京城市副中心政务服务中心什么时候投入运行？"])
def test_with_the_stage_on_each_hit_marks_the_sentence_the_highlighter_picks_on_its_own(
    staged_seed: Library, question: str
):
    # The highlighter cuts the passages the stage scored again: the marks must be the ones a fresh cut gives.
    searcher = staged_seed.searcher
    result = searcher.search(question, k=3)
    idf = {t: searcher.index.idf(t) for t in result.terms}
    assert len(result.hits) == 3
    for hit in result.hits:
        assert hit.sentence == best_sentence(searcher.analyzer, hit.passage, Asked.of(question, result.terms, idf))


class _Counted:
    """A Sentences stand-in that gives counts made up by the test (best_sentence_score reads only these)."""

    def __init__(self, counted: list[tuple[dict[str, int], int]]) -> None:
        self.counted = counted

    def counts(self, wanted: frozenset[str]) -> list[tuple[dict[str, int], int]]:
        return [({t: n for t, n in counts.items() if t in wanted}, length) for counts, length in self.counted]


_TERMS = ["北京", "大学", "图书馆", "\x011书", "\x012藏书", "ibm"]


@settings(max_examples=300, deadline=None)
@given(
    counted=st.lists(
        st.tuples(st.dictionaries(st.sampled_from(_TERMS), st.integers(1, 40)), st.integers(0, 500)), max_size=8
    ),
    title=st.lists(st.sampled_from([*_TERMS, "标题"]), max_size=12),
    weights=st.dictionaries(st.sampled_from(_TERMS), st.integers(1, 3), min_size=1),
    idf=st.lists(st.floats(1e-6, 30.0), min_size=len(_TERMS), max_size=len(_TERMS)),
    k1=st.floats(0.1, 3.0),
    b=st.floats(0.0, 1.0),
)
def test_the_compiled_best_sentence_is_pythons_to_the_bit(counted, title, weights, idf, k1, b):
    # The stage's order hangs on these scores: the compiled loop (with its own exact sum) must give
    # math.fsum's bits, for any counts, title, weights and parameters.
    assert rerank_module.compiled is not None, "wenda.retrieval._scoring was not built"
    params = BM25Params(k1=k1, b=b)
    args = (_Counted(counted), title, Counter(weights), dict(zip(_TERMS, idf, strict=True)), params)
    compiled = best_sentence_score(*args)
    with pytest.MonkeyPatch.context() as patch:  # hypothesis runs the body many times per test
        patch.setattr(rerank_module, "compiled", None)
        assert compiled == best_sentence_score(*args)


def _staged(analyzer: Analyzer, title: str, text: str) -> StagedPassage:
    """A passage as the stage reads it from an index: its text with the cut stored with it, and its
    title's tokens."""
    _, cut = analyzer.passage_tokens(title, text)
    return StagedPassage(text, cut, analyzer.tokens(title))


def _scored_in_python(analyzer: Analyzer, staged, weights: Counter, idf: dict) -> list[float]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(rerank_module, "compiled", None)
        patch.setattr(sentences_module, "compiled", None)
        return [
            best_sentence_score(Sentences.of(analyzer, p.text, p.cut), p.title_tokens, weights, idf, TUNED_PARAMS)
            for p in staged
        ]


_ALPHABET = "的的中国人民银行北京大学图书馆藏书哈了是在和年月日ab1Z。！？，“”（）「」\n "


@settings(max_examples=150, deadline=None)
@given(
    passages=st.lists(
        st.tuples(st.text(alphabet=_ALPHABET, max_size=12), st.text(alphabet=_ALPHABET, max_size=90)),
        min_size=1,
        max_size=5,
    ),
    question=st.text(alphabet=_ALPHABET, min_size=1, max_size=20),
    idf=st.floats(0.01, 12.0),
)
def test_the_whole_stage_in_one_call_scores_each_passage_as_python_does(analyzer: Analyzer, passages, question, idf):
    # stage_scores cuts, counts and scores a question's passages in one compiled call: the same bits
    # as each passage's sentences counted and summed in Python, titles' tokens included.
    staged = [_staged(analyzer, title, text) for title, text in passages]
    tokens = analyzer.query_tokens(question) or ["\x011国"]
    weights = Counter(tokens)
    idfs = {term: idf * (1 + i % 3) for i, term in enumerate(weights)}
    assert stage_scores(analyzer, staged, weights, idfs, TUNED_PARAMS) == _scored_in_python(
        analyzer, staged, weights, idfs
    )


def test_the_stage_scores_passages_with_stored_cuts_in_the_compiled_call(analyzer: Analyzer, monkeypatch):
    # The equality above must not hold only because every passage fell back to the Python path.
    staged = [_staged(analyzer, "蓝鲸", p.text) for p in (TOGETHER, SPREAD)]
    weights = Counter(analyzer.query_tokens(QUESTION))
    idf = {term: 2.0 for term in weights}
    expected = _scored_in_python(analyzer, staged, weights, idf)

    def fell_back(*args, **kwargs):
        raise AssertionError("a passage with a stored cut went through best_sentence_score")

    monkeypatch.setattr(rerank_module, "best_sentence_score", fell_back)
    assert stage_scores(analyzer, staged, weights, idf, TUNED_PARAMS) == expected
    assert expected[0] > expected[1] > 0  # the sentence holding the terms together scores higher
    untitled = [p._replace(title_tokens=[]) for p in staged]
    without = stage_scores(analyzer, untitled, weights, idf, TUNED_PARAMS)
    assert without == _scored_in_python(analyzer, untitled, weights, idf)
    assert all(a > b for a, b in zip(expected, without, strict=True))  # the title holds 蓝鲸


def test_the_stage_falls_back_for_a_passage_without_a_cut_or_with_another_texts(analyzer: Analyzer):
    good = _staged(analyzer, "海洋动物", TOGETHER.text)
    uncut = good._replace(cut=None)
    foreign = good._replace(text=SPREAD.text)  # TOGETHER's cut, which does not fit SPREAD
    weights = Counter(analyzer.query_tokens(QUESTION))
    idf = {term: 1.5 for term in weights}
    scores = stage_scores(analyzer, [good, uncut, foreign], weights, idf, TUNED_PARAMS)
    assert scores == _scored_in_python(analyzer, [good, uncut, foreign._replace(cut=None)], weights, idf)
    assert scores[0] == scores[1] != scores[2]
