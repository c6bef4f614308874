"""Segmenting on a process pool gives the very segment an in-process build gives, and reports progress in full."""

from __future__ import annotations

import multiprocessing
from dataclasses import dataclass

import numpy as np
import pytest
from conftest import SEED_CORPUS, SEED_FILE, news_article

from wenda.retrieval import parallel
from wenda.retrieval.corpus import read_file
from wenda.retrieval.parallel import build_segment
from wenda.retrieval.search import indexed_text
from wenda.retrieval.segment import _ARRAYS, Segment
from wenda.retrieval.text import Analyzer

CHUNK = 7  # several chunks, the last one short, so the pool's pieces are merged back in order


@dataclass(frozen=True)
class Build:
    segment: Segment
    progress: list[int]
    pools: list[str]  # the start methods of the process pools it made


@pytest.fixture(scope="module")
def texts() -> list[str]:
    seed = [indexed_text(p) for p in read_file(SEED_CORPUS / SEED_FILE, SEED_CORPUS).passages]
    news = [line for n in range(6) for line in news_article(n, 4).splitlines()[1:]]
    return seed + news + [""]  # an empty text is a document with no terms


@pytest.fixture(scope="module")
def analyzer(seed_searcher) -> Analyzer:
    return seed_searcher.analyzer


def _build(texts: list[str], analyzer: Analyzer, workers: int) -> Build:
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
        segment = build_segment(texts, analyzer, workers=workers, progress=progress.append)
    return Build(segment, progress, pools)


@pytest.fixture(scope="module")
def pooled(texts: list[str], analyzer: Analyzer) -> Build:
    return _build(texts, analyzer, workers=2)


@pytest.fixture(scope="module")
def in_process(texts: list[str], analyzer: Analyzer) -> Build:
    return _build(texts, analyzer, workers=1)


def test_a_pool_build_gives_the_in_process_segment(pooled: Build, in_process: Build, texts: list[str]):
    assert len(texts) > 3 * CHUNK
    assert (pooled.pools, in_process.pools) == (["spawn"], [])
    assert pooled.segment.terms == in_process.segment.terms
    for name in _ARRAYS:
        got, want = getattr(pooled.segment, name), getattr(in_process.segment, name)
        assert got.dtype == want.dtype, name
        np.testing.assert_array_equal(got, want, err_msg=name)


def test_the_in_process_build_is_segment_build_over_the_analyzers_tokens(
    in_process: Build, texts: list[str], analyzer: Analyzer
):
    direct = Segment.build(analyzer.tokens(t) for t in texts)
    assert in_process.segment.terms == direct.terms
    for name in _ARRAYS:
        np.testing.assert_array_equal(getattr(in_process.segment, name), getattr(direct, name), err_msg=name)


@pytest.mark.parametrize("build", ["pooled", "in_process"])
def test_progress_adds_up_to_the_number_of_texts(build: str, texts: list[str], request: pytest.FixtureRequest):
    progress = request.getfixturevalue(build).progress
    assert sum(progress) == len(texts)
    assert all(0 < n <= CHUNK for n in progress)
