"""Segment many passages into an index segment, on every core when the work is worth a process pool."""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Sequence
from pathlib import Path

from .index import BM25Index
from .segment import Segment
from .text import Analyzer, TextSettings

# Below this many characters a pool costs more (worker start-up, jieba's dictionary load) than it saves.
POOL_MIN_CHARS = 2_000_000
CHUNK_PASSAGES = 2_000

# One analyzer per worker process, made by the pool's initializer: jieba's dictionary is loaded
# once per worker rather than once per chunk.
_worker_analyzer: Analyzer | None = None


def _init_worker(settings: TextSettings, dictionary_cache: Path | None) -> None:
    global _worker_analyzer
    _worker_analyzer = Analyzer(settings, dictionary_cache)


def _segment_chunk(texts: Sequence[str]) -> Segment:
    assert _worker_analyzer is not None
    return Segment.build(_worker_analyzer.tokens(t) for t in texts)


def build_segment(
    texts: Sequence[str],
    analyzer: Analyzer,
    *,
    workers: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> Segment:
    """The segment of texts in order. `progress` is called with the number of texts just finished."""
    workers = workers if workers is not None else (os.cpu_count() or 1)
    if workers <= 1 or sum(len(t) for t in texts) < POOL_MIN_CHARS:
        tokens = []
        for i, text in enumerate(texts, start=1):
            tokens.append(analyzer.tokens(text))
            if progress and i % CHUNK_PASSAGES == 0:
                progress(CHUNK_PASSAGES)
        if progress and len(texts) % CHUNK_PASSAGES:
            progress(len(texts) % CHUNK_PASSAGES)
        return Segment.build(tokens)
    chunks = [texts[i : i + CHUNK_PASSAGES] for i in range(0, len(texts), CHUNK_PASSAGES)]
    # spawn, not fork: the bot calls this from a worker thread of a running event loop, and forking
    # a multi-threaded process can deadlock the child on a lock some other thread held.
    ctx = multiprocessing.get_context("spawn")
    segments = []
    with ctx.Pool(workers, initializer=_init_worker, initargs=(analyzer.settings, analyzer.dictionary_cache)) as pool:
        for chunk, segment in zip(chunks, pool.imap(_segment_chunk, chunks), strict=True):
            segments.append(segment)
            if progress:
                progress(len(chunk))
    merged, _ = BM25Index(segments).merged()
    return merged.segments[0]
