"""Per-channel corpora: a scope keeps a search to one subfolder, with the whole corpus's statistics."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest

from wenda.bot.answer import answer
from wenda.retrieval.index import BM25Index
from wenda.retrieval.scope import ScopeError, normalise_scope
from wenda.retrieval.store import Library, StoreSettings

ECONOMY = """\
央行调整存款利率
央行宣布下调存款利率，储户的利息收入随之减少。
"""
# The better passage for 存款利率: every word of the question, twice.
POLITICS = """\
存款利率听证会召开
代表们在听证会上讨论存款利率和存款利率的调整方案，认为存款利率影响深远。
"""
FILLER = [
    "城市公园新增骑行步道。",
    "高原铁路全线通车。",
    "古城墙修缮完工。",
    "社区食堂开业迎客。",
    "博物馆延长开放时间。",
]


@pytest.fixture
def two_folders(tmp_path: Path) -> Library:
    root = tmp_path / "corpus"
    (root / "economy").mkdir(parents=True)
    (root / "politics").mkdir()
    (root / "economy" / "rates.txt").write_text(ECONOMY, encoding="utf-8")
    (root / "politics" / "hearing.txt").write_text(POLITICS, encoding="utf-8")
    for i, line in enumerate(FILLER):
        (root / f"filler_{i}.txt").write_text(f"杂闻{i}\n{line}\n", encoding="utf-8")
    return Library.open(root, StoreSettings(cache=False))


def test_masked_top_k_equals_filtered_scores() -> None:
    rng = random.Random(7)
    vocab = [f"w{i}" for i in range(60)]
    docs = [[rng.choice(vocab[: rng.randint(5, 60)]) for _ in range(rng.randint(1, 30))] for _ in range(400)]
    index = BM25Index.build(docs)
    allowed = np.array([rng.random() < 0.1 for _ in docs])
    within = index.restrict(allowed)
    for _ in range(30):
        query = rng.sample(vocab, 4)
        scores = index.get_scores(query)
        expected = sorted(
            ((slot, scores[slot]) for slot in np.flatnonzero(allowed) if any(t in docs[slot] for t in query)),
            key=lambda pair: (-pair[1], pair[0]),
        )[:5]
        assert index.top_k(query, 5, within) == [(int(s), float(v)) for s, v in expected]


def test_scope_names_a_subfolder() -> None:
    assert normalise_scope(" economy/ ") == "economy"
    assert normalise_scope("a\\b") == "a/b"
    for bad in ("", "/", "../x", "/abs"):
        with pytest.raises(ScopeError):
            normalise_scope(bad)


def test_scoped_answer_quotes_only_its_subfolder(two_folders: Library) -> None:
    everywhere = answer(two_folders.searcher, "存款利率")
    assert everywhere.hits[0].passage.file == "politics/hearing.txt"
    scoped = answer(two_folders.searcher, "存款利率", scope="economy")
    assert scoped.answered
    assert {h.passage.file for h in scoped.hits} == {"economy/rates.txt"}


def test_scoped_scores_keep_the_whole_corpus_statistics(two_folders: Library) -> None:
    everywhere = {h.passage.file: h.score for h in answer(two_folders.searcher, "存款利率", 5).hits}
    scoped = answer(two_folders.searcher, "存款利率", scope="economy").hits[0]
    assert scoped.score == everywhere["economy/rates.txt"]


def test_scope_with_nothing_relevant_declines(two_folders: Library) -> None:
    assert not answer(two_folders.searcher, "存款利率", scope="nowhere").answered
