"""The one place that decides "covered or not": relevance, the bars it must clear, and eval's decline figures.

Relevance is a passage's BM25 score over the most any passage could score for the question: a share,
not a raw score, so one threshold means the same on a 30-paragraph corpus as on a million.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from .index import BM25Index

# The best passage must be at least this relevant, or the question is declined; calibrated on the
# evaluation sets in docs/quality.md.
MIN_RELEVANCE = 0.20
# A further passage is quoted only if it is at least this share as relevant as the best one: one
# that shares a single name with the question is noise beside a passage that answers it.
SECONDARY_SHARE = 0.5


def max_score(index: BM25Index, terms: Sequence[str]) -> float:
    """The most any passage could score for query terms (with repeats): each saturates at idf * (k1 + 1).

    A term the corpus has never seen counts twice the idf of a term found once: a question
    naming things the corpus does not know is evidence that the corpus does not cover it.
    """
    k1 = index.params.k1
    # Each distinct term looked up once: query_tokens repeats most terms, and a lookup reads the
    # term's document frequency in every segment.
    most: dict[str, float] = {}
    total = 0.0
    for term in terms:
        if term not in most:
            idf = index.idf(term) if index.doc_freq(term) else unseen_idf(index)
            most[term] = idf * (k1 + 1)
        total += most[term]
    return total


def unseen_idf(index: BM25Index) -> float:
    """What max_score counts for a term the corpus has never seen: twice a once-seen term's idf."""
    n = index.n_docs
    if n == 0:  # an empty corpus: no passage can score, and log(n - 0.5) is not defined
        return 0.0
    once = math.log(n - 1 + 0.5) - math.log(1 + 0.5)
    if once < 0:  # rank-bm25's floor, on corpora of one or two passages
        once = index.params.epsilon * index.average_idf
    return 2 * max(once, 0.0)


def relevance(score: float, best: float) -> float:
    """A passage's relevance: its score over best, the question's max_score (0 when nothing can score).

    Never above 1: a score is below max_score except with synonyms, whose added words max_score does
    not count (synonyms.expand says why).
    """
    return min(1.0, score / best) if best > 0 else 0.0


def top_relevance(index: BM25Index, terms: Sequence[str], ranked: Sequence[tuple[int, float]]) -> float:
    """The relevance of the passage a question would be answered with, from its query terms and the
    (slot, score) pairs top_k ranked for them: what the decline rule reads (0 when nothing ranked)."""
    if not ranked:
        return 0.0
    return relevance(ranked[0][1], max_score(index, terms))


def declined(top: float, threshold: float = MIN_RELEVANCE) -> bool:
    """Whether a question whose best passage has relevance top is declined as not covered."""
    return top < threshold


def further_bar(top: float, threshold: float = MIN_RELEVANCE) -> float:
    """The relevance a passage after the best one (relevance top) needs to be quoted too."""
    return max(threshold, SECONDARY_SHARE * top)


def declined_share(tops: Sequence[float], threshold: float = MIN_RELEVANCE) -> float:
    """The share of questions declined at threshold, given each one's top relevance (eval's figure)."""
    return sum(declined(r, threshold) for r in tops) / len(tops)
