"""Segment many passages into an index segment, on every core when the work is worth a process pool.

A passage is given as its (title, text): the title is cut once per article, not twice for each of
its paragraphs, and each text's cut and bag (bags.py) come back with the segment, to be stored with
the passage.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Sequence
from pathlib import Path

from .bags import sentence_bag
from .index import BM25Index
from .segment import Segment
from .text import Analyzer, TextParts, TextSettings

# (title as indexed, text) of one passage; search.indexed_text says how the two are joined.
TitledText = tuple[str, str]

# Below this many characters a pool costs more (worker start-up, jieba's dictionary load) than it saves.
POOL_MIN_CHARS = 2_000_000
CHUNK_PASSAGES = 2_000
# Titles whose parts a build keeps at a time (they come article by article).
TITLES_KEPT = 1_000

# One analyzer per worker process, made by the pool's initializer: jieba's dictionary is loaded
# once per worker rather than once per chunk.
_worker_analyzer: Analyzer | None = None


def _init_worker(settings: TextSettings, dictionary_cache: Path | None) -> None:
    global _worker_analyzer
    _worker_analyzer = Analyzer(settings, dictionary_cache)


# What a build gives besides the segment: each text's cut, in order, each title's, and each
# passage's bag, in order.
Cuts = tuple[list[bytes | None], dict[str, bytes | None], list[bytes]]


def _segment_chunk(passages: Sequence[TitledText]) -> tuple[Segment, Cuts]:
    assert _worker_analyzer is not None
    return _segment(passages, _worker_analyzer)


def _segment(
    passages: Sequence[TitledText], analyzer: Analyzer, progress: Callable[[int], None] | None = None
) -> tuple[Segment, Cuts]:
    titles: dict[str, TextParts] = {}
    title_tokens: dict[str, list[str]] = {}
    title_cuts: dict[str, bytes | None] = {}
    tokens, cuts, bags = [], [], []
    for i, (title, text) in enumerate(passages, start=1):
        if len(titles) > TITLES_KEPT:
            titles.clear()  # passages come article by article: the titles before are done with
            title_tokens.clear()
        terms, cut = analyzer.passage_tokens(title, text, titles)
        tokens.append(terms)
        cuts.append(cut)
        if title not in title_tokens:
            title_tokens[title] = titles[title].tokens()
        bags.append(sentence_bag(analyzer, text, cut, terms, title_tokens[title]))
        title_cuts[title] = titles[title].cut
        if progress and i % CHUNK_PASSAGES == 0:
            progress(CHUNK_PASSAGES)
    if progress and len(passages) % CHUNK_PASSAGES:
        progress(len(passages) % CHUNK_PASSAGES)
    return Segment.build(tokens), (cuts, title_cuts, bags)


def build_segment(
    passages: Sequence[TitledText],
    analyzer: Analyzer,
    *,
    workers: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> tuple[Segment, Cuts]:
    """The segment of passages in order, with each text's cut (Analyzer.passage_tokens), each
    title's, and each passage's bag (bags.py). `progress` is called with the number of passages just finished."""
    workers = workers if workers is not None else (os.cpu_count() or 1)
    if workers <= 1 or sum(len(title) + len(text) for title, text in passages) < POOL_MIN_CHARS:
        return _segment(passages, analyzer, progress)
    chunks = [passages[i : i + CHUNK_PASSAGES] for i in range(0, len(passages), CHUNK_PASSAGES)]
    # spawn, not fork: the bot calls this from a worker thread of a running event loop, and forking
    # a multi-threaded process can deadlock the child on a lock some other thread held.
    ctx = multiprocessing.get_context("spawn")
    segments, cuts, title_cuts, bags = [], [], {}, []
    with ctx.Pool(workers, initializer=_init_worker, initargs=(analyzer.settings, analyzer.dictionary_cache)) as pool:
        for chunk, (segment, (chunk_cuts, chunk_titles, chunk_bags)) in zip(
            chunks, pool.imap(_segment_chunk, chunks), strict=True
        ):
            segments.append(segment)
            cuts.extend(chunk_cuts)
            title_cuts.update(chunk_titles)
            bags.extend(chunk_bags)
            if progress:
                progress(len(chunk))
    merged, _ = BM25Index(segments).merged()
    return merged.segments[0], (cuts, title_cuts, bags)
