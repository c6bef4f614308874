"""The second stage: lift the passages that hold the question's terms in one sentence.

A question is usually one sentence of its paragraph rewritten, so a paragraph holding the question's
terms together in a sentence is likelier the answer than one that spreads them over five. BM25Okapi
sums over the whole passage and cannot see that. This stage takes the first stage's top RERANK_DEPTH
and adds, for each, weight × its best sentence's score (BM25's saturation with the passage corpus's
idf, a sentence as the document), both scores divided by their best among the candidates.

Both stages are BM25: the passage's BM25Okapi score and its best sentence's. The stage is on by
default (SENTENCE_WEIGHT); weight 0 turns it off and leaves rank-bm25's order. Every score shown, and
the relevance the decline rule reads, stay the first stage's. docs/quality.md has its figures.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import NamedTuple

from .index import BM25Params
from .kernels import compiled
from .sentences import MAX_PROTECTED, Sentences
from .text import Analyzer

# Candidates re-scored: 5, 10 and 20 measured the same Recall@1 on both eval sets, and each costs a
# passage's bag read (bags.py), or its text read and counted, so the fewest.
RERANK_DEPTH = 5
# The default weight: measured best on both evaluation sets, with chatty questions too (docs/quality.md).
SENTENCE_WEIGHT = 0.4
# Beyond this the first stage's order hardly counts any more.
MAX_SENTENCE_WEIGHT = 10.0


def check_sentence_weight(weight: float) -> float:
    """weight, if the stage can use it (0 turns it off); a ValueError naming the range if not."""
    if not 0.0 <= weight <= MAX_SENTENCE_WEIGHT:  # NaN fails too
        raise ValueError(f"must be between 0 (off) and {MAX_SENTENCE_WEIGHT:g}, not {weight}")
    return weight


def best_sentence_score(
    sentences: Sentences,
    title_tokens: Sequence[str],
    weights: Counter[str],
    idf: Mapping[str, float],
    params: BM25Params,
) -> float:
    """The highest BM25 score of one of a passage's sentences, each with the title's tokens in front.

    Sentence lengths are normalised by the passage's own mean sentence length: the corpus's mean
    would need a statistic the index does not keep, and measured within 0.001 of it.
    """
    # The title is its own line, so its tokens never join a sentence's: count them once for all,
    # and add them to a sentence's only for the question's terms.
    counted = sentences.counts(frozenset(weights))
    if not counted:
        return 0.0
    k1, b = params.k1, params.b
    in_title = {term: n for term, n in Counter(title_tokens).items() if term in weights}
    # weight * idf, the first product of each term's score (the same bits as working it out each time).
    weighted = {term: weights[term] * idf[term] for term in weights}
    if compiled is not None:  # the loop below in C, to the bit (_scoring.c's best_sentence)
        return compiled.best_sentence(counted, in_title, weighted, k1, b, len(title_tokens))
    saturated = k1 + 1
    mean_length = sum(len(title_tokens) + length for _, length in counted) / len(counted)
    best = 0.0
    for counts, length in counted:
        norm = k1 * (1 - b + b * (len(title_tokens) + length) / mean_length) if mean_length else k1
        # The question's terms the sentence or the title holds (counts has only the question's terms).
        if in_title:
            score = math.fsum(
                weighted[term] * tf * saturated / (tf + norm)
                for term in counts.keys() | in_title.keys()
                if (tf := in_title.get(term, 0) + counts.get(term, 0))
            )
        else:
            score = math.fsum(weighted[term] * tf * saturated / (tf + norm) for term, tf in counts.items() if tf)
        best = max(best, score)
    return best


class StagedPassage(NamedTuple):
    """What the stage reads of one of the first stage's top passages."""

    text: str
    cut: bytes | None  # the cut stored with text when it was indexed (Analyzer.read), if any
    title_tokens: Sequence[str]  # its title's tokens, as indexed


def stage_scores(
    analyzer: Analyzer,
    passages: Sequence[StagedPassage],
    weights: Counter[str],
    idf: Mapping[str, float],
    params: BM25Params,
) -> list[float]:
    """best_sentence_score of each passage, cut into sentences as Sentences.of cuts it.

    Where the compiled code can count a passage from its stored cut, all such passages of a question
    are cut, counted and scored in one call (_scoring.c's stage_scores, the same arithmetic): this
    stage is most of what wenda does at a question beyond the first stage, and five passages made
    into sentence lists and count dicts took longer than the ranking itself (docs/benchmarks.md).
    The others go through best_sentence_score.
    """
    scores: list[float | None] = [None] * len(passages)
    batch = []  # (passage number, its normalised text): the passages the compiled code counts
    counting = None  # what compiled_reading gives besides the text: the same for every passage
    for i, p in enumerate(passages):
        reading = analyzer.compiled_reading(p.text, p.cut)
        if reading is not None:
            normalised, counting = reading
            batch.append((i, normalised))
    if counting is not None:
        terms = list(weights)
        items = [(passages[i].text, normalised, passages[i].cut, passages[i].title_tokens) for i, normalised in batch]
        weighted = [weights[term] * idf[term] for term in terms]
        found = compiled.stage_scores(items, terms, weighted, *counting, params.k1, params.b, MAX_PROTECTED)
        for (i, _), score in zip(batch, found, strict=True):
            scores[i] = score
    return [
        score
        if score is not None
        else best_sentence_score(Sentences.of(analyzer, p.text, p.cut), p.title_tokens, weights, idf, params)
        for p, score in zip(passages, scores, strict=True)
    ]


def rerank(
    ranked: Sequence[tuple[int, float]],
    sentence_scores: Sequence[float],
    weight: float,
) -> list[tuple[int, float]]:
    """ranked (slot, BM25 score) pairs re-ordered by score / best score + weight × sentence score /
    best sentence score. The BM25 scores are kept as they are: they are what relevance is made of.
    Ties keep the first stage's order."""
    if not ranked or weight <= 0:
        return list(ranked)
    top = max(score for _, score in ranked)
    top_sentence = max(sentence_scores)
    if top <= 0 or top_sentence <= 0:
        return list(ranked)
    fused = [score / top + weight * s / top_sentence for (_, score), s in zip(ranked, sentence_scores, strict=True)]
    order = sorted(range(len(ranked)), key=lambda i: -fused[i])
    return [ranked[i] for i in order]
