"""The BM25 index: immutable segments of CSR postings, scored exactly as rank-bm25's BM25Okapi scores them.

An index is a tuple of segments (segment.py) plus, per segment, a mask of deleted documents. Adding
articles adds a segment; removing them marks documents deleted; `merged()` folds everything into
one segment again. None of this re-segments text: a segment keeps each document's bag of words (its
forward lists) beside the postings, which is all BM25 needs.

Exactness: every float operation mirrors rank-bm25's, in the same order, so scores are equal bit
for bit, not merely close. The corpus rank-bm25 would see is the live documents in slot order.

Speed: top_k does not score every posting. Each segment keeps, per term, bounds that hold for any
avgdl and idf; a query derives each term's largest possible contribution from them and skips what
cannot reach the top k (MaxScore), then rescores the few survivors exactly.
"""

from __future__ import annotations

import contextlib
import math
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np

from .postings import concatenate, csr_offsets, decode_docs, decode_tfs, tfs_at
from .segment import Segment, entries_of, first_live_order, number_by_first_occurrence
from .terms import term_keys

# Relative margin on every pruning decision: summing in another order moves a score by ~1e-15.
_SAFETY = 1e-9


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


# Where one term's postings are in one segment, as plain ints (a query reads hundreds of lists,
# and numpy scalar reads would cost more than the work): segment number, then the slices of
# posting_codes, gap_exceptions and tf_exceptions.
_Span = tuple[int, int, int, int, int, int, int]


@dataclass
class _QueryTerm:
    idf: float
    lists: list[tuple[int, int]]  # (segment number, term id) of each segment holding the term
    spans: list[_Span] = field(default_factory=list)  # where each list's postings are
    best: float = math.inf  # the most tf * (k1 + 1) / (tf + norm) can be over its postings
    length: int = 0  # postings, deleted documents' included
    count: int = 1  # how often the query repeats it


# Postings in the first batch of terms top_k accumulates, and how much larger each next batch is:
# the rare terms come first and usually decide the top k. A threshold costs about what 30,000
# postings do (forward lists of k documents), so a query with fewer postings than that has none.
_FIRST_BATCH = 1 << 13
_SMALL_QUERY = 1 << 15
_BATCH_GROWTH = 4
# Up to this many candidates, scoring them from their forward lists beats looking terms up.
_FORWARD_MAX = 32
# (term, segment) pairs whose locations and statistics an index remembers before it starts afresh:
# ~350 bytes each with the spans, so at most ~70 MB; at 1M passages (23 segments) ~8,700 terms,
# more than a few hundred questions use.
_LOOKUP_CACHE = 200_000
_UNKNOWN: Any = object()  # a term not yet in BM25Index._stats (where None means: not in the index)


def _kth_largest(values: np.ndarray, k: int) -> float:
    """The k-th largest value. Selected at the front of the negated array: numpy 2.4's partition
    with kth near the end of an array full of equal values is ~30x slower."""
    return float(-np.partition(-values, k - 1)[k - 1])


def _firsts(slots: np.ndarray, owner: np.ndarray) -> np.ndarray:
    """A mask keeping one entry per distinct slot, in linear time (a sort costs ~5x more).

    owner is scratch space indexed by slot: each entry writes its position there, one write per
    slot survives, and the entry that finds its own position is that slot's representative.
    """
    positions = np.arange(len(slots))
    owner[slots] = positions
    return owner[slots] == positions


def _best(candidates: np.ndarray, scores: np.ndarray, k: int) -> list[tuple[int, float]]:
    """The k best (slot, score) pairs, best first, ties to the lower slot."""
    if len(candidates) > k:
        # Keep every candidate tied with the k-th best so the tie-break below sees them all.
        keep = scores >= _kth_largest(scores, k)
        candidates, scores = candidates[keep], scores[keep]
    order = np.lexsort((candidates, -scores))[:k]
    return [(int(candidates[i]), float(scores[i])) for i in order]


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
        self._scratch_lock = threading.Lock()
        self._scratch_arrays: tuple[np.ndarray, np.ndarray] | None = None
        # term -> [(segment number, term id)], filled a query at a time (see lists()).
        self._lists: dict[str, list[tuple[int, int]]] = {}
        self._stats: dict[str, _QueryTerm | None] = {}  # see _term_stats()

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
            if len(known) > self._lookup_limit:
                known.clear()  # other threads may be reading it: cleared, never swapped mid-query
            known.update(zip(missing, found, strict=True))
        return out  # type: ignore[return-value]

    @cached_property
    def _lookup_limit(self) -> int:
        """Terms the lookup caches hold before starting afresh: _LOOKUP_CACHE (term, segment) pairs."""
        return _LOOKUP_CACHE // max(1, len(self.segments))

    def doc_freq(self, term: str) -> int:
        """How many live documents hold term."""
        total = 0
        for seg_no, term_id in self.lists([term])[term]:
            dead_df = self._deleted_df[seg_no]
            total += self.segments[seg_no].df(term_id)
            if dead_df is not None:
                total -= int(dead_df[term_id])
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
        df = self.doc_freq(term)
        if df == 0:
            return 0.0
        value = math.log(self.n_docs - df + 0.5) - math.log(df + 0.5)
        if value < 0:
            return self.params.epsilon * self._average_idf
        return value

    # -- lookups ------------------------------------------------------------------------------

    def _locate(self, slot: int) -> tuple[int, int]:
        seg = int(np.searchsorted(self.bases, slot, side="right")) - 1
        return seg, slot - int(self.bases[seg])

    def contains(self, term: str, slot: int) -> bool:
        """Whether the document in slot holds term (a binary search in its postings)."""
        seg_no, doc = self._locate(slot)
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

    def top_k(self, query: Sequence[str], k: int) -> list[tuple[int, float]]:
        """The k best live slots holding a query term, best first; ties go to the lower slot.

        Exact MaxScore: terms are taken rarest-bound first and only until the k-th best partial
        score beats what the remaining terms could still add; their long posting lists are then only
        probed for the surviving candidates. The survivors are rescored in query order, so the
        scores returned are get_scores' bit for bit.
        """
        if k <= 0:
            return []
        plan = self._plan(query)
        if plan is None:
            return self._dense_top_k(query, k)
        if not plan:
            return []
        if sum(q.length for q in plan.values()) <= _SMALL_QUERY:
            return self._small_top_k(query, plan, k)
        candidates = self._candidates(query, plan, k)
        return _best(candidates, self._exact_scores(query, plan, candidates), k)

    def _small_top_k(self, query: Sequence[str], plan: dict[str, _QueryTerm], k: int) -> list[tuple[int, float]]:
        """Few postings in all: score them all, exactly, with a handful of numpy calls.

        Each occurrence of a term in the query adds its own contributions, in query order, as
        rank-bm25's loop does; np.add.at adds them in that order, so the sums are its bits.
        """
        slots, values = self._gather(plan, [term for term in query if term in plan], per_occurrence=True)
        with self._scratch() as (acc, owner):
            np.add.at(acc, slots, values)
            candidates = slots[_firsts(slots, owner)]
            scores = acc[candidates]
            acc[slots] = 0.0
        live = self.live[candidates]
        return _best(candidates[live].astype(np.int64), scores[live], k)

    def _dense_top_k(self, query: Sequence[str], k: int) -> list[tuple[int, float]]:
        """Score every posting of every query term (the reference top_k, and the fallback)."""
        scores = np.zeros(self.n_slots)
        candidates = self._accumulate(query, scores)
        if k <= 0 or len(candidates) == 0:
            return []
        return _best(candidates, scores[candidates], k)

    def _plan(self, query: Sequence[str]) -> dict[str, _QueryTerm] | None:
        """Each distinct query term the index holds, with its idf, weight, bound and posting lists.

        None when a term's idf is not positive (rank-bm25's floor with a negative average idf,
        or df exactly half the corpus): a document holding it may score no more than one without
        it, which bounds cannot express; such queries take the dense path.
        """
        known = self._term_stats(query)
        plan: dict[str, _QueryTerm] = {}
        for term in query:
            if term in plan:
                plan[term].count += 1
                continue
            stats = known[term]
            if stats is None:
                continue
            if not stats.idf > 0:
                return None
            plan[term] = _QueryTerm(stats.idf, stats.lists, stats.spans, stats.best, stats.length)
        return plan

    def _term_stats(self, terms: Sequence[str]) -> dict[str, _QueryTerm | None]:
        """idf, posting lists, bound and length of each term (None if no document holds it).

        They depend on nothing but the index, which never changes, so they are kept: questions
        share most of their terms (common words, single characters), and a query then costs a
        dictionary lookup per term instead of a dozen numpy calls per term and segment.
        """
        known = self._stats
        # Read once: the cache may be cleared below (or by another thread) before we return.
        out = {t: known.get(t, _UNKNOWN) for t in dict.fromkeys(terms)}
        missing = [t for t, stats in out.items() if stats is _UNKNOWN]
        if missing:
            found: dict[str, _QueryTerm | None] = {}
            where = self.lists(missing)
            for term in missing:
                lists = [(s, t) for s, t in where[term] if self.segments[s].df(t)]
                if lists:
                    spans = [self._span(s, t) for s, t in lists]
                    length = sum(span[2] - span[1] for span in spans)
                    found[term] = _QueryTerm(self.idf(term), lists, spans, length=length)
                else:
                    found[term] = None
            self._fill_bests([q for q in found.values() if q is not None])
            out.update(found)
            if len(known) > self._lookup_limit:
                known.clear()  # as in lists(): cleared, never swapped mid-query
            known.update(found)
        return out  # type: ignore[return-value]

    def _fill_bests(self, stats: list[_QueryTerm]) -> None:
        """Set each term's best: its largest contribution over the bound pairs of its segments.

        A term's contribution tf * (k1 + 1) / (tf + k1 * (1 - b + b * dl / avgdl)) rises with tf
        and falls with dl, so its largest value is at one of the segments' undominated pairs.
        """
        k1, b, avgdl = self.params.k1, self.params.b, self.avgdl
        best = np.zeros(len(stats))
        for seg_no, seg in enumerate(self.segments):
            which = [(i, tid) for i, q in enumerate(stats) for s, tid in q.lists if s == seg_no]
            if not which:
                continue
            rows = np.array([i for i, _ in which])
            ids = np.array([tid for _, tid in which])
            offsets, tfs, dls = seg.bounds
            lo, hi = offsets[ids], offsets[ids + 1]
            counts = hi - lo
            starts = csr_offsets(counts)
            entries = np.repeat(lo - starts[:-1], counts) + np.arange(int(starts[-1]))
            tf = tfs[entries].astype(np.float64)
            value = tf * (k1 + 1) / (tf + k1 * (1 - b + b * dls[entries].astype(np.float64) / avgdl))
            best[rows] = np.maximum(best[rows], np.maximum.reduceat(value, starts[:-1]))
        for q, value in zip(stats, best.tolist(), strict=True):
            q.best = value

    @cached_property
    def _slot_norms(self) -> np.ndarray:
        """_norms over all slots, +inf for deleted documents so that they score 0 and never prune."""
        norms = np.concatenate(self._norms) if self.segments else np.zeros(0)
        norms[~self.live] = np.inf
        return norms

    def _upper_bounds(self, plan: dict[str, _QueryTerm]) -> np.ndarray:
        """Per plan term, at least the most it can add to any score (weight times its best)."""
        return np.array([q.idf * q.count * q.best for q in plan.values()]) * (1 + _SAFETY)

    def _candidates(self, query: Sequence[str], plan: dict[str, _QueryTerm], k: int) -> np.ndarray:
        """Sorted slots that hold every top-k document (and usually few others).

        Terms are accumulated highest bound first, in batches of growing size, each batch with a
        handful of numpy calls. After a batch the k best partial scores are scored exactly: their
        k-th best (theta) is a score the top k must reach. Once the terms left could not add theta
        together, no document outside those seen can reach the top k, and their long posting lists
        (common words, single characters) are only probed for the few candidates still in the race.
        """
        terms = list(plan)
        bounds = self._upper_bounds(plan)
        lengths = np.array([plan[term].length for term in terms])
        order = np.lexsort((lengths, -bounds))
        # rest[j]: the most the terms order[j:] can add together.
        rest = np.r_[np.cumsum(bounds[order][::-1])[::-1], 0.0]
        reach = np.cumsum(lengths[order])
        with self._scratch() as (acc, owner):
            parts: list[np.ndarray] = []
            theta = 0.0
            done = 0  # terms order[:done] are in acc
            budget = _FIRST_BATCH
            while done < len(order) and not theta * (1 - _SAFETY) > rest[done]:
                # The next batch: terms up to `budget` postings in all, at least one.
                stop = max(done + 1, int(np.searchsorted(reach, budget, side="right")))
                slots, values = self._gather(plan, [terms[i] for i in order[done:stop].tolist()])
                np.add.at(acc, slots, values)
                parts.append(slots)
                done = stop
                budget *= _BATCH_GROWTH
                seen = np.concatenate(parts) if len(parts) > 1 else parts[0]
                distinct = seen[_firsts(seen, owner)]
                partial = acc[distinct]
                if len(distinct) < k or (done < len(order) and theta * (1 - _SAFETY) > rest[done]):
                    continue
                # Contributions are positive, so a partial score is at most the whole score: the
                # k-th best partial score is a threshold the top k must reach (once every term is
                # in, partial scores are whole scores, summed in another order).
                theta = max(theta, _kth_largest(partial, k))
                if done < len(order) and not theta * (1 - _SAFETY) > rest[done]:
                    # Not enough to stop: the exact scores of those k documents are (a few pages
                    # of forward lists against another batch of long posting lists).
                    top = np.sort(distinct[np.argpartition(-partial, k - 1)[:k]]).astype(np.int64)
                    theta = max(theta, _kth_largest(self._exact_scores(query, plan, top), k))
            keep = partial + rest[done] >= theta * (1 - _SAFETY)
            candidates = np.sort(distinct[keep])
            partial = acc[candidates]
            acc[seen] = 0.0
        candidates = candidates.astype(np.int64, copy=False)
        # Probe the remaining terms for the survivors only, pruning as the bounds tighten.
        for j in range(done, len(order) + 1):
            if len(candidates) > k:
                theta = max(theta, _kth_largest(partial, k))
                keep = partial + rest[j] >= theta * (1 - _SAFETY)
                candidates, partial = candidates[keep], partial[keep]
            if j == len(order) or len(candidates) <= _FORWARD_MAX:
                break
            query_term = plan[terms[order[j]]]
            partial = partial + query_term.idf * query_term.count * self._contributions(query_term.spans, candidates)
        return candidates[self.live[candidates]]

    def _gather(
        self, plan: dict[str, _QueryTerm], terms: list[str], per_occurrence: bool = False
    ) -> tuple[np.ndarray, np.ndarray]:
        """Every posting of terms as (slot, weight * tf * (k1 + 1) / (tf + norm)): one array each.

        The weight is idf times the term's count in the query, or idf alone per_occurrence.
        """
        spans: list[_Span] = []
        weights: list[float] = []
        for term in terms:
            query_term = plan[term]
            spans.extend(query_term.spans)
            weight = query_term.idf if per_occurrence else query_term.idf * query_term.count
            weights.extend([weight] * len(query_term.spans))
        slot, codes, tf_exceptions, lengths = self._decode(spans)
        tf = decode_tfs(codes, tf_exceptions)
        k1 = self.params.k1
        return slot, np.repeat(weights, lengths) * (tf * (k1 + 1) / (tf + self._slot_norms[slot]))

    def _span(self, seg_no: int, term_id: int) -> _Span:
        seg = self.segments[seg_no]
        lo, hi = seg.offsets[term_id : term_id + 2].tolist()
        g_lo, g_hi = seg.gap_offsets[term_id : term_id + 2].tolist()
        t_lo, t_hi = seg.tf_offsets[term_id : term_id + 2].tolist()
        return seg_no, lo, hi, g_lo, g_hi, t_lo, t_hi

    def _decode(self, spans: list[_Span]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The postings of lists, one after the other: slots, codes, tf exceptions and list lengths
        (decode_tfs or tfs_at turn the last three into tfs).

        Gathered from every segment first and decoded in one pass: a query reads hundreds of lists
        (each term in each segment), and a few numpy calls per list would cost more than the work.
        """
        codes, gap_exceptions, tf_exceptions, lengths, bases = [], [], [], [], []
        segments, seg_bases = self.segments, self._bases_list
        for seg_no, lo, hi, g_lo, g_hi, t_lo, t_hi in spans:
            seg = segments[seg_no]
            codes.append(seg.posting_codes[lo:hi])
            if g_hi > g_lo:
                gap_exceptions.append(seg.gap_exceptions[g_lo:g_hi])
            if t_hi > t_lo:
                tf_exceptions.append(seg.tf_exceptions[t_lo:t_hi])
            lengths.append(hi - lo)
            bases.append(seg_bases[seg_no])
        counts = np.array(lengths, dtype=np.int64)
        code = concatenate(codes, np.uint8)
        slots = decode_docs(code, concatenate(gap_exceptions, np.int64), counts, np.array(bases, np.int64))
        return slots, code, concatenate(tf_exceptions, np.int64), counts

    @cached_property
    def _bases_list(self) -> list[int]:
        return [int(b) for b in self.bases]

    @contextlib.contextmanager
    def _scratch(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """A zeroed score accumulator over all slots (leave it zeroed) and a slot -> position array
        (any content); this index's own pair unless another query holds it."""
        if not self._scratch_lock.acquire(blocking=False):
            # Another thread is querying this index: use arrays of our own rather than wait.
            yield np.zeros(self.n_slots), np.zeros(self.n_slots, dtype=np.int64)
            return
        try:
            if self._scratch_arrays is None:
                self._scratch_arrays = (np.zeros(self.n_slots), np.zeros(self.n_slots, dtype=np.int64))
            yield self._scratch_arrays
        except BaseException:
            self._scratch_arrays = None  # perhaps not zeroed again: never reuse it
            raise
        finally:
            self._scratch_lock.release()

    def _exact_scores(self, query: Sequence[str], plan: dict[str, _QueryTerm], slots: np.ndarray) -> np.ndarray:
        """get_scores' values for sorted slots: contributions added in query order, as _accumulate does."""
        if len(slots) > _FORWARD_MAX:
            columns = [self._contributions(q.spans, slots) for q in plan.values()]
        else:
            tf = self._forward_tfs(plan, slots)
            # Elementwise the same operations as _contributions: the same bits.
            matrix = tf * (self.params.k1 + 1) / (tf + self._slot_norms[slots][:, None])
            columns = list(matrix.T)
        column = {term: c for term, c in zip(plan, columns, strict=True)}
        scores = np.zeros(len(slots))
        for term in query:
            if term in plan:
                scores += plan[term].idf * column[term]
        return scores

    def _forward_tfs(self, plan: dict[str, _QueryTerm], slots: np.ndarray) -> np.ndarray:
        """The tf of each plan term (columns) in each sorted slot (rows), read from forward lists."""
        tf = np.zeros((len(slots), len(plan)))
        split = np.searchsorted(slots, self.bases)
        wanted: dict[int, list[tuple[int, int]]] = {}
        for col, q in enumerate(plan.values()):
            for seg_no, term_id in q.lists:
                if split[seg_no] < split[seg_no + 1]:
                    wanted.setdefault(seg_no, []).append((term_id, col))
        for seg_no, pairs in wanted.items():
            seg = self.segments[seg_no]
            lo, hi = split[seg_no], split[seg_no + 1]
            pairs.sort()
            ids = np.array([term_id for term_id, _ in pairs], dtype=seg.fwd_terms.dtype)
            cols = np.array([col for _, col in pairs])
            docs = slots[lo:hi] - self.bases[seg_no]
            lengths = seg.fwd_offsets[docs + 1] - seg.fwd_offsets[docs]
            entries = entries_of(seg, docs)
            terms = seg.fwd_terms[entries]
            at = np.searchsorted(ids, terms)
            at[at == len(ids)] = 0
            hit = ids[at] == terms
            rows = np.repeat(np.arange(lo, hi), lengths)[hit]
            tf[rows, cols[at[hit]]] = seg.fwd_tfs[entries[hit]]
        return tf

    def _contributions(self, spans: list[_Span], candidates: np.ndarray) -> np.ndarray:
        """tf * (k1 + 1) / (tf + norm) of a term for each sorted candidate slot; 0.0 where absent."""
        slots, codes, tf_exceptions, _ = self._decode(spans)
        # A term's lists are in segment order, so their slots ascend across all of them.
        at = np.searchsorted(slots, candidates)
        at[at == len(slots)] = 0
        hit = slots[at] == candidates if len(slots) else np.zeros(len(candidates), dtype=bool)
        tf = np.zeros(len(candidates))
        tf[hit] = tfs_at(codes, tf_exceptions, at[hit])
        return tf * (self.params.k1 + 1) / (tf + self._slot_norms[candidates])

    # -- changes ------------------------------------------------------------------------------

    def with_deleted(self, slots: np.ndarray) -> BM25Index:
        """A new index in which the documents in slots are deleted."""
        deleted = [None if d is None else d.copy() for d in self.deleted]
        for slot in np.asarray(slots, dtype=np.int64).tolist():
            seg_no, doc = self._locate(slot)
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
