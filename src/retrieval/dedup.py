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
  costs microseconds; MinHash would trade exactness for speed we do not need.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from .text import normalise

SHINGLE_CHARS = 3
MIN_SIMILARITY = 0.8


# Everything but letters and digits: a str pattern's \w is exactly str.isalnum() and the underscore.
_NOT_ALNUM = re.compile(r"[\W_]+")


def shingles(text: str, n: int = SHINGLE_CHARS) -> frozenset[str]:
    """The character n-grams of text once normalised and stripped of punctuation and whitespace."""
    kept = _NOT_ALNUM.sub("", normalise(text))
    if len(kept) <= n:
        # A passage shorter than one shingle is its own only shingle (or none, if all punctuation).
        return frozenset([kept]) if kept else frozenset()
    return frozenset({kept[i : i + n] for i in range(len(kept) - n + 1)})


def similarity(a: frozenset[str], b: frozenset[str]) -> float:
    """Jaccard similarity of two shingle sets (1.0 for two empty ones: same text up to punctuation)."""
    if not a and not b:
        return 1.0
    common = len(a & b)
    return common / (len(a) + len(b) - common)


def copies(a: frozenset[str], b: frozenset[str], threshold: float = MIN_SIMILARITY) -> bool:
    """Whether two passages with these shingles are copies of one text."""
    small, large = sorted((len(a), len(b)))
    # Jaccard is at most small / large: most pairs are told apart by their sizes alone.
    if small < threshold * large:
        return False
    return similarity(a, b) >= threshold


def group(sets: Sequence[frozenset[str]], threshold: float = MIN_SIMILARITY) -> list[list[int]]:
    """Positions of sets (best-ranked first) in groups of copies, each group in rank order.

    Each passage joins the best-ranked group holding a copy of it (any member, not only the first:
    a copy of a copy is still the same text to a reader), else starts a group of its own. Groups
    are ordered by their first, best-ranked member, which is the one quoted.
    """
    groups: list[list[int]] = []
    for i, mine in enumerate(sets):
        for members in groups:
            if any(copies(mine, sets[j], threshold) for j in members):
                members.append(i)
                break
        else:
            groups.append([i])
    return groups
