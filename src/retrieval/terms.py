"""A segment's vocabulary as flat arrays: memory-mapped on load, looked up by hash, no object per term.

A million passages hold millions of distinct terms (jieba words, character unigrams and bigrams).
As a Python list and dict per segment they cost ~150 bytes a term and seconds to load; here a term
costs ~40 bytes on disk and nothing in memory until a query touches its page.

Each term has a 128-bit key (xxh3-128 of its UTF-8 bytes). Lookups compare all 128 bits, and terms
of different segments are matched by key alone: two distinct terms sharing a key among 10^8 has a
probability near 10^-23, far below a disk's undetected error rate, so keys stand for the terms.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import xxhash

from .mapped import load_array
from .postings import csr_offsets, spans

_FILES = ("term_bytes", "term_starts", "term_keys", "term_order", "term_sorted")


def _encode(term: str) -> bytes:
    # Analyzer output never holds lone surrogates (text.scrub), but a table must not crash on one.
    return term.encode("utf-8", "surrogatepass")


def term_keys(terms: Sequence[str]) -> np.ndarray:
    """An (n, 2) uint64 array: each term's 128-bit key."""
    digest = xxhash.xxh3_128_digest
    raw = b"".join(digest(_encode(t)) for t in terms)
    return np.frombuffer(raw, dtype="<u8").reshape(-1, 2) if raw else np.zeros((0, 2), "<u8")


def key_view(keys: np.ndarray) -> np.ndarray:
    """Keys as one 16-byte value each, for np.unique and equality across segments."""
    return np.ascontiguousarray(keys).view(np.dtype((np.void, 16))).ravel()


class TermTable(Sequence[str]):
    """Terms numbered 0..n-1: UTF-8 bytes with offsets, their keys, and term ids sorted by key."""

    def __init__(
        self, data: np.ndarray, starts: np.ndarray, keys: np.ndarray, order: np.ndarray, sorted_first: np.ndarray
    ) -> None:
        self.data = np.asarray(data)  # uint8, every term's bytes back to back
        self.starts = np.asarray(starts)  # int64, n + 1 offsets into data
        self.keys = np.asarray(keys)  # (n, 2) uint64, by term id
        self.order = np.asarray(order)  # term ids sorted by key (first word, then second)
        # The keys' first words in that order, stored rather than gathered at load: a binary search
        # then reads a few pages of it, not the whole key array.
        self._sorted_first = np.asarray(sorted_first)

    @classmethod
    def from_terms(cls, terms: Sequence[str]) -> TermTable:
        encoded = [_encode(t) for t in terms]
        lengths = np.fromiter((len(b) for b in encoded), dtype=np.int64, count=len(encoded))
        starts = np.zeros(len(encoded) + 1, dtype=np.int64)
        np.cumsum(lengths, out=starts[1:])
        data = np.frombuffer(b"".join(encoded), dtype=np.uint8) if encoded else np.zeros(0, np.uint8)
        return cls.from_parts(data, starts, term_keys(terms))

    @classmethod
    def from_parts(cls, data: np.ndarray, starts: np.ndarray, keys: np.ndarray) -> TermTable:
        """A table from bytes, offsets and keys already computed (a merge reuses its inputs' keys)."""
        keys = np.asarray(keys, dtype="<u8").reshape(-1, 2)
        order = np.lexsort((keys[:, 1], keys[:, 0])).astype(np.int64)
        return cls(data, starts, keys, order, keys[order, 0])

    # -- the Sequence protocol ---------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.starts) - 1

    def __getitem__(self, i):  # type: ignore[override]
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        if i < 0:
            i += len(self)
        return self.data[self.starts[i] : self.starts[i + 1]].tobytes().decode("utf-8", "surrogatepass")

    def __iter__(self) -> Iterator[str]:
        text = self.data.tobytes()
        bounds = self.starts.tolist()
        for lo, hi in itertools.pairwise(bounds):
            yield text[lo:hi].decode("utf-8", "surrogatepass")

    def __eq__(self, other: object) -> bool:
        if isinstance(other, TermTable):
            return np.array_equal(self.starts, other.starts) and np.array_equal(self.data, other.data)
        if isinstance(other, list | tuple):
            return list(self) == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    # -- lookups -------------------------------------------------------------------------------

    def ids(self, keys: np.ndarray) -> np.ndarray:
        """The term id of each (n, 2) key, -1 where the table lacks it; one binary search for all."""
        keys = np.asarray(keys, dtype="<u8").reshape(-1, 2)
        out = np.full(len(keys), -1, dtype=np.int64)
        if not len(self.order) or not len(keys):
            return out
        at = np.searchsorted(self._sorted_first, keys[:, 0])
        at[at == len(self.order)] = len(self.order) - 1
        ids = self.order[at]
        hit = (self.keys[ids, 0] == keys[:, 0]) & (self.keys[ids, 1] == keys[:, 1])
        out[hit] = ids[hit]
        # Equal first words with another second word: walk the (tiny, sorted) run of equal firsts.
        for i in np.flatnonzero(~hit & (self._sorted_first[at] == keys[:, 0])).tolist():
            j = int(at[i])
            while j < len(self.order) and self._sorted_first[j] == keys[i, 0]:
                if self.keys[self.order[j], 1] == keys[i, 1]:
                    out[i] = int(self.order[j])
                    break
                j += 1
        return out

    def id(self, term: str) -> int | None:
        found = int(self.ids(term_keys([term]))[0])
        return None if found < 0 else found

    def take(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(bytes, offsets, keys) of the given terms, in that order, gathered without decoding."""
        ids = np.asarray(ids, dtype=np.int64)
        lo, hi = self.starts[ids], self.starts[ids + 1]
        return self.data[spans(lo, hi - lo)], csr_offsets(hi - lo), self.keys[ids]

    # -- storage -------------------------------------------------------------------------------

    def save(self, folder: Path) -> None:
        arrays = (self.data, self.starts, self.keys, self.order, self._sorted_first)
        for name, array in zip(_FILES, arrays, strict=True):
            np.save(folder / f"{name}.npy", np.ascontiguousarray(array))

    @classmethod
    def load(cls, folder: Path, mmap: bool = True) -> TermTable:
        data, starts, keys, order, first = (load_array(folder / f"{name}.npy", mmap) for name in _FILES)
        if len(starts) < 1 or keys.shape != (len(starts) - 1, 2) or not len(order) == len(first) == len(keys):
            raise ValueError(f"the term table in {folder} is inconsistent")
        return cls(data, starts, keys, order, first)

    def __getstate__(self) -> dict:
        # Pickled to and from pool workers: plain arrays, not memory maps of another process's files.
        arrays = (self.data, self.starts, self.keys, self.order, self._sorted_first)
        return {"arrays": tuple(np.array(a) for a in arrays)}

    def __setstate__(self, state: dict) -> None:
        self.__init__(*state["arrays"])
