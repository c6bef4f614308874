"""How a segment stores its posting lists: one byte a posting, plus exceptions, and back.

A posting's byte holds its doc gap shifted left by one, and in the low bit whether its tf is above
1. Gaps past MAX_GAP are stored in full among the gap exceptions (their byte's gap: 0), tfs above 1
among the tf exceptions; each term's exceptions begin at its entry in the per-term offsets. Queries
mostly read the long lists of common words, whose gaps are small and whose tfs are nearly all 1:
a posting costs a byte there instead of five, and so do the pages a query keeps resident.
"""

from __future__ import annotations

from typing import Any

import numpy as np

MAX_GAP = 127


def narrow(counts: np.ndarray) -> np.ndarray:
    """Counts in the smallest unsigned type that holds them all (forward tfs, exceptions): a
    5 MB paragraph's tf still fits, in more bytes, and the usual ones take one or two."""
    top = int(counts.max()) if len(counts) else 0
    dtype = np.uint8 if top <= np.iinfo(np.uint8).max else np.uint16 if top <= np.iinfo(np.uint16).max else np.int32
    return np.asarray(counts).astype(dtype, copy=False)


def encode_postings(
    doc_ids: np.ndarray, tfs: np.ndarray, offsets: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Posting lists as one byte a posting, plus exceptions: (codes, gap exceptions, their per-term
    offsets, tf exceptions, their per-term offsets).

    A doc id is kept as the gap to the previous doc of its list, the first counted from -1, so a
    gap is never 0 and 0 marks an exception.
    """
    docs = np.asarray(doc_ids, dtype=np.int32)
    gaps = np.empty_like(docs)
    gaps[1:] = docs[1:] - docs[:-1]
    starts = np.asarray(offsets[:-1])[np.diff(offsets) > 0]
    gaps[starts] = docs[starts] + 1
    wide = gaps > MAX_GAP
    many = np.asarray(tfs) > 1
    codes = np.where(wide, 0, gaps).astype(np.uint8) << 1 | many.astype(np.uint8)
    positions = np.asarray(offsets)
    return (
        codes,
        narrow(gaps[wide]),
        csr_offsets(wide)[positions],
        narrow(np.asarray(tfs)[many]),
        csr_offsets(many)[positions],
    )


def decode_docs(codes: np.ndarray, gap_exceptions: np.ndarray, lengths: np.ndarray, bases: np.ndarray) -> np.ndarray:
    """Concatenated lists of posting codes back to doc ids, bases[i] added to every doc of list i.

    One cumulative sum for all lists; each list's carry-over from the lists before it is taken out.
    """
    gaps = (codes >> 1).astype(np.int64)
    if len(gap_exceptions):
        gaps[gaps == 0] = gap_exceptions
    running = csr_offsets(gaps)  # running[i]: the sum of gaps[:i]
    carry = running[csr_offsets(lengths)[:-1]]
    return running[1:] + np.repeat(np.asarray(bases, dtype=np.int64) - carry - 1, lengths)


def decode_tfs(codes: np.ndarray, tf_exceptions: np.ndarray) -> np.ndarray:
    """Every posting's tf (float64), from the same concatenated codes and their tf exceptions."""
    tfs = np.ones(len(codes))
    if len(tf_exceptions):
        np.place(tfs, (codes & 1).view(bool), tf_exceptions)  # ~25% faster than a masked assignment
    return tfs


def tfs_at(codes: np.ndarray, tf_exceptions: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """The tfs (float64) of the postings at positions only: what a probe of a long list needs.

    A posting's tf exception is found by counting the exceptions before it, one cumulative sum:
    decoding every tf of the list would cost a scattered write per exception, 3x more here.
    """
    tfs = np.ones(len(positions))
    if len(tf_exceptions) and len(positions):
        many = codes & 1
        found = many[positions].view(bool)
        rank = np.cumsum(many, dtype=np.int64)  # rank[i]: tf exceptions among codes[: i + 1]
        tfs[found] = tf_exceptions[rank[positions[found]] - 1]
    return tfs


def concatenate(parts: list[np.ndarray], dtype: Any) -> np.ndarray:
    """np.concatenate, without a copy for one part and with a dtype for none."""
    if len(parts) == 1:
        return parts[0]
    return np.concatenate(parts) if parts else np.zeros(0, dtype=dtype)


def csr_offsets(counts: np.ndarray) -> np.ndarray:
    offsets = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    return offsets


def spans(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """The positions start, start + 1, … of each (start, length) span, one span after the other,
    without a Python loop."""
    within = np.arange(int(np.sum(lengths))) - np.repeat(csr_offsets(lengths)[:-1], lengths)
    return np.repeat(starts, lengths) + within
