"""One immutable segment of the index: CSR postings, forward lists, per-term bounds, and merging segments.

A segment keeps each document's bag of words (its forward lists) beside the postings, which is all
BM25 needs: merging segments or dropping deleted documents never re-segments text.

Memory: a posting is one byte on disk (its doc gap and whether its tf is above 1, with the rare
larger values apart: postings.py), and every array is memory-mapped, so a server's memory is
the pages its questions touch: at 1M passages they fit in a 1 GB cgroup (docs/benchmarks.md).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import cached_property
from pathlib import Path

import numpy as np

from .mapped import load_array
from .postings import csr_offsets, decode_docs, decode_tfs, encode_postings, narrow, spans
from .terms import TermTable

_POSTINGS = ("offsets", "posting_codes", "gap_exceptions", "gap_offsets", "tf_exceptions", "tf_offsets")
_ARRAYS = (*_POSTINGS, "fwd_offsets", "fwd_terms", "fwd_tfs", "doc_len")
# Per term, the (tf, shortest doc with that tf) pairs that bound its contribution; optional on load.
_BOUND_ARRAYS = ("bound_offsets", "bound_tfs", "bound_dls")
# tfs from this value up share one bound pair (their largest tf, their shortest doc): at most
# k1 * (1 - b) / TF_BUCKETS looser than exact, and it keeps the bound computation a radix sort.
_TF_BUCKETS = 16
# Postings per chunk when computing bounds: its temporary arrays take ~40 bytes a posting, so a
# chunk costs ~160 MB at the peak of a build, whatever the segment's size.
_BOUND_CHUNK = 1 << 22
_NO_KEYS = np.zeros((0, 2), dtype="<u8")
# first_live_order reads the postings of the terms whose first document is deleted run by run, up
# to this many runs of consecutive ids; beyond, all postings between the first and the last in one go.
_MAX_RUNS_READ = 256


class Segment:
    """Postings and forward lists of a run of documents, numbered 0..n_docs-1 within the segment.

    Term ids are local and given in order of first occurrence; a document's forward list holds
    its distinct terms in the order they first occur in it. Both orders are rank-bm25's, which
    makes the idf floor's average computable in its exact summation order.
    """

    def __init__(
        self,
        terms: TermTable | Sequence[str],
        offsets: np.ndarray,
        posting_codes: np.ndarray,
        gap_exceptions: np.ndarray,
        gap_offsets: np.ndarray,
        tf_exceptions: np.ndarray,
        tf_offsets: np.ndarray,
        fwd_offsets: np.ndarray,
        fwd_terms: np.ndarray,
        fwd_tfs: np.ndarray,
        doc_len: np.ndarray,
        bounds: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
    ) -> None:
        self.terms = terms if isinstance(terms, TermTable) else TermTable.from_terms(terms)
        # Plain ndarray views of memory-mapped arrays: slicing an np.memmap costs microseconds more,
        # which a query pays per posting list.
        self.offsets = np.asarray(offsets)
        self.posting_codes = np.asarray(posting_codes)
        self.gap_exceptions = np.asarray(gap_exceptions)
        self.gap_offsets = np.asarray(gap_offsets)
        self.tf_exceptions = np.asarray(tf_exceptions)
        self.tf_offsets = np.asarray(tf_offsets)
        self.fwd_offsets = np.asarray(fwd_offsets)
        self.fwd_terms = np.asarray(fwd_terms)
        self.fwd_tfs = np.asarray(fwd_tfs)
        self.doc_len = np.asarray(doc_len)
        if bounds is not None:
            self.__dict__["bounds"] = bounds

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
            csr_offsets(np.asarray(distinct, dtype=np.int64)),
            np.asarray(fwd_terms, dtype=np.int32),
            np.asarray(fwd_tfs, dtype=np.int32),
            np.asarray(lengths, dtype=np.int32),
        )

    @classmethod
    def from_forward(
        cls,
        terms: TermTable | Sequence[str],
        fwd_offsets: np.ndarray,
        fwd_terms: np.ndarray,
        fwd_tfs: np.ndarray,
        doc_len: np.ndarray,
    ) -> Segment:
        """Invert forward lists into postings; a stable sort keeps each posting list in doc order."""
        fwd_tfs = narrow(fwd_tfs)
        n_docs = len(fwd_offsets) - 1
        doc_of_entry = np.repeat(np.arange(n_docs, dtype=np.int32), np.diff(fwd_offsets))
        order = np.argsort(fwd_terms, kind="stable")
        counts = np.bincount(fwd_terms, minlength=len(terms)) if len(fwd_terms) else np.zeros(len(terms), np.int64)
        offsets = csr_offsets(counts)
        return cls(
            terms,
            offsets,
            *encode_postings(doc_of_entry[order], fwd_tfs[order], offsets),
            fwd_offsets,
            fwd_terms,
            fwd_tfs,
            doc_len,
        )

    @classmethod
    def merge(cls, pairs: Sequence[tuple[Segment, np.ndarray | None]]) -> Segment:
        """One segment of the live documents of (segment, deleted mask or None) pairs, in their order."""
        segments = [seg for seg, _ in pairs]
        parts_local, parts_tfs, parts_lens, parts_counts, firsts = [], [], [], [], []
        for seg, dead in pairs:
            docs = np.arange(seg.n_docs) if dead is None else np.flatnonzero(~dead)
            entries = entries_of(seg, docs)
            parts_local.append(seg.fwd_terms[entries])
            parts_tfs.append(seg.fwd_tfs[entries])
            parts_lens.append(seg.doc_len[docs])
            parts_counts.append(np.diff(seg.fwd_offsets)[docs])
            firsts.append(first_live_order(seg, dead))
        # New ids in first-occurrence order over the live documents, as Segment.build gives them:
        # line up each segment's terms in its own first-live order, segment after segment, and match
        # terms by key; a term's new id is the rank of its first position in that line.
        new_of_position, first_at = number_by_first_occurrence(segments, firsts)
        parts_terms, data, lengths, new_keys = [], [], [], []
        position = 0
        for seg, ids, local in zip(segments, firsts, parts_local, strict=True):
            remap = np.full(len(seg.terms), -1, dtype=np.int32)
            remap[ids] = new_of_position[position : position + len(ids)]
            parts_terms.append(remap[local])
            # Positions run segment after segment, so the terms this segment introduces are one block.
            lo, hi = np.searchsorted(first_at, [position, position + len(ids)])
            term_bytes, offsets, term_keys_ = seg.terms.take(ids[first_at[lo:hi] - position])
            data.append(term_bytes)
            lengths.append(np.diff(offsets))
            new_keys.append(term_keys_)
            position += len(ids)
        terms = TermTable.from_parts(
            np.concatenate(data) if data else np.zeros(0, np.uint8),
            csr_offsets(np.concatenate(lengths) if lengths else np.zeros(0, np.int64)),
            np.concatenate(new_keys) if new_keys else _NO_KEYS,
        )
        return cls.from_forward(
            terms,
            csr_offsets(np.concatenate(parts_counts) if parts_counts else np.zeros(0, np.int64)),
            np.concatenate(parts_terms).astype(np.int32) if parts_terms else np.zeros(0, np.int32),
            np.concatenate(parts_tfs).astype(np.int32) if parts_tfs else np.zeros(0, np.int32),
            np.concatenate(parts_lens).astype(np.int32) if parts_lens else np.zeros(0, np.int32),
        )

    @property
    def n_docs(self) -> int:
        return len(self.doc_len)

    @property
    def doc_freq(self) -> np.ndarray:
        """Every term's document frequency (computed afresh: 8 bytes a term, for bulk work only)."""
        return np.diff(self.offsets)

    def df(self, term_id: int) -> int:
        """One term's document frequency."""
        lo, hi = self.offsets[term_id : term_id + 2].tolist()
        return hi - lo

    @cached_property
    def bounds(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per term, CSR pairs (tf, shortest doc length with that tf), dominated pairs left out.

        A term's contribution tf * (k1 + 1) / (tf + k1 * (1 - b + b * dl / avgdl)) rises with tf and
        falls with dl, so its largest value over the term's postings is the largest over these pairs,
        for any k1, b and avgdl: bounds stay exact as the index around the segment changes.
        """
        offsets = np.asarray(self.offsets)
        n_terms = len(offsets) - 1
        kept_terms, kept_tfs, kept_dls = [], [], []
        first = 0
        while first < n_terms:
            # The next run of whole terms holding about _BOUND_CHUNK postings (at least one term).
            last = max(int(np.searchsorted(offsets, offsets[first] + _BOUND_CHUNK, side="right")) - 1, first + 1)
            last = min(last, n_terms)
            pairs = _bound_pairs(self, first, last)
            kept_terms.append(pairs[0])
            kept_tfs.append(pairs[1])
            kept_dls.append(pairs[2])
            first = last
        terms = np.concatenate(kept_terms) if kept_terms else np.zeros(0, np.int64)
        bound_offsets = csr_offsets(np.bincount(terms, minlength=n_terms))
        tfs = np.concatenate(kept_tfs).astype(np.int32) if kept_tfs else np.zeros(0, np.int32)
        dls = np.concatenate(kept_dls).astype(np.int32) if kept_dls else np.zeros(0, np.int32)
        return bound_offsets, tfs, dls

    def term_id(self, term: str) -> int | None:
        return self.terms.id(term)

    def postings(self, term_id: int) -> tuple[np.ndarray, np.ndarray]:
        """A term's doc ids (ascending) and tfs."""
        return self.postings_of_terms(term_id, term_id + 1)

    def postings_of_terms(self, first: int, last: int) -> tuple[np.ndarray, np.ndarray]:
        """Doc ids and tfs of terms first..last-1's postings, one list after the other (int64)."""
        return self.docs_of_terms(first, last), self.tfs_of_terms(first, last)

    def docs_of_terms(self, first: int, last: int) -> np.ndarray:
        """The doc ids alone of postings_of_terms."""
        lo, hi = self.offsets[[first, last]].tolist()
        lengths = np.diff(np.asarray(self.offsets[first : last + 1]))
        gaps = self.gap_exceptions[slice(*self.gap_offsets[[first, last]].tolist())]
        return decode_docs(self.posting_codes[lo:hi], gaps, lengths, np.zeros(len(lengths)))

    def tfs_of_terms(self, first: int, last: int) -> np.ndarray:
        """The tfs alone of postings_of_terms."""
        lo, hi = self.offsets[[first, last]].tolist()
        tfs = self.tf_exceptions[slice(*self.tf_offsets[[first, last]].tolist())]
        return decode_tfs(self.posting_codes[lo:hi], tfs).astype(np.int64)

    @property
    def doc_ids(self) -> np.ndarray:
        """Every posting's doc id, decoded (the whole segment: for bulk work, not for queries)."""
        return self.docs_of_terms(0, len(self.offsets) - 1)

    def save(self, folder: Path) -> None:
        """Write the arrays and the term table as .npy (memory-mappable); callers make it atomic."""
        folder.mkdir(parents=True, exist_ok=True)
        for name in _ARRAYS:
            np.save(folder / f"{name}.npy", np.ascontiguousarray(getattr(self, name)))
        for name, array in zip(_BOUND_ARRAYS, self.bounds, strict=True):
            np.save(folder / f"{name}.npy", array)
        self.terms.save(folder)

    @classmethod
    def load(cls, folder: Path, mmap: bool = True) -> Segment:
        """Load a saved segment; arrays are memory-mapped, so only touched postings are read.

        A segment saved without bounds (an older version) gets them computed on first use.
        """
        # doc_len alone is read whole, once (for the length norms); the rest a little at a time.
        arrays = {name: load_array(folder / f"{name}.npy", mmap, name != "doc_len") for name in _ARRAYS}
        bounds = None
        if all((folder / f"{name}.npy").is_file() for name in _BOUND_ARRAYS):
            bounds = tuple(load_array(folder / f"{name}.npy", mmap) for name in _BOUND_ARRAYS)
        terms = TermTable.load(folder, mmap)
        segment = cls(terms, **arrays, bounds=bounds)
        if (
            len(segment.offsets) != len(terms) + 1
            or len(segment.gap_offsets) != len(terms) + 1
            or len(segment.tf_offsets) != len(terms) + 1
            or int(segment.offsets[-1]) != len(segment.posting_codes)
            or len(segment.fwd_offsets) != len(segment.doc_len) + 1
            or (bounds is not None and len(bounds[0]) != len(terms) + 1)
        ):
            raise ValueError(f"segment {folder} is inconsistent")
        return segment


def _bound_pairs(seg: Segment, first: int, last: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The undominated (term, tf, shortest dl) bound pairs of terms first..last-1."""
    lo, hi = int(seg.offsets[first]), int(seg.offsets[last])
    if hi == lo:
        return np.zeros(0, np.int64), np.zeros(0, np.int32), np.zeros(0, np.int32)
    docs, tfs = seg.postings_of_terms(first, last)
    dls = np.asarray(seg.doc_len)[docs]
    terms = np.repeat(np.arange(first, last, dtype=np.int64), np.diff(np.asarray(seg.offsets[first : last + 1])))
    # Group postings by (tf bucket, term): a stable radix sort on the bucket keeps terms ascending
    # within each bucket, so group starts are where the combined key changes.
    bucket = np.minimum(tfs, _TF_BUCKETS).astype(np.uint8)
    order = np.argsort(bucket, kind="stable")
    key = bucket[order].astype(np.int64) * (last - first) + (terms[order] - first)
    starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
    pair_terms = terms[order[starts]]
    pair_tfs = np.maximum.reduceat(tfs[order], starts)
    pair_dls = np.minimum.reduceat(dls[order], starts)
    # Within each term, from the largest tf down, keep a pair only if its doc is shorter than every
    # pair with a larger tf: the others can never give the largest contribution.
    by = np.lexsort((-pair_tfs, pair_terms))
    pair_terms, pair_tfs, pair_dls = pair_terms[by], pair_tfs[by], pair_dls[by]
    group = np.cumsum(np.r_[True, pair_terms[1:] != pair_terms[:-1]])
    # Offsetting each group below the previous one makes a global running minimum restart per group.
    shifted = pair_dls.astype(np.int64) - group * (int(pair_dls.max()) + 1)
    running = np.minimum.accumulate(shifted)
    keep = np.r_[True, shifted[1:] < running[:-1]] | np.r_[True, group[1:] != group[:-1]]
    return pair_terms[keep], pair_tfs[keep], pair_dls[keep]


def number_by_first_occurrence(
    segments: Sequence[Segment], firsts: Sequence[np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    """Number the terms of several segments in order of first occurrence, matching them by key.

    firsts holds each segment's term ids in its own first-live order; lined up segment after
    segment, a term's first position in that line is its first occurrence in the corpus. Returns
    each position's new term id, and the positions that introduce a term, in new-id order.
    """
    keys = np.concatenate([seg.terms.keys[ids] for seg, ids in zip(segments, firsts, strict=True)] or [_NO_KEYS])
    group, first_at = _group_keys(keys)
    rank = np.empty(len(first_at), dtype=np.int64)
    rank[np.argsort(first_at)] = np.arange(len(first_at))
    first_at.sort()
    return rank[group], first_at


def _group_keys(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Number equal (n, 2) keys alike: each position's group, and each group's first position.

    What np.unique(key_view(keys), return_index=True, return_inverse=True) gives, in another group
    order, and faster: that sorts 16-byte void values with a generic comparison (0.4 s for the 760k
    keys of a 100k-passage index, paid by every refresh), while this sorts the keys' first words as
    integers, and sorts by both words only if two different keys share a first word.
    """
    order = np.argsort(keys[:, 0])
    ordered = keys[order]
    tied = ordered[1:, 0] == ordered[:-1, 0]
    if (ordered[1:, 1][tied] != ordered[:-1, 1][tied]).any():
        order = np.lexsort((keys[:, 1], keys[:, 0]))
        ordered = keys[order]
    starts = np.ones(len(order), dtype=bool)
    starts[1:] = (ordered[1:] != ordered[:-1]).any(axis=1)
    group = np.empty(len(order), dtype=np.int64)
    group[order] = np.cumsum(starts) - 1
    if not len(order):
        return group, order
    # The sort need not be stable: a group's first position is the least of its positions.
    return group, np.minimum.reduceat(order, np.flatnonzero(starts))


def first_live_order(seg: Segment, dead: np.ndarray | None) -> np.ndarray:
    """A segment's terms with a live occurrence, in the order they first occur in its live documents.

    That is the order in which rank-bm25 meets them. Term ids are numbered in order of first
    occurrence (Segment.build, merge), so without deletions it is the ids in order; with some, only
    the terms first met in a deleted document move, and only their postings are read (a user word
    deletes a few hundred passages from each big segment: reading all its postings cost seconds).
    """
    if dead is None:
        return np.flatnonzero(seg.doc_freq)
    if dead.sum() * 32 > seg.n_docs:  # many terms move: reading every posting costs less
        return _first_live_order_from_postings(seg, dead)
    fwd_offsets, fwd_terms = np.asarray(seg.fwd_offsets), np.asarray(seg.fwd_terms)
    n_terms = len(seg.terms)
    # Each term's first forward entry: numbered by first occurrence, a running maximum of the
    # entries grows exactly where a term first occurs, by one.
    running = np.maximum.accumulate(fwd_terms)
    first_entry = np.flatnonzero(np.r_[len(running) > 0, running[1:] != running[:-1]])
    numbered = len(first_entry) == n_terms and np.array_equal(fwd_terms[first_entry], np.arange(n_terms))
    if not numbered:
        return _first_live_order_from_postings(seg, dead)  # read every posting
    first_doc = np.searchsorted(fwd_offsets, first_entry, side="right") - 1
    moved = np.flatnonzero(dead[first_doc])
    key = first_entry.astype(np.int64)
    if len(moved):
        key[moved] = -1  # no live occurrence, unless found below
        # The moved terms' first live postings, read a run of consecutive term ids at a time (or, if
        # they are scattered in many runs, every posting from the first to the last of them).
        breaks = np.flatnonzero(np.diff(moved) != 1) + 1
        runs = np.split(moved, breaks) if len(breaks) < _MAX_RUNS_READ else [moved]
        docs, terms = [], []
        for run in runs:
            lo, hi = int(run[0]), int(run[-1]) + 1
            docs.append(seg.docs_of_terms(lo, hi))
            terms.append(np.repeat(np.arange(lo, hi), np.diff(np.asarray(seg.offsets[lo : hi + 1]))))
        doc, term = np.concatenate(docs), np.concatenate(terms)
        live = ~dead[doc] & (key[term] == -1)
        doc, term = doc[live], term[live]
        firsts = np.r_[True, term[1:] != term[:-1]] if len(term) else np.zeros(0, bool)
        term, doc = term[firsts], doc[firsts]
        # Where each of them sits in its first live document's forward list: the entries looked at
        # grow with the moved terms; past a share of the segment, reading every posting costs less.
        lengths = np.diff(fwd_offsets)[doc]
        if int(lengths.sum()) > len(fwd_terms) // 4:
            return _first_live_order_from_postings(seg, dead)
        entries = entries_of(seg, doc)
        owner = np.repeat(np.arange(len(doc)), lengths)
        key[term] = entries[fwd_terms[entries] == term[owner]]
    ids = np.flatnonzero(key >= 0)
    return ids[np.argsort(key[ids], kind="stable")]


def _first_live_order_from_postings(seg: Segment, dead: np.ndarray) -> np.ndarray:
    """first_live_order for any numbering of terms, from every posting: a forward entry is a term's
    first live occurrence when its document is the term's first live posting (postings are in
    document order), and forward entries are already in reading order."""
    starts, ends = seg.offsets[:-1], seg.offsets[1:]
    doc_ids = seg.doc_ids
    live_postings = np.flatnonzero(~dead[doc_ids])
    at = np.searchsorted(live_postings, starts)
    has = at < len(live_postings)
    has[has] = live_postings[at[has]] < ends[has]
    first_doc = np.full(len(seg.terms), -1, dtype=np.int64)
    first_doc[has] = doc_ids[live_postings[at[has]]]
    doc_of_entry = np.repeat(np.arange(seg.n_docs, dtype=np.int64), np.diff(seg.fwd_offsets))
    return seg.fwd_terms[doc_of_entry == first_doc[seg.fwd_terms]]


def entries_of(seg: Segment, docs: np.ndarray) -> np.ndarray:
    """Indices into a segment's forward arrays of the given documents' entries, in doc order."""
    if len(docs) == 0:
        return np.zeros(0, dtype=np.int64)
    starts = seg.fwd_offsets[docs]
    return spans(starts, seg.fwd_offsets[docs + 1] - starts)
