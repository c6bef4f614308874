"""Segmenting on a process pool gives the very segment an in-process build gives, and reports progress in full;
either is the segment of the analyzer's tokens of each passage's indexed text, with the cut of each text
that reads it back as jieba would."""

from __future__ import annotations

import multiprocessing
from dataclasses import dataclass

import numpy as np
import pytest
from conftest import SEED_CORPUS, SEED_FILE, news_article

from wenda.retrieval import parallel
from wenda.retrieval.corpus import Passage, read_file
from wenda.retrieval.parallel import build_segment
from wenda.retrieval.search import indexed_text
from wenda.retrieval.segment import _ARRAYS, Segment
from wenda.retrieval.text import Analyzer

CHUNK = 7  # several chunks, the last one short, so the pool's pieces are merged back in order


@dataclass(frozen=True)
class Build:
    segment: Segment
    cuts: list[bytes | None]
    title_cuts: dict[str, bytes | None]
    bags: list[bytes]
    progress: list[int]
    pools: list[str]  # the start methods of the process pools it made


@pytest.fixture(scope="module")
def texts() -> list[tuple[str, str]]:
    """(title, text) of passages: the seed's, some news, and texts whose cut cannot be kept."""
    seed = [(p.title, p.text) for p in read_file(SEED_CORPUS / SEED_FILE, SEED_CORPUS).passages]
    news = [(f"新闻{n}", line) for n in range(6) for line in news_article(n, 4).splitlines()[1:]]
    odd = [
        ("café", "cafe\u0301 的咖啡很好。"),  # a mark NFKC joins to its neighbour
        ("长句", "中" * 600),  # a run _pieces must cut where jieba would not
        ("省略", "他说……不知道。气温３０℃。"),  # NFKC makes one character three
        ("ΑΣ", "ΟΔΟΣ 大街"),  # a final capital sigma lower-cases by context
    ]
    return seed + news + odd + [("空", "")]  # an empty text is a document with only its title's terms


@pytest.fixture(scope="module")
def analyzer(seed_searcher) -> Analyzer:
    return seed_searcher.analyzer


def _build(texts: list[tuple[str, str]], analyzer: Analyzer, workers: int) -> Build:
    progress: list[int] = []
    pools: list[str] = []
    get_context = multiprocessing.get_context

    def recording(method: str):
        pools.append(method)
        return get_context(method)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(parallel, "POOL_MIN_CHARS", 1)
        mp.setattr(parallel, "CHUNK_PASSAGES", CHUNK)
        mp.setattr(parallel.multiprocessing, "get_context", recording)
        segment, (cuts, title_cuts, bags) = build_segment(texts, analyzer, workers=workers, progress=progress.append)
    return Build(segment, cuts, title_cuts, bags, progress, pools)


@pytest.fixture(scope="module")
def pooled(texts: list[tuple[str, str]], analyzer: Analyzer) -> Build:
    return _build(texts, analyzer, workers=2)


@pytest.fixture(scope="module")
def in_process(texts: list[tuple[str, str]], analyzer: Analyzer) -> Build:
    return _build(texts, analyzer, workers=1)


def test_a_pool_build_gives_the_in_process_segment(pooled: Build, in_process: Build, texts: list[tuple[str, str]]):
    assert len(texts) > 3 * CHUNK
    assert (pooled.pools, in_process.pools) == (["spawn"], [])
    assert pooled.segment.terms == in_process.segment.terms
    assert pooled.cuts == in_process.cuts
    assert pooled.title_cuts == in_process.title_cuts
    assert pooled.bags == in_process.bags
    for name in _ARRAYS:
        got, want = getattr(pooled.segment, name), getattr(in_process.segment, name)
        assert got.dtype == want.dtype, name
        np.testing.assert_array_equal(got, want, err_msg=name)


def test_the_in_process_build_is_segment_build_over_the_analyzers_tokens(
    in_process: Build, texts: list[tuple[str, str]], analyzer: Analyzer
):
    passages = [Passage(text=text, title=title, file="f.txt", paragraph=1) for title, text in texts]
    direct = Segment.build(analyzer.tokens(indexed_text(p)) for p in passages)
    assert in_process.segment.terms == direct.terms
    for name in _ARRAYS:
        np.testing.assert_array_equal(getattr(in_process.segment, name), getattr(direct, name), err_msg=name)


@pytest.mark.parametrize("build", ["pooled", "in_process"])
def test_progress_adds_up_to_the_number_of_texts(
    build: str, texts: list[tuple[str, str]], request: pytest.FixtureRequest
):
    progress = request.getfixturevalue(build).progress
    assert sum(progress) == len(texts)
    assert all(0 < n <= CHUNK for n in progress)


def test_a_stored_cut_reads_each_text_as_jieba_does(
    in_process: Build, texts: list[tuple[str, str]], analyzer: Analyzer
):
    kept = 0
    for (_, text), cut in zip(texts, in_process.cuts, strict=True):
        if cut is not None:
            kept += 1
            assert analyzer.read(text, cut) == analyzer.read(text), text
    # Every text keeps its cut but those read() normalises otherwise than the index does (a joining
    # mark, a final sigma) and the one _pieces cuts: the ellipsis and ℃, one character made three
    # alike in both, keep theirs.
    odd = [cut is not None for cut in in_process.cuts[-5:-1]]
    assert odd == [False, False, True, False]
    assert kept == len(texts) - 3


def test_a_cut_that_does_not_fit_the_text_is_ignored(analyzer: Analyzer):
    text = "北京城市副中心政务服务中心投入运行。"
    wrong = bytes([1]) * (len(text) - 1)  # one character short
    assert analyzer.read(text, wrong) == analyzer.read(text)


def test_every_title_keeps_a_cut_that_gives_its_tokens(
    in_process: Build, texts: list[tuple[str, str]], analyzer: Analyzer
):
    assert set(in_process.title_cuts) == {title for title, _ in texts}
    for title, cut in in_process.title_cuts.items():
        assert cut is not None
        assert analyzer.tokens_of_cut(title, cut) == analyzer.tokens(title)
    # A cut that does not fit is not used: the tokens are cut afresh.
    assert analyzer.tokens_of_cut("港口码头", b"\x01") == analyzer.tokens("港口码头")
