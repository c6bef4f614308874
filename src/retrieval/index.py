"""The BM25 index: postings in CSR arrays, scored exactly as rank-bm25's BM25Okapi scores them."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np


@dataclass(frozen=True)
class BM25Params:
    """BM25Okapi's parameters; rank-bm25's defaults."""

    k1: float = 1.5
    b: float = 0.75
    epsilon: float = 0.25

    def __post_init__(self) -> None:
        # k1 = 0 makes rank-bm25 divide 0 by 0 for every document without the term.
        if not self.k1 > 0:
            raise ValueError(f"k1 must be positive, not {self.k1}")
        if not 0 <= self.b <= 1:
            raise ValueError(f"b must be between 0 and 1, not {self.b}")


class BM25Index:
    """An inverted index whose scores equal rank_bm25.BM25Okapi(docs, k1, b, epsilon).get_scores.

    Term ids are given in order of first occurrence in the corpus, which is the order in which
    rank-bm25 sums idfs for its average; keeping it makes even the idf floor bit-for-bit equal.
    Every float operation mirrors rank-bm25's, in the same order, so scores are identical, not
    merely close.
    """

    def __init__(
        self,
        vocabulary: dict[str, int],
        offsets: np.ndarray,
        doc_ids: np.ndarray,
        tfs: np.ndarray,
        doc_len: np.ndarray,
        params: BM25Params,
    ) -> None:
        self.vocabulary = vocabulary
        self.offsets = offsets  # postings of term t: [offsets[t], offsets[t+1])
        self.doc_ids = doc_ids
        self.tfs = tfs
        self.doc_len = doc_len
        self.params = params

    @classmethod
    def build(cls, docs: Iterable[Sequence[str]], params: BM25Params | None = None) -> BM25Index:
        vocabulary: dict[str, int] = {}
        term_col: list[int] = []
        doc_col: list[int] = []
        tf_col: list[int] = []
        lengths: list[int] = []
        for doc_id, tokens in enumerate(docs):
            lengths.append(len(tokens))
            for token, tf in Counter(tokens).items():
                term = vocabulary.setdefault(token, len(vocabulary))
                term_col.append(term)
                doc_col.append(doc_id)
                tf_col.append(tf)
        terms = np.asarray(term_col, dtype=np.int64)
        order = np.argsort(terms, kind="stable")  # stable: postings stay in doc order
        counts = np.bincount(terms, minlength=len(vocabulary))
        offsets = np.zeros(len(vocabulary) + 1, dtype=np.int64)
        np.cumsum(counts, out=offsets[1:])
        return cls(
            vocabulary,
            offsets,
            np.asarray(doc_col, dtype=np.int32)[order],
            np.asarray(tf_col, dtype=np.int32)[order],
            np.asarray(lengths, dtype=np.int64),
            params or BM25Params(),
        )

    # -- corpus statistics --------------------------------------------------------------------

    @property
    def n_docs(self) -> int:
        return len(self.doc_len)

    @cached_property
    def avgdl(self) -> float:
        # rank-bm25 divides the Python int total by the corpus size.
        return int(self.doc_len.sum()) / self.n_docs if self.n_docs else 0.0

    @cached_property
    def doc_freq(self) -> np.ndarray:
        return np.diff(self.offsets)

    @cached_property
    def _length_norm(self) -> np.ndarray:
        """k1 * (1 - b + b * dl / avgdl) per document, computed exactly as rank-bm25 does."""
        k1, b = self.params.k1, self.params.b
        return k1 * (1 - b + b * self.doc_len / self.avgdl)

    @cached_property
    def _average_idf(self) -> float:
        # A plain sequential sum over terms in first-occurrence order, as rank-bm25 adds them.
        n = self.n_docs
        total = 0.0
        for df in self.doc_freq.tolist():
            total += math.log(n - df + 0.5) - math.log(df + 0.5)
        return total / len(self.doc_freq)

    def idf(self, term: str) -> float:
        """BM25Okapi idf with rank-bm25's floor: a negative idf becomes epsilon * average idf."""
        term_id = self.vocabulary.get(term)
        if term_id is None:
            return 0.0
        df = int(self.doc_freq[term_id])
        value = math.log(self.n_docs - df + 0.5) - math.log(df + 0.5)
        if value < 0:
            return self.params.epsilon * self._average_idf
        return value

    def postings(self, term: str) -> tuple[np.ndarray, np.ndarray]:
        """Documents holding term and how often, in document order."""
        term_id = self.vocabulary.get(term)
        if term_id is None:
            empty = np.zeros(0, dtype=np.int32)
            return empty, empty
        lo, hi = self.offsets[term_id], self.offsets[term_id + 1]
        return self.doc_ids[lo:hi], self.tfs[lo:hi]

    def contains(self, term: str, doc: int) -> bool:
        """Whether document doc holds term (a binary search in its postings)."""
        docs, _ = self.postings(term)
        i = int(np.searchsorted(docs, doc))
        return i < len(docs) and int(docs[i]) == doc

    def max_term_score(self, term: str) -> float:
        """The most one occurrence-count of term can add to any document's score (its upper bound)."""
        docs, tfs = self.postings(term)
        if len(docs) == 0:
            return 0.0
        return float(self._contributions(self.idf(term), docs, tfs).max())

    # -- scoring ------------------------------------------------------------------------------

    def _contributions(self, idf: float, docs: np.ndarray, tfs: np.ndarray) -> np.ndarray:
        k1 = self.params.k1
        tf = tfs.astype(np.float64)
        return idf * (tf * (k1 + 1) / (tf + self._length_norm[docs]))

    def get_scores(self, query: Sequence[str]) -> np.ndarray:
        """A score for every document, equal to rank-bm25's get_scores (repeated terms count again)."""
        scores = np.zeros(self.n_docs)
        self._accumulate(query, scores)
        return scores

    def _accumulate(self, query: Sequence[str], scores: np.ndarray) -> np.ndarray:
        """Add each query term's contributions in query order; returns the documents touched."""
        touched = []
        for term in query:
            docs, tfs = self.postings(term)
            if len(docs):
                scores[docs] += self._contributions(self.idf(term), docs, tfs)
                touched.append(docs)
        if not touched:
            return np.zeros(0, dtype=np.int32)
        return np.unique(np.concatenate(touched))

    def top_k(self, query: Sequence[str], k: int) -> list[tuple[int, float]]:
        """The k best documents holding at least one query term, best first; ties go to the earlier document."""
        scores = np.zeros(self.n_docs)
        candidates = self._accumulate(query, scores)
        if k <= 0 or len(candidates) == 0:
            return []
        cand_scores = scores[candidates]
        if len(candidates) > k:
            # Keep every candidate tied with the k-th best so the tie-break below sees them all.
            kth = np.partition(cand_scores, len(cand_scores) - k)[len(cand_scores) - k]
            keep = cand_scores >= kth
            candidates, cand_scores = candidates[keep], cand_scores[keep]
        order = np.lexsort((candidates, -cand_scores))[:k]
        return [(int(candidates[i]), float(cand_scores[i])) for i in order]
