"""The BM25 index: immutable segments of CSR postings, scored exactly as rank-bm25's BM25Okapi scores them.

An index is a tuple of segments (segment.py) plus, per segment, a mask of deleted documents. Adding
articles adds a segment; removing them marks documents deleted; `merged()` folds everything into
one segment again. None of this re-segments text: a segment keeps each document's bag of words (its
forward lists) beside the postings, which is all BM25 needs.

Exactness: every float operation mirrors rank-bm25's, in the same order, so scores are equal bit
for bit, not merely close. The corpus rank-bm25 would see is the live documents in slot order.

Speed: top_k does not score every posting. Each segment keeps, per term, bounds that hold for any
avgdl and idf; a query derives each term's largest possible contribution from them and skips what
cannot reach the top k (MaxScore: maxscore.py), then rescores the few survivors exactly.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from .maxscore import MaxScore, SlotFilter, best_of
from .memo import room
from .postings import csr_offsets
from .segment import Segment, entries_of, first_live_order, number_by_first_occurrence
from .terms import term_keys


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


# wenda's default: BM25Okapi as rank-bm25 defines it, with k1 tuned on the evaluation sets for the
# default token stream (docs/quality.md). BM25Params() itself keeps rank-bm25's own defaults.
TUNED_PARAMS = BM25Params(k1=0.8, b=0.75, epsilon=0.25)


# (term, segment) pairs whose locations and statistics an index remembers before it starts afresh:
# ~350 bytes each with the spans, so at most ~70 MB; at 1M passages (23 segments) ~8,700 terms,
# more than a few hundred questions use.
_LOOKUP_CACHE = 200_000


class BM25Index:
    """Scores equal to rank_bm25.BM25Okapi(live documents in slot order, k1, b, epsilon).get_scores.

    A document's slot is its segment's base plus its number in the segment. Slots of deleted
    documents stay unused until the index is merged. Instances are immutable: changes return a
    new index, so a query running during an update sees the old index or the new one, never a mix.
    """

    def __init__(
        self,
        segments: Sequence[Segment],
        params: BM25Params | None = None,
        deleted: Sequence[np.ndarray | None] | None = None,
    ) -> None:
        self.segments = tuple(segments)
        self.params = params or BM25Params()
        self.deleted = tuple(deleted) if deleted is not None else (None,) * len(self.segments)
        if len(self.deleted) != len(self.segments):
            raise ValueError("one deleted mask (or None) per segment")
        self.bases = csr_offsets(np.asarray([s.n_docs for s in self.segments], dtype=np.int64))
        # term -> [(segment number, term id)], filled a query at a time (see lists()).
        self._lists: dict[str, list[tuple[int, int]]] = {}
        self._dfs: dict[str, int] = {}  # term -> live document frequency (doc_freq())
        self._idfs: dict[str, float] = {}  # term -> idf(), asked for a question's terms several times each
        # top_k's search, and the term statistics and scratch buffers it keeps between queries.
        self._maxscore = MaxScore(self)

    @classmethod
    def build(cls, docs: Iterable[Sequence[str]], params: BM25Params | None = None) -> BM25Index:
        return cls([Segment.build(docs)], params)

    # -- corpus statistics --------------------------------------------------------------------

    @property
    def n_slots(self) -> int:
        return int(self.bases[-1])

    @cached_property
    def live(self) -> np.ndarray:
        """A boolean per slot: True for documents not deleted."""
        parts = [np.ones(s.n_docs, bool) if d is None else ~d for s, d in zip(self.segments, self.deleted, strict=True)]
        return np.concatenate(parts) if parts else np.zeros(0, bool)

    @cached_property
    def n_docs(self) -> int:
        return int(self.live.sum())

    @cached_property
    def avgdl(self) -> float:
        # rank-bm25 divides the Python int total by the corpus size.
        total = sum(int(s.doc_len[~d].sum()) if d is not None else int(s.doc_len.sum()) for s, d in self._pairs)
        return total / self.n_docs if self.n_docs else 0.0

    @property
    def pairs(self) -> list[tuple[Segment, np.ndarray | None]]:
        """Each segment with its deleted mask (None: nothing deleted)."""
        return self._pairs

    @property
    def _pairs(self) -> list[tuple[Segment, np.ndarray | None]]:
        return list(zip(self.segments, self.deleted, strict=True))

    @cached_property
    def _deleted_df(self) -> list[np.ndarray | None]:
        """Per segment, how many deleted documents hold each term (to subtract from its df)."""
        out: list[np.ndarray | None] = []
        for seg, dead in self._pairs:
            if dead is None or not dead.any():
                out.append(None)
                continue
            entries = entries_of(seg, np.flatnonzero(dead))
            out.append(np.bincount(seg.fwd_terms[entries], minlength=len(seg.terms)))
        return out

    def lists(self, terms: Sequence[str]) -> dict[str, list[tuple[int, int]]]:
        """Where each term is: (segment number, term id) of every segment whose vocabulary holds it.

        Looked up for all of a query's terms at once, one binary search per segment, and kept: the
        idf, bounds and highlighting of the same query then ask again at dictionary speed.
        """
        known = self._lists
        out = {t: known.get(t) for t in terms}
        missing = [t for t, where in out.items() if where is None]
        if missing:
            keys = term_keys(missing)
            found: list[list[tuple[int, int]]] = [[] for _ in missing]
            for seg_no, seg in enumerate(self.segments):
                ids = seg.terms.ids(keys)
                for i in np.flatnonzero(ids >= 0).tolist():
                    found[i].append((seg_no, int(ids[i])))
            out.update(zip(missing, found, strict=True))
            room(known, self._lookup_limit).update(zip(missing, found, strict=True))
        return out  # type: ignore[return-value]

    @cached_property
    def _lookup_limit(self) -> int:
        """Terms the lookup caches hold before starting afresh: _LOOKUP_CACHE (term, segment) pairs."""
        return _LOOKUP_CACHE // max(1, len(self.segments))

    def doc_freq(self, term: str) -> int:
        """How many live documents hold term (kept, like lists(): a question asks for each of its terms
        several times, for its maximum, its ranking and its relevance)."""
        known = self._dfs.get(term)
        if known is not None:
            return known
        total = 0
        for seg_no, term_id in self.lists([term])[term]:
            dead_df = self._deleted_df[seg_no]
            total += self.segments[seg_no].df(term_id)
            if dead_df is not None:
                total -= int(dead_df[term_id])
        room(self._dfs, self._lookup_limit)[term] = total
        return total

    @cached_property
    def _norms(self) -> list[np.ndarray]:
        """k1 * (1 - b + b * dl / avgdl) per document of each segment, exactly as rank-bm25 computes it."""
        k1, b, avgdl = self.params.k1, self.params.b, self.avgdl
        return [k1 * (1 - b + b * seg.doc_len.astype(np.int64) / avgdl) for seg in self.segments]

    @property
    def average_idf(self) -> float:
        """rank-bm25's average raw idf, whose epsilon share floors negative idfs (computed on first use)."""
        return self._average_idf

    @cached_property
    def _average_idf(self) -> float:
        """rank-bm25's mean raw idf over the vocabulary, summed in its order (first occurrence)."""
        n = self.n_docs
        dfs = self._live_dfs_in_first_occurrence_order()
        if len(dfs) == 0:
            return 0.0
        # math.log, not np.log, for exactly rank-bm25's values; only distinct dfs need a log.
        distinct, inverse = np.unique(dfs, return_inverse=True)
        table = np.array([math.log(n - int(df) + 0.5) - math.log(int(df) + 0.5) for df in distinct])
        # add.accumulate is a strictly sequential sum, as rank-bm25's `idf_sum += idf` is.
        return float(np.add.accumulate(table[inverse])[-1]) / len(dfs)

    def _live_dfs_in_first_occurrence_order(self) -> np.ndarray:
        live_dfs = [
            seg.doc_freq if dead_df is None else seg.doc_freq - dead_df
            for seg, dead_df in zip(self.segments, self._deleted_df, strict=True)
        ]
        if len(self.segments) == 1:
            seg, dead = self._pairs[0]
            return live_dfs[0][first_live_order(seg, dead)]
        # Several segments: each one's terms in its first-live order, one after the other, so a term's
        # first entry there is its first occurrence in the corpus; terms are matched by key.
        firsts = [first_live_order(seg, dead) for seg, dead in self._pairs]
        new_of_position, first_at = number_by_first_occurrence(self.segments, firsts)
        dfs = np.concatenate([live_df[ids] for live_df, ids in zip(live_dfs, firsts, strict=True)])
        return np.bincount(new_of_position, weights=dfs, minlength=len(first_at)).astype(np.int64)

    def idf(self, term: str) -> float:
        """BM25Okapi idf with rank-bm25's floor: a negative idf becomes epsilon * average idf."""
        known = self._idfs.get(term)
        if known is not None:
            return known
        df = self.doc_freq(term)
        if df == 0:
            value = 0.0
        else:
            value = math.log(self.n_docs - df + 0.5) - math.log(df + 0.5)
            if value < 0:
                value = self.params.epsilon * self._average_idf
        room(self._idfs, self._lookup_limit)[term] = value
        return value

    # -- lookups ------------------------------------------------------------------------------

    def locate(self, slot: int) -> tuple[int, int]:
        """(segment number, document number within it) of slot."""
        seg = bisect.bisect_right(self._starts, slot) - 1
        return seg, slot - self._starts[seg]

    @cached_property
    def _starts(self) -> list[int]:
        """bases as a list, bisected at every locate (quicker than numpy for one slot)."""
        return self.bases.tolist()

    def contains(self, term: str, slot: int) -> bool:
        """Whether the document in slot holds term (a binary search in its postings)."""
        seg_no, doc = self.locate(slot)
        term_id = next((t for s, t in self.lists([term])[term] if s == seg_no), None)
        if term_id is None:
            return False
        docs = self.segments[seg_no].docs_of_terms(term_id, term_id + 1)
        i = int(np.searchsorted(docs, doc))
        return i < len(docs) and int(docs[i]) == doc

    # -- scoring ------------------------------------------------------------------------------

    def _accumulate(self, query: Sequence[str], scores: np.ndarray) -> np.ndarray:
        """Add each query term's contributions in query order; returns the live slots touched."""
        k1 = self.params.k1
        touched = []
        where = self.lists(query)
        for term in query:
            idf = None
            for seg_no, term_id in where[term]:
                docs, tfs = self.segments[seg_no].postings(term_id)
                if not len(docs):
                    continue
                if idf is None:
                    idf = self.idf(term)
                tf = tfs.astype(np.float64)
                slots = docs + self.bases[seg_no] if seg_no else docs
                scores[slots] += idf * (tf * (k1 + 1) / (tf + self._norms[seg_no][docs]))
                touched.append(slots)
        if not touched:
            return np.zeros(0, dtype=np.int64)
        slots = np.unique(np.concatenate(touched))
        return slots[self.live[slots]]

    def get_scores(self, query: Sequence[str]) -> np.ndarray:
        """A score per live document, in slot order: rank-bm25's get_scores on the live corpus."""
        scores = np.zeros(self.n_slots)
        self._accumulate(query, scores)
        return scores[self.live]

    def restrict(self, allowed: np.ndarray) -> SlotFilter:
        """A filter for top_k keeping only the live slots where allowed (a boolean per slot) is True.

        Only which slots may be returned changes: scores keep the whole index's statistics (idf, avgdl).
        """
        if len(allowed) != self.n_slots:
            raise ValueError(f"{len(allowed)} flags for {self.n_slots} slots")
        return self._maxscore.restrict(allowed)

    def top_k(self, query: Sequence[str], k: int, within: SlotFilter | None = None) -> list[tuple[int, float]]:
        """The k best live slots holding a query term, best first; ties go to the lower slot.
        within: only the slots of this filter (restrict()).

        Exact MaxScore: terms are taken rarest-bound first and only until the k-th best partial
        score beats what the remaining terms could still add; their long posting lists are then only
        probed for the surviving candidates. The survivors are rescored in query order, so the
        scores returned are get_scores' bit for bit.
        """
        if k <= 0:
            return []
        found = self._maxscore.few_postings_top_k(query, k, within)
        if found is not None:
            return found
        plan = self._maxscore.plan(query)
        if plan is None:
            return self._dense_top_k(query, k, within)
        return self._maxscore.top_k(query, plan, k, within)

    def scores_at(self, query: Sequence[str], slots: Sequence[int]) -> np.ndarray:
        """get_scores' value of each of the given live slots, in the order given, without scoring
        the rest of the corpus."""
        wanted = np.asarray(slots, dtype=np.int64)
        distinct, where = np.unique(wanted, return_inverse=True)
        plan = self._maxscore.plan(query)
        if plan is None:
            scores = np.zeros(self.n_slots)
            self._accumulate(query, scores)
            return scores[wanted]
        return self._maxscore.scores_at(query, plan, distinct)[where]

    def _dense_top_k(self, query: Sequence[str], k: int, within: SlotFilter | None = None) -> list[tuple[int, float]]:
        """Score every posting of every query term (the reference top_k, and the fallback)."""
        scores = np.zeros(self.n_slots)
        candidates = self._accumulate(query, scores)
        if within is not None:
            candidates = candidates[within.allowed[candidates]]
        if k <= 0 or len(candidates) == 0:
            return []
        return best_of(candidates, scores[candidates], k)

    # -- changes ------------------------------------------------------------------------------

    def with_deleted(self, slots: np.ndarray) -> BM25Index:
        """A new index in which the documents in slots are deleted."""
        deleted = [None if d is None else d.copy() for d in self.deleted]
        for slot in np.asarray(slots, dtype=np.int64).tolist():
            seg_no, doc = self.locate(slot)
            if deleted[seg_no] is None:
                deleted[seg_no] = np.zeros(self.segments[seg_no].n_docs, bool)
            deleted[seg_no][doc] = True
        return BM25Index(self.segments, self.params, deleted)

    def with_segment(self, segment: Segment) -> BM25Index:
        """A new index with segment's documents appended after every existing slot."""
        return BM25Index((*self.segments, segment), self.params, (*self.deleted, None))

    def merged(self) -> tuple[BM25Index, np.ndarray]:
        """One segment of the live documents, and for each old slot its new slot (-1 if deleted)."""
        mapping = np.full(self.n_slots, -1, dtype=np.int64)
        mapping[self.live] = np.arange(self.n_docs)
        return BM25Index([Segment.merge(self._pairs)], self.params), mapping
