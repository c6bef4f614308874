"""The BM25 index: immutable segments of CSR postings, scored exactly as rank-bm25's BM25Okapi scores them.

An index is a tuple of segments plus, per segment, a mask of deleted documents. Adding articles
adds a segment; removing them marks documents deleted; `merged()` folds everything into one
segment again. None of this re-segments text: a segment keeps each document's bag of words (its
forward lists) beside the postings, which is all BM25 needs.

Exactness: every float operation mirrors rank-bm25's, in the same order, so scores are equal bit
for bit, not merely close. The corpus rank-bm25 would see is the live documents in slot order.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

_ARRAYS = ("offsets", "doc_ids", "tfs", "fwd_offsets", "fwd_terms", "fwd_tfs", "doc_len")


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


def _csr_offsets(counts: np.ndarray) -> np.ndarray:
    offsets = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    return offsets


class Segment:
    """Postings and forward lists of a run of documents, numbered 0..n_docs-1 within the segment.

    Term ids are local and given in order of first occurrence; a document's forward list holds
    its distinct terms in the order they first occur in it. Both orders are rank-bm25's, which
    makes the idf floor's average computable in its exact summation order.
    """

    def __init__(
        self,
        terms: list[str],
        offsets: np.ndarray,
        doc_ids: np.ndarray,
        tfs: np.ndarray,
        fwd_offsets: np.ndarray,
        fwd_terms: np.ndarray,
        fwd_tfs: np.ndarray,
        doc_len: np.ndarray,
    ) -> None:
        self.terms = terms
        self.vocabulary = {t: i for i, t in enumerate(terms)}
        self.offsets = offsets
        self.doc_ids = doc_ids
        self.tfs = tfs
        self.fwd_offsets = fwd_offsets
        self.fwd_terms = fwd_terms
        self.fwd_tfs = fwd_tfs
        self.doc_len = doc_len

    @classmethod
    def build(cls, docs: Iterable[Sequence[str]]) -> Segment:
        """A segment from token lists (repeats kept; order matters only for first occurrences)."""
        vocabulary: dict[str, int] = {}
        fwd_terms: list[int] = []
        fwd_tfs: list[int] = []
        lengths: list[int] = []
        distinct: list[int] = []
        for tokens in docs:
            counts: dict[int, int] = {}
            for token in tokens:
                term = vocabulary.setdefault(token, len(vocabulary))
                counts[term] = counts.get(term, 0) + 1
            fwd_terms.extend(counts)
            fwd_tfs.extend(counts.values())
            lengths.append(len(tokens))
            distinct.append(len(counts))
        return cls.from_forward(
            list(vocabulary),
            _csr_offsets(np.asarray(distinct, dtype=np.int64)),
            np.asarray(fwd_terms, dtype=np.int32),
            np.asarray(fwd_tfs, dtype=np.int32),
            np.asarray(lengths, dtype=np.int32),
        )

    @classmethod
    def from_forward(
        cls,
        terms: list[str],
        fwd_offsets: np.ndarray,
        fwd_terms: np.ndarray,
        fwd_tfs: np.ndarray,
        doc_len: np.ndarray,
    ) -> Segment:
        """Invert forward lists into postings; a stable sort keeps each posting list in doc order."""
        n_docs = len(fwd_offsets) - 1
        doc_of_entry = np.repeat(np.arange(n_docs, dtype=np.int32), np.diff(fwd_offsets))
        order = np.argsort(fwd_terms, kind="stable")
        counts = np.bincount(fwd_terms, minlength=len(terms)) if len(fwd_terms) else np.zeros(len(terms), np.int64)
        return cls(
            terms,
            _csr_offsets(counts),
            doc_of_entry[order],
            fwd_tfs[order],
            fwd_offsets,
            fwd_terms,
            fwd_tfs,
            doc_len,
        )

    @property
    def n_docs(self) -> int:
        return len(self.doc_len)

    @cached_property
    def doc_freq(self) -> np.ndarray:
        return np.diff(self.offsets)

    def postings(self, term_id: int) -> tuple[np.ndarray, np.ndarray]:
        lo, hi = self.offsets[term_id], self.offsets[term_id + 1]
        return self.doc_ids[lo:hi], self.tfs[lo:hi]

    def forward(self, doc: int) -> tuple[np.ndarray, np.ndarray]:
        lo, hi = self.fwd_offsets[doc], self.fwd_offsets[doc + 1]
        return self.fwd_terms[lo:hi], self.fwd_tfs[lo:hi]

    def save(self, folder: Path) -> None:
        """Write the arrays as .npy (memory-mappable) and the terms as JSON; callers make it atomic."""
        folder.mkdir(parents=True, exist_ok=True)
        for name in _ARRAYS:
            np.save(folder / f"{name}.npy", np.ascontiguousarray(getattr(self, name)))
        with open(folder / "terms.json", "w", encoding="utf-8") as fh:
            json.dump(self.terms, fh, ensure_ascii=False)
            fh.flush()
            os.fsync(fh.fileno())

    @classmethod
    def load(cls, folder: Path, mmap: bool = True) -> Segment:
        """Load a saved segment; arrays are memory-mapped, so only touched postings are read."""
        mode = "r" if mmap else None
        arrays = {name: np.load(folder / f"{name}.npy", mmap_mode=mode) for name in _ARRAYS}
        with open(folder / "terms.json", encoding="utf-8") as fh:
            terms = json.load(fh)
        segment = cls(terms, **arrays)
        if len(segment.offsets) != len(terms) + 1 or len(segment.fwd_offsets) != len(segment.doc_len) + 1:
            raise ValueError(f"segment {folder} is inconsistent")
        return segment


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
        self.bases = _csr_offsets(np.asarray([s.n_docs for s in self.segments], dtype=np.int64))

    @classmethod
    def build(cls, docs: Iterable[Sequence[str]], params: BM25Params | None = None) -> BM25Index:
        return cls([Segment.build(docs)], params)

    def with_params(self, params: BM25Params) -> BM25Index:
        return BM25Index(self.segments, params, self.deleted)

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
            entries = _entries_of(seg, np.flatnonzero(dead))
            out.append(np.bincount(seg.fwd_terms[entries], minlength=len(seg.terms)))
        return out

    def doc_freq(self, term: str) -> int:
        """How many live documents hold term."""
        total = 0
        for seg, dead_df in zip(self.segments, self._deleted_df, strict=True):
            term_id = seg.vocabulary.get(term)
            if term_id is not None:
                total += int(seg.doc_freq[term_id]) - (int(dead_df[term_id]) if dead_df is not None else 0)
        return total

    @cached_property
    def _norms(self) -> list[np.ndarray]:
        """k1 * (1 - b + b * dl / avgdl) per document of each segment, exactly as rank-bm25 computes it."""
        k1, b, avgdl = self.params.k1, self.params.b, self.avgdl
        return [k1 * (1 - b + b * seg.doc_len.astype(np.int64) / avgdl) for seg in self.segments]

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
        if len(self.segments) == 1:
            seg, dead = self._pairs[0]
            entries = seg.fwd_terms if dead is None else seg.fwd_terms[_entries_of(seg, np.flatnonzero(~dead))]
            _, first = np.unique(entries, return_index=True)
            order = entries[np.sort(first)]
            dead_df = self._deleted_df[0]
            df = seg.doc_freq if dead_df is None else seg.doc_freq - dead_df
            return df[order]
        seen: dict[str, int] = {}
        for seg, dead in self._pairs:
            entries = seg.fwd_terms if dead is None else seg.fwd_terms[_entries_of(seg, np.flatnonzero(~dead))]
            _, first = np.unique(entries, return_index=True)
            for term_id in entries[np.sort(first)].tolist():
                seen.setdefault(seg.terms[term_id], 0)
        return np.asarray([self.doc_freq(t) for t in seen], dtype=np.int64)

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
        seg = self.segments[seg_no]
        term_id = seg.vocabulary.get(term)
        if term_id is None:
            return False
        docs, _ = seg.postings(term_id)
        i = int(np.searchsorted(docs, doc))
        return i < len(docs) and int(docs[i]) == doc

    # -- scoring ------------------------------------------------------------------------------

    def _accumulate(self, query: Sequence[str], scores: np.ndarray) -> np.ndarray:
        """Add each query term's contributions in query order; returns the live slots touched."""
        k1 = self.params.k1
        touched = []
        for term in query:
            idf = None
            for seg_no, seg in enumerate(self.segments):
                term_id = seg.vocabulary.get(term)
                if term_id is None:
                    continue
                docs, tfs = seg.postings(term_id)
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
        """The k best live slots holding a query term, best first; ties go to the lower slot."""
        scores = np.zeros(self.n_slots)
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
        vocabulary: dict[str, int] = {}
        parts_terms, parts_tfs, parts_lens, parts_counts = [], [], [], []
        for seg, dead in self._pairs:
            docs = np.arange(seg.n_docs) if dead is None else np.flatnonzero(~dead)
            entries = _entries_of(seg, docs)
            local = seg.fwd_terms[entries]
            # New ids in first-occurrence order over the live documents, as Segment.build gives them.
            _, first = np.unique(local, return_index=True)
            for term_id in local[np.sort(first)].tolist():
                vocabulary.setdefault(seg.terms[term_id], len(vocabulary))
            remap = np.full(len(seg.terms), -1, dtype=np.int32)
            for term_id, term in enumerate(seg.terms):
                new = vocabulary.get(term)
                if new is not None:
                    remap[term_id] = new
            parts_terms.append(remap[local])
            parts_tfs.append(seg.fwd_tfs[entries])
            parts_lens.append(seg.doc_len[docs])
            parts_counts.append(np.diff(seg.fwd_offsets)[docs])
        segment = Segment.from_forward(
            list(vocabulary),
            _csr_offsets(np.concatenate(parts_counts) if parts_counts else np.zeros(0, np.int64)),
            np.concatenate(parts_terms).astype(np.int32) if parts_terms else np.zeros(0, np.int32),
            np.concatenate(parts_tfs).astype(np.int32) if parts_tfs else np.zeros(0, np.int32),
            np.concatenate(parts_lens).astype(np.int32) if parts_lens else np.zeros(0, np.int32),
        )
        return BM25Index([segment], self.params), mapping


def _entries_of(seg: Segment, docs: np.ndarray) -> np.ndarray:
    """Indices into a segment's forward arrays of the given documents' entries, in doc order."""
    if len(docs) == 0:
        return np.zeros(0, dtype=np.int64)
    starts = seg.fwd_offsets[docs]
    lengths = seg.fwd_offsets[docs + 1] - starts
    # For each entry: its doc's start plus its position within the doc, without a Python loop.
    within = np.arange(int(lengths.sum())) - np.repeat(_csr_offsets(lengths)[:-1], lengths)
    return np.repeat(starts, lengths) + within
