"""The one place that decides "covered or not": relevance, the bars it must clear, and eval's decline figures.

Relevance is a passage's BM25 score over the most any passage could score for the question: a share,
not a raw score, so one threshold means the same on a 30-paragraph corpus as on a million.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from .index import BM25Index
from .text import UNIGRAM, Clause

# The best passage must be at least this relevant, or the question is declined; calibrated on the
# evaluation sets in docs/quality.md.
MIN_RELEVANCE = 0.20
# A further passage is quoted only if it is at least this share as relevant as the best one: one
# that shares a single name with the question is noise beside a passage that answers it.
SECONDARY_SHARE = 0.5
# The longest clause (in characters) that asides() may read as talk around the question whatever its
# words: greetings and thanks are short (jieba cuts 我是新来的 into a 新来 no dictionary holds), and a
# clause of content this short that the best passage lacks is weak evidence. A longer clause is an
# aside only if it is everyday language (text.Clause).
ASIDE_MAX_CHARS = 6


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


def aside_candidates(clauses: Sequence[Clause]) -> list[Clause]:
    """The clauses that may only talk around the question: those that ask nothing, name nothing specific
    (no number, Latin word or quotation) and are short, everyday language (老师您好, 我是新来的,
    这个问题困扰我好久了) or an afterthought (…？在线蹲一个答案: what follows the question mark is
    said about the question, whatever its words), when another clause does count. Whether they are
    asides depends on the passage the rest of the question finds (about). A clause that asks (an
    interrogative, or a question mark after it) always counts, and so does every clause of a question
    that has only one.
    """
    if len(clauses) < 2:
        return []
    candidates = [
        c
        for c in clauses
        if not (c.asks or c.specific) and (c.chars <= ASIDE_MAX_CHARS or c.everyday or c.afterthought)
    ]
    return candidates if len(candidates) < len(clauses) else []


def about(index: BM25Index, clause: Clause, slot: int) -> bool:
    """Whether the passage in slot is about clause, so that the clause counts as the question's content.

    Talk about the asker or the listeners (Clause.personal: 我之前一直没想明白, 这个问题困扰我好久了)
    must be covered by the passage as a question is: the clause alone, asked of this passage, would be
    answered (its relevance reaches MIN_RELEVANCE). Such talk is made of common words, and one of them
    is often in the passage by chance (之前, 问题). Any other clause needs only a term longer than one
    character in common (a word or a bigram): in the third person it is as often the question's own
    context (由於林肯身亡), which the passage need hold only a name of.
    """
    if clause.personal:
        terms = sorted(clause.tokens)
        return not declined(relevance(float(index.scores_at(terms, [slot])[0]), max_score(index, terms)))
    return any(index.contains(t, slot) for t in clause.tokens if len(t.removeprefix(UNIGRAM)) > 1)


def asides(index: BM25Index, clauses: Sequence[Clause], slot: int) -> frozenset[str]:
    """Query terms that only talk around the question, left out of its relevance (hit_relevance): those
    of the aside_candidates the best passage (slot) is not about (about()). A content clause of a
    question the corpus does not cover names what it is about (世界杯, 韩遂, 1998年), so it counts.
    """
    candidates = aside_candidates(clauses)
    if not candidates:
        return frozenset()
    return only_in([c for c in candidates if not about(index, c, slot)], clauses)


def only_in(some: Sequence[Clause], clauses: Sequence[Clause]) -> frozenset[str]:
    """The query terms of some of the clauses that no other clause of the question holds: what leaving
    those clauses out takes away."""
    others = frozenset().union(*(c.tokens for c in clauses if c not in some))
    return frozenset().union(*(c.tokens for c in some)) - others


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


def idf_is_blind(index: BM25Index) -> bool:
    """Whether BM25Okapi's idf cannot tell terms apart on this corpus: with one or two passages every
    term's idf is 0 or below (log((n - df + 0.5) / (df + 0.5))), so every score is 0 or negative and a
    share of the maximum means nothing."""
    return 0 < index.n_docs < 3


def coverage(index: BM25Index, terms: Sequence[str], slot: int) -> float:
    """The share of a question's terms (with repeats) that the passage in slot holds, a term the corpus
    lacks counting twice, as it does in max_score: relevance where idf is blind (idf_is_blind)."""
    total = held = 0.0
    known: dict[str, tuple[bool, bool]] = {}
    for term in terms:
        if term not in known:
            known[term] = (index.contains(term, slot), index.doc_freq(term) > 0)
        holds, seen = known[term]
        total += 1.0 if seen else 2.0
        held += holds
    return held / total if total else 0.0


def hit_relevance(
    index: BM25Index, terms: Sequence[str], slot: int, score: float, best: float, left_out: frozenset[str]
) -> float:
    """The relevance of the passage in slot (score, for all of terms) for a question whose max_score,
    less its asides (left_out), is best: the share of the maximum, or on a corpus of one or two
    passages the share of the question's terms it holds. A question is judged without its asides, in
    the score as in the maximum: a character of 追剧 that the passage holds by chance is no evidence
    that it answers, so chat changes the decision neither way."""
    kept = [t for t in terms if t not in left_out] if left_out else list(terms)
    if idf_is_blind(index):
        return coverage(index, kept, slot)
    if left_out:
        score = float(index.scores_at(kept, [slot])[0]) if kept else 0.0
    return relevance(score, best)


def question_max_score(index: BM25Index, terms: Sequence[str], left_out: frozenset[str]) -> float:
    """max_score of a question's query terms (with repeats) less its asides (left_out, from asides())."""
    return max_score(index, [t for t in terms if t not in left_out])


def declined(top: float, threshold: float = MIN_RELEVANCE) -> bool:
    """Whether a question whose best passage has relevance top is declined as not covered."""
    return top < threshold


def further_bar(top: float, threshold: float = MIN_RELEVANCE) -> float:
    """The relevance a passage after the best one (relevance top) needs to be quoted too."""
    return max(threshold, SECONDARY_SHARE * top)


def declined_share(tops: Sequence[float], threshold: float = MIN_RELEVANCE) -> float:
    """The share of questions declined at threshold, given each one's top relevance (eval's figure)."""
    return sum(declined(r, threshold) for r in tops) / len(tops)
