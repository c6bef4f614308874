"""What the sentence stage reads of each passage, stored with it when it is indexed: its bag.

The stage (rerank.py) scores each of a question's top passages by its best sentence. Worked out from
the text at every question, that is five passages normalised (OpenCC), cut into sentences and
counted: most of a question's time at 10k passages once other processes have taken the machine's
caches between questions (docs/benchmarks.md). A bag holds the title's and each sentence's number
of tokens and the terms it holds with their counts, each term by its place in the passage's forward
list (segment.py: the order of first occurrence, which merging keeps), so the stage reads a few
hundred bytes and the forward list of each passage instead.

A bag is made by the same counting the stage does on the text (_scoring.c's count_spans), so a
passage scores the same either way (the tests hold them equal). A passage without one (an index
made before bags, no compiled code, a text whose normalising moves offsets) is scored from its
text; rerank.stage_scores does that.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Mapping, Sequence

from .index import BM25Index, BM25Params
from .kernels import compiled
from .sentences import MAX_PROTECTED
from .text import Analyzer

log = logging.getLogger(__name__)


def sentence_bag(
    analyzer: Analyzer, text: str, cut: bytes | None, tokens: Sequence[str], title_tokens: Sequence[str]
) -> bytes:
    """The bag of a passage being indexed: tokens are its indexed tokens (Analyzer.passage_tokens: the
    title's, then the text's), title_tokens its title's, cut its text's stored cut. b"" where the
    stage has to read the text instead."""
    counted = analyzer.compiled_reading(text, cut)
    if counted is None:
        return b""
    normalised, counting = counted
    terms = list(dict.fromkeys(tokens))  # the forward list's order (Segment.build)
    try:
        bag = compiled.sentence_bags(text, normalised, cut, terms, title_tokens, *counting, MAX_PROTECTED)
    except ValueError as exc:  # a title token not among the passage's (not expected): no bag, not no index
        log.debug("no bag for a passage: %s", exc)
        return b""
    return bag if bag is not None else b""


def bag_scores(
    index: BM25Index,
    slots: Sequence[int],
    bags: Sequence[bytes],
    weights: Counter[str],
    idf: Mapping[str, float],
    params: BM25Params,
) -> list[float | None]:
    """rerank.best_sentence_score of the passage in each slot from its bag (bags, in the same order);
    None for a passage without one (b""), or whose bag does not fit its forward list."""
    scores: list[float | None] = [None] * len(slots)
    if compiled is None or not any(bags):
        return scores
    terms = list(weights)
    where = index.lists(terms)
    ids_in: dict[int, tuple[tuple[int, ...], tuple[int, ...]]] = {}  # segment -> the question's term ids there, places
    items, batch = [], []
    for i, (slot, bag) in enumerate(zip(slots, bags, strict=True)):
        if not bag:
            continue
        seg_no, doc = index.locate(slot)
        if seg_no not in ids_in:
            pairs = [(term_id, place) for place, term in enumerate(terms) for s, term_id in where[term] if s == seg_no]
            ids_in[seg_no] = (tuple(term_id for term_id, _ in pairs), tuple(place for _, place in pairs))
        seg = index.segments[seg_no]
        items.append((bag, seg.fwd_offsets, seg.fwd_terms, doc, *ids_in[seg_no]))
        batch.append(i)
    if items:
        weighted = [weights[term] * idf[term] for term in terms]
        for i, score in zip(batch, compiled.bag_scores(items, weighted, params.k1, params.b), strict=True):
            scores[i] = score
    return scores
