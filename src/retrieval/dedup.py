"""Near-duplicate passages (a wire story republished, an article imported twice): shingles and grouping.

The measure is the Jaccard similarity of two passages' sets of character 3-grams ("shingles"),
taken after normalise() (width, case, Traditional→Simplified) with everything but letters and
digits dropped, so that punctuation and whitespace never count. Two passages are copies when it
reaches MIN_SIMILARITY. Why 3-grams at 0.8:

- A changed character alters at most 3 shingles on each side, so a passage of L characters with c
  changes keeps a Jaccard of about (L - 3c) / (L + 3c): 0.8 tolerates one change in 27 characters,
  three in a 100-character news paragraph.
- Two different paragraphs sharing a sentence of s characters, with r characters of their own
  each, score about s / (s + 2r): 0.8 needs the own parts to be under a tenth of the paragraph,
  by which point they are one paragraph with a clause added. A long shared quote is not enough.
- Shorter shingles are shared by chance: Chinese bigrams are mostly common words, so
  same-topic paragraphs overlap on them. Longer ones forgive fewer changed characters.
- Only the few dozen candidates of one question are compared, so exact Jaccard over cached sets
  costs microseconds; MinHash would trade exactness for speed we do not need. The sets are sorted
  integer arrays (three code points packed in one int64), not sets of strings: making a set of
  a few hundred 3-character strings was most of a question's copy check.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from .text import normalise

SHINGLE_CHARS = 3
MIN_SIMILARITY = 0.8
# A shingle's code points, packed: every code point fits in 21 bits, so three fit in an int64.
_CODE_BITS = 21
# Sorted, distinct packed shingles (shingles()).
Shingles = np.ndarray
# Cells of the shingle-by-passage matrix group() multiplies (4 bytes each): past this, pair by pair.
_DENSE_MAX = 4_000_000


# Everything but letters and digits: a str pattern's \w is exactly str.isalnum() and the underscore.
_NOT_ALNUM = re.compile(r"[\W_]+")


def shingles(text: str, n: int = SHINGLE_CHARS) -> Shingles:
    """The character n-grams (n ≤ 3) of text once normalised and stripped of punctuation and
    whitespace, each packed into one integer (21 bits a code point), sorted and distinct: a set
    that numpy intersects in microseconds, equal where the n-grams are equal."""
    kept = _NOT_ALNUM.sub("", normalise(text))
    codes = np.frombuffer(kept.encode("utf-32-le"), dtype=np.uint32).astype(np.int64)
    if len(kept) <= n:
        # A passage shorter than one shingle is its own only shingle (or none, if all punctuation).
        packed = 0
        for code in codes.tolist():
            packed = (packed << _CODE_BITS) | code
        return np.array([packed] if kept else [], dtype=np.int64)
    packed = codes[: len(codes) - n + 1].copy()
    for i in range(1, n):
        packed = (packed << _CODE_BITS) | codes[i : len(codes) - n + 1 + i]
    # np.unique, in a third of its time for a passage's few hundred shingles: sorted, each kept
    # where it differs from the one before.
    packed.sort()
    first = np.empty(len(packed), dtype=bool)
    first[0] = True
    np.not_equal(packed[1:], packed[:-1], out=first[1:])
    return packed[first]


def similarity(a: Shingles, b: Shingles) -> float:
    """Jaccard similarity of two shingle sets (1.0 for two empty ones: same text up to punctuation)."""
    if not len(a) and not len(b):
        return 1.0
    common = len(np.intersect1d(a, b, assume_unique=True))
    return common / (len(a) + len(b) - common)


def copies(a: Shingles, b: Shingles, threshold: float = MIN_SIMILARITY) -> bool:
    """Whether two passages with these shingles are copies of one text."""
    small, large = sorted((len(a), len(b)))
    # Jaccard is at most small / large: most pairs are told apart by their sizes alone.
    if small < threshold * large:
        return False
    return similarity(a, b) >= threshold


def group(sets: Sequence[Shingles], threshold: float = MIN_SIMILARITY) -> list[list[int]]:
    """Positions of sets (best-ranked first) in groups of copies, each group in rank order.

    Each passage joins the best-ranked group holding a copy of it (any member, not only the first:
    a copy of a copy is still the same text to a reader), else starts a group of its own. Groups
    are ordered by their first, best-ranked member, which is the one quoted.
    """
    sizes = [len(s) for s in sets]
    common = _intersections(sets)

    def copy(i: int, j: int) -> bool:  # copies(sets[i], sets[j]), from the counts made at once
        small, large = sorted((sizes[i], sizes[j]))
        if small < threshold * large:
            return False
        union = sizes[i] + sizes[j] - int(common[i, j])
        return union == 0 or common[i, j] / union >= threshold

    groups: list[list[int]] = []
    for i in range(len(sets)):
        for members in groups:
            if any(copy(i, j) for j in members):
                members.append(i)
                break
        else:
            groups.append([i])
    return groups


def _intersections(sets: Sequence[Shingles]) -> np.ndarray:
    """How many shingles each two of sets share (a symmetric matrix): one product of the
    shingle-by-set incidence matrix with itself, rather than a numpy call per pair."""
    n = len(sets)
    if n < 2:
        return np.zeros((n, n), dtype=np.int64)
    distinct, where = np.unique(np.concatenate(sets), return_inverse=True)
    if len(distinct) * n > _DENSE_MAX:  # a huge passage among them: pair by pair, in little memory
        common = np.zeros((n, n), dtype=np.int64)
        for i in range(n):
            for j in range(i + 1, n):
                common[i, j] = common[j, i] = len(np.intersect1d(sets[i], sets[j], assume_unique=True))
        return common
    held = np.zeros((len(distinct), n), dtype=np.float32)  # sums below 2**24 are exact in float32
    held[where, np.repeat(np.arange(n), [len(s) for s in sets])] = 1.0
    return (held.T @ held).astype(np.int64)
