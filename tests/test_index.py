"""The BM25 index: its scores are rank-bm25's BM25Okapi scores, bit for bit, and top_k ranks by them."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

import jieba
import numpy as np
import pytest
from rank_bm25 import BM25Okapi

from wenda.retrieval import index as index_module
from wenda.retrieval import maxscore as maxscore_module
from wenda.retrieval.index import TUNED_PARAMS, BM25Index, BM25Params
from wenda.retrieval.postings import decode_tfs, tfs_at
from wenda.retrieval.segment import _ARRAYS, _BOUND_ARRAYS, Segment, _group_keys, first_live_order
from wenda.retrieval.terms import _FILES as TERM_FILES

N_DOCS = 1500
N_QUESTIONS = 120
# Placed in more than half of the paragraphs, so their idf is negative and rank-bm25's epsilon floor applies.
COMMON = ("城市", "发展", "数据")
COMMON_SHARE = (0.9, 0.7, 0.56)
PARAMS = [
    pytest.param(BM25Params(), id="defaults"),
    pytest.param(BM25Params(k1=1.2, b=0.5, epsilon=0.1), id="k1=1.2,b=0.5,eps=0.1"),
    # Not b=1: rank-bm25 then divides 0 by 0 for an empty paragraph (see test_empty_document_scores_zero_when_b_is_one).
    pytest.param(BM25Params(k1=2.0, b=0.9, epsilon=0.5), id="k1=2,b=0.9,eps=0.5"),
    pytest.param(BM25Params(k1=0.5, b=0.0, epsilon=0.0), id="k1=0.5,b=0,eps=0"),
]


@dataclass(frozen=True)
class ParityCorpus:
    docs: list[list[str]]
    questions: list[list[str]]


def _dictionary() -> tuple[list[str], np.ndarray]:
    """jieba's own dictionary: words and their frequencies, read from the installed package."""
    words: list[str] = []
    freqs: list[int] = []
    with open(Path(jieba.__file__).parent / "dict.txt", encoding="utf-8") as lines:
        for line in lines:
            word, freq, *_ = line.split(" ")
            words.append(word)
            freqs.append(int(freq))
    return words, np.asarray(freqs, dtype=np.float64)


@pytest.fixture(scope="module")
def parity() -> ParityCorpus:
    """Paragraphs of words drawn from jieba's dictionary by frequency (so word frequencies are Zipf-like).

    Seeded, so every run scores the same corpus. It holds empty paragraphs (a passage of nothing but
    stop words has no terms), exact duplicates and reordered duplicates (tied scores), and COMMON
    words in most paragraphs (negative idf).
    """
    rng = np.random.default_rng(20240611)
    words, freqs = _dictionary()
    cdf = np.cumsum(freqs / freqs.sum())

    def draw(n: int) -> list[str]:
        picks = np.minimum(np.searchsorted(cdf, rng.random(n)), len(words) - 1)
        return [words[i] for i in picks]

    docs: list[list[str]] = []
    for number in range(N_DOCS):
        if number in (10, 700):
            docs.append([])
            continue
        if number % 50 == 49:
            docs.append(list(docs[-1]))  # an exact duplicate of the paragraph before
            continue
        if number % 50 == 24:
            docs.append(list(rng.permutation(docs[-1])))  # the same words in another order
            continue
        doc = draw(int(rng.integers(1, 90)))
        for word, share in zip(COMMON, COMMON_SHARE, strict=True):
            if rng.random() < share:
                for _ in range(int(rng.integers(1, 4))):
                    doc.insert(int(rng.integers(0, len(doc) + 1)), word)
        docs.append(doc)

    questions: list[list[str]] = []
    for number in range(N_QUESTIONS):
        doc = docs[int(rng.integers(0, N_DOCS))] or draw(3)
        picked = [doc[i] for i in rng.integers(0, len(doc), size=int(rng.integers(1, 7)))]
        kind = number % 5
        if kind == 1:
            picked.append(f"未登录词{number}")  # a word no paragraph has
        elif kind == 2:
            picked += picked[:2]  # repeated terms count again
        elif kind == 3:
            picked = [COMMON[number % 3], COMMON[(number + 1) % 3], *picked[:1]]
        elif kind == 4:
            picked = draw(int(rng.integers(2, 8)))
        questions.append(picked)
    questions += [[], ["未登录词"], list(COMMON), [COMMON[0]] * 3]
    return ParityCorpus(docs, questions)


@pytest.fixture(scope="module", params=PARAMS)
def indexes(request: pytest.FixtureRequest, parity: ParityCorpus) -> tuple[BM25Index, BM25Okapi]:
    params: BM25Params = request.param
    ours = BM25Index.build(parity.docs, params)
    theirs = BM25Okapi(parity.docs, k1=params.k1, b=params.b, epsilon=params.epsilon)
    return ours, theirs


def _reference_top_k(theirs: BM25Okapi, docs: list[set[str]], question: list[str], k: int) -> list[tuple[int, float]]:
    """rank-bm25's scores sorted best first, ties to the lower doc id, over documents holding a query term."""
    scores = theirs.get_scores(question)
    wanted = set(question)
    order = np.argsort(-scores, kind="stable")
    holding = (int(d) for d in order if wanted & docs[d])
    return [(d, float(scores[d])) for d, _ in zip(holding, range(k), strict=False)]


def test_parity_corpus_has_terms_in_more_than_half_the_documents(parity: ParityCorpus):
    # Guards the tests below: without such terms the epsilon floor would go untested.
    share = [sum(word in set(doc) for doc in parity.docs) / N_DOCS for word in COMMON]
    assert all(s > 0.5 for s in share)


def test_scores_equal_rank_bm25_exactly(indexes: tuple[BM25Index, BM25Okapi], parity: ParityCorpus):
    ours, theirs = indexes
    for question in parity.questions:
        # Exact equality, not approx: the index repeats rank-bm25's float operations in the same order.
        np.testing.assert_array_equal(ours.get_scores(question), theirs.get_scores(question), strict=True)


def test_idf_equals_rank_bm25_including_the_epsilon_floor(indexes: tuple[BM25Index, BM25Okapi]):
    ours, theirs = indexes
    assert {t: ours.idf(t) for t in theirs.idf} == theirs.idf
    floored = [t for t in COMMON if ours.idf(t) == ours.params.epsilon * theirs.average_idf]
    assert floored == list(COMMON)


def test_top_k_ranks_like_rank_bm25_with_ties_to_the_lower_doc_id(
    indexes: tuple[BM25Index, BM25Okapi], parity: ParityCorpus
):
    ours, theirs = indexes
    docs = [set(doc) for doc in parity.docs]
    ties = 0
    for question in parity.questions:
        expected = _reference_top_k(theirs, docs, question, 50)
        for k in (1, 10, 50):
            assert ours.top_k(question, k) == expected[:k], (question, k)
        ties += any(a[1] == b[1] for a, b in pairwise(expected))
    assert ties > 0  # the duplicated paragraphs really did produce ties to break


def test_top_k_returns_every_matching_document_when_k_is_larger(
    indexes: tuple[BM25Index, BM25Okapi], parity: ParityCorpus
):
    ours, _ = indexes
    df = Counter(t for doc in parity.docs for t in set(doc))
    rare = next(t for t, n in df.items() if n == 3)
    holding = [d for d, doc in enumerate(parity.docs) if rare in doc]
    assert sorted(doc for doc, _ in ours.top_k([rare], 10)) == holding


def test_top_k_of_unknown_words_is_empty(indexes: tuple[BM25Index, BM25Okapi]):
    ours, _ = indexes
    assert ours.top_k(["未登录词"], 10) == []


def test_top_k_of_zero_is_empty(indexes: tuple[BM25Index, BM25Okapi]):
    ours, _ = indexes
    assert ours.top_k(list(COMMON), 0) == []


def test_repeated_query_term_counts_twice():
    index = BM25Index.build([["城市", "数据"], ["城市"], ["交通"], ["文化"], ["教育"]])
    np.testing.assert_array_equal(index.get_scores(["数据", "数据"]), 2 * index.get_scores(["数据"]))


def test_unknown_term_scores_zero_everywhere():
    index = BM25Index.build([["城市", "数据"], ["城市"], ["交通"]])
    np.testing.assert_array_equal(index.get_scores(["未登录词"]), np.zeros(3))


def test_contains_tells_which_documents_hold_a_term():
    index = BM25Index.build([["城市", "数据"], ["交通"], ["数据"]])
    assert [index.contains("数据", d) for d in range(3)] == [True, False, True]


def test_empty_document_scores_zero_when_b_is_one():
    # rank-bm25 computes 0 / (0 + k1 * (1 - 1 + 1 * 0 / avgdl)) = nan here; a passage of stop words only
    # must rank last, not poison the ranking.
    index = BM25Index.build([[], ["城市"], ["数据"], ["交通"]], BM25Params(b=1.0))
    scores = index.get_scores(["城市"])
    assert np.isfinite(scores).all()
    assert scores[0] == 0.0


def test_default_params_are_rank_bm25_defaults():
    assert BM25Params() == BM25Params(k1=1.5, b=0.75, epsilon=0.25)


@pytest.mark.parametrize("k1", [0.0, -1.0, math.nan])
def test_params_reject_k1_that_is_not_positive(k1: float):
    with pytest.raises(ValueError, match="k1"):
        BM25Params(k1=k1)


@pytest.mark.parametrize("b", [-0.1, 1.5, math.nan])
def test_params_reject_b_outside_zero_to_one(b: float):
    with pytest.raises(ValueError, match="b must"):
        BM25Params(b=b)


# -- top_k's pruning ------------------------------------------------------------------------------

PRUNING_DOCS = 4000
PRUNING_WORDS = 400
# Thirteen copies of one paragraph (it and twelve later slots): its words tie thirteen documents
# for first place, so a top 10 cuts through a tie, and deleting some copies moves the cut.
TIED_DOC = 100
TIED_COPIES = tuple(range(1000, 4000, 250))


@pytest.fixture(params=["compiled", "compiled pruned", "numpy", "numpy pruned in small batches"])
def top_k_path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """top_k as shipped (_scoring.c: these small corpora take its add-everything path for few
    postings), the same forced through its MaxScore pruning, numpy's without the compiled code, and
    numpy's forced through MaxScore: both looking at the threshold after 64 postings, so that
    thresholds, early stops and probing are exercised."""
    if request.param.startswith("compiled"):
        assert maxscore_module.compiled is not None, "wenda.retrieval._scoring was not built: pip install -e . again"
    else:
        monkeypatch.setattr(maxscore_module, "compiled", None)
    if request.param.endswith(("pruned", "pruned in small batches")):
        monkeypatch.setattr(maxscore_module, "_SMALL_QUERY", 0)
        monkeypatch.setattr(maxscore_module, "_FIRST_BATCH", 64)
    return request.param


@pytest.fixture(scope="module")
def pruning() -> ParityCorpus:
    """4,000 paragraphs over 400 words of Zipf-like frequency: every word has a long posting list.

    Questions are 3 to 30 words of one paragraph (so some documents stand out and the rest of the
    postings can be skipped), a few of common words only, and the tied paragraph's own words.
    """
    rng = np.random.default_rng(20240612)
    words = [f"词{i}" for i in range(PRUNING_WORDS)]
    share = 1 / np.arange(1, PRUNING_WORDS + 1)
    share /= share.sum()
    docs = [list(rng.choice(words, size=int(rng.integers(5, 60)), p=share)) for _ in range(PRUNING_DOCS)]
    for slot in TIED_COPIES:
        docs[slot] = list(docs[TIED_DOC])
    questions = []
    for number in range(60):
        doc = docs[int(rng.integers(0, PRUNING_DOCS))]
        questions.append(list(dict.fromkeys(doc[: int(rng.integers(3, 30))])))
        if number % 10 == 0:
            questions.append(words[:5])
    questions += [list(dict.fromkeys(docs[TIED_DOC])), [*docs[TIED_DOC][:3], docs[TIED_DOC][0]]]
    return ParityCorpus(docs, questions)


@pytest.mark.parametrize("params", PARAMS)
def test_top_k_with_pruning_ranks_like_rank_bm25(pruning: ParityCorpus, params: BM25Params, top_k_path: str):
    ours = BM25Index.build(pruning.docs, params)
    theirs = BM25Okapi(pruning.docs, k1=params.k1, b=params.b, epsilon=params.epsilon)
    docs = [set(doc) for doc in pruning.docs]
    for question in pruning.questions:
        expected = _reference_top_k(theirs, docs, question, 20)
        for k in (1, 3, 10, 20):
            assert ours.top_k(question, k) == expected[:k], (question, k)


def test_top_k_breaks_a_tie_at_the_kth_place_by_slot(pruning: ParityCorpus, top_k_path: str):
    ours = BM25Index.build(pruning.docs)
    question = list(dict.fromkeys(pruning.docs[TIED_DOC]))
    top = ours.top_k(question, 10)
    assert [slot for slot, _ in top] == [TIED_DOC, *TIED_COPIES[:9]]
    assert len({score for _, score in top}) == 1


@pytest.mark.parametrize("params", PARAMS)
def test_top_k_with_pruning_over_segments_and_deletions_ranks_like_rank_bm25(
    pruning: ParityCorpus, params: BM25Params, top_k_path: str
):
    # Three segments; deleted: some tied copies (the tie at the 10th place moves) and every 7th slot.
    cuts = (0, 1300, 2900, PRUNING_DOCS)
    segments = [Segment.build(pruning.docs[a:b]) for a, b in pairwise(cuts)]
    deleted = np.unique(np.r_[np.arange(3, PRUNING_DOCS, 7), TIED_DOC, TIED_COPIES[1], TIED_COPIES[4]])
    ours = BM25Index(segments, params).with_deleted(deleted)
    live = np.setdiff1d(np.arange(PRUNING_DOCS), deleted)
    # rank-bm25 sees the live documents in slot order; its document d is in slot live[d].
    theirs = BM25Okapi([pruning.docs[s] for s in live], k1=params.k1, b=params.b, epsilon=params.epsilon)
    docs = [set(pruning.docs[s]) for s in live]
    for question in pruning.questions:
        expected = [(int(live[d]), score) for d, score in _reference_top_k(theirs, docs, question, 10)]
        for k in (1, 10):
            assert ours.top_k(question, k) == expected[:k], (question, k)


@pytest.mark.parametrize("params", PARAMS)
def test_scores_at_chosen_slots_equal_rank_bm25_over_segments_and_deletions(pruning: ParityCorpus, params: BM25Params):
    cuts = (0, 1300, 2900, PRUNING_DOCS)
    segments = [Segment.build(pruning.docs[a:b]) for a, b in pairwise(cuts)]
    deleted = np.arange(3, PRUNING_DOCS, 7)
    ours = BM25Index(segments, params).with_deleted(deleted)
    live = np.setdiff1d(np.arange(PRUNING_DOCS), deleted)
    theirs = BM25Okapi([pruning.docs[s] for s in live], k1=params.k1, b=params.b, epsilon=params.epsilon)
    rng = np.random.default_rng(7)
    for question in pruning.questions:
        # Unsorted, repeated, and holding the question's terms or not: given back in the order asked.
        picked = rng.choice(len(live), size=40)
        expected = theirs.get_scores(question)[picked]
        np.testing.assert_array_equal(ours.scores_at(question, live[picked]), expected, strict=True)


def _first_live_order_by_reading(docs: list[list[str]], dead: np.ndarray, terms: list[str]) -> list[str]:
    """The terms in the order they first occur, reading the live documents one after the other."""
    seen: dict[str, None] = {}
    for doc, tokens in enumerate(docs):
        if not dead[doc]:
            seen.update(dict.fromkeys(tokens))
    return [t for t in seen if t in terms]


@pytest.mark.parametrize(
    "deleted",
    [[0], [1, 2, 3], list(range(0, 4000, 97)), list(range(0, 4000, 3)), list(range(1, 4000))],
    ids=["first", "a_few", "one_in_97", "one_in_3", "all_but_the_first"],
)
def test_first_live_order_is_the_order_of_reading_the_live_documents(pruning: ParityCorpus, deleted: list[int]):
    # A few deleted documents move only the terms first met in them; many, or a segment whose terms
    # are not numbered by first occurrence, read every posting: all give the same order.
    docs = pruning.docs[:4000]
    dead = np.zeros(len(docs), dtype=bool)
    dead[deleted] = True
    built = Segment.build(docs)
    vocabulary = list(built.terms)
    shuffled = np.random.default_rng(5).permutation(len(vocabulary))
    renumbered = Segment.from_forward(
        [vocabulary[i] for i in np.argsort(shuffled)],
        built.fwd_offsets,
        shuffled[built.fwd_terms].astype(np.int32),
        built.fwd_tfs,
        built.doc_len,
    )
    expected = _first_live_order_by_reading(docs, dead, set(vocabulary))

    for seg in (built, renumbered):
        assert [seg.terms[int(t)] for t in first_live_order(seg, dead)] == expected


def test_top_k_skips_most_postings_of_long_questions(pruning: ParityCorpus, monkeypatch: pytest.MonkeyPatch):
    # Guards the parity tests above: in batches of 64 postings, they exercise the pruned path.
    monkeypatch.setattr(maxscore_module, "_FIRST_BATCH", 64)
    ours = BM25Index.build(pruning.docs, TUNED_PARAMS)
    pruned = 0
    for question in pruning.questions:
        plan = ours._maxscore.plan(question)
        assert plan is not None
        postings = [ours.segments[0].postings(term_id)[0] for q in plan.values() for _, term_id in q.lists]
        pruned += len(ours._maxscore.candidates(question, plan, 10)) < len(np.unique(np.concatenate(postings))) / 4
    assert pruned > len(pruning.questions) / 2


@pytest.mark.parametrize("params", PARAMS)
def test_bounds_are_each_terms_largest_contribution(pruning: ParityCorpus, params: BM25Params):
    index = BM25Index.build(pruning.docs, params).with_deleted(np.arange(0, PRUNING_DOCS, 3))
    segment = index.segments[0]
    plan = index._maxscore.plan([t for t in segment.terms if index.idf(t) > 0])
    bounds = index._maxscore.upper_bounds(plan)
    k1, b, avgdl = params.k1, params.b, index.avgdl
    for bound, (term, query_term) in zip(bounds, plan.items(), strict=True):
        docs, tfs = segment.postings(segment.term_id(term))
        tf = tfs.astype(np.float64)
        largest = (tf * (k1 + 1) / (tf + k1 * (1 - b + b * segment.doc_len[docs] / avgdl))).max()
        assert largest * query_term.idf <= bound <= largest * query_term.idf * (1 + 1e-8), term


def test_segment_loads_without_saved_bounds(tmp_path: Path, pruning: ParityCorpus):
    segment = Segment.build(pruning.docs[:300])
    segment.save(tmp_path)
    saved = Segment.load(tmp_path)
    for name in ("bound_offsets", "bound_tfs", "bound_dls"):
        (tmp_path / f"{name}.npy").unlink()
    older = Segment.load(tmp_path)
    for a, b, c in zip(segment.bounds, saved.bounds, older.bounds, strict=True):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(a, c)


def _advice_flags(path: Path) -> list[str]:
    """The VmFlags of this process's mappings of path (Linux: "rr" marks MADV_RANDOM)."""
    flags, current = [], None
    with open("/proc/self/smaps") as smaps:
        for line in smaps:
            fields = line.split()
            if fields and "-" in fields[0] and len(fields) >= 5:
                current = fields[5] if len(fields) > 5 else None
            elif line.startswith("VmFlags") and current == str(path):
                flags.append(line)
    return flags


def test_loaded_segments_ask_the_kernel_not_to_read_ahead_in_randomly_read_arrays(
    tmp_path: Path, pruning: ParityCorpus
):
    # Queries read postings, term tables and per-term offsets a few entries at a time at scattered
    # places; read-around would fill memory. doc_len alone is read whole (the length norms).
    Segment.build(pruning.docs[:300]).save(tmp_path)
    mapped = Segment.load(tmp_path)
    in_memory = Segment.load(tmp_path, mmap=False)  # nothing to advise: must simply work
    np.testing.assert_array_equal(mapped.doc_ids, in_memory.doc_ids)
    if not Path("/proc/self/smaps").exists():
        return  # not Linux: the advice is a no-op there, and loading worked
    assert len(mapped.gap_exceptions)  # a mapping to advise: 300 documents hold gaps over 127
    for name in (*_ARRAYS, *_BOUND_ARRAYS, *TERM_FILES):
        flags = _advice_flags(tmp_path / f"{name}.npy")
        if name == "doc_len":
            assert flags and all(" rr" not in f for f in flags)
        else:
            assert flags and all(" rr" in f for f in flags), (name, flags)


# -- several segments: the idf floor's average sums the vocabulary in rank-bm25's order ------------


def _split_index(
    parity: ParityCorpus, params: BM25Params, tmp_path: Path | None = None
) -> tuple[BM25Index, np.ndarray]:
    """The parity corpus in four segments (saved and reloaded memory-mapped if tmp_path), every 5th doc deleted."""
    cuts = (0, 200, 700, 1100, N_DOCS)
    segments = [Segment.build(parity.docs[a:b]) for a, b in pairwise(cuts)]
    if tmp_path is not None:
        for i, seg in enumerate(segments):
            seg.save(tmp_path / str(i))
        segments = [Segment.load(tmp_path / str(i)) for i in range(len(segments))]
    deleted = np.arange(2, N_DOCS, 5)
    return BM25Index(segments, params).with_deleted(deleted), np.setdiff1d(np.arange(N_DOCS), deleted)


@pytest.mark.parametrize("params", PARAMS)
@pytest.mark.parametrize("saved", [False, True], ids=["in memory", "memory-mapped"])
def test_segments_with_deletions_score_like_rank_bm25_on_the_live_docs(
    parity: ParityCorpus, params: BM25Params, saved: bool, tmp_path: Path
):
    ours, live = _split_index(parity, params, tmp_path if saved else None)
    theirs = BM25Okapi([parity.docs[s] for s in live], k1=params.k1, b=params.b, epsilon=params.epsilon)
    # The floor's average is rank-bm25's to the last bit: a term first met in a deleted document
    # moves in the summation order, which a different order would show in the last bits.
    assert ours.average_idf == theirs.average_idf
    assert {t: ours.idf(t) for t in theirs.idf} == theirs.idf
    for question in parity.questions:
        np.testing.assert_array_equal(ours.get_scores(question), theirs.get_scores(question), strict=True)


@pytest.mark.parametrize("params", PARAMS[:2])
def test_merging_segments_keeps_every_score_and_numbers_terms_by_first_occurrence(
    parity: ParityCorpus, params: BM25Params
):
    split, live = _split_index(parity, params)
    merged, mapping = split.merged()
    assert len(merged.segments) == 1 and merged.n_docs == len(live)
    assert np.array_equal(mapping[live], np.arange(len(live))) and (np.delete(mapping, live) == -1).all()
    # The merged segment is the one a fresh build of the live documents gives, term ids included.
    fresh = Segment.build(parity.docs[s] for s in live)
    assert list(merged.segments[0].terms) == list(fresh.terms)
    theirs = BM25Okapi([parity.docs[s] for s in live], k1=params.k1, b=params.b, epsilon=params.epsilon)
    assert merged.average_idf == theirs.average_idf
    for question in parity.questions:
        np.testing.assert_array_equal(merged.get_scores(question), theirs.get_scores(question), strict=True)


def test_term_frequencies_past_one_byte_keep_exact_scores():
    # tfs above 1 are stored apart, in the narrowest type that holds them (one byte, nearly always).
    docs = [["城市"] * 300 + ["发展"], ["城市", "数据"], ["数据"] * 70_000, ["发展", "数据"]]
    index = BM25Index.build(docs)
    assert index.segments[0].tf_exceptions.dtype == np.int32 and index.segments[0].fwd_tfs.dtype == np.int32
    small = BM25Index.build(docs[:2] + docs[3:])
    assert small.segments[0].tf_exceptions.dtype == np.uint16
    assert BM25Index.build([["城市", "城市"], ["城市"]]).segments[0].tf_exceptions.dtype == np.uint8
    for ours, corpus in ((index, docs), (small, docs[:2] + docs[3:])):
        theirs = BM25Okapi(corpus)
        for question in (["城市"], ["数据", "发展"], ["城市", "城市", "数据"]):
            assert ours.get_scores(question).tolist() == theirs.get_scores(question).tolist()
            assert ours.top_k(question, 2) == _reference_top_k(theirs, [set(d) for d in corpus], question, 2)


def test_scores_stay_exact_when_the_term_caches_start_afresh(
    pruning: ParityCorpus, monkeypatch: pytest.MonkeyPatch, top_k_path: str
):
    # A long-running bot meets more distinct terms than the caches keep; clearing one mid-query
    # must not make a term it had just looked up seem absent from the index.
    monkeypatch.setattr(index_module, "_LOOKUP_CACHE", 3)
    ours = BM25Index.build(pruning.docs, TUNED_PARAMS)
    theirs = BM25Okapi(pruning.docs, k1=TUNED_PARAMS.k1, b=TUNED_PARAMS.b, epsilon=TUNED_PARAMS.epsilon)
    docs = [set(doc) for doc in pruning.docs]
    for question in pruning.questions[:30]:
        assert ours.top_k(question, 10) == _reference_top_k(theirs, docs, question, 10), question


def test_postings_survive_one_byte_codes_whatever_their_spacing_and_tfs(tmp_path: Path):
    # A posting is stored as one byte: its doc gap and whether its tf is above 1. Gaps past 127
    # (and a first doc past 126) and tfs above 1 go in full to the exceptions. Lists of every
    # spacing must come back exactly, alone or decoded together.
    n_docs = 70_000
    rng = np.random.default_rng(7)
    expected = {
        "每篇": np.arange(n_docs),
        "边界": np.array([0, 1, 127, 128, 255, 256, 383, 511, 512, 66_000, n_docs - 1]),
        "远处": np.array([300]),  # the first gap is already an exception
        "首篇": np.array([0]),
        "两端": np.array([0, 69_000]),  # a gap past uint16: exceptions need their widest type
        "稀疏": np.sort(rng.choice(n_docs, 500, replace=False)),
        "稠密": np.sort(rng.choice(n_docs, 40_000, replace=False)),
    }
    # tf 1 mostly, 2 to 300 at some postings (ones past a byte among them).
    tf_of = {term: np.where(where % 5 == 0, 1 + where % 300, 1) for term, where in expected.items()}
    docs: list[list[str]] = [[] for _ in range(n_docs)]
    for term, where in expected.items():
        for doc, tf in zip(where.tolist(), tf_of[term].tolist(), strict=True):
            docs[doc].extend([term] * tf)
    segment = Segment.build(docs)
    segment.save(tmp_path)
    for loaded in (segment, Segment.load(tmp_path)):
        assert loaded.posting_codes.dtype == np.uint8 and loaded.gap_exceptions.dtype == np.int32
        for term, where in expected.items():
            got_docs, got_tfs = loaded.postings(loaded.term_id(term))
            np.testing.assert_array_equal(got_docs, where)
            np.testing.assert_array_equal(got_tfs, tf_of[term])
        index = BM25Index([loaded])
        slots, codes, tf_exceptions, lengths = index._maxscore.decode(
            [index._maxscore.span(0, loaded.term_id(t)) for t in expected]
        )
        np.testing.assert_array_equal(slots, np.concatenate(list(expected.values())))
        all_tfs = np.concatenate(list(tf_of.values()))
        np.testing.assert_array_equal(decode_tfs(codes, tf_exceptions), all_tfs)
        some = np.sort(rng.choice(len(codes), 5000, replace=False))  # what a probe asks for
        np.testing.assert_array_equal(tfs_at(codes, tf_exceptions, some), all_tfs[some])
        assert lengths.tolist() == [len(w) for w in expected.values()]
    # Common words' gaps and tfs fit their byte: few exceptions.
    assert len(segment.gap_exceptions) + len(segment.tf_exceptions) < len(segment.posting_codes) // 4


def test_doc_ids_decode_into_slots_across_segments():
    # A term's lists from several segments decode in one pass into ascending corpus slots.
    first = [["城市", "发展"], ["数据"]] + [["其他"]] * 400 + [["城市"]]
    second = [["城市"]] + [["其他"]] * 300 + [["发展", "城市"]]
    index = BM25Index.build(first).with_segment(Segment.build(second))
    slots, _, _, lengths = index._maxscore.decode(
        [index._maxscore.span(s, t) for s, t in index.lists(["城市"])["城市"]]
    )
    assert slots.tolist() == [0, 402, 403, 704] and lengths.tolist() == [2, 2]
    theirs = BM25Okapi(first + second)
    for question in (["城市"], ["发展", "城市"], ["数据", "其他"]):
        assert index.get_scores(question).tolist() == theirs.get_scores(question).tolist()
        top = index.top_k(question, 3)
        assert [s for s, _ in top] == np.argsort(-theirs.get_scores(question), kind="stable")[:3].tolist()


@pytest.mark.parametrize("shared_first_word", [False, True])
def test_equal_term_keys_are_grouped_by_both_words_at_their_first_position(shared_first_word: bool) -> None:
    rng = np.random.default_rng(7)
    distinct = rng.integers(0, 2**63, size=(50, 2), dtype=np.uint64)
    if shared_first_word:
        distinct[1::2, 0] = distinct[::2, 0]  # pairs of different keys with the same first word
    keys = distinct[rng.integers(0, len(distinct), size=400)]
    group, first_at = _group_keys(keys)
    firsts = {}
    for position, key in enumerate(map(tuple, keys)):
        firsts.setdefault(key, position)
    assert sorted(first_at.tolist()) == sorted(firsts.values())
    assert [int(first_at[g]) for g in group] == [firsts[tuple(k)] for k in keys]


def test_compiled_top_k_refuses_a_damaged_posting_list_and_leaves_its_scratch_zeroed():
    # A posting list whose gaps run past the corpus must give an error, not a read past an array:
    # the compiled first stage trusts nothing it reads from a segment.
    assert maxscore_module.compiled is not None, "wenda.retrieval._scoring was not built"
    index = BM25Index.build([["城市", "数据"], ["城市"], ["数据", "发展"], ["发展"], ["人口"], ["交通"]], TUNED_PARAMS)
    seg = index.segments[0]
    codes = seg.posting_codes.copy()
    codes[:] = 127 << 1  # every gap the largest a byte holds: the first posting is past the end
    plan = index._maxscore.plan(["城市"])
    span = plan["城市"].spans[0]  # (segment, lo, hi, gap_lo, gap_hi, tf_lo, tf_hi)
    _, lo, _, g_lo, g_hi, t_lo, t_hi = span
    acc = np.zeros(index.n_slots)
    norms, k1 = index._maxscore._slot_norms, TUNED_PARAMS.k1
    forward = (seg.fwd_offsets, seg.fwd_terms, seg.fwd_tfs, 0)
    damaged = [(codes, seg.gap_exceptions, seg.tf_exceptions, *forward)]
    with pytest.raises(ValueError, match="past the index's end"):
        maxscore_module.compiled.top_k(damaged, [(1.0, [span])], norms, index.live, k1, 3, acc)
    too_long = [(1.0, [(0, lo, len(codes) + 1, g_lo, g_hi, t_lo, t_hi)])]
    with pytest.raises(ValueError, match="outside its segment"):
        maxscore_module.compiled.top_k(damaged, too_long, norms, index.live, k1, 3, acc)
    assert not acc.any()
    # The same call over the segment's own codes answers, with get_scores' values.
    arrays = [(seg.posting_codes, seg.gap_exceptions, seg.tf_exceptions, *forward)]
    spans = [(index.idf("城市"), [span])]
    found = maxscore_module.compiled.top_k(arrays, spans, norms, index.live, k1, 3, acc)
    scores = index.get_scores(["城市"])
    assert found == [(1, scores[1]), (0, scores[0])]  # the shorter paragraph first
    assert not acc.any()
