"""Exact top-k over an index's segments: MaxScore pruning, batched decoding, and exact rescoring.

Each segment keeps, per term, bounds that hold for any avgdl and idf; a query derives each term's
largest possible contribution from them and skips what cannot reach the top k, then rescores the
few survivors in query order, so the scores are get_scores' bit for bit.

Where the install built _scoring.c, top_k runs in C instead: a query of few postings adds them all
(few_postings_top_k), one of many takes the same MaxScore rule with its remaining lists only probed
(_compiled_pruned_top_k); both give the same scores, bit for bit, and are faster at every size
measured (docs/benchmarks.md, "The ranking in C"). The numpy code stays as the reference the tests
hold the compiled code to, and for installs without a compiler.
"""

from __future__ import annotations

import contextlib
import math
import threading
import weakref
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np

from .kernels import compiled
from .memo import room
from .postings import concatenate, csr_offsets, decode_docs, decode_tfs, tfs_at
from .segment import entries_of

if TYPE_CHECKING:
    from .index import BM25Index

# Relative margin on every pruning decision: summing in another order moves a score by ~1e-15.
_SAFETY = 1e-9

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
_UNKNOWN: Any = object()  # a term not yet in MaxScore._stats (where None means: not in the index)


@dataclass(frozen=True, eq=False)
class SlotFilter:
    """The slots a search may return (a channel's subfolder): made once per subset and index, then reused.

    norms are the index's length norms with +inf outside allowed: a slot outside scores 0 and never
    prunes, exactly as a deleted document does, so MaxScore's bounds and exact scores hold unchanged.
    """

    allowed: np.ndarray  # a boolean per slot: live and in the subset
    norms: np.ndarray


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


def best_of(candidates: np.ndarray, scores: np.ndarray, k: int) -> list[tuple[int, float]]:
    """The k best (slot, score) pairs, best first, ties to the lower slot."""
    if len(candidates) > k:
        # Keep every candidate tied with the k-th best so the tie-break below sees them all.
        keep = scores >= _kth_largest(scores, k)
        candidates, scores = candidates[keep], scores[keep]
    order = np.lexsort((candidates, -scores))[:k]
    return [(int(candidates[i]), float(scores[i])) for i in order]


class MaxScore:
    """top_k's exact MaxScore search over one index, with what it keeps between queries: each term's
    statistics and bound, and a scratch accumulator over all slots. An index owns one for its life."""

    def __init__(self, index: BM25Index) -> None:
        # Weak: the index holds its planner, and a cycle would keep a replaced index's arrays and
        # scratch buffers alive until the cyclic garbage collector happened to run.
        self.index: BM25Index = weakref.proxy(index)
        self._scratch_lock = threading.Lock()
        self._scratch_arrays: tuple[np.ndarray, np.ndarray] | None = None
        self._stats: dict[str, _QueryTerm | None] = {}  # see _term_stats()

    def plan(self, query: Sequence[str]) -> dict[str, _QueryTerm] | None:
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

    def restrict(self, allowed: np.ndarray) -> SlotFilter:
        """A filter keeping only the live slots where allowed is True."""
        allowed = np.asarray(allowed, dtype=bool) & self.index.live
        return SlotFilter(allowed, np.where(allowed, self._slot_norms, np.inf))

    def top_k(
        self, query: Sequence[str], plan: dict[str, _QueryTerm], k: int, within: SlotFilter | None = None
    ) -> list[tuple[int, float]]:
        """The k best live slots holding a plan term (k > 0), best first; ties go to the lower slot.
        within: only its allowed slots (the others score 0 throughout, like deleted documents)."""
        if not plan:
            return []
        norms, allowed = (self._slot_norms, self.index.live) if within is None else (within.norms, within.allowed)
        if compiled is not None:  # (few postings went to few_postings_top_k before any plan was made)
            return self._compiled_pruned_top_k(query, plan, k, norms, allowed)
        if sum(q.length for q in plan.values()) <= _SMALL_QUERY:
            return self._small_top_k(query, plan, k, norms, allowed)
        candidates = self.candidates(query, plan, k, norms, allowed)
        return best_of(candidates, self._exact_scores(query, plan, candidates, norms), k)

    def scores_at(self, query: Sequence[str], plan: dict[str, _QueryTerm], slots: np.ndarray) -> np.ndarray:
        """get_scores' values for sorted, distinct slots (deleted ones included: the caller chose them)."""
        if not plan or not len(slots):
            return np.zeros(len(slots))
        return self._exact_scores(query, plan, slots, self._slot_norms)

    def _small_top_k(
        self, query: Sequence[str], plan: dict[str, _QueryTerm], k: int, norms: np.ndarray, allowed: np.ndarray
    ) -> list[tuple[int, float]]:
        """Few postings in all: score them all, exactly, with a handful of numpy calls.

        Each occurrence of a term in the query adds its own contributions, in query order, as
        rank-bm25's loop does; np.add.at adds them in that order, so the sums are its bits.
        """
        slots, values = self._gather(plan, [term for term in query if term in plan], norms, per_occurrence=True)
        with self._scratch() as (acc, owner):
            np.add.at(acc, slots, values)
            candidates = slots[_firsts(slots, owner)]
            scores = acc[candidates]
            acc[slots] = 0.0
        live = allowed[candidates]
        return best_of(candidates[live].astype(np.int64), scores[live], k)

    def few_postings_top_k(
        self, query: Sequence[str], k: int, within: SlotFilter | None = None
    ) -> list[tuple[int, float]] | None:
        """top_k for a query of few postings (most, below a few hundred thousand passages), in C straight
        from each term's kept statistics, without making a plan: _small_top_k's sums, every posting of
        every query term added, each occurrence of a term with its idf, in query order, so the scores are
        get_scores' bits (compiled, adding a posting costs less than deciding to skip it would). None
        where that does not apply (no compiled code, many postings, or a term whose idf is not positive:
        plan())."""
        if compiled is None:
            return None
        known = self._term_stats(query)
        if sum(q.length for q in known.values() if q is not None) > _SMALL_QUERY:
            return None
        groups = []
        for term in query:
            stats = known[term]
            if stats is not None:
                if not stats.idf > 0:
                    return None
                groups.append((stats.idf, stats.spans))
        if not groups:
            return []
        norms, allowed = (self._slot_norms, self.index.live) if within is None else (within.norms, within.allowed)
        with self._scratch() as (acc, _):
            return compiled.top_k(self._forward_arrays, groups, norms, allowed, self.index.params.k1, k, acc)

    def _compiled_pruned_top_k(
        self, query: Sequence[str], plan: dict[str, _QueryTerm], k: int, norms: np.ndarray, allowed: np.ndarray
    ) -> list[tuple[int, float]]:
        """top_k's result for a query with many postings, with candidates()' rule in C: terms
        added highest bound first until no unseen document can reach the top k, the remaining lists then
        only probed for the survivors, and the last few scored exactly from their forward lists (each
        occurrence with its idf, in query order)."""
        terms = list(plan)
        bounds = self.upper_bounds(plan)
        order = np.lexsort((np.array([plan[term].length for term in terms]), -bounds)).tolist()
        rows: list[tuple[float, float, int, int]] = []
        lists: list[tuple[int, int, int, int, int, int]] = []
        position: dict[str, int] = {}
        for i in order:
            q = plan[terms[i]]
            position[terms[i]] = len(rows)
            rows.append((q.idf * q.count, float(bounds[i]), len(lists), len(q.spans)))
            lists.extend(
                (seg_no, term_id, lo, hi, g_lo, t_lo)
                for (seg_no, term_id), (_, lo, hi, g_lo, _, t_lo, _) in zip(q.lists, q.spans, strict=True)
            )
        occurrences = [(position[term], plan[term].idf) for term in query if term in plan]
        k1 = self.index.params.k1
        with self._scratch() as (acc, _):
            return compiled.top_k_pruned(
                self._forward_arrays, rows, lists, occurrences, norms, allowed, k1, k, acc, _FIRST_BATCH
            )

    @cached_property
    def _forward_arrays(self) -> list[tuple[Any, ...]]:
        """Each segment's postings, its forward lists and its first slot, as _scoring's top_k and
        top_k_pruned read them."""
        segments = self.index.segments
        return [
            (
                seg.posting_codes,
                seg.gap_exceptions,
                seg.tf_exceptions,
                seg.fwd_offsets,
                seg.fwd_terms,
                seg.fwd_tfs,
                base,
            )
            for seg, base in zip(segments, self._bases_list[: len(segments)], strict=True)
        ]

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
            where = self.index.lists(missing)
            for term in missing:
                lists = [(s, t) for s, t in where[term] if self.index.segments[s].df(t)]
                if lists:
                    spans = [self.span(s, t) for s, t in lists]
                    length = sum(span[2] - span[1] for span in spans)
                    found[term] = _QueryTerm(self.index.idf(term), lists, spans, length=length)
                else:
                    found[term] = None
            self._fill_bests([q for q in found.values() if q is not None])
            out.update(found)
            room(known, self.index._lookup_limit).update(found)
        return out  # type: ignore[return-value]

    def _fill_bests(self, stats: list[_QueryTerm]) -> None:
        """Set each term's best: its largest contribution over the bound pairs of its segments.

        A term's contribution tf * (k1 + 1) / (tf + k1 * (1 - b + b * dl / avgdl)) rises with tf
        and falls with dl, so its largest value is at one of the segments' undominated pairs.
        """
        k1, b, avgdl = self.index.params.k1, self.index.params.b, self.index.avgdl
        best = np.zeros(len(stats))
        for seg_no, seg in enumerate(self.index.segments):
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
        """The index's length norms over all slots, +inf for deleted documents so that they score 0 and never prune."""
        norms = np.concatenate(self.index._norms) if self.index.segments else np.zeros(0)
        norms[~self.index.live] = np.inf
        return norms

    def upper_bounds(self, plan: dict[str, _QueryTerm]) -> np.ndarray:
        """Per plan term, at least the most it can add to any score (weight times its best)."""
        return np.array([q.idf * q.count * q.best for q in plan.values()]) * (1 + _SAFETY)

    def candidates(
        self,
        query: Sequence[str],
        plan: dict[str, _QueryTerm],
        k: int,
        norms: np.ndarray | None = None,
        allowed: np.ndarray | None = None,
    ) -> np.ndarray:
        """Sorted slots that hold every top-k document (and usually few others).

        Terms are accumulated highest bound first, in batches of growing size, each batch with a
        handful of numpy calls. After a batch the k best partial scores are scored exactly: their
        k-th best (theta) is a score the top k must reach. Once the terms left could not add theta
        together, no document outside those seen can reach the top k, and their long posting lists
        (common words, single characters) are only probed for the few candidates still in the race.
        norms and allowed: a SlotFilter's (by default the index's own norms and live slots).
        """
        norms = self._slot_norms if norms is None else norms
        allowed = self.index.live if allowed is None else allowed
        terms = list(plan)
        bounds = self.upper_bounds(plan)
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
                slots, values = self._gather(plan, [terms[i] for i in order[done:stop].tolist()], norms)
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
                    theta = max(theta, _kth_largest(self._exact_scores(query, plan, top, norms), k))
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
            contributions = self._contributions(query_term.spans, candidates, norms)
            partial = partial + query_term.idf * query_term.count * contributions
        return candidates[allowed[candidates]]

    def _gather(
        self, plan: dict[str, _QueryTerm], terms: list[str], norms: np.ndarray, per_occurrence: bool = False
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
        slot, codes, tf_exceptions, lengths = self.decode(spans)
        tf = decode_tfs(codes, tf_exceptions)
        k1 = self.index.params.k1
        return slot, np.repeat(weights, lengths) * (tf * (k1 + 1) / (tf + norms[slot]))

    def span(self, seg_no: int, term_id: int) -> _Span:
        seg = self.index.segments[seg_no]
        lo, hi = seg.offsets[term_id : term_id + 2].tolist()
        g_lo, g_hi = seg.gap_offsets[term_id : term_id + 2].tolist()
        t_lo, t_hi = seg.tf_offsets[term_id : term_id + 2].tolist()
        return seg_no, lo, hi, g_lo, g_hi, t_lo, t_hi

    def decode(self, spans: list[_Span]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The postings of lists, one after the other: slots, codes, tf exceptions and list lengths
        (decode_tfs or tfs_at turn the last three into tfs).

        Gathered from every segment first and decoded in one pass: a query reads hundreds of lists
        (each term in each segment), and a few numpy calls per list would cost more than the work.
        """
        codes, gap_exceptions, tf_exceptions, lengths, bases = [], [], [], [], []
        segments, seg_bases = self.index.segments, self._bases_list
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
        return [int(b) for b in self.index.bases]

    @contextlib.contextmanager
    def _scratch(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """A zeroed score accumulator over all slots (leave it zeroed) and a slot -> position array
        (any content); this index's own pair unless another query holds it."""
        if not self._scratch_lock.acquire(blocking=False):
            # Another thread is querying this index: use arrays of our own rather than wait.
            yield np.zeros(self.index.n_slots), np.zeros(self.index.n_slots, dtype=np.int64)
            return
        try:
            if self._scratch_arrays is None:
                self._scratch_arrays = (np.zeros(self.index.n_slots), np.zeros(self.index.n_slots, dtype=np.int64))
            yield self._scratch_arrays
        except BaseException:
            self._scratch_arrays = None  # perhaps not zeroed again: never reuse it
            raise
        finally:
            self._scratch_lock.release()

    def _exact_scores(
        self, query: Sequence[str], plan: dict[str, _QueryTerm], slots: np.ndarray, norms: np.ndarray
    ) -> np.ndarray:
        """get_scores' values for sorted slots: contributions added in query order, as get_scores adds them."""
        if len(slots) > _FORWARD_MAX:
            columns = [self._contributions(q.spans, slots, norms) for q in plan.values()]
        else:
            tf = self._forward_tfs(plan, slots)
            # Elementwise the same operations as _contributions: the same bits.
            matrix = tf * (self.index.params.k1 + 1) / (tf + norms[slots][:, None])
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
        split = np.searchsorted(slots, self.index.bases)
        wanted: dict[int, list[tuple[int, int]]] = {}
        for col, q in enumerate(plan.values()):
            for seg_no, term_id in q.lists:
                if split[seg_no] < split[seg_no + 1]:
                    wanted.setdefault(seg_no, []).append((term_id, col))
        for seg_no, pairs in wanted.items():
            seg = self.index.segments[seg_no]
            lo, hi = split[seg_no], split[seg_no + 1]
            pairs.sort()
            ids = np.array([term_id for term_id, _ in pairs], dtype=seg.fwd_terms.dtype)
            cols = np.array([col for _, col in pairs])
            docs = slots[lo:hi] - self.index.bases[seg_no]
            lengths = seg.fwd_offsets[docs + 1] - seg.fwd_offsets[docs]
            entries = entries_of(seg, docs)
            terms = seg.fwd_terms[entries]
            at = np.searchsorted(ids, terms)
            at[at == len(ids)] = 0
            hit = ids[at] == terms
            rows = np.repeat(np.arange(lo, hi), lengths)[hit]
            tf[rows, cols[at[hit]]] = seg.fwd_tfs[entries[hit]]
        return tf

    def _contributions(self, spans: list[_Span], candidates: np.ndarray, norms: np.ndarray) -> np.ndarray:
        """tf * (k1 + 1) / (tf + norm) of a term for each sorted candidate slot; 0.0 where absent."""
        slots, codes, tf_exceptions, _ = self.decode(spans)
        # A term's lists are in segment order, so their slots ascend across all of them.
        at = np.searchsorted(slots, candidates)
        at[at == len(slots)] = 0
        hit = slots[at] == candidates if len(slots) else np.zeros(len(candidates), dtype=bool)
        tf = np.zeros(len(candidates))
        tf[hit] = tfs_at(codes, tf_exceptions, at[hit])
        return tf * (self.index.params.k1 + 1) / (tf + norms[candidates])
